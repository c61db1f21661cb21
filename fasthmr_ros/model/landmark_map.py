"""BlazePose's 33 landmarks as points of the body model: what the landmark lift is trained to reproduce and what
real-footage scores compare with a detector's keypoints.

Each landmark is a fixed blend of the model's 24 joints and a few named surface vertices (nose, eyes, ears,
fingertips, heels, big toes; the embedded model and SMPL both name them). The choices, and why:
- shoulders, elbows, wrists, knees, ankles: the joint itself (BlazePose marks joint centres there too);
- hips: BlazePose's hips sit ~1.8x wider apart than SMPL's hip joints (its world landmarks put them ~20 cm apart
  on real people, SMPL's joints are ~12 cm apart), so each is the pelvis-centred hip joint pushed out 1.8x;
- eyes (inner, centre, outer) all map to the eye vertex and mouth corners to a point 25% of the way from the nose
  to the neck: the face only fixes head orientation, so coarse points are enough;
- pinky / index knuckles: halfway from the wrist to that fingertip; thumb: 60% of the way to its tip;
- heels and foot index: the heel and big-toe vertices.
"""

from __future__ import annotations

import numpy as np

from fasthmr_ros.model.skeleton import JOINT_NAMES, NUM_JOINTS

LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
    "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
NUM_LANDMARKS = len(LANDMARK_NAMES)
# Left and right hip: their midpoint is the origin of BlazePose's world landmarks.
HIP_LANDMARKS: tuple[int, int] = (23, 24)
# The 12 limb landmarks real-footage scores use (shoulders, elbows, wrists, hips, knees, ankles).
LIMB_LANDMARKS: tuple[int, ...] = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# The SMPL joints those are named after, in the same order.
LIMB_JOINTS: tuple[int, ...] = tuple(JOINT_NAMES.index(LANDMARK_NAMES[i]) for i in LIMB_LANDMARKS)
HIP_SPREAD = 1.8


def _swap_sides(parts: frozenset[str]) -> tuple[int, ...]:
    """Landmark order with left and right exchanged for the named parts (mouth corners go with the face)."""
    index = list(range(NUM_LANDMARKS))
    for i, name in enumerate(LANDMARK_NAMES):
        if name.startswith("left_") and name[5:] in parts:
            j = LANDMARK_NAMES.index("right_" + name[5:])
            index[i], index[j] = j, i
    if "ear" in parts:
        i, j = LANDMARK_NAMES.index("mouth_left"), LANDMARK_NAMES.index("mouth_right")
        index[i], index[j] = j, i
    return tuple(index)


_UPPER = frozenset({"eye_inner", "eye", "eye_outer", "ear", "shoulder", "elbow", "wrist", "pinky", "index", "thumb"})
_LOWER = frozenset({"hip", "knee", "ankle", "heel", "foot_index"})
# BlazePose now and then labels a person's sides the wrong way round, the upper and lower body independently:
# these are the readings a detector's labels can be taken as (identity, arms and face, legs, all), each an index
# order into the 33 landmarks.
SIDE_RELABELLINGS: tuple[tuple[int, ...], ...] = (
    tuple(range(NUM_LANDMARKS)),
    _swap_sides(_UPPER),
    _swap_sides(_LOWER),
    _swap_sides(_UPPER | _LOWER),
)

# surface vertices the map needs, by the names body models carry (model/body.py vertex_ids)
VERTEX_NAMES: tuple[str, ...] = (
    "nose", "leye", "reye", "lear", "rear", "lpinky", "rpinky", "lindex", "rindex", "lthumb", "rthumb", "LHeel",
    "RHeel", "LBigToe", "RBigToe",
)  # fmt: skip


def _joint(name: str) -> int:
    return JOINT_NAMES.index(name)


def landmark_blend() -> np.ndarray:
    """(33, 24 + len(VERTEX_NAMES)) weights: landmarks = W @ concat(joints, named vertices)."""
    weights = np.zeros((NUM_LANDMARKS, NUM_JOINTS + len(VERTEX_NAMES)), dtype=np.float32)

    def vertex(name: str) -> int:
        return NUM_JOINTS + VERTEX_NAMES.index(name)

    def put(landmark: str, parts: dict[int, float]) -> None:
        row = LANDMARK_NAMES.index(landmark)
        for column, weight in parts.items():
            weights[row, column] += weight

    put("nose", {vertex("nose"): 1.0})
    for side, short in (("left", "l"), ("right", "r")):
        for where in ("eye_inner", "eye", "eye_outer"):
            put(f"{side}_{where}", {vertex(f"{short}eye"): 1.0})
        put(f"{side}_ear", {vertex(f"{short}ear"): 1.0})
        put(f"mouth_{side}", {vertex("nose"): 0.75, _joint("neck"): 0.25})
        for part in ("shoulder", "elbow", "wrist", "knee", "ankle"):
            put(f"{side}_{part}", {_joint(f"{side}_{part}"): 1.0})
        wrist = _joint(f"{side}_wrist")
        put(f"{side}_pinky", {wrist: 0.5, vertex(f"{short}pinky"): 0.5})
        put(f"{side}_index", {wrist: 0.5, vertex(f"{short}index"): 0.5})
        put(f"{side}_thumb", {wrist: 0.4, vertex(f"{short}thumb"): 0.6})
        other = "right" if side == "left" else "left"
        # pelvis-centred hip pushed out: m + s (hip - m) with m the midpoint of both hip joints
        spread = {_joint(f"{side}_hip"): 0.5 + 0.5 * HIP_SPREAD, _joint(f"{other}_hip"): 0.5 - 0.5 * HIP_SPREAD}
        put(f"{side}_hip", spread)
        foot = "L" if side == "left" else "R"
        put(f"{side}_heel", {vertex(f"{foot}Heel"): 1.0})
        put(f"{side}_foot_index", {vertex(f"{foot}BigToe"): 1.0})
    return weights


def vertex_indices(vertex_ids: dict[str, int]) -> list[int]:
    """Mesh indices of VERTEX_NAMES for a body model's named vertices."""
    missing = [name for name in VERTEX_NAMES if name not in vertex_ids]
    if missing:
        raise ValueError(f"body model names no vertex for {', '.join(missing)}: the landmark map needs them")
    return [int(vertex_ids[name]) for name in VERTEX_NAMES]


def landmarks_from_mesh(joints: np.ndarray, vertices: np.ndarray, indices: list[int]) -> np.ndarray:
    """(..., 24, 3) joints and (..., V, 3) vertices -> (..., 33, 3) landmark points (same frame)."""
    points = np.concatenate([joints, vertices[..., indices, :]], axis=-2)
    return np.einsum("lk,...kc->...lc", landmark_blend(), points)
