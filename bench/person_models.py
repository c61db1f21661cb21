"""BlazePose's person models (runtime/blazepose_models.py) batched over people against one call per person.

    python -m bench.person_models [--device cpu|cuda] [--people 3] [--rounds 30] [--threads 1]

Real crops: the landmarker's 256 px inputs are person crops from the Sports2D clip (the people the masks stage
finds, square boxes resized; the exact crop geometry does not matter for speed), the detector's 224 px inputs
letterboxed frames. For each runtime (onnxruntime, torch; on a GPU the same graphs on CUDA) and model: `people`
images in one stacked model run, the same images split into single runs inside one call (the runner's CPU
landmarker default), and one call per image; alternating in each round so load hits all alike; medians, ms per
call of all `people` images, and ratios against the one-call-per-image row. The tflite path (MediaPipe's own graphs)
has no batch and is not timed here (bench.masks_stage times it in the masks stage).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from fasthmr_ros.footage import fetch
from fasthmr_ros.runtime.blazepose_models import DETECTOR, LANDMARKER, BlazePoseRunner

_FIRST_FRAME = 60  # both walkers in view from here


def inputs(people: int) -> dict[str, np.ndarray]:
    """(people, 256, 256, 3) landmarker crops and (people, 224, 224, 3) detector frames, uint8 RGB: the people the
    embedded masks stage finds on Sports2D frames 60-90 (boxes widened to squares), repeated to `people`."""
    from fasthmr_ros.perception.masks_mediapipe import MediaPipePeople

    (path,) = fetch(["sports2d_demo.mp4"])
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, _FIRST_FRAME)
    masks = MediaPipePeople(runtime="tflite")
    crops: list[np.ndarray] = []
    frames: list[np.ndarray] = []
    for _ in range(30):
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        for det in masks(rgb):
            x0, y0, x1, y1 = det.box
            side = max(x1 - x0, y1 - y0) / 2
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            left, top = int(max(cx - side, 0)), int(max(cy - side, 0))
            right, bottom = int(min(cx + side, rgb.shape[1])), int(min(cy + side, rgb.shape[0]))
            if right - left > 8 and bottom - top > 8:
                crops.append(cv2.resize(rgb[top:bottom, left:right], (256, 256), interpolation=cv2.INTER_AREA))
        height, width = rgb.shape[:2]
        scale = 224 / max(height, width)
        small = cv2.resize(rgb, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        frame = np.zeros((224, 224, 3), np.uint8)
        offset = (224 - small.shape[0]) // 2
        frame[offset : offset + small.shape[0], : small.shape[1]] = small
        frames.append(frame)
    if not crops:
        raise RuntimeError(f"the masks stage found nobody on {path}")
    pick = np.linspace(0, len(crops) - 1, people).round().astype(int)
    pick_frames = np.linspace(0, len(frames) - 1, people).round().astype(int)
    return {"landmarker": np.stack([crops[i] for i in pick]), "detector": np.stack([frames[i] for i in pick_frames])}


def calls(stacked: BlazePoseRunner, split: BlazePoseRunner, batch: np.ndarray) -> dict[str, Callable[[], object]]:
    """The three ways of running a batch of images, as callables."""
    return {
        "stacked": lambda: stacked(batch),
        "split": lambda: split(batch),
        "per image": lambda: [stacked(batch[i : i + 1]) for i in range(len(batch))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (onnxruntime) / torch threads")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    images = inputs(args.people)
    print(f"device {args.device}, {args.people} people, {args.rounds} rounds, threads {args.threads}, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print("| runtime | model | providers | stacked: 1 run | split: 1 call, single runs | 1 call per image | "
          "stacked / per image | split / per image |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for runtime in ("onnxruntime", "torch"):
        for model in (LANDMARKER, DETECTOR):
            batch = images[model.name]
            stacked = BlazePoseRunner(model, runtime, args.device, threads=args.threads, chunk=None)
            split = BlazePoseRunner(model, runtime, args.device, threads=args.threads, chunk=1)
            ways = calls(stacked, split, batch)
            for way in ways.values():  # warm-up: first runs build kernels and caches
                for _ in range(3):
                    way()
            times: dict[str, list[float]] = {name: [] for name in ways}
            for _ in range(args.rounds):
                for name, way in ways.items():
                    start = time.perf_counter()
                    way()  # outputs come back as numpy, so GPU work has finished when this returns
                    times[name].append(1e3 * (time.perf_counter() - start))
            median = {name: statistics.median(values) for name, values in times.items()}
            print(f"| {runtime} | {model.name} ({model.size} px) | {', '.join(stacked.providers)} | "
                  f"{median['stacked']:.2f} | {median['split']:.2f} | {median['per image']:.2f} | "
                  f"{median['stacked'] / median['per image']:.2f}x | "
                  f"{median['split'] / median['per image']:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
