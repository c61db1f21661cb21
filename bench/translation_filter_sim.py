"""The per-track translation filter (perception/track_state.py) on simulated walking depth, to choose its
acceleration noise without the real-footage benchmark.

People walk toward and away from the camera with an Ornstein-Uhlenbeck velocity (time constant 1.5 s, 0.8 m/s
spread: starts, stops and turns at human accelerations) at 2.5-6 m; each frame's depth measurement carries white
noise of `--noise` x the depth (3% default: the landmark source's frame-to-frame depth noise measured on the
Sports2D clip, second differences of the per-frame depth, decoder off), white or, with `--correlation SECONDS`,
correlated over time (first-order autoregressive with that time constant: real lift errors follow the pose's own
errors, which last several frames). Printed per frame rate and setting: depth RMSE against the truth and the mean
|frame-to-frame depth change| (the benchmark's "root dz").

    python -m bench.translation_filter_sim [--noise 0.03] [--correlation 0.1] [--fps 30 60] [--lateral 0.006 ...]
"""

from __future__ import annotations

import argparse

import numpy as np

from fasthmr_ros.perception.track_state import TrackHistory, TranslationNoise
from fasthmr_ros.perception.track_state import _Kalman as Kalman


def walking_depth(
    rng: np.random.Generator, frames: int, fps: float, tau: float = 1.5, spread: float = 0.8
) -> np.ndarray:
    velocity, depth, dt = rng.normal(0, spread), rng.uniform(2.5, 6.0), 1.0 / fps
    out = np.empty(frames)
    for i in range(frames):
        velocity += -velocity / tau * dt + spread * np.sqrt(2 * dt / tau) * rng.normal()
        depth = max(1.5, depth + velocity * dt)
        out[i] = depth
    return out


def correlated(rng: np.random.Generator, frames: int, tau_frames: float) -> np.ndarray:
    """Unit-variance noise whose correlation decays as exp(-lag / tau_frames); white for tau_frames 0."""
    white = rng.normal(size=frames)
    if tau_frames <= 0:
        return white
    keep = np.exp(-1.0 / tau_frames)
    out = np.empty(frames)
    out[0] = white[0]
    for i in range(1, frames):
        out[i] = keep * out[i - 1] + np.sqrt(1 - keep**2) * white[i]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--noise", type=float, default=0.03, help="per-frame depth noise, fraction of the depth")
    parser.add_argument("--fps", type=float, nargs="+", default=[30.0, 60.0])
    parser.add_argument("--tracks", type=int, default=80)
    parser.add_argument("--acceleration", type=float, nargs="+", default=[4.0, 2.0, 1.0, 0.5, 0.25],
                        help="velocity random walk, m/s per sqrt(s)")  # fmt: skip
    parser.add_argument("--correlation", type=float, default=0.0,
                        help="time constant (s) of the depth noise's correlation; 0 = white")  # fmt: skip
    parser.add_argument(
        "--lateral",
        type=float,
        nargs="*",
        default=[],
        help="also score the image-plane axes with these lateral settings (per metre of depth)",
    )
    parser.add_argument(
        "--lateral-noise",
        type=float,
        default=0.005,
        help="per-frame noise of the direction x/z (Sports2D / vtest, decoder on: 0.003-0.006)",
    )
    args = parser.parse_args(argv)
    default = TrackHistory().noise
    print(f"defaults: {default}")
    for fps in args.fps:
        rng = np.random.default_rng(0)
        truths = [walking_depth(rng, int(10 * fps), fps) for _ in range(args.tracks)]
        measured = [z * (1 + args.noise * correlated(rng, len(z), args.correlation * fps)) for z in truths]
        truth_dz = np.mean([np.abs(np.diff(z)).mean() for z in truths])
        raw = np.mean([np.sqrt(np.mean((m - z) ** 2)) for m, z in zip(measured, truths, strict=True)])
        print(f"\n{fps:.0f} fps: truth |dz| {1000 * truth_dz:.1f} mm/frame, unfiltered depth RMSE {1000 * raw:.0f} mm")
        for acceleration in args.acceleration:
            noise = TranslationNoise(default.lateral, default.depth, acceleration)
            rmse, dz = [], []
            for z, m in zip(truths, measured, strict=True):
                kalman = Kalman(np.array([0.0, 0.0, m[0]]), noise)
                out = np.array([kalman.update(np.array([0.0, 0.0, value]), 1.0 / fps)[2] for value in m[1:]])
                rmse.append(np.sqrt(np.mean((out - z[1:]) ** 2)))
                dz.append(np.abs(np.diff(out)).mean())
            mark = " (default)" if acceleration == default.acceleration else ""
            print(f"  acceleration {acceleration:<5g} m/s/sqrt(s): depth RMSE {1000 * np.mean(rmse):6.1f} mm, "
                  f"|dz| {1000 * np.mean(dz):5.1f} mm/frame{mark}")  # fmt: skip
        if args.lateral:
            lateral_rows(args, default, fps, truths, measured, rng)
    return 0


def lateral_rows(args: argparse.Namespace, default: TranslationNoise, fps: float, truths: list[np.ndarray],
                 measured_depth: list[np.ndarray], rng: np.random.Generator) -> None:  # fmt: skip
    """The image-plane axes: the same people also walk across (the same velocity model, from +-1.5 m), the 2D
    landmarks fix their direction x/z to `--lateral-noise` per frame and the depth is measured as above, so each
    measurement lies on its measured ray at the measured depth. Scored: RMSE of x (m) and of the direction x/z."""
    across = [walking_depth(rng, len(z), fps) - 4.25 + rng.uniform(-1.5, 1.5) for z in truths]
    directions = [x / z for x, z in zip(across, truths, strict=True)]
    seen = [d + args.lateral_noise * rng.normal(size=len(d)) for d in directions]
    raw = np.mean([np.sqrt(np.mean((a * m - x) ** 2)) for a, m, x in zip(seen, measured_depth, across, strict=True)])
    print(f"  lateral, direction noise {args.lateral_noise:g}: unfiltered x RMSE {1000 * raw:.0f} mm")
    for lateral, rays in [(value, True) for value in args.lateral] + [(default.lateral, False)]:
        noise = TranslationNoise(lateral, default.depth, default.acceleration, rays=rays)
        x_rmse, d_rmse = [], []
        for a, m, x, d in zip(seen, measured_depth, across, directions, strict=True):
            points = np.stack([a * m, np.zeros_like(m), m], 1)
            kalman = Kalman(points[0], noise)
            out = np.array([kalman.update(point, 1.0 / fps) for point in points[1:]])
            x_rmse.append(np.sqrt(np.mean((out[:, 0] - x[1:]) ** 2)))
            d_rmse.append(np.sqrt(np.mean((out[:, 0] / out[:, 2] - d[1:]) ** 2)))
        mark = " (default)" if (lateral, rays) == (default.lateral, default.rays) else ""
        print(f"    lateral {lateral:<6g} {'rays' if rays else 'x, y, z'}: x RMSE {1000 * np.mean(x_rmse):5.1f} mm, "
              f"direction RMSE {1000 * np.mean(d_rmse):5.2f} mrad{mark}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
