"""The lifted pose refined on the person's 2D landmarks: a few Gauss-Newton steps on the body model.

Why: the lift reads MediaPipe's world landmarks, whose depth is one network's guess, while the 2D landmarks are
measured on the image (within ~1-2% of a person's height). With the body model's bone lengths fixed, a limb that
looks short in the image has to point toward or away from the camera, so fitting the projection also corrects
depth, which is where most of the lift's error is (hip-centred, ~90 mm along the camera axis against ~35 mm
across it on Pose2Sim's views). The fit keeps three terms, each a squared error in its own units:
- the projected model landmarks against the 2D landmarks (visibility-weighted, Geman-McClure-robust, so a few
  misplaced points cannot drag the body), in units of `PIXEL_STD`;
- the hip-centred model landmarks against MediaPipe's world landmarks (what fixes the depth sign and the parts
  the image leaves open), in units of `WORLD_STD`;
- each joint's change from the lift's rotation (the lift's answer is the prior), in units of `ROTATION_STD`.
The translation moves freely with the pose, from landmark_placement.solve_translations' answer for the lift's pose.
The Jacobian is analytic: a rotation increment at joint j moves every point it carries by (axis x (point -
joint j)), the axis being joint j's own axis in the model frame; skinned vertices are carried by their skinning
weights. Shape stays as given (fitted to bone lengths beforehand). Joints that move none of the landmarks (neck,
head, hands) keep the lift's rotation. The maths runs in numpy on small arrays (model/point_kinematics.py): with
1-3 people per-op overhead is the cost, and numpy's is a fraction of torch's.
"""

from __future__ import annotations

import numpy as np
import torch

from fasthmr_ros.model.landmark_map import HIP_LANDMARKS
from fasthmr_ros.model.point_kinematics import LandmarkPoints
from fasthmr_ros.model.skeleton import PARENTS
from fasthmr_ros.perception.landmark_placement import solve_translations

# BlazePose's 2D landmarks scatter by ~1-2% of a person's height (~5-10 px at the sizes the node sees); the robust
# loss treats points beyond ROBUST_SCALE of these as outliers
PIXEL_STD = 10.0
ROBUST_SCALE = 3.0
WORLD_STD = 0.05  # metres: MediaPipe's world landmarks are right to a few cm across, worse in depth
ROTATION_STD = 0.3  # radians a joint may turn away from the lift's answer at one standard deviation
_MIN_DEPTH = 0.1
_SMALL_ANGLE = 1e-6


def _carried_by(parents: tuple[int, ...]) -> np.ndarray:
    """(24, 24): [q, j] = 1 where joint j's rotation moves joint q (j is q itself or one of its ancestors)."""
    carried = np.zeros((len(parents), len(parents)))
    for q in range(len(parents)):
        j = q
        while j >= 0:
            carried[q, j] = 1.0
            j = parents[j]
    return carried


def _rotation(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) rotation vectors -> (..., 3, 3), Rodrigues' formula (the fit's steps are small: series near 0)."""
    theta2 = (axis_angle**2).sum(-1)
    theta = np.sqrt(theta2)
    small = theta < _SMALL_ANGLE
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / safe**2)
    x, y, z = axis_angle[..., 0], axis_angle[..., 1], axis_angle[..., 2]
    zero = np.zeros_like(x)
    skew = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*axis_angle.shape[:-1], 3, 3)
    return np.eye(3) + a[..., None, None] * skew + b[..., None, None] * (skew @ skew)


class ImageFit:
    """(rotmats, betas, 2D landmarks, world landmarks, K) -> refined (rotmats, translation, placed)."""

    def __init__(self, points: LandmarkPoints, iterations: int) -> None:
        """points: the landmarks fitted (the placement set), posed in numpy."""
        self.landmarks = points
        self.points = points.points
        self.iterations = iterations
        carried = _carried_by(PARENTS)
        # a skinned vertex is carried by a joint in proportion to its skinning weights on the joints that joint moves
        vertex_carried = points.kinematics.vertex_weights @ carried
        carried = np.concatenate([carried[points.used_joints], vertex_carried], 0)  # (Q, 24), Q as points.pose's
        self.active = np.flatnonzero((points.blend @ carried).any(0))  # joints that move any landmark: the fit's
        self.carried = carried[:, self.active]  # (Q, A)
        self.hips = [self.points.index(i) for i in HIP_LANDMARKS]

    def __call__(
        self,
        rotmats: torch.Tensor,
        betas: torch.Tensor,
        keypoints: np.ndarray,
        world: np.ndarray,
        k: np.ndarray,
        usable: np.ndarray,
        min_visibility: float,
    ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """rotmats (N,24,3,3), betas (N,K), keypoints (N,33,3: px, visibility), world (N,33,3: MediaPipe's metres,
        hip-centred), k (3,3), usable (N,) -> (rotmats, translation (N,3), placed (N,) bool). The starting
        translation is landmark_placement.solve_translations' for the lift's pose (from the first step's forward
        kinematics, so it costs no extra pass); people it cannot place (too few points seen) keep the lift's pose,
        placed False, like everyone not usable."""
        n_all = len(rotmats)
        translation = np.zeros((n_all, 3))
        placed = np.zeros(n_all, bool)
        rows = np.flatnonzero(usable)
        if len(rows) == 0:
            return rotmats, translation, placed
        rot = rotmats.detach()[torch.as_tensor(rows, device=rotmats.device)].double().cpu().numpy()
        shape = betas.detach().double().cpu().numpy()[rows] if torch.is_tensor(betas) else np.asarray(betas)[rows]
        pixels = np.asarray(keypoints, np.float64)[rows][:, self.points]
        seen = pixels[..., 2] * (pixels[..., 2] >= min_visibility)  # (n, L)
        target = np.asarray(world, np.float64)[rows][:, self.points]
        rest_joints, rest_vertices = self.landmarks.rest(shape)
        joints, base, model, frames = self.landmarks.pose(rot, rest_joints, rest_vertices)
        t, keep = solve_translations(model, pixels[..., :2], seen, k)
        if not keep.any():
            return rotmats, translation, placed
        if not keep.all():
            rows, rot, pixels, seen, target, t = rows[keep], rot[keep], pixels[keep], seen[keep], target[keep], t[keep]
            rest_joints, rest_vertices = rest_joints[keep], rest_vertices[keep]
            joints, base, model, frames = joints[keep], base[keep], model[keep], frames[keep]
        n, count, active = len(rows), len(self.points), len(self.active)
        params = active * 3
        focal = np.array([k[0, 0], k[1, 1]], np.float64)
        centre_px = np.array([k[0, 2], k[1, 2]], np.float64)
        total = np.zeros((n, params))  # change from the lift, per turned joint's axis-angle
        prior = np.concatenate([np.full(params, ROTATION_STD**-2), np.zeros(3)])
        weight_world = np.sqrt(seen)[..., None, None] / WORLD_STD
        for step_index in range(self.iterations):
            if step_index > 0:  # the first step uses the forward kinematics the starting translation came from
                joints, base, model, frames = self.landmarks.pose(rot, rest_joints, rest_vertices)
            # d base point / d (joint j, axis a) = carried[q, j] * (axis_a of joint j) x (point q - joint j)
            axes = frames[:, self.active].transpose(0, 1, 3, 2)  # (n, A, 3 axes, 3)
            lever = base[:, :, None] - joints[:, None, self.active]  # (n, Q', A, 3)
            moved = np.cross(axes[:, None], lever[:, :, :, None]) * self.carried[None, :, :, None, None]
            jac = (self.landmarks.blend @ moved.reshape(n, len(self.carried), -1)).reshape(n, count, active, 3, 3)
            full = np.zeros((n, count, 3, params + 3))  # (n, L, 3 coords, pose + translation)
            full[..., :params] = jac.transpose(0, 1, 4, 2, 3).reshape(n, count, 3, params)
            full[..., params:] = np.eye(3)
            # 2D term through the pinhole: d(f x / z) = f / z (dx - x / z dz)
            camera = model + t[:, None]
            z = np.maximum(camera[..., 2], _MIN_DEPTH)
            ray = camera[..., :2] / z[..., None]  # (n, L, 2)
            residual_2d = (focal * ray + centre_px - pixels[..., :2]) / PIXEL_STD  # (n, L, 2)
            jac_2d = (focal / z[..., None])[..., None] * (full[..., :2, :] - ray[..., None] * full[..., 2:, :])
            squared = (residual_2d**2).sum(-1)
            # Geman-McClure as reweighted least squares: weight = rho'(e^2)
            weight_2d = np.sqrt(seen / (1.0 + squared / ROBUST_SCALE**2) ** 2 * (camera[..., 2] > _MIN_DEPTH))
            # world term, hip-centred on the model's own hips (translation does not enter)
            residual_w = (model - model[:, self.hips].mean(1, keepdims=True) - target) / WORLD_STD  # (n, L, 3)
            jac_w = full - full[:, self.hips].mean(1, keepdims=True)
            jac_w[..., params:] = 0.0
            rows_a = np.concatenate([jac_2d * (weight_2d[..., None, None] / PIXEL_STD),
                                     jac_w * weight_world], 2).reshape(n, -1, params + 3)  # fmt: skip
            rows_b = np.concatenate([residual_2d * weight_2d[..., None], residual_w * np.sqrt(seen)[..., None]], 2)
            lhs = rows_a.transpose(0, 2, 1) @ rows_a + prior[:, None] * np.eye(params + 3)
            rhs = (rows_a.transpose(0, 2, 1) @ rows_b.reshape(n, -1, 1))[..., 0]
            rhs[:, :params] += total * prior[:params]
            try:
                step = -np.linalg.solve(lhs, rhs[..., None])[..., 0]
            except np.linalg.LinAlgError:  # no 2D point left in front of the camera: the translation is open
                break
            if not np.isfinite(step).all():
                break
            rot[:, self.active] = rot[:, self.active] @ _rotation(step[:, :params].reshape(n, active, 3))
            t = t + step[:, params:]
            total = total + step[:, :params]
        out_rot = rotmats.clone()
        out_rot[torch.as_tensor(rows, device=rotmats.device)] = torch.from_numpy(rot).to(rotmats)
        translation[rows] = t
        placed[rows] = True
        return out_rot, translation, placed
