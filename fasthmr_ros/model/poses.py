"""A few standard SMPL body poses (T, A, sitting, arms up, ...) for tests, previews and the docs.

Axis-angle per joint in SMPL's model frame (x = body left, y = up, z = forward): a rotation about +z lifts the left
arm and lowers the right one; a rotation about -x swings a leg forward.
"""

from __future__ import annotations

import numpy as np

from fasthmr_ros.model.skeleton import JOINT_NAMES, NUM_JOINTS

_POSES: dict[str, dict[str, tuple[float, float, float]]] = {
    "t_pose": {},
    "a_pose": {"left_shoulder": (0.0, 0.0, -0.8), "right_shoulder": (0.0, 0.0, 0.8)},
    "arms_up": {
        "left_collar": (0.0, 0.0, 0.25),
        "right_collar": (0.0, 0.0, -0.25),
        "left_shoulder": (0.0, 0.0, 1.1),
        "right_shoulder": (0.0, 0.0, -1.1),
    },
    "sitting": {
        "left_hip": (-1.5, 0.0, 0.05),
        "right_hip": (-1.5, 0.0, -0.05),
        "left_knee": (1.55, 0.0, 0.0),
        "right_knee": (1.55, 0.0, 0.0),
        "left_shoulder": (0.0, 0.0, -1.1),
        "right_shoulder": (0.0, 0.0, 1.1),
        "left_elbow": (0.0, -1.2, 0.0),
        "right_elbow": (0.0, 1.2, 0.0),
    },
    "walking": {
        "left_hip": (-0.45, 0.0, 0.0),
        "right_hip": (0.35, 0.0, 0.0),
        "left_knee": (0.2, 0.0, 0.0),
        "right_knee": (0.7, 0.0, 0.0),
        "left_shoulder": (0.35, 0.0, -1.25),
        "right_shoulder": (-0.4, 0.0, 1.25),
        "left_elbow": (0.0, -0.5, 0.0),
        "right_elbow": (0.0, 0.5, 0.0),
    },
}

STANDARD_POSES: tuple[str, ...] = tuple(_POSES)


def standard_pose_axis_angle(name: str) -> np.ndarray:
    """(24, 3) axis-angle of a standard pose, root first (identity root)."""
    if name not in _POSES:
        raise ValueError(f"unknown pose {name!r}; choose one of {', '.join(STANDARD_POSES)}")
    pose = np.zeros((NUM_JOINTS, 3), dtype=np.float64)
    for joint, rotation in _POSES[name].items():
        pose[JOINT_NAMES.index(joint)] = rotation
    return pose


def standard_pose_rotmats(name: str) -> np.ndarray:
    """(24, 3, 3) rotation matrices of a standard pose: [0] = global_orient, [1:] = body_pose."""
    # smplx's Rodrigues keeps rotation maths out of this module (fasthmr_ros/model/rotation.py owns ours).
    import torch
    from smplx.lbs import batch_rodrigues

    rotmats = batch_rodrigues(torch.from_numpy(standard_pose_axis_angle(name)))
    return rotmats.numpy().astype(np.float32)
