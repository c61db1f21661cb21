"""Training windows for the temporal decoder: random crops of motion clips, seen by a random camera, with
simulated per-frame HMR estimates."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import torch

from fasthmr_ros.training.synth.hmr_errors import HMRErrorModel
from fasthmr_ros.training.synth.motion import MotionClip, camera_view, mirror_pose


class ErrorModel(Protocol):
    """What turns true motion into simulated per-frame estimates (HMRErrorModel, training/lift_errors.py)."""

    def apply(self, rotmats: torch.Tensor, fps: float, generator: torch.Generator | None = None,
              scale: torch.Tensor | None = None) -> torch.Tensor: ...  # fmt: skip

    def as_dict(self) -> dict: ...


class WindowSampler:
    """Draws (true, estimate) pairs of (B,W,24,3,3) camera-frame rotations from clips all at one frame rate.

    Augmentations: camera yaw over the full circle, pitch within +-`pitch_deg`, left/right mirroring of the motion,
    and the error level: each window's bias/drift/jitter angles are scaled by a factor drawn log-uniformly from
    `error_scale` (a real estimator's error level is unknown and varies with the person and the view).
    """

    def __init__(
        self,
        clips: Sequence[MotionClip],
        window: int,
        error_model: ErrorModel | None = None,
        pitch_deg: float = 25.0,
        mirror: bool = True,
        error_scale: tuple[float, float] = (1.0, 1.0),
    ) -> None:
        if not clips:
            raise ValueError("WindowSampler needs at least one motion clip")
        rates = {round(clip.fps, 3) for clip in clips}
        if len(rates) != 1:
            raise ValueError(f"all clips must share one frame rate (resample first), got {sorted(rates)}")
        usable = [clip for clip in clips if len(clip) >= window]
        if not usable:
            raise ValueError(f"no motion clip has at least {window} frames (the decoder window)")
        self.fps = float(clips[0].fps)
        self.window = window
        self.error_model: ErrorModel = error_model or HMRErrorModel()
        self.pitch = math.radians(pitch_deg)
        self.mirror = mirror
        self.error_scale = error_scale
        self.rotmats = torch.cat([clip.rotmats() for clip in usable])
        starts, offset = [], 0
        for clip in usable:
            starts.append(torch.arange(offset, offset + len(clip) - window + 1))
            offset += len(clip)
        self.starts = torch.cat(starts)

    def sample(self, batch: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pick = self.starts[torch.randint(0, len(self.starts), (batch,), generator=generator)]
        index = pick[:, None] + torch.arange(self.window)[None]
        world = self.rotmats[index]
        if self.mirror:
            flip = torch.rand(batch, generator=generator) < 0.5
            world = torch.where(flip[:, None, None, None, None], mirror_pose(world), world)
        yaw = (torch.rand(batch, generator=generator) * 2 - 1) * math.pi
        pitch = (torch.rand(batch, generator=generator) * 2 - 1) * self.pitch
        true = camera_view(world, yaw, pitch)
        low, high = (math.log(value) for value in self.error_scale)
        scale = torch.exp(low + (high - low) * torch.rand(batch, generator=generator))
        return true, self.error_model.apply(true, self.fps, generator, scale)
