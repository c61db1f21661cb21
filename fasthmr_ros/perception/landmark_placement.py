"""The camera-frame translation that puts a posed body model's landmarks on a person's 2D landmarks through K.

Used by the landmark lift for its own pose, by the 2D fit as its starting point, and by the pipeline for the pose
the decoder publishes.
"""

from __future__ import annotations

import numpy as np

_MIN_PLACEMENT_POINTS = 4


def solve_translations(
    points: np.ndarray, pixels: np.ndarray, weights: np.ndarray, k: np.ndarray, rounds: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """Per person, t minimising the weighted reprojection error of model points (n,P,3) (camera rotation, no
    translation) onto pixels (n,P,2), weights (n,P), K (3,3) -> (translation (n,3), placed (n,) bool).
    Each point gives two equations linear in t, (u - cx)(Z + tz) = fx (X + tx) and likewise for v; their weighted
    least squares is solved in closed form (tx and ty eliminated, leaving one equation in tz), all people at once
    (a few dozen numpy calls a round whatever the number of people: per-call overhead is the cost at this size).
    Reweighted `rounds` times with Cauchy weights on the pixel residuals, so a few wrong points lose their pull.
    Not placed: fewer than 4 points weighted, points that do not constrain the depth, or a body behind the camera."""
    n, count = weights.shape
    focal = np.array([k[0, 0], k[1, 1]], np.float64)[:, None]  # (2 axes, 1)
    centre = np.array([k[0, 2], k[1, 2]], np.float64)
    weights = np.asarray(weights, np.float64)
    enough = (weights > 0).sum(1) >= _MIN_PLACEMENT_POINTS
    if not enough.any():
        return np.zeros((n, 3)), enough
    weights = np.where(enough[:, None], weights, 1.0)  # people who cannot be placed are solved anyway, then dropped
    offset = (pixels - centre).transpose(0, 2, 1)  # (n, 2 axes, P): u - cx, v - cy
    depth_rest = points[..., 2]
    # equation rows per axis: f t_axis - offset tz = offset Z - f X_axis = rhs
    rhs = offset * depth_rest[:, None] - focal * points[..., :2].transpose(0, 2, 1)
    features = np.stack([np.ones_like(offset), offset, offset * offset, rhs, offset * rhs], -1)  # (n, 2, P, 5)
    # each row's median position among its counted residuals (the others sort last as +inf)
    counted = np.concatenate([weights > 0, weights > 0], 1) & enough[:, None]
    pushed = np.where(counted, 0.0, np.inf)
    seen = np.maximum(counted.sum(1), 1)
    rows = np.arange(n)
    low, high = (seen - 1) // 2, seen // 2
    row_weights = np.broadcast_to(weights[:, None], (n, 2, count))
    tz = np.zeros(n)
    t_axes = np.zeros((n, 2))
    for _ in range(rounds + 1):
        sums = (row_weights[..., None, :] @ features)[..., 0, :]  # (n, 2, 5): sum w, w o, w o^2, w b, w o b
        total, first, second, weighted_rhs, cross = (sums[..., i] for i in range(5))
        r_axes = focal[:, 0] * weighted_rhs  # (n, 2)
        # normal equations: f^2 S t_axis - f O1 tz = r_axis; -sum_axes f O1 t_axis + O2 tz = -sum_axes O b
        denominator = second.sum(1) - (first * first / total).sum(1)
        tz = (-cross.sum(1) + (first * r_axes / (focal[:, 0] * total)).sum(1)) / np.maximum(denominator, 1e-300)
        t_axes = (r_axes + focal[:, 0] * first * tz[:, None]) / (focal[:, 0] ** 2 * total)
        depth = np.maximum(depth_rest + tz[:, None], 1e-3)[:, None]  # (n, 1, P)
        residual_px = np.abs(focal * t_axes[..., None] - offset * tz[:, None, None] - rhs) / depth  # (n, 2, P)
        flat = residual_px.reshape(n, -1)
        ordered = np.sort(flat + pushed, axis=1)
        median = 0.5 * (ordered[rows, low] + ordered[rows, high])
        scale = np.maximum(median * 1.5, 2.0)[:, None, None]
        row_weights = weights[:, None] / (1.0 + (residual_px / scale) ** 2)
    translation = np.concatenate([t_axes, tz[:, None]], 1)
    placed = enough & (denominator > 1e-9 * second.sum(1)) & np.isfinite(translation).all(1) & (tz > 0.1)
    translation[~placed] = 0.0
    return translation, placed


def solve_translation(
    points: np.ndarray, pixels: np.ndarray, weights: np.ndarray, k: np.ndarray, rounds: int = 6
) -> np.ndarray | None:
    """solve_translations for one person: points (P,3), pixels (P,2), weights (P,) -> t (3,), or None where it
    cannot be placed."""
    translation, placed = solve_translations(points[None], pixels[None], np.asarray(weights)[None], k, rounds)
    return translation[0] if placed[0] else None


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
