"""The SMPL 24-joint skeleton: names, parents, bones, and an approximate rest pose.

Joint order and parents are SMPL's (public facts). REST_JOINTS is an approximate SMPL mean-shape T-pose in SMPL's
model frame (x = body left, y = up, z = forward, metres), used where no body model file is at hand (motion
synthesis, forward kinematics of the decoder); a loaded body model's own rest joints take precedence.
"""

from __future__ import annotations

import numpy as np

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle", "right_ankle",
    "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip

PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)

NUM_JOINTS = 24

# Bones for drawing (child, parent), every joint but the root.
BONES: tuple[tuple[int, int], ...] = tuple((j, PARENTS[j]) for j in range(1, NUM_JOINTS))

# Left/right swap used by flips (index of the mirrored joint).
MIRROR: tuple[int, ...] = (0, 2, 1, 3, 5, 4, 6, 8, 7, 9, 11, 10, 12, 14, 13, 15, 17, 16, 19, 18, 21, 20, 23, 22)

# Offsets of each joint from its parent in the approximate mean-shape rest pose (root: absolute position).
_REST_OFFSETS = np.array([
    [-0.0022, -0.2408, 0.0286],   # pelvis
    [0.0586, -0.0823, -0.0177],   # left_hip
    [-0.0603, -0.0905, -0.0135],  # right_hip
    [0.0044, 0.1244, -0.0384],    # spine1
    [0.0435, -0.3865, 0.0080],    # left_knee
    [-0.0433, -0.3837, -0.0048],  # right_knee
    [0.0045, 0.1380, 0.0268],     # spine2
    [-0.0148, -0.4269, -0.0374],  # left_ankle
    [0.0191, -0.4200, -0.0346],   # right_ankle
    [-0.0023, 0.0560, 0.0029],    # spine3
    [0.0250, -0.0550, 0.1200],    # left_foot (approximate)
    [-0.0250, -0.0550, 0.1200],   # right_foot (approximate)
    [-0.0134, 0.2116, -0.0335],   # neck
    [0.0717, 0.1140, -0.0189],    # left_collar
    [-0.0830, 0.1125, -0.0237],   # right_collar
    [0.0101, 0.0889, 0.0504],     # head
    [0.1229, 0.0452, -0.0190],    # left_shoulder
    [-0.1132, 0.0469, -0.0085],   # right_shoulder
    [0.2553, -0.0156, -0.0229],   # left_elbow
    [-0.2601, -0.0144, -0.0313],  # right_elbow
    [0.2657, 0.0127, -0.0074],    # left_wrist
    [-0.2691, 0.0068, -0.0060],   # right_wrist
    [0.0867, -0.0106, -0.0156],   # left_hand
    [-0.0888, -0.0087, -0.0101],  # right_hand
], dtype=np.float32)  # fmt: skip


def _absolute(offsets: np.ndarray) -> np.ndarray:
    joints = np.zeros_like(offsets)
    for j, parent in enumerate(PARENTS):
        joints[j] = offsets[j] if parent < 0 else joints[parent] + offsets[j]
    return joints


REST_JOINTS: np.ndarray = _absolute(_REST_OFFSETS)
