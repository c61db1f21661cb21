"""Per-frame latency of masks + boxes + tracking on the CPU, at 640x480 and 1280x720, on real footage.

    python -m bench.masks_tracking [--frames 40] [--threads 2]

Frames: the Sports2D demo (2 people) and vtest.avi (up to ~8 small pedestrians), letterboxed to 4:3 or 16:9 and
resized to each size. Every configuration gets the same frame in turn (round-robin inside one process), so
background load hits all of them alike; figures are medians over the frames after a warm-up, and ratios are
against the default configuration measured side by side. The MediaPipe calculators run on their own threads; the
Python side is single-threaded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from fasthmr_ros.footage import clip_path, fetch
from fasthmr_ros.perception.masks import create_mask_generator
from fasthmr_ros.perception.tracking import Tracker

SIZES = {"640x480": (640, 480), "1280x720": (1280, 720)}
CONFIGS = {
    "default": {},
    "1 detector call/frame": {"detector_calls_per_frame": 1},
    "no tiles (full frame only)": {"tile_fraction": 0.0},
    "no ROI tracking (whole schedule every frame)": {"track_rois": False, "detector_calls_per_frame": 100},
}


def letterbox_resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    h, w = frame.shape[:2]
    target_aspect = width / height
    if w / h > target_aspect:
        pad = round(w / target_aspect) - h
        frame = cv2.copyMakeBorder(frame, pad // 2, pad - pad // 2, 0, 0, cv2.BORDER_CONSTANT)
    else:
        pad = round(h * target_aspect) - w
        frame = cv2.copyMakeBorder(frame, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_CONSTANT)
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def read_frames(name: str, start: int, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip_path(name)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    for _ in range(count):
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames


def run(clip: str, start: int, size_name: str, count: int, warmup: int) -> None:
    frames = [letterbox_resize(f, SIZES[size_name]) for f in read_frames(clip, start, count + warmup)]
    pipelines = {name: (create_mask_generator("mediapipe", **opts), Tracker()) for name, opts in CONFIGS.items()}
    times: dict[str, list[tuple[float, float, int]]] = {name: [] for name in CONFIGS}
    for index, frame in enumerate(frames):
        for name, (generator, tracker) in pipelines.items():
            t0 = time.perf_counter()
            people = generator(frame)
            t1 = time.perf_counter()
            tracker.update(people)
            t2 = time.perf_counter()
            if index >= warmup:
                times[name].append((1e3 * (t1 - t0), 1e3 * (t2 - t1), len(people)))
    base = statistics.median(m + t for m, t, _ in times["default"])
    for name, samples in times.items():
        total = statistics.median(m + t for m, t, _ in samples)
        mask = statistics.median(m for m, _, _ in samples)
        track = statistics.median(t for _, t, _ in samples)
        people = statistics.mean(n for _, _, n in samples)
        calls = pipelines[name][0].calls
        frames_run = max(calls["frames"], 1)
        print(
            f"| {clip} | {size_name} | {name} | {total:.1f} | {mask:.1f} | {track:.2f} | {total / base:.2f} |"
            f" {people:.1f} | {calls['detector'] / frames_run:.2f} | {calls['landmarker'] / frames_run:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40, help="timed frames per clip and size")
    parser.add_argument("--warmup", type=int, default=10, help="untimed frames first (detector schedule, caches)")
    args = parser.parse_args()
    fetch(["sports2d_demo.mp4", "vtest.avi"])
    print(f"CPU cores visible: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}")
    print(
        "| clip | size | config | total ms | mask ms | track ms | vs default | people/frame | detector calls/frame"
        " | landmarker calls/frame |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for clip, start in (("sports2d_demo.mp4", 90), ("vtest.avi", 100)):
        for size_name in SIZES:
            run(clip, start, size_name, args.frames, args.warmup)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
