"""End-to-end throughput and latency of the node's per-frame work on CPU, embedded defaults, 640x480.

What one processed frame costs in the node: the pipeline (masks, tracking, crops, encoder + head, decoder, body
model) plus building and serialising the HumanMeshArray message. Variants run interleaved in one process on the
same frames (vtest.avi scaled to 640x480, several pedestrians) with max_people 1 and 3: unmerged (no token
merging, no merge plan) vs merged (Mask-ToMe, plus --merge-plan when given). Prints medians, p95 and ratios.

    python -m bench.node_throughput [--frames 40] [--rounds 3] [--merge-plan plan.json] [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np
import torch

from fasthmr_ros import footage
from fasthmr_ros.perception.camera import default_camera_matrix
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.pipeline import Pipeline
from fasthmr_ros.perception.types import Frame


def load_frames(count: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(footage.fetch(["vtest.avi"])[0]))
    frames = []
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(bgr, (640, 480), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def frame_cost(pipeline: Pipeline, rgb: np.ndarray, k: np.ndarray) -> tuple[float, int]:
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from fasthmr_ros.ros import messages as ros_messages

    start = time.perf_counter()
    result = pipeline.process(Frame(rgb=rgb, camera_matrix=k, intrinsics_known=True))
    msg = ros_messages.human_mesh_array(result, Header(frame_id="cam"), pipeline.weights, pipeline.body_model,
                                        (rgb.shape[1], rgb.shape[0]), True)  # fmt: skip
    serialize_message(msg)
    return (time.perf_counter() - start) * 1e3, len(result.people)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--merge-plan", default="")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frames = load_frames(args.frames)
    k = default_camera_matrix(640, 480)
    k[0, 0] = k[1, 1] = 640.0
    variants = {}
    for people in (1, 3):
        variants[(people, "unmerged")] = PipelineConfig.from_flat(dict(max_people=people, token_merging=False))
        variants[(people, "merged")] = PipelineConfig.from_flat(dict(max_people=people, token_merging=True,
                                                                     merge_plan=args.merge_plan))  # fmt: skip
    pipelines = {key: Pipeline(config) for key, config in variants.items()}
    samples: dict[tuple[int, str], list[float]] = {key: [] for key in variants}
    people_seen: dict[tuple[int, str], list[int]] = {key: [] for key in variants}
    for round_index in range(args.rounds + 1):  # round 0 warms up (and lets the trackers confirm people)
        for key, pipeline in pipelines.items():
            for rgb in frames:
                ms, count = frame_cost(pipeline, rgb, k)
                if round_index:
                    samples[key].append(ms)
                    people_seen[key].append(count)
    print(f"node per-frame work, CPU, {args.threads} thread(s), 640x480 vtest, {args.frames} frames x {args.rounds} "
          f"rounds; weights: {next(iter(pipelines.values())).weights[:60]}...")  # fmt: skip
    print("| max people | variant | people/frame | p50 ms | p95 ms | fps (1/mean) | speed-up vs unmerged |")
    print("|---|---|---|---|---|---|---|")
    for people in (1, 3):
        base = np.median(samples[(people, "unmerged")])
        for variant in ("unmerged", "merged"):
            values = np.asarray(samples[(people, variant)])
            print(
                f"| {people} | {variant} | {np.mean(people_seen[(people, variant)]):.2f} | {np.median(values):.1f} | "
                f"{np.percentile(values, 95):.1f} | {1000 / values.mean():.1f} | {base / np.median(values):.2f}x |"
            )


if __name__ == "__main__":
    main()
