"""Rotation maths for the whole package: 6D <-> matrix (HMR2.0 layout), axis-angle <-> matrix.

The 6D layout is HMR2.0's, column-wise: the first three numbers are the first column of the rotation matrix, the
next three the second column (identity = [1, 0, 0, 0, 1, 0]). SPIN's interleaved layout is NOT used anywhere.
All functions take any leading batch shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# Below this angle (radians) the closed forms lose precision and their Taylor series take over.
_SMALL_ANGLE = 1e-4


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt on the two given columns (Zhou et al. 2019, HMR2.0 layout)."""
    if x.shape[-1] != 6:
        raise ValueError(f"rot6d_to_rotmat expects (..., 6), got {tuple(x.shape)}")
    a1, a2 = x[..., 0:3], x[..., 3:6]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns, concatenated."""
    _check_rotmat_shape(rotmat)
    return torch.cat((rotmat[..., :, 0], rotmat[..., :, 1]), dim=-1)


def axis_angle_to_rotmat(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) rotation vectors (axis * angle) -> (..., 3, 3) by Rodrigues' formula."""
    if axis_angle.shape[-1] != 3:
        raise ValueError(f"axis_angle_to_rotmat expects (..., 3), got {tuple(axis_angle.shape)}")
    theta2 = (axis_angle * axis_angle).sum(dim=-1)
    # clamped: sqrt's infinite slope at 0 would turn the masked-out branch's zero gradient into NaN in training
    theta = theta2.clamp_min(1e-16).sqrt()
    small = theta < _SMALL_ANGLE
    safe_theta = torch.where(small, torch.ones_like(theta), theta)
    # R = I + a [w]x + b [w]x^2 with a = sin(t)/t, b = (1 - cos(t))/t^2 (w unnormalised, t = |w|).
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(safe_theta) / safe_theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(safe_theta)) / (safe_theta * safe_theta))
    skew = _skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + a[..., None, None] * skew + b[..., None, None] * (skew @ skew)


def rotmat_to_axis_angle(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) rotation vectors with angle in [0, pi], via a unit quaternion (stable near 0 and pi)."""
    quat = rotmat_to_quaternion(rotmat)
    # Choose w >= 0 so the angle 2*atan2(|v|, w) lies in [0, pi].
    quat = torch.where(quat[..., :1] < 0, -quat, quat)
    w, v = quat[..., 0], quat[..., 1:]
    sin_half = v.norm(dim=-1)
    angle = 2.0 * torch.atan2(sin_half, w)
    small = sin_half < _SMALL_ANGLE
    # angle / sin(angle/2) -> 2 as the angle -> 0 (series: 2 + angle^2/12).
    safe_sin = torch.where(small, torch.ones_like(sin_half), sin_half)
    scale = torch.where(small, 2.0 + angle * angle / 12.0, angle / safe_sin)
    return v * scale[..., None]


def rotmat_to_quaternion(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z), sign arbitrary.

    Shepperd's method: of the four algebraically equal formulas, each element uses the one whose divisor is
    largest, which keeps the result accurate for every rotation.
    """
    _check_rotmat_shape(rotmat)
    m = rotmat
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    # 4*q_i^2 for i = w, x, y, z
    four_sq = torch.stack(
        (1.0 + trace, 1.0 + m00 - m11 - m22, 1.0 - m00 + m11 - m22, 1.0 - m00 - m11 + m22),
        dim=-1,
    )
    s21, s02, s10 = m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]
    a10, a02, a21 = m[..., 1, 0] + m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 2, 1] + m[..., 1, 2]
    # Row i holds 4*q_i*q for the formula built on q_i.
    candidates = torch.stack(
        (
            torch.stack((four_sq[..., 0], s21, s02, s10), dim=-1),
            torch.stack((s21, four_sq[..., 1], a10, a02), dim=-1),
            torch.stack((s02, a10, four_sq[..., 2], a21), dim=-1),
            torch.stack((s10, a02, a21, four_sq[..., 3]), dim=-1),
        ),
        dim=-2,
    )
    best = four_sq.argmax(dim=-1)
    chosen = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    return F.normalize(chosen, dim=-1)


def _skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrices [v]x."""
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    return torch.stack(
        (
            torch.stack((zero, -z, y), dim=-1),
            torch.stack((z, zero, -x), dim=-1),
            torch.stack((-y, x, zero), dim=-1),
        ),
        dim=-2,
    )


def _check_rotmat_shape(rotmat: torch.Tensor) -> None:
    if rotmat.shape[-2:] != (3, 3):
        raise ValueError(f"expected rotation matrices (..., 3, 3), got {tuple(rotmat.shape)}")
