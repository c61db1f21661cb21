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
The translation moves freely with the pose, from landmark_placement.solve_translation's answer for the lift's pose.
The Jacobian is analytic: a rotation increment at joint j moves every point it carries by (axis x (point -
joint j)), the axis being joint j's own axis in the model frame; skinned vertices are carried by their skinning
weights. Shape stays as given (fitted to bone lengths beforehand).
"""

from __future__ import annotations

import numpy as np
import torch

from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import HIP_LANDMARKS
from fasthmr_ros.model.rotation import axis_angle_to_rotmat
from fasthmr_ros.model.skeleton import NUM_JOINTS, PARENTS
from fasthmr_ros.perception.landmark_placement import solve_translation

# BlazePose's 2D landmarks scatter by ~1-2% of a person's height (~5-10 px at the sizes the node sees); the robust
# loss treats points beyond ROBUST_SCALE of these as outliers
PIXEL_STD = 10.0
ROBUST_SCALE = 3.0
WORLD_STD = 0.05  # metres: MediaPipe's world landmarks are right to a few cm across, worse in depth
ROTATION_STD = 0.3  # radians a joint may turn away from the lift's answer at one standard deviation
_MIN_DEPTH = 0.1


def _carried_by(parents: tuple[int, ...]) -> np.ndarray:
    """(24, 24): [q, j] = 1 where joint j's rotation moves joint q (j is q itself or one of its ancestors)."""
    carried = np.zeros((len(parents), len(parents)), np.float32)
    for q in range(len(parents)):
        j = q
        while j >= 0:
            carried[q, j] = 1.0
            j = parents[j]
    return carried


class ImageFit:
    """(rotmats, betas, 2D landmarks, world landmarks, K) -> refined (rotmats, translation, placed)."""

    def __init__(self, landmarks: BodyLandmarks, points: tuple[int, ...], iterations: int) -> None:
        self.landmarks = landmarks
        self.points = list(points)
        self.iterations = iterations
        blend = landmarks.blend
        carried = torch.from_numpy(_carried_by(PARENTS)).to(blend.device)
        # a skinned vertex is carried by a joint in proportion to its skinning weights on the joints that joint moves
        vertex_carried = landmarks.points.point_weights @ carried
        carried = torch.cat([carried, vertex_carried], 0)  # (Q, 24): Q = 24 joints + named vertices
        blend = blend[self.points]  # (L, Q)
        # only the joints and vertices these landmarks are made of
        self.used = torch.nonzero(blend.abs().sum(0) > 0)[:, 0]
        self.blend = blend[:, self.used]
        carried = carried[self.used]  # (Q', 24)
        # (L, Q', 24): landmark l's share of point q, times whether joint j carries q
        self.carried_blend = self.blend[:, :, None] * carried[None]
        self.hips = [self.points.index(i) for i in HIP_LANDMARKS]

    @torch.inference_mode()
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
        translation is landmark_placement.solve_translation's for the lift's pose (from the first step's forward
        kinematics, so it costs no extra pass); people it cannot place (too few points seen) keep the lift's pose,
        placed False, like everyone not usable."""
        n_all = len(rotmats)
        translation = np.zeros((n_all, 3))
        placed = np.zeros(n_all, bool)
        rows = np.flatnonzero(usable)
        if len(rows) == 0:
            return rotmats, translation, placed
        device, dtype = rotmats.device, torch.float32
        index = torch.as_tensor(rows, device=device)
        rot = rotmats[index].to(dtype)
        shape = torch.as_tensor(betas, dtype=dtype, device=device)[index]
        pixels = torch.as_tensor(keypoints[rows][:, self.points], dtype=dtype, device=device)
        seen = pixels[..., 2] * (pixels[..., 2] >= min_visibility)  # (n, L)
        target = torch.as_tensor(world[rows][:, self.points], dtype=dtype, device=device)
        fx, fy, cx, cy = float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])
        centre_px = torch.tensor([cx, cy], dtype=dtype, device=device)
        focal = torch.tensor([fx, fy], dtype=dtype, device=device)
        eye3 = torch.eye(3, dtype=dtype, device=device)
        joints, surface, frames = self.landmarks.points.posed(rot, shape)
        base = torch.cat([joints, surface], 1)[:, self.used]  # (n, Q, 3): the points the landmarks blend
        model = torch.einsum("lq,nqc->nlc", self.blend, base)
        model_np = model.double().cpu().numpy()
        pixels_np, seen_np = pixels.double().cpu().numpy(), seen.double().cpu().numpy()
        starts = [solve_translation(model_np[i], pixels_np[i, :, :2], seen_np[i], k) for i in range(len(rows))]
        keep = np.array([start is not None for start in starts])
        if not keep.any():
            return rotmats, translation, placed
        if not keep.all():
            rows = rows[keep]
            kept = torch.as_tensor(np.flatnonzero(keep), device=device)
            index, rot, shape = index[kept], rot[kept], shape[kept]
            pixels, seen, target = pixels[kept], seen[kept], target[kept]
            joints, frames, base, model = joints[kept], frames[kept], base[kept], model[kept]
        t = torch.as_tensor(np.stack([start for start in starts if start is not None]), dtype=dtype, device=device)
        n, count = len(rows), len(self.points)
        params = NUM_JOINTS * 3
        total = torch.zeros(n, params, dtype=dtype, device=device)  # change from the lift, per joint axis-angle
        prior = torch.cat([torch.full((params,), ROTATION_STD**-2), torch.zeros(3)]).to(device=device, dtype=dtype)
        for step_index in range(self.iterations):
            if step_index > 0:  # the first step uses the forward kinematics the starting translation came from
                joints, surface, frames = self.landmarks.points.posed(rot, shape)
                base = torch.cat([joints, surface], 1)[:, self.used]
                model = torch.einsum("lq,nqc->nlc", self.blend, base)
            # d base point / d (joint j, axis a) = carried[q, j] * (axis_a of joint j) x (point q - joint j)
            axes = frames.transpose(-1, -2)  # (n, 24, 3 axes, 3)
            lever = base[:, :, None] - joints[:, None]  # (n, Q, 24, 3)
            moved = torch.linalg.cross(axes[:, None].expand(-1, base.shape[1], -1, -1, -1),
                                       lever[:, :, :, None].expand(-1, -1, -1, 3, -1))  # fmt: skip
            jac = torch.einsum("lqj,nqjac->nlcja", self.carried_blend, moved).reshape(n, count, 3, params)
            # 2D term through the pinhole: d(f x / z) = f / z (dx - x / z dz)
            camera = model + t[:, None]
            z = camera[..., 2].clamp_min(_MIN_DEPTH)
            ray = camera[..., :2] / z[..., None]  # (n, L, 2)
            residual_2d = (focal * ray + centre_px - pixels[..., :2]) / PIXEL_STD  # (n, L, 2)
            full = torch.cat([jac, eye3.expand(n, count, 3, 3)], -1)  # (n, L, 3, P+3): pose and translation
            jac_2d = (focal / z[..., None])[..., None] * (full[..., :2, :] - ray[..., None] * full[..., 2:, :])
            squared = (residual_2d**2).sum(-1)
            # Geman-McClure as reweighted least squares: weight = rho'(e^2)
            weight_2d = seen / (1.0 + squared / ROBUST_SCALE**2) ** 2 * (camera[..., 2] > _MIN_DEPTH)
            # world term, hip-centred on the model's own hips (translation does not enter)
            residual_w = (model - model[:, self.hips].mean(1, keepdim=True) - target) / WORLD_STD  # (n, L, 3)
            jac_w = full - full[:, self.hips].mean(1, keepdim=True)
            jac_w[..., params:] = 0.0
            rows_a = torch.cat([(jac_2d / PIXEL_STD) * weight_2d[..., None, None].sqrt(),
                                (jac_w / WORLD_STD) * seen[..., None, None].sqrt()], 2)  # fmt: skip
            rows_a = rows_a.reshape(n, -1, params + 3)
            rows_b = torch.cat([residual_2d * weight_2d[..., None].sqrt(), residual_w * seen[..., None].sqrt()], 2)
            lhs = rows_a.transpose(1, 2) @ rows_a + torch.diag_embed(prior.expand(n, -1))
            rhs = (rows_a.transpose(1, 2) @ rows_b.reshape(n, -1, 1))[..., 0]
            rhs[:, :params] += total * prior[:params]
            step = -torch.linalg.solve(lhs, rhs)
            if not torch.isfinite(step).all():
                break
            rot = rot @ axis_angle_to_rotmat(step[:, :params].reshape(-1, 3)).reshape(n, NUM_JOINTS, 3, 3)
            t = t + step[:, params:]
            total = total + step[:, :params]
        out_rot = rotmats.clone()
        out_rot[index] = rot.to(rotmats.dtype)
        translation[rows] = t.double().cpu().numpy()
        placed[rows] = True
        return out_rot, translation, placed
