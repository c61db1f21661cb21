"""The body model's 24 joints and a few chosen vertices posed in numpy (float64), for per-frame fits of one to a
few people.

Why not BodyPoints (model/body_points.py, the same linear blend skinning in torch): in the 2D fit every array is
tiny (24 joints, ~16 points, 1-3 people), so the cost is the framework's per-op overhead, and numpy's is a fraction
of torch's; bench.lift_cost measures the fit. BodyPoints stays the one for training, gradients and big batches.
"""

from __future__ import annotations

import numpy as np

from fasthmr_ros.model.body_points import PARENT_INDEX, BodyLandmarks, BodyPoints, tree_levels
from fasthmr_ros.model.skeleton import NUM_JOINTS, PARENTS

# each depth of the kinematic tree below the root: (start, stop, its joints' parents), checked by tree_levels
_LEVELS = [(start, stop, np.array(PARENT_INDEX[start:stop])) for start, stop in tree_levels(PARENTS)]
_OFFSET_PARENTS = np.array(PARENT_INDEX[1:])


class PointKinematics:
    """BodyPoints' arrays for the chosen vertices, as float64 numpy: rest(betas), then pose(rotmats, rest)."""

    def __init__(self, points: BodyPoints, vertex_rows: list[int]) -> None:
        """vertex_rows: indices into BodyPoints' own vertices (its `points` output)."""

        def array(buffer) -> np.ndarray:
            return buffer.detach().double().cpu().numpy()

        rows = list(vertex_rows)
        self.joint_template = array(points.joint_template)  # (24,3)
        self.joint_shapedirs = array(points.joint_shapedirs)  # (24,3,K)
        self.vertex_template = array(points.point_template)[rows]  # (V,3)
        self.vertex_shapedirs = array(points.point_shapedirs)[rows]  # (V,3,K)
        self.vertex_weights = array(points.point_weights)[rows]  # (V,24)
        posedirs = array(points.point_posedirs)[:, rows]  # (207, V, 3)
        # (207, V*3), or None for a model without pose correctives
        self.vertex_posedirs = posedirs.reshape(len(posedirs), -1) if points.pose_correctives else None
        self.num_betas = self.joint_shapedirs.shape[-1]

    def rest(self, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """betas (n, <=K) -> rest joints (n,24,3) and rest vertices (n,V,3), pose correctives not yet added."""
        padded = np.zeros((len(betas), self.num_betas))
        padded[:, : betas.shape[1]] = betas
        joints = self.joint_template + (self.joint_shapedirs @ padded.T).transpose(2, 0, 1)
        vertices = self.vertex_template + (self.vertex_shapedirs @ padded.T).transpose(2, 0, 1)
        return joints, vertices

    def pose(
        self, rotmats: np.ndarray, rest_joints: np.ndarray, rest_vertices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """rotmats (n,24,3,3) local, rest from rest() -> joints (n,24,3), vertices (n,V,3) in the model frame, and
        each joint's rotation in the model frame (n,24,3,3)."""
        n = len(rotmats)
        if self.vertex_posedirs is not None:
            feature = (rotmats[:, 1:] - np.eye(3)).reshape(n, -1)  # (n,207), smplx's pose blend-shape input
            rest_vertices = rest_vertices + (feature @ self.vertex_posedirs).reshape(rest_vertices.shape)
        rot = frames(rotmats)
        joints = posed_joints(rot, rest_joints)
        # skinning maps a rest point x -> sum_j w_j (R_j (x - J_j^rest) + J_j^posed)
        shift = joints - (rot @ rest_joints[..., None])[..., 0]  # (n,24,3)
        blend_rot = (self.vertex_weights @ rot.reshape(n, -1, 9)).reshape(n, -1, 3, 3)  # (n,V,3,3)
        vertices = (blend_rot @ rest_vertices[..., None])[..., 0] + self.vertex_weights @ shift
        return joints, vertices, rot


class LandmarkPoints:
    """Some of BodyLandmarks' 33 landmarks (`points`, indices) posed in numpy, through only the joints and vertices
    they are blended from."""

    def __init__(self, landmarks: BodyLandmarks, points: list[int]) -> None:
        self.points = list(points)
        blend = landmarks.blend.detach().double().cpu().numpy()[self.points]  # (L, 24 joints + named vertices)
        self.used = np.flatnonzero(np.abs(blend).sum(0) > 0)  # columns of (joints, named vertices) that count
        self.blend = blend[:, self.used]  # (L, Q)
        self.used_joints = self.used[self.used < NUM_JOINTS]
        self.kinematics = PointKinematics(landmarks.points, list(self.used[self.used >= NUM_JOINTS] - NUM_JOINTS))

    def rest(self, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.kinematics.rest(betas)

    def pose(self, rotmats: np.ndarray, rest_joints: np.ndarray, rest_vertices: np.ndarray):
        """-> joints (n,24,3), the points the landmarks blend (n,Q,3), the landmarks (n,L,3), joint frames
        (n,24,3,3), all in the model frame."""
        joints, vertices, rot = self.kinematics.pose(rotmats, rest_joints, rest_vertices)
        base = np.concatenate([joints[:, self.used_joints], vertices], 1)
        return joints, base, self.blend @ base, rot

    def __call__(self, rotmats: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """rotmats (n,24,3,3), betas (n,<=K) -> the landmarks (n,L,3) in the model frame."""
        return self.pose(rotmats, *self.rest(betas))[2]


def frames(rotmats: np.ndarray) -> np.ndarray:
    """Local joint rotations (n,24,3,3) -> each joint's rotation in the model frame, one tree level at a time."""
    rot = np.empty_like(rotmats)
    rot[:, 0] = rotmats[:, 0]
    for start, stop, parents in _LEVELS:
        rot[:, start:stop] = rot[:, parents] @ rotmats[:, start:stop]
    return rot


def posed_joints(rot: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """Model-frame joint rotations (n,24,3,3) from frames(), rest joints (n,...,24,3) -> posed joints (n,...,24,3).
    Linear in the rest joints for a fixed pose, so it also carries shape directions (bodies' differences): any
    dimensions between the first and the joints share the person's pose."""
    extra = rest_joints.ndim - 3
    parent_rot = rot[:, _OFFSET_PARENTS].reshape(len(rot), *([1] * extra), -1, 3, 3)
    # each joint's offset from its parent, turned by the parent's rotation: the bone as posed
    bones = (parent_rot @ (rest_joints[..., 1:, :] - rest_joints[..., _OFFSET_PARENTS, :])[..., None])[..., 0]
    joints = np.empty_like(rest_joints)
    joints[..., 0, :] = rest_joints[..., 0, :]
    for start, stop, parents in _LEVELS:
        joints[..., start:stop, :] = joints[..., parents, :] + bones[..., start - 1 : stop - 1, :]
    return joints
