"""Throughput and latency of the node's per-frame work, with the stage split, old vs new path side by side.

What one processed frame costs in the node: Pipeline.detect + Pipeline.finish (masks, tracking, pose source,
decoder, body model) plus building and serialising the HumanMeshArray, driven by perception/staged.py exactly as
the node drives it: "serial" = one thread (`overlap_stages: false`), "overlapped" = the masks of frame t+1 in one
thread while the rest of frame t runs in another (`overlap_stages: true`). Frames are fed as fast as the stages
take them (the rate a camera faster than the node would see). Scenes: real footage letterboxed (padded, nobody
cut off) and resized to 640x480 and 1280x720, with 1 person (pose2sim_single_cam02: the man alone) and 3 people
(pose2sim_multi_cam01). Variants run in alternating blocks of frames in one process so machine load hits them
alike, each on its own pipeline that sees every frame in order:
- old: MediaPipe graphs, detector round-robin every frame (2 calls), full-frame masks built eagerly, tracker
  min_hits 3, serial;
- new tflite: MediaPipe graphs, detector on demand, lazy masks, min_hits 2 (the default), serial or overlapped;
- new tflite x2: the same with followed people's landmarker runs spread over two graphs in two threads;
- new onnxruntime: the converted models, batched over people and tiles, on `--device`.

    python -m bench.node_throughput [--frames 40] [--pose-source landmarks] [--decoder] [--device cpu|cuda]
    python -m bench.node_throughput --encoder vit_h --device cuda [--encoder-variants ...]

With `--encoder NAME` the rows are the HMR pose source on an encoder of that size with random weights (speed does
not depend on them; written once as a plain state_dict into a temporary folder, with an ECLM plan that removes
depth // 8 blocks as bench.encoder_speedup does), masks as the default path: "base fp32" (no layer or token
merging), "merged fp32" and "merged fp16" (ECLM + Mask-ToMe), each a node parameter set (`checkpoint`,
`model_config`, `merge_plan`, `token_merging`, `precision`).

Prints fps (the steady rate: frames out per second between a block's first and last message, so the start and
drain of each block, which a continuous stream never sees, are not counted), p50 / p95 latency (stage 1 start ->
message serialised), people published per frame, the stage medians (FrameResult.timings_ms) and model calls per
frame. On a GPU machine `--device cuda` runs the pipeline and the onnxruntime masks there (`--mask-device tensorrt`
for the TensorRT EP).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch

from fasthmr_ros import footage
from fasthmr_ros.perception.camera import default_camera_matrix
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.masks_mediapipe import MediaPipePeople
from fasthmr_ros.perception.pipeline import Pipeline
from fasthmr_ros.perception.staged import run_through
from fasthmr_ros.perception.tracking import Tracker
from fasthmr_ros.perception.types import Frame

SIZES = {"640x480": (640, 480), "1280x720": (1280, 720)}
SCENES = {1: "pose2sim_single_cam02.mp4", 3: "pose2sim_multi_cam01.mp4"}
OLD_MASKS = {"runtime": "tflite", "detector_schedule": "every_frame", "eager_masks": True}
VARIANTS = (
    "old serial",
    "new tflite serial",
    "new tflite overlapped",
    "new tflite x2 serial",
    "new tflite x2 overlapped",
    "new onnxruntime overlapped",
)
BLOCK = 10  # frames per variant turn
STAGES = ("masks", "tracking", "lift", "crop", "encoder", "decoder", "body", "assemble")


def letterboxed(clip: str, size: tuple[int, int], count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(footage.fetch([clip])[0]))
    width, height = size
    frames = []
    while len(frames) < count:
        ok, bgr = cap.read()
        if not ok:
            break
        h, w = bgr.shape[:2]
        if w / h < width / height:
            pad = round(h * width / height) - w
            bgr = cv2.copyMakeBorder(bgr, 0, 0, pad // 2, pad - pad // 2, cv2.BORDER_CONSTANT)
        else:
            pad = round(w * height / width) - h
            bgr = cv2.copyMakeBorder(bgr, pad // 2, pad - pad // 2, 0, 0, cv2.BORDER_CONSTANT)
        frames.append(cv2.cvtColor(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def run_block(pipeline: Pipeline, frames: list[np.ndarray], k: np.ndarray, overlap: bool):
    """Feed frames through the node's two stages; (s from the first message to the last, [(latency ms, people,
    timings)] in frame order)."""
    from rclpy.serialization import serialize_message
    from std_msgs.msg import Header

    from fasthmr_ros.ros import messages as ros_messages

    rows: list[tuple[float, int, dict[str, float]]] = []
    finished: list[float] = []  # when each message was serialised

    def first(rgb: np.ndarray):
        return time.perf_counter(), pipeline.detect(Frame(rgb=rgb, camera_matrix=k, intrinsics_known=True))

    def second(item) -> None:
        started, detected = item
        result = pipeline.finish(detected)
        size = (detected.rgb.shape[1], detected.rgb.shape[0])
        msg = ros_messages.human_mesh_array(result, Header(frame_id="cam"), pipeline.weights, pipeline.body_model,
                                            size, True)  # fmt: skip
        serialize_message(msg)
        done = time.perf_counter()
        finished.append(done)
        rows.append(((done - started) * 1e3, len(result.people), dict(result.timings_ms)))

    run_through(frames, first, second, overlap=overlap, name="bench")
    return finished[-1] - finished[0], rows


ENCODER_VARIANTS = ("base fp32 overlapped", "merged fp32 overlapped", "merged fp16 overlapped")


def encoder_files(name: str, folder: Path) -> tuple[Path, Path]:
    """A random-weight checkpoint of encoder config `name` and an ECLM plan for it, written into folder."""
    from bench.encoder_speedup import eclm_runs
    from bench.vit_forward import random_model
    from fasthmr_ros.model.eclm import MergePlan
    from fasthmr_ros.runtime.checkpoint import save_hmr2

    model = random_model(name)
    checkpoint, plan = folder / f"random_{name}.pt", folder / f"plan_{name}.json"
    save_hmr2(model, checkpoint, lightning=False)
    depth = len(model.backbone.blocks)
    MergePlan(name, depth, eclm_runs(depth), tau_mm=0.0).save(plan)
    return checkpoint, plan


def encoder_settings(variant: str, args: argparse.Namespace) -> dict:
    """Node parameters of an --encoder row: "base|merged fp32|fp16"."""
    merging, precision = variant.split()[:2]
    merged = merging == "merged"
    return {"pose_source": "hmr", "checkpoint": str(args.encoder_checkpoint), "model_config": args.encoder,
            "merge_plan": str(args.encoder_plan) if merged else "", "token_merging": merged,
            "precision": precision}  # fmt: skip


def build(variant: str, people: int, args: argparse.Namespace) -> Pipeline:
    flat = {"max_people": max(people, 1) + 1, "pose_source": args.pose_source, "decoder": args.decoder,
            "device": args.device}  # fmt: skip
    if args.encoder:
        return Pipeline(PipelineConfig.from_flat({**flat, **encoder_settings(variant, args)}))
    variant = variant.rsplit(" ", 1)[0]
    pipeline = Pipeline(PipelineConfig.from_flat(flat))
    # The pipeline builds the default masks stage; the bench swaps in each variant (PipelineConfig has no
    # setting for these yet).
    if variant == "old":
        pipeline.masks = MediaPipePeople(max_people=flat["max_people"], **OLD_MASKS)
        pipeline.tracker = Tracker(min_hits=3)
    elif variant == "new onnxruntime":
        pipeline.masks = MediaPipePeople(max_people=flat["max_people"], runtime="onnxruntime",
                                         device=args.mask_device or args.device)  # fmt: skip
    elif variant == "new tflite x2":
        pipeline.masks = MediaPipePeople(max_people=flat["max_people"], landmark_threads=2)
    else:
        pipeline.masks = MediaPipePeople(max_people=flat["max_people"])
    return pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40, help="timed frames per scene (after 5 warm-up frames)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--pose-source", default="landmarks", choices=["landmarks", "hmr"])
    parser.add_argument("--decoder", action="store_true", help="the streaming decoder on (the node's default)")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N (pipeline and onnxruntime masks)")
    parser.add_argument("--mask-device", default="", help="onnxruntime masks device if not --device: tensorrt")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), help="masks variant + serial|overlapped")
    parser.add_argument("--encoder", default="", help="HMR rows on this encoder config with random weights: vit_h")
    parser.add_argument("--encoder-variants", nargs="*", default=list(ENCODER_VARIANTS),
                        help="base|merged fp32|fp16|bf16 serial|overlapped")  # fmt: skip
    args = parser.parse_args()
    if args.encoder:
        scratch = tempfile.TemporaryDirectory()
        args.encoder_checkpoint, args.encoder_plan = encoder_files(args.encoder, Path(scratch.name))
        args.variants = args.encoder_variants
        args.pose_source = "hmr"
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    print(
        f"node per-frame work, {args.device}, torch threads {args.threads}, pose source {args.pose_source}"
        f"{f' (encoder {args.encoder}, random weights)' if args.encoder else ''}, "
        f"decoder {'on' if args.decoder else 'off'}; CPU cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}"
    )
    print(
        "| size | people | variant | people/frame | fps | p50 ms | p95 ms | "
        + " | ".join(f"{s} p50" for s in ("masks", "tracking", "pose", "body+assemble"))
        + " | det imgs/f | lm imgs/f | lm calls/f |"
    )
    print("|" + "---|" * 14)
    warmup = 5
    for size_name, size in SIZES.items():
        for people, clip in SCENES.items():
            frames = letterboxed(clip, size, args.frames + warmup)
            k = default_camera_matrix(*size)
            pipelines = {v: build(v, people, args) for v in args.variants}
            spans: dict[str, float] = defaultdict(float)  # s from each block's first message to its last
            intervals: dict[str, int] = defaultdict(int)
            samples: dict[str, list] = defaultdict(list)
            for name, pipeline in pipelines.items():  # warm-up: first calls, tracks born
                run_block(pipeline, frames[:warmup], k, name.endswith("overlapped"))
            for begin in range(warmup, len(frames), BLOCK):
                block = frames[begin : begin + BLOCK]
                for name, pipeline in pipelines.items():
                    span, rows = run_block(pipeline, block, k, name.endswith("overlapped"))
                    spans[name] += span
                    intervals[name] += len(rows) - 1
                    samples[name].extend(rows)
            for name, pipeline in pipelines.items():
                values = np.array([s[0] for s in samples[name]])

                def stage(*keys: str, rows=samples[name]) -> float:
                    return statistics.median(sum(t.get(key, 0.0) for key in keys) for _, _, t in rows)

                calls = pipeline.masks.calls
                n = max(calls["frames"], 1)
                print(f"| {size_name} | {people} | {name} | {np.mean([s[1] for s in samples[name]]):.2f} | "
                      f"{intervals[name] / spans[name]:.1f} | {np.median(values):.1f} | "
                      f"{np.percentile(values, 95):.1f} | "
                      f"{stage('masks'):.1f} | {stage('tracking'):.2f} | "
                      f"{stage('lift', 'crop', 'encoder', 'decoder'):.1f} | {stage('body', 'assemble'):.1f} | "
                      f"{calls['detector'] / n:.2f} | {calls['landmarker'] / n:.2f} | "
                      f"{calls['landmarker_batches'] / n:.2f} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
