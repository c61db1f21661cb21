"""`fasthmr demo` (`make demo`): the node on real footage with the embedded defaults, outputs a person can look at.

Starts the node (`fasthmr run`) as its own process, plays a registry clip to it in lockstep (at most `--in-flight`
frames whose meshes are not back, 2 by default: one in each of the node's two inference stages, none waiting to be
dropped, so every frame is processed even on a slow CPU, while the node's third thread draws the overlay of an
answered one; the clip is decoded while the node starts, up to --preload-mb), and writes:
  OUT/overlay.mp4   the node's ~/overlay images (meshes drawn over the footage)
  OUT/outputs.mcap  every output message but the overlay (rosbag2-compatible MCAP: Foxglove, `ros2 bag play`, RViz)
  OUT/summary.json  frames, people per frame, track ids, latency, which weights made them
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from fasthmr_ros import footage


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clip", default="sports2d_demo.mp4", help=f"registry clip: {', '.join(footage.CLIPS)}")
    parser.add_argument("--video", default="", help="your own video instead of a registry clip")
    parser.add_argument("--out", default="out/demo", help="output folder")
    parser.add_argument("--width", type=int, default=854, help="resize frames to this width (0 = original)")
    parser.add_argument("--frames", type=int, default=0, help="stop after this many frames (0 = the whole clip)")
    parser.add_argument("--in-flight", type=int, default=2,
                        help="frames sent ahead of the node's answers: 2 keeps both of the node's stages busy "
                        "(overlap_stages), 1 = strict lockstep")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the node per frame")
    parser.add_argument("--preload-mb", type=float, default=1024.0,
                        help="MB of the clip decoded while the node starts (the rest as it plays)")  # fmt: skip
    parser.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                        help="extra node parameter (repeatable)")  # fmt: skip


def _start_node(out: Path, params: list[str], env: dict[str, str]) -> subprocess.Popen:
    args = [sys.executable, "-m", "fasthmr_ros.cli", "run", "--record", str(out / "outputs.mcap"),
            "-p", "publish_overlay:=true"]  # fmt: skip
    for item in params:
        args += ["-p", item]
    log = open(out / "node.log", "w")  # noqa: SIM115
    return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


_BACK_TO_BACK_GAP_S = 0.02


def arrived_or_overtaken(key: tuple[int, int], received: dict) -> bool:
    """Whether the answer for stamp `key` is in `received`, or a later frame's is: the node answers the newest
    frame only, so a later answer means this one is not coming."""
    return key in received or any(other > key for other in received)


def run(args: argparse.Namespace) -> int:
    from fasthmr_ros.ros.dds import configure_dds

    configure_dds("localhost")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    video = Path(args.video) if args.video else footage.fetch([args.clip])[0]
    env = dict(os.environ)
    # a private ROS domain, so the demo neither hears nor disturbs other graphs on this host
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(120, 220)))
    os.environ["ROS_DOMAIN_ID"] = env["ROS_DOMAIN_ID"]
    env["ROS_AUTOMATIC_DISCOVERY_RANGE"] = os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from fasthmr_ros.msg import HumanMeshArray
    from fasthmr_ros.perception.frame_source import FrameSource
    from fasthmr_ros.ros.images import camera_info_msg, image_to_rgb, rgb_to_image_msg

    node_proc = _start_node(out, args.param, env)
    rclpy.init()
    node = rclpy.create_node("fasthmr_demo")
    reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    image_pub = node.create_publisher(Image, "/camera/image_raw", reliable)
    info_pub = node.create_publisher(CameraInfo, "/camera/camera_info", reliable)
    meshes: dict[tuple[int, int], HumanMeshArray] = {}
    overlays: dict[tuple[int, int], np.ndarray] = {}

    def stamp_of(msg) -> tuple[int, int]:
        return (msg.header.stamp.sec, msg.header.stamp.nanosec)

    node.create_subscription(HumanMeshArray, "/fasthmr/meshes", lambda m: meshes.__setitem__(stamp_of(m), m), reliable)
    node.create_subscription(
        Image, "/fasthmr/overlay", lambda m: overlays.__setitem__(stamp_of(m), image_to_rgb(m).copy()), reliable
    )

    def spin_until(condition, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.02)
            if condition():
                return True
            if node_proc.poll() is not None:
                raise RuntimeError(f"the node exited ({node_proc.returncode}); see {out / 'node.log'}")
        return condition()

    writer = None
    people_counts, track_ids, latencies = [], set(), []
    code = 0
    total = args.frames or None
    try:
        try:  # inside the outer try: a video that cannot be read still stops the node
            source = FrameSource(str(video), args.width)
        except ValueError as err:
            raise RuntimeError(str(err)) from err  # one line, not a traceback
        # The node takes seconds to start (imports, models): decode the clip meanwhile, so that while it plays the
        # player's CPU goes to sending and writing, not to H.264 (4.4 ms CPU a Sports2D frame), on cores the node
        # needs.
        decoded = iter(source)
        preloaded: deque = deque()
        preloaded_bytes = 0
        while preloaded_bytes < args.preload_mb * 2**20 and not (total and len(preloaded) >= total):
            rgb = next(decoded, None)
            if rgb is None:
                break
            preloaded.append(rgb)
            preloaded_bytes += rgb.nbytes
        frames_preloaded = len(preloaded)

        def play():
            while preloaded:  # handed out and dropped one by one, so memory is freed as the clip plays
                yield preloaded.popleft()
            yield from decoded

        if not spin_until(lambda: image_pub.get_subscription_count() > 0, 180):
            raise RuntimeError(f"the node did not subscribe within 180 s; see {out / 'node.log'}")
        time.sleep(0.5)
        pending: deque = deque()  # sent, meshes not yet back: (index, stamp key, rgb, time sent)
        unwritten: deque = deque()  # answered, in order, waiting for their overlay: (stamp key, rgb, has meshes)
        frames = play()
        index = -1
        started = time.monotonic()
        counts = {"overlays skipped": 0, "dropped": 0}
        most_in_flight = 0
        result = None

        def write(frame: np.ndarray) -> None:
            nonlocal writer
            if writer is None:
                writer = cv2.VideoWriter(str(out / "overlay.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), source.fps,
                                         (frame.shape[1], frame.shape[0]))  # fmt: skip
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

        def write_ready(wait_s: float) -> None:
            """Writes answered frames in order while their overlays are in: the node draws overlays for its newest
            result only, so a later frame's overlay means this one's was skipped, not that it is still coming."""
            while unwritten:
                key, rgb, has_meshes = unwritten[0]
                if has_meshes and not spin_until(lambda key=key: arrived_or_overtaken(key, overlays), wait_s):
                    return
                unwritten.popleft()
                if not has_meshes:
                    if writer is not None:
                        write(rgb)  # keeps the video's timing
                    continue
                frame = overlays.pop(key, None)
                if frame is None:
                    counts["overlays skipped"] += 1
                    frame = rgb
                write(frame)

        upcoming = next(frames, None)  # decoded ahead, so that sending a frame is only publishing it
        while True:
            sent_this_turn = 0
            while len(pending) < max(args.in_flight, 1) and not (total and index + 1 >= total):
                # the frame decoded ahead, else (a second frame for the window in the same turn) the next one now
                rgb = upcoming if upcoming is not None else next(frames, None)
                upcoming = None
                if rgb is None:
                    break
                if sent_this_turn:
                    # frames sent back to back (the window's first turn, or after a timeout) can both reach the
                    # node's newest-frame-only slot before its stage 1 takes the first, which is then dropped
                    time.sleep(_BACK_TO_BACK_GAP_S)
                sent_this_turn += 1
                index += 1
                header = Header(frame_id="camera_optical_frame")
                header.stamp = node.get_clock().now().to_msg()
                height, width = rgb.shape[:2]
                k = np.array([[float(max(width, height)), 0, width / 2], [0, float(max(width, height)), height / 2],
                              [0, 0, 1]])  # fmt: skip
                info_pub.publish(camera_info_msg(k, width, height, header))
                pending.append((index, (header.stamp.sec, header.stamp.nanosec), rgb, time.monotonic()))
                image_pub.publish(rgb_to_image_msg(rgb, header))
            most_in_flight = max(most_in_flight, len(pending))
            # while the node works: write what is answered (a few frames may wait for their overlays; more means
            # the drawing lags, so wait for it) and decode the next frame
            write_ready(args.timeout if len(unwritten) > 4 else 0.0)
            if upcoming is None and not (total and index + 1 >= total):
                upcoming = next(frames, None)
            if not pending:
                break
            frame_index, key, rgb, sent = pending[0]

            # the window counts frames the node's two stages hold; the overlay of an answered frame is drawn by the
            # node's third thread meanwhile and written once it arrives. A later frame's meshes before this one's
            # mean the node dropped this frame (newest-frame-only)
            if not spin_until(lambda key=key: arrived_or_overtaken(key, meshes), args.timeout):
                print(f"[demo] no answer for frame {frame_index} within {args.timeout:.0f} s; skipping it",
                      file=sys.stderr)  # fmt: skip
                pending.popleft()
                continue
            pending.popleft()
            if key not in meshes:
                counts["dropped"] += 1
                unwritten.append((key, rgb, False))
            else:
                latencies.append(time.monotonic() - sent)
                result = meshes.pop(key)
                people_counts.append(len(result.humans))
                track_ids.update(h.track_id for h in result.humans)
                unwritten.append((key, rgb, True))
                if frame_index % 10 == 0:
                    print(f"[demo] frame {frame_index}: {len(result.humans)} people, {latencies[-1] * 1e3:.0f} ms",
                          flush=True)  # fmt: skip
        write_ready(args.timeout)
        for _, rgb, has_meshes in unwritten:  # overlays that never came (timeout): the plain frames keep the timing
            counts["overlays skipped"] += int(has_meshes)
            write(rgb)
        elapsed = time.monotonic() - started
        weights = result.weights if result is not None else "unknown"
        summary = {
            "video": str(video),
            "frames": len(people_counts),
            "people_per_frame_mean": float(np.mean(people_counts)) if people_counts else 0.0,
            "frames_with_people": int(np.sum(np.asarray(people_counts) > 0)),
            "track_ids": sorted(track_ids),
            "latency_ms_p50": float(np.median(latencies) * 1e3) if latencies else None,
            "frames_per_second": len(people_counts) / elapsed if elapsed > 0 else 0.0,
            "frames_in_flight": args.in_flight,
            "frames_in_flight_max": most_in_flight,  # the most frames sent and not yet answered, at any one time
            "frames_decoded_before_start": frames_preloaded,
            # written without meshes drawn: the node's overlay thread skipped them (it draws the newest result)
            "overlay_frames_skipped": counts["overlays skipped"],
            "frames_dropped_by_node": counts["dropped"],  # never answered: a newer frame overtook them in the node
            "weights": weights,
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        print(json.dumps(summary, indent=2))
        print(f"[demo] wrote {out / 'overlay.mp4'}, {out / 'outputs.mcap'}, {out / 'summary.json'}")
    except RuntimeError as err:
        print(f"[demo] {err}", file=sys.stderr)
        code = 1
    finally:
        if writer is not None:
            writer.release()
        node_proc.send_signal(2)
        try:
            node_proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node_proc.kill()
        node.destroy_node()
        rclpy.try_shutdown()
    return code
