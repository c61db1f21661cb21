"""Pose-sequence error metrics in millimetres: MPJPE, PA-MPJPE and acceleration error, the 3DPW conventions.

Joint arrays are (..., T, J, 3) in metres. MPJPE aligns each frame at the pelvis (joint 0); PA-MPJPE first fits
the best similarity transform (scale, rotation, translation) per frame; Accel compares second differences
x[t+1] - 2 x[t] + x[t-1] of pelvis-aligned joints (mm/frame^2), so it depends on the frame rate.
"""

from __future__ import annotations

import torch


def _pelvis_aligned(joints: torch.Tensor) -> torch.Tensor:
    return joints - joints[..., :1, :]


def per_frame_mpjpe(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """(..., T) mean joint error per frame in mm after pelvis alignment."""
    return 1000.0 * (_pelvis_aligned(pred) - _pelvis_aligned(true)).norm(dim=-1).mean(-1)


def mpjpe(pred: torch.Tensor, true: torch.Tensor) -> float:
    return float(per_frame_mpjpe(pred, true).mean())


def procrustes_align(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """pred (..., J, 3) moved onto true by the least-squares similarity transform, per leading index."""
    pred = pred.double()
    true = true.double()
    mu_p, mu_t = pred.mean(-2, keepdim=True), true.mean(-2, keepdim=True)
    p, t = pred - mu_p, true - mu_t
    cov = p.transpose(-1, -2) @ t
    u, s, vh = torch.linalg.svd(cov)
    sign = torch.sign(torch.linalg.det(u @ vh))
    d = torch.ones_like(s)
    d[..., -1] = sign
    rot = (u * d[..., None, :]) @ vh  # p @ rot ~ t
    scale = (s * d).sum(-1) / (p * p).sum((-1, -2)).clamp_min(1e-12)
    return scale[..., None, None] * (p @ rot) + mu_t


def per_frame_pa_mpjpe(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    return 1000.0 * (procrustes_align(pred, true) - true.double()).norm(dim=-1).mean(-1)


def pa_mpjpe(pred: torch.Tensor, true: torch.Tensor) -> float:
    return float(per_frame_pa_mpjpe(pred, true).mean())


def per_frame_accel_error(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """(..., T-2) mean joint acceleration error per interior frame in mm/frame^2."""
    pred, true = _pelvis_aligned(pred), _pelvis_aligned(true)
    accel_p = pred[..., 2:, :, :] - 2 * pred[..., 1:-1, :, :] + pred[..., :-2, :, :]
    accel_t = true[..., 2:, :, :] - 2 * true[..., 1:-1, :, :] + true[..., :-2, :, :]
    return 1000.0 * (accel_p - accel_t).norm(dim=-1).mean(-1)


def accel_error(pred: torch.Tensor, true: torch.Tensor) -> float:
    if pred.shape[-3] < 3:
        raise ValueError("accel_error needs sequences of at least 3 frames")
    return float(per_frame_accel_error(pred, true).mean())


def joint_speed(true: torch.Tensor) -> torch.Tensor:
    """(..., T) mean pelvis-aligned joint speed per frame in mm/frame (backward difference, first frame copied)."""
    aligned = _pelvis_aligned(true)
    speed = 1000.0 * (aligned[..., 1:, :, :] - aligned[..., :-1, :, :]).norm(dim=-1).mean(-1)
    return torch.cat((speed[..., :1], speed), dim=-1)
