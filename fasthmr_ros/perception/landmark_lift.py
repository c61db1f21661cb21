"""The landmark pose source: each person's BlazePose landmarks (from the masks stage) lifted onto the body model.

MediaPipe's world landmarks give the 3D shape of the pose (metres, hip-centred, camera-aligned axes); the lift
network (model/lift_net.py) turns them into 24 joint rotations and shape coefficients; the shape is refitted to
MediaPipe's bone lengths (landmark_shape.py); the camera-frame translation is the least-squares solution that puts
the posed model's landmarks on the person's 2D landmarks through K (landmark_placement.py: linear in t, reweighted
so a few wrong points do not pull it); with fit_steps > 0 pose and translation are then fitted to the 2D landmarks
(landmark_fit.py). No crop and no encoder run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from fasthmr_ros.model.body import BodyModel
from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import LIMB_LANDMARKS, NUM_LANDMARKS
from fasthmr_ros.model.lift_net import LandmarkLiftNet
from fasthmr_ros.model.point_kinematics import LandmarkPoints
from fasthmr_ros.perception.landmark_fit import ImageFit
from fasthmr_ros.perception.landmark_placement import solve_laterals, solve_translations
from fasthmr_ros.perception.landmark_shape import MIN_BONE, BoneMemory, ShapeFit, bone_lengths, bone_weights
from fasthmr_ros.perception.masks import PersonDetection

# landmarks that place the body in the image: limbs, heels and toes (the face points are coarse on the model)
_PLACEMENT = (*LIMB_LANDMARKS, 29, 30, 31, 32)


@dataclass
class LiftedPeople:
    rotmats: torch.Tensor  # (N,24,3,3), joint 0 = orientation in the camera frame
    betas: np.ndarray  # (N, num_betas of the body model)
    translation: np.ndarray  # (N,3) camera frame, metres
    usable: np.ndarray  # (N,) bool: False where a person had no landmarks or too few visible to place


class LandmarkLift:
    """(detections, K) -> LiftedPeople for a body model; betas are the lift's own for the body model it was trained
    on (fasthmr-embedded) and zero for another (a user's SMPL), whose shape directions mean something else."""

    def __init__(self, net: LandmarkLiftNet, body: BodyModel, trained_on: str, device: torch.device,
                 fit_steps: int = 0) -> None:  # fmt: skip
        """fit_steps: Gauss-Newton steps refining the lifted pose on the 2D landmarks (perception/landmark_fit.py);
        0 = the lift's pose as it comes."""
        self.net = net.to(device).eval()
        self.device = device
        landmarks = BodyLandmarks(body)  # read once into the numpy fits below
        self.num_betas = body.num_betas
        self.use_betas = body.name == trained_on
        self.min_visibility = net.config.min_visibility
        self.bones = BoneMemory()
        self.shape_fit = ShapeFit(landmarks)
        self.placement = LandmarkPoints(landmarks, list(_PLACEMENT))
        self.image_fit = ImageFit(self.placement, fit_steps) if fit_steps > 0 else None

    @torch.inference_mode()
    def __call__(
        self, detections: list[PersonDetection], k: np.ndarray, timings: dict[str, float] | None = None
    ) -> LiftedPeople:
        """timings: when given, filled with each part's milliseconds (network, shape refit, then translation solve
        or 2D fit; bench.lift_cost)."""
        clock = [time.perf_counter()]

        def lap(name: str) -> None:
            if timings is not None:
                now = time.perf_counter()
                timings[name] = 1e3 * (now - clock[0])
                clock[0] = now

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
        lap("network")
        betas_full = torch.zeros(n, self.num_betas, device=self.device)
        if self.use_betas:
            log_lengths = bone_lengths(world_t).clamp_min(MIN_BONE).log()
            seen = bone_weights(visibility_t, self.min_visibility) * torch.from_numpy(usable).to(self.device)[:, None]
            log_lengths, seen = self.bones([det.follow_id for det in detections], log_lengths, seen)
            betas_full[:, : betas.shape[1]] = self.shape_fit(rotmats, betas, log_lengths, seen)
        lap("shape refit")
        if self.image_fit is None:
            translation, placed = self.place(keypoints, rotmats, betas_full, k, usable)
            lap("translation solve")
        else:
            rotmats, translation, placed = self.image_fit(rotmats, betas_full, keypoints, world, k, usable,
                                                          self.min_visibility)  # fmt: skip
            lap("2D fit")
        return LiftedPeople(rotmats.float(), betas_full.cpu().numpy(), translation, usable & placed)

    @torch.inference_mode()
    def place(
        self,
        keypoints: np.ndarray,
        rotmats: torch.Tensor,
        betas: torch.Tensor | np.ndarray,
        k: np.ndarray,
        usable: np.ndarray | None = None,
        depth: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The camera-frame translation that puts the model posed by rotmats (N,24,3,3) with betas (N,K) on the
        2D landmarks keypoints (N,33,3: pixels, visibility) through K ((3,3), or (N,3,3) one per person) ->
        (translation (N,3), placed (N,) bool).
        Called by __call__ for the lift's own pose, and by the pipeline again for the pose it publishes (the
        decoder's), so that the published body, not the per-frame one, lies on the person in the image. For the
        latter, `depth` (N,) holds each depth from the lift's own solve and only the image-plane position is
        re-solved: measured on Sports2D (decoder on, filter off), re-solving the depth as well gained nothing in
        reprojection (median 11.04 against 11.09 px; 12.10 with the lift's translation) but made the per-frame depth
        noisier (mean |dz| 254-310 against 232 mm), and now and then far off where few landmarks are seen."""
        n = len(keypoints)
        usable = np.ones(n, bool) if usable is None else usable
        rot = rotmats.detach().double().cpu().numpy()
        model_landmarks = self.placement(rot, torch.as_tensor(betas).detach().double().cpu().numpy())
        pixels = keypoints[:, list(_PLACEMENT)].astype(np.float64)
        weights = pixels[..., 2] * (pixels[..., 2] >= self.min_visibility) * usable[:, None]
        if depth is None:
            return solve_translations(model_landmarks, pixels[..., :2], weights, k)
        return solve_laterals(model_landmarks, pixels[..., :2], weights, k, depth)
