"""What the landmark pose source costs per frame on top of the masks, by part, at 1 and 3 people.

    python -m bench.lift_cost [--frames 40] [--threads 1]

Real detections: the embedded masks stage run once over Pose2Sim footage (1 person: pose2sim_single_cam02, 3
people: pose2sim_multi_cam01, letterboxed to 640x480 as in bench.node_throughput), then the lift timed on them
alone, the way Pipeline.finish calls it (one batched call per frame over the frame's people), with the 2D fit
off (`lift_fit_steps: 0`) and on (the default), side by side in alternating rounds. Parts: the lift network, the
shape refit, then the translation solve (fit off) or the 2D fit, which starts from the same solve (fit on).
Medians over frames, ms per frame and per person; one torch thread as the node runs the landmark source.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.node_throughput import SCENES, letterboxed
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.pipeline import Pipeline


def timed_parts(lift, dets, k) -> dict[str, float]:
    """One lift call as Pipeline.finish makes it, with its parts' milliseconds (LandmarkLift's own clocks)."""
    parts: dict[str, float] = {}
    start = time.perf_counter()
    lift(dets, k, parts)
    parts["total"] = 1e3 * (time.perf_counter() - start)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| people | 2D fit | frames | network | shape refit | translation solve | 2D fit | total ms/frame | "
          "ms/person |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for people, clip in SCENES.items():
        frames = letterboxed(clip, (640, 480), args.frames)
        k = np.array([[600.0, 0.0, 320.0], [0.0, 600.0, 240.0], [0.0, 0.0, 1.0]])
        pipelines = {steps: Pipeline(PipelineConfig.from_flat({"lift_fit_steps": steps})) for steps in (0, 3)}
        source = pipelines[3]
        detections = []
        for image in frames:
            dets = [d for d in source.masks(image) if d.world_landmarks is not None and d.keypoints is not None]
            if len(dets) == people:
                detections.append(dets)
        rows: dict[int, list[dict[str, float]]] = {steps: [] for steps in pipelines}
        for _ in range(3):  # alternating rounds, so load hits both alike
            for steps, pipeline in pipelines.items():
                for dets in detections:
                    rows[steps].append(timed_parts(pipeline.lift, dets, k))
        for steps, measured in rows.items():
            names = ("network", "shape refit", "translation solve", "2D fit", "total")
            median = {name: float(np.median([m.get(name, 0.0) for m in measured])) for name in names}
            print(f"| {people} | {'on' if steps else 'off'} | {len(detections)} | {median['network']:.2f} | "
                  f"{median['shape refit']:.2f} | {median['translation solve']:.2f} | {median['2D fit']:.2f} | "
                  f"{median['total']:.2f} | {median['total'] / people:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
