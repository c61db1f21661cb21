"""A simulated error model of a per-frame HMR estimator (HMR2.0-like), applied to ground-truth SMPL rotations.

Lets the temporal decoder be trained and evaluated from motion capture alone (no paired video). Every term acts on
the local rotation of each joint (R_est = R_true @ exp(e), e an axis-angle error), except flips and drops:

- bias: a constant error per sequence and joint (shape/camera/depth ambiguities that stay while a person is seen);
- drift: a slowly varying, smooth error (white noise through two first-order low-pass stages, time constant
  `drift_tau_s`): the part of a per-frame estimator's error that is correlated over neighbouring frames because
  neighbouring images look alike;
- jitter: white noise per frame (what makes per-frame outputs shake; it dominates the acceleration error);
- left/right flips: with probability `flip_rate` per frame a burst of 1..`flip_max_len` frames where the limbs are
  swapped (mirrored pose), the classic confusion of a per-frame estimator;
- orientation flips: rarer bursts where the global orientation is turned 180 degrees about the body's vertical
  (front/back confusion);
- dropped frames: with probability `drop_rate` a burst of 1..`drop_max_len` frames where the estimate is not
  updated and the previous frame's estimate is repeated (missed detection handled by holding the last output).

Standard deviations are in degrees; distal joints (wrists, hands, feet, head) get `distal_scale` times more. The
defaults were set so that per-frame inputs on the synthetic set land near HMR2.0's published per-frame errors on
3DPW (MPJPE ~70 mm pelvis-aligned, PA-MPJPE ~45 mm, Accel ~20 mm/frame^2 at 30 fps); see docs/decoder.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch

from fasthmr_ros.model.rotation import axis_angle_to_rotmat
from fasthmr_ros.model.skeleton import JOINT_NAMES, NUM_JOINTS
from fasthmr_ros.training.synth.motion import mirror_pose

_DISTAL = ("wrist", "hand", "foot", "ankle", "head")


@dataclass
class HMRErrorModel:
    bias_deg: float = 2.5
    root_bias_deg: float = 4.0
    drift_deg: float = 3.0
    root_drift_deg: float = 3.0
    drift_tau_s: float = 0.5
    jitter_deg: float = 0.5
    root_jitter_deg: float = 0.35
    distal_scale: float = 1.5
    flip_rate: float = 0.005
    flip_max_len: int = 3
    orient_flip_rate: float = 0.001
    drop_rate: float = 0.01
    drop_max_len: int = 3

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def _joint_scale(self, body: float, root: float, dtype: torch.dtype) -> torch.Tensor:
        scale = torch.full((NUM_JOINTS,), body, dtype=dtype)
        scale[0] = root
        distal = torch.tensor([any(key in name for key in _DISTAL) for name in JOINT_NAMES])
        scale[distal] *= self.distal_scale
        return torch.deg2rad(scale)

    def apply(
        self,
        rotmats: torch.Tensor,
        fps: float,
        generator: torch.Generator | None = None,
        scale: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B,T,24,3,3) true local rotations -> simulated per-frame estimates of the same shape.

        scale (B,): multiplies the bias, drift and jitter angles of each sequence (training at several error levels).
        """
        if rotmats.ndim != 5 or rotmats.shape[-3:] != (NUM_JOINTS, 3, 3):
            raise ValueError(f"HMRErrorModel.apply needs (B,T,24,3,3) rotations, got {tuple(rotmats.shape)}")
        batch, frames = rotmats.shape[:2]
        dtype, device = rotmats.dtype, rotmats.device

        def normal(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, dtype=dtype).to(device)

        def uniform(*shape: int) -> torch.Tensor:
            return torch.rand(*shape, generator=generator, dtype=dtype).to(device)

        bias = normal(batch, 1, NUM_JOINTS, 3) * self._joint_scale(self.bias_deg, self.root_bias_deg, dtype)[:, None]
        drift = _smooth_noise(normal, batch, frames, math.exp(-1.0 / (max(self.drift_tau_s, 1e-6) * fps)))
        drift = drift * self._joint_scale(self.drift_deg, self.root_drift_deg, dtype)[:, None].to(device)
        jitter = normal(batch, frames, NUM_JOINTS, 3)
        jitter = jitter * self._joint_scale(self.jitter_deg, self.root_jitter_deg, dtype)[:, None].to(device)
        error = bias.to(device) + drift + jitter
        if scale is not None:
            error = error * scale.to(device=device, dtype=dtype)[:, None, None, None]
        estimate = rotmats @ axis_angle_to_rotmat(error)

        flipped = _bursts(uniform(batch, frames), uniform(batch, frames), self.flip_rate, self.flip_max_len)
        if flipped.any():
            mirrored = mirror_pose(estimate)
            mirrored[..., 0, :, :] = estimate[..., 0, :, :]  # limbs swap, the global orientation stays
            estimate = torch.where(flipped[..., None, None, None], mirrored, estimate)
        turned = _bursts(uniform(batch, frames), uniform(batch, frames), self.orient_flip_rate, self.flip_max_len)
        if turned.any():
            half_turn = torch.diag(torch.tensor([-1.0, 1.0, -1.0], dtype=dtype, device=device))
            root = estimate[..., 0, :, :].clone()
            estimate[..., 0, :, :] = torch.where(turned[..., None, None], root @ half_turn, root)
        dropped = _bursts(uniform(batch, frames), uniform(batch, frames), self.drop_rate, self.drop_max_len)
        dropped[:, 0] = False
        for t in range(1, frames):
            if dropped[:, t].any():
                estimate[:, t] = torch.where(dropped[:, t, None, None, None], estimate[:, t - 1], estimate[:, t])
        return estimate


def _smooth_noise(normal, batch: int, frames: int, rho: float) -> torch.Tensor:
    """(B,T,24,3) unit-variance noise through two first-order low-pass stages (smooth: small second differences).

    A single first-order process has white increments, so its second differences would be as rough as jitter.
    The first `burn_in` samples are dropped so the output starts in its stationary distribution.
    """
    burn_in = min(int(4.0 / max(1.0 - rho, 1e-3)), 400)
    innovation = normal(batch, frames + burn_in, NUM_JOINTS, 3)
    gain = math.sqrt(1.0 - rho * rho)
    first = torch.zeros_like(innovation[:, 0])
    second = torch.zeros_like(first)
    out = torch.empty_like(innovation)
    for t in range(frames + burn_in):
        first = rho * first + gain * innovation[:, t]
        second = rho * second + gain * first
        out[:, t] = second
    return out[:, burn_in:] * math.sqrt((1.0 - rho * rho) / (1.0 + rho * rho))


def _bursts(start_draw: torch.Tensor, length_draw: torch.Tensor, rate: float, max_len: int) -> torch.Tensor:
    """(B,T) bool: bursts starting where start_draw < rate, each lasting 1..max_len frames."""
    starts = start_draw < rate
    lengths = (length_draw * max_len).long().clamp(0, max_len - 1) + 1
    active = torch.zeros_like(starts)
    for offset in range(max_len):
        hit = starts & (lengths > offset)
        if offset:
            hit = torch.nn.functional.pad(hit[:, :-offset], (offset, 0))
        active |= hit
    return active
