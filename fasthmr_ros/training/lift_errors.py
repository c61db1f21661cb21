"""Per-frame estimates as the landmark pose source makes them, for training the temporal decoder on that source's
own error profile: true motion -> the body's BlazePose-style landmarks -> MediaPipe-like errors (lift_data.corrupt,
made partly persistent over frames, as a tracker's errors are) -> the embedded lift, frame by frame.

MixedErrorModel draws each training window's estimates from the lift or from the simulated HMR errors, so one
decoder serves both pose sources.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch

from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import HIP_LANDMARKS
from fasthmr_ros.model.lift_net import LandmarkLiftNet
from fasthmr_ros.training.lift_data import corrupt
from fasthmr_ros.training.synth.hmr_errors import HMRErrorModel
from fasthmr_ros.training.synth.pose_sampler import BETA_LIMIT, BETA_STD, BETAS_USED


@dataclass
class LiftErrorModel:
    """(B,T,24,3,3) true rotations -> the lift's per-frame estimates of them."""

    landmarks: BodyLandmarks
    net: LandmarkLiftNet
    max_persistence: float = 0.8  # per window, errors follow e_t = a e_{t-1} + sqrt(1 - a^2) n_t, a ~ U(0, max)

    def as_dict(self) -> dict[str, float]:
        return {"max_persistence": self.max_persistence}

    @torch.no_grad()
    def apply(self, rotmats: torch.Tensor, fps: float, generator: torch.Generator | None = None,
              scale: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        b, t = rotmats.shape[:2]
        betas = (torch.randn(b, BETAS_USED, generator=generator) * BETA_STD).clamp(-BETA_LIMIT, BETA_LIMIT)
        flat = rotmats.flatten(0, 1).float()
        lm = self.landmarks(flat, betas.repeat_interleave(t, 0))[0]
        clean = lm - lm[:, list(HIP_LANDMARKS)].mean(1, keepdim=True)
        noisy, visibility = corrupt(clean, generator or torch.Generator())
        error = (noisy - clean).unflatten(0, (b, t))
        persistence = torch.rand(b, generator=generator) * self.max_persistence
        a = persistence[:, None, None]
        mixed = error.clone()
        for i in range(1, t):
            mixed[:, i] = a * mixed[:, i - 1] + torch.sqrt(1 - a**2) * error[:, i]
        estimate, _ = self.net(clean + mixed.flatten(0, 1), visibility)
        return estimate.unflatten(0, (b, t)).to(rotmats.dtype)


@dataclass
class MixedErrorModel:
    """Each window from the lift with probability lift_fraction, else from the simulated HMR errors."""

    lift: LiftErrorModel
    lift_fraction: float = 0.5
    hmr: HMRErrorModel = field(default_factory=HMRErrorModel)

    def as_dict(self) -> dict[str, object]:
        return {"lift_fraction": self.lift_fraction, "lift": self.lift.as_dict(), "hmr": asdict(self.hmr)}

    def apply(self, rotmats: torch.Tensor, fps: float, generator: torch.Generator | None = None,
              scale: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
        estimate = self.hmr.apply(rotmats, fps, generator, scale)
        pick = torch.rand(rotmats.shape[0], generator=generator) < self.lift_fraction
        if pick.any() and not math.isclose(self.lift_fraction, 0.0):
            estimate[pick] = self.lift.apply(rotmats[pick], fps, generator)
        return estimate
