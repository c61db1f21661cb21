"""The camera-frame translation that puts a posed body model's landmarks on a person's 2D landmarks through K.

Used by the landmark lift for its own pose, by the 2D fit as its starting point, and by the pipeline for the pose
the decoder publishes.
"""

from __future__ import annotations

import numpy as np

_MIN_PLACEMENT_POINTS = 4


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


def solve_lateral(
    points: np.ndarray, pixels: np.ndarray, weights: np.ndarray, k: np.ndarray, depth: float, rounds: int = 6
) -> np.ndarray | None:
    """t = (tx, ty, depth) minimising the Cauchy-reweighted pixel reprojection error of model points (P,3) onto
    pixels (P,2) with the depth held: with tz fixed each pixel is linear in tx (or ty), so this is exact weighted
    least squares in pixels, without the linear solve's pull toward the camera when points and pixels disagree."""
    fx, fy, cx, cy = float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])
    if (weights > 0).sum() < _MIN_PLACEMENT_POINTS or not np.isfinite(depth):
        return None
    z = points[:, 2] + depth
    if (z[weights > 0] <= 0.1).any():
        return None
    # pixel = a * t + b per axis, with a = f / z and b = f * X / z + c
    a_u, a_v = fx / z, fy / z
    b_u, b_v = fx * points[:, 0] / z + cx, fy * points[:, 1] / z + cy
    w_u, w_v = weights.astype(np.float64), weights.astype(np.float64)
    tx = ty = 0.0
    for _ in range(rounds + 1):
        tx = float((w_u * a_u * (pixels[:, 0] - b_u)).sum() / max((w_u * a_u**2).sum(), 1e-12))
        ty = float((w_v * a_v * (pixels[:, 1] - b_v)).sum() / max((w_v * a_v**2).sum(), 1e-12))
        r_u, r_v = a_u * tx + b_u - pixels[:, 0], a_v * ty + b_v - pixels[:, 1]
        scale = max(float(np.median(np.abs(np.concatenate([r_u, r_v])[np.r_[weights, weights] > 0]))) * 1.5, 2.0)
        w_u, w_v = weights / (1.0 + (r_u / scale) ** 2), weights / (1.0 + (r_v / scale) ** 2)
    t = np.array([tx, ty, depth])
    return t if np.isfinite(t).all() else None
