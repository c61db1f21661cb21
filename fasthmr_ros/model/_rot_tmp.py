"""Stand-in for fasthmr_ros/model/rotation.py (written in parallel by the model helper).

Same function names and conventions as the shared interface, so the decoder code switches over by changing one
import line per module (`_rot_tmp` -> `rotation`) and this file is deleted at merge. 6D layout = HMR2.0's column
layout: the first three numbers are the first column of the rotation matrix.
"""

from __future__ import annotations

import torch


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two columns a1 = x[..., 0:3], a2 = x[..., 3:6]."""
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = torch.nn.functional.normalize(a1, dim=-1)
    b2 = torch.nn.functional.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): first column then second column."""
    return torch.cat((rotmat[..., :, 0], rotmat[..., :, 1]), dim=-1)


def axis_angle_to_rotmat(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3), Rodrigues' formula with series expansions near angle 0."""
    angle_sq = (axis_angle * axis_angle).sum(-1, keepdim=True)
    angle = angle_sq.clamp_min(1e-16).sqrt()  # clamped: the gradient of sqrt at 0 would be inf, then NaN via where
    small = angle < 1e-4
    safe = torch.where(small, torch.ones_like(angle), angle)
    sin_term = torch.where(small, 1.0 - angle_sq / 6.0, torch.sin(safe) / safe)
    cos_term = torch.where(small, 0.5 - angle_sq / 24.0, (1.0 - torch.cos(safe)) / (safe * safe))
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + sin_term[..., None] * skew + cos_term[..., None] * (skew @ skew)


def _rotmat_to_quaternion(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) as (w, x, y, z), computed from the largest of the four diagonal combinations."""
    m = rotmat
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 4 q_i^2 for i = w, x, y, z; the largest gives a well-conditioned division.
    four_sq = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), -1)
    best = four_sq.argmax(-1, keepdim=True)
    denom = 2.0 * four_sq.clamp_min(1e-12).sqrt()  # = 4 |q_i|
    d21, d02, d10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    s21, s02, s10 = m[..., 2, 1] + m[..., 1, 2], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 0] + m[..., 0, 1]
    magnitude = denom / 4.0  # = |q_i|
    candidates = torch.stack(
        (
            torch.stack((magnitude[..., 0], d21 / denom[..., 0], d02 / denom[..., 0], d10 / denom[..., 0]), -1),
            torch.stack((d21 / denom[..., 1], magnitude[..., 1], s10 / denom[..., 1], s02 / denom[..., 1]), -1),
            torch.stack((d02 / denom[..., 2], s10 / denom[..., 2], magnitude[..., 2], s21 / denom[..., 2]), -1),
            torch.stack((d10 / denom[..., 3], s02 / denom[..., 3], s21 / denom[..., 3], magnitude[..., 3]), -1),
        ),
        dim=-2,
    )
    quat = torch.gather(candidates, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)
    return torch.nn.functional.normalize(quat, dim=-1)


def rotmat_to_axis_angle(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) with angle in [0, pi]."""
    quat = _rotmat_to_quaternion(rotmat)
    quat = torch.where(quat[..., :1] < 0, -quat, quat)
    vec = quat[..., 1:]
    sin_half = vec.norm(dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, quat[..., :1])
    small = sin_half < 1e-6
    scale = torch.where(small, 2.0 + angle * 0, angle / torch.where(small, torch.ones_like(sin_half), sin_half))
    return vec * scale
