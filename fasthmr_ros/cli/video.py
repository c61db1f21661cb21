"""`fasthmr video IN --out OUT.mp4`: the pipeline on a video file, no ROS. Writes the overlay video and an .npz of
every person in every frame (track ids, SMPL parameters, camera-frame joints, 2D keypoints, boxes)."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import sys
import threading
from pathlib import Path

import cv2
import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from fasthmr_ros.perception.config import flat_defaults

    parser.add_argument("input", help="video file, image folder or image")
    parser.add_argument("--out", required=True, help="overlay video to write (.mp4); results go beside it (.npz)")
    parser.add_argument("--width", type=int, default=0, help="resize frames to this width first (0 = original)")
    parser.add_argument("--focal", type=float, default=0.0,
                        help="focal length in pixels (default: HMR2.0's 5000/256*max(W,H))")  # fmt: skip
    parser.add_argument("--max-frames", type=int, default=0)
    parser.add_argument("--overlap-stages", action=argparse.BooleanOptionalAction, default=True,
                        help="masks of the next frame while the rest of this one runs, as the node")  # fmt: skip
    parser.add_argument(
        "--viewer",
        action="store_true",
        help="serve the live Rerun web viewer while it runs, and after it until Ctrl-C (make viewer)",
    )
    parser.add_argument("--viewer-port", type=int, default=9090, help="the viewer's web page port; data on port + 1")
    parser.add_argument(
        "--viewer-save",
        default="",
        metavar="OUT.rrd",
        help="write what the viewer shows to a Rerun recording (rerun OUT.rrd, or the web viewer)",
    )
    # the node's pipeline parameters, same names and defaults (README "Parameters"); --no-decoder etc. for booleans
    for name, default in flat_defaults().items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        else:
            parser.add_argument(flag, type=type(default), default=default)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from fasthmr_ros.perception.camera import default_camera_matrix
    from fasthmr_ros.perception.config import FLAT_NAMES, PipelineConfig
    from fasthmr_ros.perception.frame_source import FrameSource
    from fasthmr_ros.perception.pipeline import Pipeline
    from fasthmr_ros.perception.render import render_meshes, track_colour
    from fasthmr_ros.perception.staged import run_through
    from fasthmr_ros.perception.types import Frame

    try:
        source = FrameSource(args.input, args.width)
        config = PipelineConfig.from_flat({name: getattr(args, name) for name in FLAT_NAMES})
        pipeline = Pipeline(config, log=lambda text: print(f"[video] {text}", file=sys.stderr))
        for note in pipeline.startup_notes:
            print(f"[video] {note}", file=sys.stderr)
    except (FileNotFoundError, ValueError) as err:
        print(f"[video] {err}", file=sys.stderr)
        return 2
    if pipeline.lookahead:
        print(
            "[video] decoder look-ahead is a live-node option; the video tool runs with look-ahead 0", file=sys.stderr
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    viewer = None
    if args.viewer or args.viewer_save:
        try:
            from fasthmr_ros.perception.viewer import LiveViewer

            # offline: every frame reaches the viewer (the loop waits for it) instead of newest-first
            viewer = LiveViewer(pipeline.faces, port=args.viewer_port if args.viewer else None,
                                save=args.viewer_save or None, newest_first=False, capacity=4,
                                log=lambda text: print(f"[video] {text}", file=sys.stderr))  # fmt: skip
        except (ImportError, OSError, RuntimeError, ValueError) as err:
            print(f"[video] viewer: {err}", file=sys.stderr)
            return 2
        if viewer.url:
            print(f"[video] live viewer: {viewer.url} (desktop viewer: rerun --connect {viewer.grpc_url})",
                  file=sys.stderr)  # fmt: skip
    writer = None
    records: dict[str, list] = {k: [] for k in ("frame", "track_id", "score", "box", "global_orient", "body_pose",
                                                "betas", "translation", "joints", "keypoints_2d")}  # fmt: skip
    timings: list[float] = []
    frames = 0
    total = len(source.images) if source.images else None
    progress = tqdm(total=total, unit="frame", desc="fasthmr video")

    def first(item):
        index, rgb = item
        height, width = rgb.shape[:2]
        k = default_camera_matrix(width, height)
        if args.focal:
            k[0, 0] = k[1, 1] = args.focal
        # a video's own rate times the filter; a folder of images has none (FrameSource's 10 fps is for display)
        stamp = None if source.images else index / source.fps
        frame = Frame(rgb=rgb, camera_matrix=k, intrinsics_known=bool(args.focal), stamp=stamp)
        return index, k, pipeline.detect(frame)

    def second(item) -> None:
        nonlocal writer, frames
        index, k, detected = item
        rgb = detected.rgb
        height, width = rgb.shape[:2]
        result = pipeline.finish(detected)
        timings.append(sum(result.timings_ms.values()))
        if viewer is not None:
            viewer.submit(round(index * 1e9 / source.fps), rgb, k, result)
        meshes = [(p.vertices, pipeline.faces, track_colour(p.track_id)) for p in result.people]
        overlay = render_meshes(rgb, meshes, k) if meshes else rgb
        if writer is None:
            writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), source.fps, (width, height))
        writer.write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
        for p in result.people:
            for key in records:
                records[key].append(index if key == "frame" else getattr(p, key))
        frames += 1
        progress.update()

    # the masks of frame t+1 run while the rest of frame t is drawn and written (perception/staged.py)
    try:
        run_through(itertools.islice(enumerate(source), args.max_frames or None), first, second,
                    overlap=args.overlap_stages, name="video")  # fmt: skip
    except Exception as err:
        print(f"[video] stopped at frame {frames}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    finally:
        progress.close()
    if writer is not None:
        writer.release()
    npz = out.with_suffix(".npz")
    np.savez_compressed(npz, **{k: np.asarray(v) for k, v in records.items()}, faces=pipeline.faces,
                        weights=pipeline.weights, body_model=pipeline.body_model)  # fmt: skip
    median = float(np.median(timings)) if timings else 0.0
    print(f"[video] {frames} frames, {len(records['frame'])} person-frames, median {median:.0f} ms/frame; "
          f"wrote {out} and {npz} (weights: {pipeline.weights})")  # fmt: skip
    if viewer is not None:
        _finish_viewer(viewer, args.viewer_save)
    return 0


def _finish_viewer(viewer, saved: str) -> None:
    if viewer.url:
        print(f"[video] still serving the viewer at {viewer.url}; Ctrl-C to stop", file=sys.stderr)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    viewer.close()
    if saved:
        print(f"[video] wrote the viewer recording {saved} (open it with `rerun {saved}`)", file=sys.stderr)
