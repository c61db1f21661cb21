"""The camera-frame translation that puts a posed body model's landmarks on a person's 2D landmarks through K.

Used by the landmark lift for its own pose, by the 2D fit as its starting point, and by the pipeline for the pose
the decoder publishes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

_MIN_PLACEMENT_POINTS = 4


def _counted_median(counted: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """counted (n, M) bool -> a function of values (n, M) giving each row's median over its counted entries
    (np.median's rule for an even count) by one sort with the others pushed to the end; the indices are made once
    per solve, the function runs every reweighting round."""
    pushed = np.where(counted, 0.0, np.inf)
    count = np.maximum(counted.sum(1), 1)
    rows = np.arange(len(counted))
    low, high = (count - 1) // 2, count // 2

    def median(values: np.ndarray) -> np.ndarray:
        ordered = np.sort(values + pushed, axis=1)
        return 0.5 * (ordered[rows, low] + ordered[rows, high])

    return median


def solve_translations(
    points: np.ndarray, pixels: np.ndarray, weights: np.ndarray, k: np.ndarray, rounds: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """Per person, t minimising the weighted reprojection error of model points (n,P,3) (camera rotation, no
    translation) onto pixels (n,P,2), weights (n,P), K (3,3) or one per person (n,3,3) -> (translation (n,3),
    placed (n,) bool).
    Each point gives two equations linear in t, (u - cx)(Z + tz) = fx (X + tx) and likewise for v; their weighted
    least squares is solved in closed form (tx and ty eliminated, leaving one equation in tz), all people at once
    (a few dozen numpy calls a round whatever the number of people: per-call overhead is the cost at this size).
    Reweighted `rounds` times with Cauchy weights on the pixel residuals, so a few wrong points lose their pull.
    Not placed: fewer than 4 points weighted, points that do not constrain the depth, or a body behind the camera."""
    n, count = weights.shape
    ks = np.broadcast_to(np.asarray(k, np.float64), (n, 3, 3))
    focal = np.stack([ks[:, 0, 0], ks[:, 1, 1]], 1)  # (n, 2 axes)
    centre = np.stack([ks[:, 0, 2], ks[:, 1, 2]], 1)[:, None]  # (n, 1, 2)
    weights = np.asarray(weights, np.float64)
    enough = (weights > 0).sum(1) >= _MIN_PLACEMENT_POINTS
    if not enough.any():
        return np.zeros((n, 3)), enough
    weights = np.where(enough[:, None], weights, 1.0)  # people who cannot be placed are solved anyway, then dropped
    offset = (pixels - centre).transpose(0, 2, 1)  # (n, 2 axes, P): u - cx, v - cy
    depth_rest = points[..., 2]
    # equation rows per axis: f t_axis - offset tz = offset Z - f X_axis = rhs
    rhs = offset * depth_rest[:, None] - focal[..., None] * points[..., :2].transpose(0, 2, 1)
    features = np.stack([np.ones_like(offset), offset, offset * offset, rhs, offset * rhs], -1)  # (n, 2, P, 5)
    median = _counted_median(np.concatenate([weights > 0, weights > 0], 1) & enough[:, None])
    row_weights = np.broadcast_to(weights[:, None], (n, 2, count))
    tz = np.zeros(n)
    t_axes = np.zeros((n, 2))
    for _ in range(rounds + 1):
        sums = (row_weights[..., None, :] @ features)[..., 0, :]  # (n, 2, 5): sum w, w o, w o^2, w b, w o b
        total, first, second, weighted_rhs, cross = (sums[..., i] for i in range(5))
        r_axes = focal * weighted_rhs  # (n, 2)
        # normal equations: f^2 S t_axis - f O1 tz = r_axis; -sum_axes f O1 t_axis + O2 tz = -sum_axes O b
        denominator = second.sum(1) - (first * first / total).sum(1)
        tz = (-cross.sum(1) + (first * r_axes / (focal * total)).sum(1)) / np.maximum(denominator, 1e-300)
        t_axes = (r_axes + focal * first * tz[:, None]) / (focal**2 * total)
        depth = np.maximum(depth_rest + tz[:, None], 1e-3)[:, None]  # (n, 1, P)
        # (n, 2, P): each equation's residual, scaled back to pixels
        residual_px = np.abs(focal[..., None] * t_axes[..., None] - offset * tz[:, None, None] - rhs) / depth
        scale = np.maximum(median(residual_px.reshape(n, -1)) * 1.5, 2.0)[:, None, None]
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


def solve_laterals(
    points: np.ndarray, pixels: np.ndarray, weights: np.ndarray, k: np.ndarray, depth: np.ndarray, rounds: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """Per person, t = (tx, ty, depth) minimising the Cauchy-reweighted pixel reprojection error of model points
    (n,P,3) onto pixels (n,P,2), weights (n,P), with the depth (n,) held; K (3,3) or one per person (n,3,3) ->
    (translation (n,3), placed (n,) bool). With tz fixed each pixel is linear in tx (or ty), so this is exact
    weighted least squares in pixels, without the linear solve's pull toward the camera when points and pixels
    disagree. Not placed: fewer than 4 points weighted, a weighted point behind the camera, a depth not finite."""
    n = len(points)
    ks = np.broadcast_to(np.asarray(k, np.float64), (n, 3, 3))
    focal = np.stack([ks[:, 0, 0], ks[:, 1, 1]], 1)[..., None]  # (n, 2 axes, 1)
    centre = np.stack([ks[:, 0, 2], ks[:, 1, 2]], 1)[..., None]
    weights = np.asarray(weights, np.float64)
    depth = np.asarray(depth, np.float64)
    z = points[..., 2] + np.where(np.isfinite(depth), depth, 1.0)[:, None]  # (n, P)
    placed = ((weights > 0).sum(1) >= _MIN_PLACEMENT_POINTS) & np.isfinite(depth)
    placed &= ~((z <= 0.1) & (weights > 0)).any(1)
    translation = np.zeros((n, 3))
    if not placed.any():
        return translation, placed
    weights = np.where(placed[:, None], weights, 1.0)  # solved anyway, dropped at the end
    z = np.where(placed[:, None], z, 1.0)
    # pixel = a * t + b per axis, with a = f / z and b = f * X / z + c: (n, 2 axes, P)
    slope = focal / z[:, None]
    intercept = slope * points[..., :2].transpose(0, 2, 1) + centre
    target = pixels.transpose(0, 2, 1)
    median = _counted_median(np.concatenate([weights > 0, weights > 0], 1))
    row_weights = np.broadcast_to(weights[:, None], (n, 2, weights.shape[1]))
    t_axes = np.zeros((n, 2))
    for _ in range(rounds + 1):
        t_axes = (row_weights * slope * (target - intercept)).sum(2) / np.maximum(
            (row_weights * slope**2).sum(2), 1e-12
        )
        residual = slope * t_axes[..., None] + intercept - target  # (n, 2, P)
        scale = np.maximum(median(np.abs(residual).reshape(n, -1)) * 1.5, 2.0)[:, None, None]
        row_weights = weights[:, None] / (1.0 + (residual / scale) ** 2)
    translation = np.concatenate([t_axes, depth[:, None]], 1)
    placed &= np.isfinite(translation).all(1)
    translation[~placed] = 0.0
    return translation, placed
