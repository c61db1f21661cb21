"""Evaluation of temporal pose refiners on synthetic motions with simulated HMR errors.

Every method runs online, frame by frame, the way the live node runs it; a method with look-ahead k answers for
frame t - k at time t. Metrics use joints from forward kinematics on the skeleton's rest joints.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from fasthmr_ros.model.rotation import rot6d_to_rotmat, rotmat_to_rot6d
from fasthmr_ros.training.metrics import joint_speed, per_frame_accel_error, per_frame_mpjpe, per_frame_pa_mpjpe
from fasthmr_ros.training.one_euro import OneEuroFilter
from fasthmr_ros.training.synth.hmr_errors import HMRErrorModel
from fasthmr_ros.training.synth.motion import MotionClip, camera_view, forward_kinematics


@dataclass
class EvalSet:
    true: torch.Tensor  # (B,T,24,3,3) camera-frame rotations
    estimate: torch.Tensor  # (B,T,24,3,3) simulated per-frame HMR estimates
    fps: float
    kinds: list[str]


def make_eval_set(
    clips: Sequence[MotionClip], seed: int = 0, error_model: HMRErrorModel | None = None, frames: int | None = None
) -> EvalSet:
    """Clips (cut to a common length) seen from random cameras, with simulated per-frame errors."""
    length = min(len(c) for c in clips) if frames is None else frames
    if any(len(c) < length for c in clips):
        raise ValueError(f"every evaluation clip needs at least {length} frames")
    generator = torch.Generator().manual_seed(seed)
    world = torch.stack([c.rotmats()[:length] for c in clips])
    yaw = (torch.rand(len(clips), generator=generator) * 2 - 1) * math.pi
    pitch = (torch.rand(len(clips), generator=generator) * 2 - 1) * math.radians(20)
    true = camera_view(world, yaw, pitch)
    estimate = (error_model or HMRErrorModel()).apply(true, clips[0].fps, generator)
    return EvalSet(true, estimate, float(clips[0].fps), [c.kind for c in clips])


def run_online(
    update: Callable[[list[int], torch.Tensor], torch.Tensor], estimate: torch.Tensor, lookahead: int = 0
) -> torch.Tensor:
    """Feed (B,T,24,3,3) frame by frame (B people) to update(ids, rotmats); returns outputs re-aligned to the frames
    they describe. The last `lookahead` frames never get an answer online and are left as the input."""
    out = estimate.clone()
    ids = list(range(estimate.shape[0]))
    for t in range(estimate.shape[1]):
        refined = update(ids, estimate[:, t])
        if t >= lookahead:
            out[:, t - lookahead] = refined
    return out


def one_euro_batch(estimate: torch.Tensor, fps: float, min_cutoff: float, beta: float) -> torch.Tensor:
    """One-Euro filtering of every sequence of (B,T,24,3,3) at once (identical to per-track filters)."""
    filt = OneEuroFilter(fps=fps, min_cutoff=min_cutoff, beta=beta)
    features = rotmat_to_rot6d(estimate)
    smoothed = torch.stack([filt(features[:, t]) for t in range(features.shape[1])], dim=1)
    return rot6d_to_rotmat(smoothed)


def motion_metrics(
    pred: torch.Tensor, true: torch.Tensor, valid_frames: int | None = None, fast_quantile: float = 0.9
) -> dict[str, float]:
    """MPJPE, PA-MPJPE, Accel over all frames and MPJPE/Accel on the fastest 10% of frames."""
    frames = valid_frames or true.shape[1]
    joints_p = forward_kinematics(pred[:, :frames])
    joints_t = forward_kinematics(true[:, :frames])
    err = per_frame_mpjpe(joints_p, joints_t)
    accel = per_frame_accel_error(joints_p, joints_t)
    speed = joint_speed(joints_t)
    fast = speed >= torch.quantile(speed.flatten(), fast_quantile)
    fast_inner = fast[:, 1:-1]
    return {
        "mpjpe": float(err.mean()),
        "pa_mpjpe": float(per_frame_pa_mpjpe(joints_p, joints_t).mean()),
        "accel": float(accel.mean()),
        "mpjpe_fast": float(err[fast].mean()),
        "accel_fast": float(accel[fast_inner].mean()),
    }


def tune_one_euro(
    eval_set: EvalSet,
    min_cutoffs: Sequence[float] = (0.3, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0),
    betas: Sequence[float] = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0),
    key: str = "mpjpe",
) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Grid search; returns the best setting (lowest `key`) and every row (min_cutoff, beta, metrics)."""
    rows = []
    for min_cutoff, beta in itertools.product(min_cutoffs, betas):
        smoothed = one_euro_batch(eval_set.estimate, eval_set.fps, min_cutoff, beta)
        rows.append({"min_cutoff": min_cutoff, "beta": beta, **motion_metrics(smoothed, eval_set.true)})
    best = min(rows, key=lambda row: row[key])
    return best, rows
