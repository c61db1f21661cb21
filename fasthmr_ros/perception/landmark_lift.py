"""The landmark pose source: each person's BlazePose landmarks (from the masks stage) lifted onto the body model.

MediaPipe's world landmarks give the 3D shape of the pose (metres, hip-centred, camera-aligned axes); the lift
network (model/lift_net.py) turns them into 24 joint rotations and shape coefficients; the camera-frame
translation is then the least-squares solution that puts the posed model's landmarks on the person's 2D landmarks
through K (linear in t, two reweighting rounds so a few wrong points do not pull it). No crop and no encoder run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fasthmr_ros.model.body import BodyModel
from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import LIMB_LANDMARKS, NUM_LANDMARKS
from fasthmr_ros.model.lift_net import LandmarkLiftNet
from fasthmr_ros.perception.landmark_shape import BoneMemory, bone_lengths, bone_weights, fit_shape
from fasthmr_ros.perception.masks import PersonDetection

# landmarks that place the body in the image: limbs, heels and toes (the face points are coarse on the model)
_PLACEMENT = (*LIMB_LANDMARKS, 29, 30, 31, 32)
_MIN_PLACEMENT_POINTS = 4


@dataclass
class LiftedPeople:
    rotmats: torch.Tensor  # (N,24,3,3), joint 0 = orientation in the camera frame
    betas: np.ndarray  # (N, num_betas of the body model)
    translation: np.ndarray  # (N,3) camera frame, metres
    usable: np.ndarray  # (N,) bool: False where a person had no landmarks or too few visible to place


def solve_translation(
    points: np.ndarray, pixels: np.ndarray, weights: np.ndarray, k: np.ndarray, rounds: int = 6
) -> np.ndarray | None:
    """t minimising the weighted reprojection error of model points (P,3) (camera rotation, no translation) onto
    pixels (P,2): each point gives two equations linear in t, (u - cx)(Z + tz) = fx (X + tx) and likewise for v.
    Reweighted `rounds` times with Cauchy weights on the pixel residuals, so a few wrong points lose their pull."""
    fx, fy, cx, cy = float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])
    if (weights > 0).sum() < _MIN_PLACEMENT_POINTS:
        return None
    du, dv = pixels[:, 0] - cx, pixels[:, 1] - cy
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    rows_a = np.concatenate([np.stack([np.full_like(x, fx), np.zeros_like(x), -du], 1),
                             np.stack([np.zeros_like(y), np.full_like(y, fy), -dv], 1)])  # fmt: skip
    rows_b = np.concatenate([du * z - fx * x, dv * z - fy * y])
    w = np.concatenate([weights, weights]).astype(np.float64)
    t = None
    for _ in range(rounds + 1):
        sw = np.sqrt(w)[:, None]
        t, *_ = np.linalg.lstsq(rows_a * sw, rows_b * sw[:, 0], rcond=None)
        depth = np.maximum(np.concatenate([z, z]) + t[2], 1e-3)
        residual_px = np.abs(rows_a @ t - rows_b) / depth  # the equation scaled back to pixels
        scale = max(float(np.median(residual_px[w > 0])) * 1.5, 2.0)
        w = np.concatenate([weights, weights]) / (1.0 + (residual_px / scale) ** 2)
    if t is None or not np.isfinite(t).all() or t[2] <= 0.1:
        return None
    return t


class LandmarkLift:
    """(detections, K) -> LiftedPeople for a body model; betas are the lift's own for the body model it was trained
    on (fasthmr-embedded) and zero for another (a user's SMPL), whose shape directions mean something else."""

    def __init__(self, net: LandmarkLiftNet, body: BodyModel, trained_on: str, device: torch.device) -> None:
        self.net = net.to(device).eval()
        self.device = device
        self.landmarks = BodyLandmarks(body).to(device)
        self.num_betas = body.num_betas
        self.use_betas = body.name == trained_on
        self.min_visibility = net.config.min_visibility
        self.bones = BoneMemory()

    @torch.inference_mode()
    def __call__(self, detections: list[PersonDetection], k: np.ndarray) -> LiftedPeople:
        n = len(detections)
        world = np.zeros((n, NUM_LANDMARKS, 3), np.float32)
        keypoints = np.zeros((n, NUM_LANDMARKS, 3), np.float32)
        usable = np.zeros(n, bool)
        for i, det in enumerate(detections):
            if det.world_landmarks is None or det.keypoints is None or len(det.keypoints) != NUM_LANDMARKS:
                continue
            if np.isfinite(det.world_landmarks).all() and np.isfinite(det.keypoints).all():
                world[i], keypoints[i], usable[i] = det.world_landmarks, det.keypoints, True
        world_t = torch.from_numpy(world).to(self.device)
        visibility_t = torch.from_numpy(keypoints[..., 2]).to(self.device)
        rotmats, betas = self.net(world_t, visibility_t)
        betas_full = torch.zeros(n, self.num_betas, device=self.device)
        if self.use_betas:
            log_lengths = bone_lengths(world_t).clamp_min(0.02).log()
            seen = bone_weights(visibility_t, self.min_visibility) * torch.from_numpy(usable).to(self.device)[:, None]
            log_lengths, seen = self.bones([det.follow_id for det in detections], log_lengths, seen)
            betas_full[:, : betas.shape[1]] = fit_shape(self.landmarks, rotmats, betas, log_lengths, seen)
        model_landmarks = self.landmarks(rotmats, betas_full)[0].cpu().numpy()
        translation = np.zeros((n, 3))
        for i in np.flatnonzero(usable):
            pick = list(_PLACEMENT)
            weights = keypoints[i, pick, 2] * (keypoints[i, pick, 2] >= self.min_visibility)
            t = solve_translation(model_landmarks[i, pick], keypoints[i, pick, :2], weights, k)
            if t is None:
                usable[i] = False
            else:
                translation[i] = t
        return LiftedPeople(rotmats.float(), betas_full.cpu().numpy(), translation, usable)
