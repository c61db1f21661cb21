"""Calibrated multi-camera geometry for real-footage ground truth: a Qualisys calibration reader, weighted DLT
triangulation with reprojection-error rejection, and the time offsets between unsynchronised views.

Conventions: world points in metres; cameras in the OpenCV optical frame (x right, y down, z forward), so a world
point X maps to R X + t and to pixels by K. Pixel arrays are (..., 2) x, y.

Qualisys `.qca.txt` (XML) as Pose2Sim's converter reads it (checked by reprojection on its demo footage in
bench/real3d.py):
- `intrinsic` focal lengths, principal point and sensor extents are in 1/64 pixel; the principal point is relative
  to the sensor, so the `fov_video` window's left/top edge is subtracted;
- `transform` x, y, z is the camera centre in the world, millimetres; the nine r_ij, taken as a row-major matrix M,
  turn world axes into the Qualisys camera's axes, which look down -z with y up: OpenCV's frame is that one turned
  by pi about x, so R = diag(1, -1, -1) M and t = -R C.
"""

from __future__ import annotations

import warnings
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

# Qualisys stores pixel quantities in sub-pixel units of 1/64 px.
QUALISYS_SUBPIXELS = 64.0
# The pi turn about x between the Qualisys camera frame (looks down -z, y up) and OpenCV's.
QUALISYS_TO_OPENCV = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class Camera:
    name: str
    K: np.ndarray  # (3, 3) pixels of an image of `size`
    R: np.ndarray  # (3, 3) world -> camera (OpenCV optical frame)
    t: np.ndarray  # (3,) metres
    size: tuple[int, int]  # (width, height) in pixels that K refers to
    distortion: np.ndarray  # (4,) OpenCV k1, k2, p1, p2 as written in the file's units (see read_qca)

    @property
    def projection(self) -> np.ndarray:
        """(3, 4) P = K [R | t]."""
        return self.K @ np.hstack((self.R, self.t[:, None]))

    @property
    def centre(self) -> np.ndarray:
        return -self.R.T @ self.t

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world -> camera frame."""
        return np.asarray(points, np.float64) @ self.R.T + self.t

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world -> (..., 2) pixels, pinhole (no distortion)."""
        return project_camera_points(self.to_camera(points), self.K)

    def for_image(self, width: int, height: int, fit: str = "crop") -> Camera:
        """This camera for a video of (width, height) when the calibration is for another size.

        fit "crop": the video is the centred crop of the calibrated sensor window (principal point shifted by half
        the difference); "scale": the video is the window resized (K scaled per axis); "left": the video is the
        window cut at its right/bottom edge (K unchanged).
        """
        cal_w, cal_h = self.size
        k = self.K.copy()
        if fit == "crop":
            k[0, 2] -= (cal_w - width) / 2.0
            k[1, 2] -= (cal_h - height) / 2.0
        elif fit == "scale":
            k[0] *= width / cal_w
            k[1] *= height / cal_h
        elif fit != "left":
            raise ValueError(f"fit must be crop, scale or left, got {fit!r}")
        return replace(self, K=k, size=(width, height))


def project_camera_points(points_cam: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels (points behind the camera give NaN, not mirrored pixels)."""
    points_cam = np.asarray(points_cam, np.float64)
    z = points_cam[..., 2:3]
    z = np.where(z > 1e-9, z, np.nan)
    return points_cam[..., :2] / z * np.array([k[0, 0], k[1, 1]]) + np.array([k[0, 2], k[1, 2]])


def read_qca(path: str | Path) -> list[Camera]:
    """Cameras of a Qualisys .qca.txt calibration, in file order (conventions in the module docstring)."""
    root = ElementTree.parse(path).getroot()
    cameras = []
    for node in root.iter("camera"):
        video = node.find("fov_video")
        intrinsic = node.find("intrinsic")
        transform = node.find("transform")
        if video is None or intrinsic is None or transform is None:
            raise ValueError(f"{path}: camera {node.get('serial')} lacks fov_video, intrinsic or transform")

        serial = node.get("serial")

        def num(element: ElementTree.Element, key: str, serial: str | None = serial) -> float:
            value = element.get(key)
            if value is None:
                raise ValueError(f"{path}: camera {serial}: <{element.tag}> has no {key}")
            return float(value)

        left, top = num(video, "left"), num(video, "top")
        # inclusive pixel bounds
        size = (round(num(video, "right") - left + 1), round(num(video, "bottom") - top + 1))
        k = np.array(
            [
                [num(intrinsic, "focalLengthU") / QUALISYS_SUBPIXELS, 0.0, 0.0],
                [0.0, num(intrinsic, "focalLengthV") / QUALISYS_SUBPIXELS, 0.0],
                [0.0, 0.0, 1.0],
            ]
        )
        k[0, 1] = num(intrinsic, "skew") / QUALISYS_SUBPIXELS if intrinsic.get("skew") is not None else 0.0
        k[0, 2] = num(intrinsic, "centerPointU") / QUALISYS_SUBPIXELS - left
        k[1, 2] = num(intrinsic, "centerPointV") / QUALISYS_SUBPIXELS - top
        distortion = np.array(
            [
                num(intrinsic, "radialDistortion1"),
                num(intrinsic, "radialDistortion2"),
                num(intrinsic, "tangentalDistortion1"),
                num(intrinsic, "tangentalDistortion2"),
            ]
        )
        m = np.array([[num(transform, f"r{i}{j}") for j in (1, 2, 3)] for i in (1, 2, 3)])
        centre = np.array([num(transform, axis) for axis in "xyz"]) / 1000.0
        rotation = QUALISYS_TO_OPENCV @ m
        cameras.append(
            Camera(
                name=node.get("serial") or f"cam{len(cameras) + 1:02d}",
                K=k,
                R=rotation,
                t=-rotation @ centre,
                size=size,
                distortion=distortion,
            )
        )
    if not cameras:
        raise ValueError(f"{path}: no <camera> elements")
    return cameras


# -- triangulation -----------------------------------------------------------------------------------------------


def triangulate(projections: np.ndarray, points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted DLT. projections (V, 3, 4), points (V, N, 2) px, weights (V, N) >= 0 (0 = view unused).

    Each view adds the rows w (x P3 - P1), w (y P3 - P2); the point is the right singular vector of the smallest
    singular value. Returns (N, 3); NaN where fewer than two views have weight or the point is at infinity.
    """
    projections = np.asarray(projections, np.float64)
    points = np.asarray(points, np.float64)
    weights = np.where(np.isfinite(points).all(-1), np.asarray(weights, np.float64), 0.0)
    points = np.nan_to_num(points)
    # rows of P scaled so every view's algebraic error is in comparable units (pixels x depth / its own norm)
    scale = np.linalg.norm(projections[:, 2, :3], axis=-1)
    p = projections / scale[:, None, None]
    rows_x = points[..., 0:1] * p[:, None, 2, :] - p[:, None, 0, :]  # (V, N, 4)
    rows_y = points[..., 1:2] * p[:, None, 2, :] - p[:, None, 1, :]
    a = np.concatenate((rows_x * weights[..., None], rows_y * weights[..., None]), axis=0)  # (2V, N, 4)
    a = a.transpose(1, 0, 2)  # (N, 2V, 4)
    _, _, vh = np.linalg.svd(a)
    homogeneous = vh[:, -1, :]
    w = homogeneous[:, 3]
    with np.errstate(divide="ignore", invalid="ignore"):
        out = homogeneous[:, :3] / w[:, None]
    enough = (weights > 0).sum(0) >= 2
    out[~enough | (np.abs(w) < 1e-12)] = np.nan
    return out


def reprojection_errors(projections: np.ndarray, world: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(V, N) pixel distance between points (V, N, 2) and the projections of world (N, 3); NaN behind a camera."""
    projections = np.asarray(projections, np.float64)
    homogeneous = np.concatenate((world, np.ones((len(world), 1))), axis=1)
    image = np.einsum("vij,nj->vni", projections, homogeneous)
    depth = image[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = image[..., :2] / np.where(depth > 1e-9, depth, np.nan)[..., None]
    return np.linalg.norm(pixels - points, axis=-1)


@dataclass
class Triangulation:
    points: np.ndarray  # (N, 3) world; NaN where rejected
    errors: np.ndarray  # (V, N) reprojection error px in the views used (NaN elsewhere)
    used: np.ndarray  # (V, N) bool: views that made each point

    @property
    def mean_error(self) -> float:
        """Mean reprojection error over every (view, point) the accepted points were made from."""
        valid = self.used & np.isfinite(self.points).all(-1)[None]
        return float(self.errors[valid].mean()) if valid.any() else float("nan")


def triangulate_robust(
    projections: np.ndarray,
    points: np.ndarray,
    weights: np.ndarray,
    max_error_px: float,
    min_weight: float = 0.0,
) -> Triangulation:
    """Weighted DLT that drops, one at a time, the view with the largest reprojection error while it exceeds
    max_error_px and more than two views remain; a point still above the threshold with two views (which cannot
    tell which of the two is wrong) or with fewer than two views is rejected (NaN)."""
    weights = np.asarray(weights, np.float64)
    points = np.asarray(points, np.float64)
    used = (weights > min_weight) & np.isfinite(points).all(-1)
    n_views = len(projections)
    world = np.full((points.shape[1], 3), np.nan)
    errors = np.full(weights.shape, np.nan)
    for _ in range(n_views - 1):
        world = triangulate(projections, points, np.where(used, weights, 0.0))
        errors = np.where(used, reprojection_errors(projections, world, points), np.nan)
        # a point behind a camera that made it is as wrong as a large error
        errors = np.where(used & ~np.isfinite(errors), np.inf, errors)
        worst = np.nanargmax(np.where(used, errors, -1.0), axis=0)
        worst_error = np.take_along_axis(np.where(used, errors, -1.0), worst[None], 0)[0]
        droppable = (worst_error > max_error_px) & (used.sum(0) > 2)
        if not droppable.any():
            break
        used[worst[droppable], np.flatnonzero(droppable)] = False
    bad = (used.sum(0) < 2) | ~(np.where(used, errors, 0.0) <= max_error_px).all(0) | ~np.isfinite(world).all(-1)
    world[bad] = np.nan
    return Triangulation(points=world, errors=np.where(used, errors, np.nan), used=used)


# -- time offsets between views ------------------------------------------------------------------------------------


def sample_track(track: np.ndarray, weights: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """track (T, N, D), weights (T, N) at fractional frame times (M,) by linear interpolation; the weight of an
    interpolated sample is the smaller of its two neighbours'; times outside [0, T-1] give weight 0 and NaN."""
    frames = track.shape[0]
    times = np.asarray(times, np.float64)
    inside = (times >= 0) & (times <= frames - 1)
    clamped = np.clip(times, 0, frames - 1)
    lo = np.floor(clamped).astype(int)
    hi = np.minimum(lo + 1, frames - 1)
    frac = (clamped - lo)[:, None, None]
    out = (1 - frac) * track[lo] + frac * track[hi]
    # a neighbour that is not used at all (weight 0) must not leak in through a zero interpolation factor
    w = np.where(frac[..., 0] > 0, np.minimum(weights[lo], weights[hi]), weights[lo])
    out[~inside] = np.nan
    w = np.where(inside[:, None], w, 0.0)
    return out, w


def offset_cost(
    projections: np.ndarray, tracks: np.ndarray, weights: np.ndarray, offsets: np.ndarray, min_weight: float
) -> float:
    """Median reprojection error of plain weighted DLT when view v's frame f is taken at world time f + offsets[v]
    (the world clock is view 0's frames), over points seen by at least min(3, V) views. tracks (V, T, N, 2),
    weights (V, T, N)."""
    n_views, frames, _ = weights.shape
    times = np.arange(frames, dtype=np.float64)
    samples, sample_weights = [], []
    for v in range(n_views):
        pts, w = sample_track(tracks[v], weights[v], times - offsets[v])
        samples.append(pts.reshape(-1, 2))
        sample_weights.append(np.where(w > min_weight, w, 0.0).reshape(-1))
    pts_all, w_all = np.stack(samples), np.stack(sample_weights)
    world = triangulate(projections, pts_all, w_all)
    errors = reprojection_errors(projections, world, pts_all)
    # two views always fit a point exactly along their baseline; a third makes the error mean something
    valid = (w_all > 0) & ((w_all > 0).sum(0) >= min(3, n_views))[None] & np.isfinite(errors)
    return float(np.median(errors[valid])) if valid.any() else float("inf")


def estimate_offsets(
    projections: np.ndarray,
    tracks: np.ndarray,
    weights: np.ndarray,
    search: float = 6.0,
    step: float = 0.25,
    min_weight: float = 0.5,
    sweeps: int = 3,
) -> tuple[np.ndarray, float]:
    """Per-view time offsets (frames, view 0 = 0) minimising offset_cost over a grid.

    Each view starts from its best offset against view 0 alone (the two-view error is the distance from the
    epipolar line, so it is informative on its own and does not depend on the other views' guesses), then
    coordinate-descent sweeps over all views refine it. Starting from zeros instead lets a view settle where it
    compensates another view's wrong offset. Returns (offsets (V,), cost in px).
    """
    n_views = tracks.shape[0]
    grid = np.arange(-search, search + step / 2, step)
    offsets = np.zeros(n_views)
    for v in range(1, n_views):
        pair = [0, v]
        trials = [
            offset_cost(projections[pair], tracks[pair], weights[pair], np.array([0.0, value]), min_weight)
            for value in grid
        ]
        offsets[v] = grid[int(np.argmin(trials))]
    cost = offset_cost(projections, tracks, weights, offsets, min_weight)
    for _ in range(sweeps if n_views > 2 else 0):
        previous = offsets.copy()
        for v in range(1, n_views):
            trials = []
            for value in grid:
                trial = offsets.copy()
                trial[v] = value
                trials.append(offset_cost(projections, tracks, weights, trial, min_weight))
            best = int(np.argmin(trials))
            offsets[v], cost = grid[best], trials[best]
        if np.array_equal(previous, offsets):
            break
    return offsets, cost


def triangulate_at(
    projections: np.ndarray,
    tracks: np.ndarray,
    weights: np.ndarray,
    offsets: np.ndarray,
    times: np.ndarray,
    max_error_px: float,
    min_weight: float = 0.0,
) -> Triangulation:
    """Robust triangulation at world times (M,) from views whose frame f is world time f + offsets[v].
    tracks (V, T, N, 2), weights (V, T, N). Returns points (M, N, 3), errors and used (V, M, N)."""
    n_views, _, joints = weights.shape
    times = np.asarray(times, np.float64)
    samples = [sample_track(tracks[v], weights[v], times - offsets[v]) for v in range(n_views)]
    pts = np.stack([s[0] for s in samples]).reshape(n_views, -1, 2)
    wts = np.stack([s[1] for s in samples]).reshape(n_views, -1)
    result = triangulate_robust(projections, pts, wts, max_error_px, min_weight)
    m = len(times)
    return Triangulation(
        points=result.points.reshape(m, joints, 3),
        errors=result.errors.reshape(n_views, m, joints),
        used=result.used.reshape(n_views, m, joints),
    )


def choose_candidates(
    projection: np.ndarray, reference: np.ndarray, candidates: np.ndarray, gate_px: float, min_weight: float = 0.5
) -> np.ndarray:
    """For one view: which candidate (detection) in each frame is the person whose 3D reference is known.

    projection (3, 4); reference (T, N, 3) world points (NaN where unknown); candidates (T, C, N, 3) x, y, weight
    (NaN rows = no candidate). Returns (T,) the index of the candidate whose points lie closest to the reference's
    projection (median over points of weight > min_weight), or -1 where none is within gate_px.
    """
    frames, count = candidates.shape[:2]
    homogeneous = np.concatenate((reference, np.ones((*reference.shape[:-1], 1))), axis=-1)
    image = homogeneous @ projection.T
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = image[..., :2] / np.where(image[..., 2:] > 1e-9, image[..., 2:], np.nan)  # (T, N, 2)
    distance = np.linalg.norm(candidates[..., :2] - expected[:, None], axis=-1)  # (T, C, N)
    distance = np.where(candidates[..., 2] > min_weight, distance, np.nan)
    with warnings.catch_warnings():
        # all-NaN rows (no candidate) are expected: they score inf below
        warnings.simplefilter("ignore", RuntimeWarning)
        score = np.nanmedian(distance, axis=-1)  # (T, C)
    score = np.where(np.isfinite(score), score, np.inf)
    best = np.argmin(score, axis=1)
    chosen = np.where(score[np.arange(frames), best] <= gate_px, best, -1)
    return chosen if count else np.full(frames, -1)


def relabelled(candidates: np.ndarray, permutations: list[np.ndarray]) -> np.ndarray:
    """candidates (T, C, N, K) -> (T, C * S, N, K): every candidate under each of S point relabellings (index
    arrays of length N, e.g. identity and left/right swaps); candidate c under relabelling s is at c * S + s."""
    stacked = np.stack([candidates[:, :, np.asarray(p)] for p in permutations], axis=2)  # (T, C, S, N, K)
    return stacked.reshape(candidates.shape[0], -1, *candidates.shape[2:])
