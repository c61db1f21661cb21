"""What the live viewer costs per frame: the node's per-frame work with the viewer off vs on, side by side.

Two pipelines (embedded defaults) run the same real frames (Sports2D, 640 px wide, two people) in interleaved
rounds in one process. "on" adds what the node adds: `LiveViewer.submit` after each frame, with the viewer served
(page + gRPC stream on 127.0.0.1) and its thread downscaling, JPEG-encoding and logging beside the pipeline, as in
the node. No browser is attached (a browser's rendering is its own process's cost). Also reported: the viewer
thread's own work per frame (FrameLogger.log run synchronously on the recorded results) and the frames it skipped.

    python -m bench.viewer_cost [--frames 60] [--rounds 3] [--threads 1] [--port 9490]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fasthmr_ros import footage
from fasthmr_ros.perception.camera import default_camera_matrix
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.frame_source import FrameSource
from fasthmr_ros.perception.pipeline import Pipeline
from fasthmr_ros.perception.types import Frame


def load_frames(count: int) -> list[np.ndarray]:
    frames = []
    for rgb in FrameSource(str(footage.fetch(["sports2d_demo.mp4"])[0]), 640):
        frames.append(rgb)
        if len(frames) >= count:
            break
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--port", type=int, default=9490)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from fasthmr_ros.perception.viewer import FrameLogger, LiveViewer, ViewerFrame

    frames = load_frames(args.frames)
    height, width = frames[0].shape[:2]
    k = default_camera_matrix(width, height)
    k[0, 0] = k[1, 1] = 640.0
    pipelines = {"off": Pipeline(PipelineConfig()), "on": Pipeline(PipelineConfig())}
    viewer = LiveViewer(pipelines["on"].faces, port=args.port)
    samples: dict[str, list[float]] = {"off": [], "on": []}
    submit_us: list[float] = []
    kept = []
    people = []
    stamp = 0
    for round_index in range(args.rounds + 1):  # round 0 warms up (and lets the trackers confirm people)
        for variant, pipeline in pipelines.items():
            for rgb in frames:
                start = time.perf_counter()
                result = pipeline.process(Frame(rgb=rgb, camera_matrix=k, intrinsics_known=True))
                if variant == "on":
                    before = time.perf_counter()
                    stamp += 100_000_000
                    viewer.submit(stamp, rgb, k, result)
                    submit_us.append((time.perf_counter() - before) * 1e6)
                ms = (time.perf_counter() - start) * 1e3
                if round_index:
                    samples[variant].append(ms)
                    if variant == "on":
                        kept.append((stamp, rgb, result))
                        people.append(len(result.people))
    skipped = viewer.skipped
    viewer.close()

    # the viewer thread's own work per frame, alone (the same results, logged synchronously to a file)
    import tempfile

    from fasthmr_ros.perception.viewer import open_output

    with tempfile.TemporaryDirectory() as tmp:
        output = open_output(save=f"{tmp}/bench.rrd")
        logger = FrameLogger(output.recording, pipelines["on"].faces)
        log_ms = []
        for stamp_ns, rgb, result in kept:
            frame = ViewerFrame(stamp_ns=stamp_ns, people=result.people, rgb=rgb, camera_matrix=k,
                                timings_ms=result.timings_ms)  # fmt: skip
            start = time.perf_counter()
            logger.log(frame)
            log_ms.append((time.perf_counter() - start) * 1e3)
        output.close()

    off, on = np.array(samples["off"]), np.array(samples["on"])
    weights = pipelines["on"].weights[:50]
    print(f"viewer cost per frame, CPU, {args.threads} torch thread(s), Sports2D 640x{height}, {args.frames} frames x "
          f"{args.rounds} rounds, {np.mean(people):.2f} people/frame; weights: {weights}...")  # fmt: skip
    print("| variant | p50 ms | p95 ms |")
    print("|---|---|---|")
    print(f"| viewer off | {np.median(off):.1f} | {np.percentile(off, 95):.1f} |")
    print(f"| viewer on (served, no browser) | {np.median(on):.1f} | {np.percentile(on, 95):.1f} |")
    paired = on - off  # the same frame in the same round position, so the pipelines' work is the same
    print(f"on - off, per frame: median {np.median(paired):+.1f} ms ({np.median(on) / np.median(off):.3f}x the median)")
    print(f"on the frame path (submit): median {np.median(submit_us):.0f} us")
    alone = f"median {np.median(log_ms):.1f} ms, p95 {np.percentile(log_ms, 95):.1f} ms"
    print(f"viewer thread's work per frame, alone: {alone}")
    print(f"frames the viewer thread skipped (newest-first): {skipped} of {len(submit_us)}")


if __name__ == "__main__":
    main()
