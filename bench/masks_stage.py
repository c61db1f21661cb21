"""Profile of the MediaPipe masks stage per frame: where the time goes (detector, landmarker, the rest) and how many
model calls, for the earlier path and the new ones, side by side on the same frames.

    python -m bench.masks_stage [--frames 120] [--size 854x480] [--clip sports2d_demo.mp4] [--threads 1]

Variants run interleaved (each frame goes through every variant in turn) in one process, so machine load hits them
alike; figures are medians over the frames after the first 10. "model ms" is the time inside the model calls
(MediaPipe's graph for tflite, the session for onnxruntime); "rest" is everything else in the stage (crops,
warps, decoding, masks, boxes, duplicate checks). Calls per frame do not depend on load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import defaultdict

import cv2
import numpy as np

from fasthmr_ros.footage import clip_path, fetch
from fasthmr_ros.perception.masks_mediapipe import MediaPipePeople
from fasthmr_ros.perception.tracking import Tracker

OLD = {"runtime": "tflite", "detector_schedule": "every_frame", "eager_masks": True}
VARIANTS = {
    "old (tflite, detector every frame, eager masks)": (OLD, 3),
    "tflite, on-demand detector, lazy masks": ({"runtime": "tflite"}, 2),
    "onnxruntime, on-demand detector, lazy masks, batched": ({"runtime": "onnxruntime"}, 2),
}


def frames_of(clip: str, size: tuple[int, int], count: int, start: int = 0) -> list[np.ndarray]:
    """`count` frames, centre-cropped to the aspect of `size` and resized to it, RGB."""
    cap = cv2.VideoCapture(str(clip_path(clip)))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    out = []
    width, height = size
    while len(out) < count:
        ok, bgr = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)  # loop short clips
            ok, bgr = cap.read()
            if not ok:
                break
        h, w = bgr.shape[:2]
        if w / h > width / height:
            keep = round(h * width / height)
            bgr = bgr[:, (w - keep) // 2 : (w - keep) // 2 + keep]
        else:
            keep = round(w * height / width)
            bgr = bgr[(h - keep) // 2 : (h - keep) // 2 + keep]
        out.append(cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    return out


class _Timed:
    """Wraps a model object so its calls are timed into `sink`."""

    def __init__(self, inner, sink: list[float], method: str) -> None:
        self._inner, self._sink, self._method = inner, sink, method

    def _timed(self, *args, **kwargs):
        start = time.perf_counter()
        out = getattr(self._inner, self._method)(*args, **kwargs) if self._method else self._inner(*args, **kwargs)
        self._sink.append((time.perf_counter() - start) * 1e3)
        return out

    def __getattr__(self, name):
        if name == self._method:
            return self._timed
        return getattr(self._inner, name)

    def __call__(self, *args, **kwargs):
        return self._timed(*args, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=120)
    parser.add_argument("--size", default="854x480")
    parser.add_argument("--clip", default="sports2d_demo.mp4")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    fetch([args.clip])
    size = tuple(int(v) for v in args.size.split("x"))
    frames = frames_of(args.clip, size, args.frames)
    runs = {}
    for name, (options, min_hits) in VARIANTS.items():
        generator = MediaPipePeople(**options, **({"threads": args.threads} if options["runtime"] != "tflite" else {}))
        sinks: dict[str, list[float]] = defaultdict(list)
        method = "process" if generator.runtime == "tflite" else ""
        generator._detector = _Timed(generator._detector, sinks["detector"], method)
        generator._landmarker = _Timed(generator._landmarker, sinks["landmarker"], method)
        runs[name] = (generator, Tracker(min_hits=min_hits), sinks, [], [])
    for index, frame in enumerate(frames):
        for generator, tracker, sinks, totals, counts in runs.values():
            before = {k: len(v) for k, v in sinks.items()}
            start = time.perf_counter()
            people = generator(frame)
            stage = (time.perf_counter() - start) * 1e3
            update = tracker.update(people)
            if index >= 10:
                model = {k: sum(v[before[k] :]) for k, v in sinks.items()}
                totals.append((stage, model["detector"], model["landmarker"]))
                counts.append(len(update.tracks))
    print(f"masks stage, {args.clip} at {args.size}, {len(frames)} frames; CPU cores {os.cpu_count()}, load "
          f"{os.getloadavg()[0]:.1f}; onnxruntime threads {args.threads}")  # fmt: skip
    print("| variant | stage p50 ms | p95 ms | detector ms | landmarker ms | rest ms | detector imgs/frame | "
          "detector calls/frame | landmarker imgs/frame | landmarker calls/frame | published/frame |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, (generator, _, _, totals, counts) in runs.items():
        stage = [t[0] for t in totals]
        det = statistics.mean(t[1] for t in totals)
        lm = statistics.mean(t[2] for t in totals)
        rest = statistics.median(t[0] - t[1] - t[2] for t in totals)
        n = max(generator.calls["frames"], 1)
        c = generator.calls
        print(f"| {name} | {statistics.median(stage):.1f} | {np.percentile(stage, 95):.1f} | {det:.1f} | {lm:.1f} | "
              f"{rest:.1f} | {c['detector'] / n:.2f} | {c['detector_batches'] / n:.2f} | {c['landmarker'] / n:.2f} | "
              f"{c['landmarker_batches'] / n:.2f} | {statistics.mean(counts):.2f} |")  # fmt: skip
    print("detector/landmarker ms: mean per frame inside the model calls; rest: median of stage - model time")


if __name__ == "__main__":
    main()
