"""`fasthmr view OUT.mcap [--save OUT.rrd]`: a node recording (`fasthmr run --record`) in the live viewer's layout.

The recording's messages are decoded from the schemas stored in the file (mcap-ros2-support), so this needs no ROS
and no built messages. A node recording holds the people, the faces and the diagnostics, not the camera: the
frustum then comes from the intrinsics the node used, recovered from the published joints and their projections
(keypoints_2d = K * joints), and the 2D panel shows boxes and keypoints without the image. A bag that also holds the
camera (sensor_msgs/Image rgb8/bgr8/mono8, CompressedImage, CameraInfo) shows it too.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

MESHES = "fasthmr_ros/msg/HumanMeshArray"
FACES = "fasthmr_ros/msg/MeshFaces"
DIAGNOSTICS = "diagnostic_msgs/msg/DiagnosticArray"
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
KEPT_IMAGES = 30  # camera images waiting for the people of their stamp


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="an MCAP recording of the node (fasthmr run --record out.mcap)")
    parser.add_argument("--save", default="", metavar="OUT.rrd", help="write a Rerun recording instead of serving")
    parser.add_argument("--viewer-port", type=int, default=9090, help="the viewer's web page port; data on port + 1")


def _ns(stamp) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def person_from_message(human):
    """A decoded HumanMesh as the pipeline's Person (landmarks are not published)."""
    from fasthmr_ros.perception.types import Person

    roi = human.roi
    vertices = np.asarray(human.vertices, np.float32).reshape(-1, 3) if len(human.vertices) else None
    return Person(
        track_id=int(human.track_id), score=float(human.confidence),
        box=np.array([roi.x_offset, roi.y_offset, roi.x_offset + roi.width, roi.y_offset + roi.height], np.float32),
        global_orient=np.asarray(human.global_orient, np.float32), body_pose=np.asarray(human.body_pose, np.float32),
        betas=np.asarray(human.betas, np.float32),
        translation=np.array([human.translation.x, human.translation.y, human.translation.z]),
        joints=np.array([[p.x, p.y, p.z] for p in human.joints], np.float64).reshape(-1, 3),
        keypoints_2d=np.asarray(human.keypoints_2d, np.float64).reshape(-1, 2), vertices=vertices,
    )  # fmt: skip


def intrinsics_from_projections(people) -> np.ndarray | None:
    """K (square pixels, no skew) from camera-frame joints and their published pixel projections, least squares."""
    xyz = np.concatenate([p.joints for p in people]) if people else np.zeros((0, 3))
    uv = np.concatenate([p.keypoints_2d for p in people]) if people else np.zeros((0, 2))
    keep = xyz[:, 2] > 1e-3
    if keep.sum() < 3:
        return None
    normalised = xyz[keep, :2] / xyz[keep, 2:3]
    rows = np.concatenate([normalised.reshape(-1, 1), np.zeros((2 * keep.sum(), 2))], axis=1)
    rows[0::2, 1] = 1.0  # u = f x/z + cx
    rows[1::2, 2] = 1.0  # v = f y/z + cy
    solution, *_ = np.linalg.lstsq(rows, uv[keep].reshape(-1), rcond=None)
    focal, cx, cy = solution
    if not np.isfinite(solution).all() or focal <= 0:
        return None
    return np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])


def _image_rgb(msg, schema: str) -> np.ndarray | None:
    import cv2

    if schema == COMPRESSED:
        bgr = cv2.imdecode(np.frombuffer(bytes(msg.data), np.uint8), cv2.IMREAD_COLOR)
        return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    channels = {"rgb8": 3, "bgr8": 3, "mono8": 1}.get(msg.encoding)
    if channels is None:
        return None
    data = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)[:, : msg.width * channels]
    image = data.reshape(msg.height, msg.width, channels)
    if msg.encoding == "bgr8":
        return np.ascontiguousarray(image[:, :, ::-1])
    return np.repeat(image, 3, axis=2) if channels == 1 else image


def diagnostic_series(msg) -> dict[str, float]:
    """The node's stage latencies (p50 over its window) and rates from one DiagnosticArray."""
    series: dict[str, float] = {}
    for status in msg.status:
        for kv in status.values:
            name = str(kv.key)
            try:
                value = float(kv.value)
            except ValueError:
                continue
            if name.endswith("_ms_p50"):
                series[f"timings/{name.removesuffix('_ms_p50')}_p50"] = value
            elif name.endswith("_rate_hz"):
                series[f"rates/{name.removesuffix('_hz')}_hz"] = value
    return series


def replay(path: Path, output) -> dict[str, int]:
    """Log every message of the recording into output (a perception.viewer.ViewerOutput); returns counts."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    from fasthmr_ros.perception.viewer import FrameLogger, ViewerFrame

    logger: FrameLogger | None = None
    faces = None
    camera_k: np.ndarray | None = None
    camera_size: tuple[int, int] | None = None
    estimated_k: np.ndarray | None = None
    images: OrderedDict[int, np.ndarray] = OrderedDict()
    counts = {"frames": 0, "people": 0, "diagnostics": 0, "images": 0}
    pending_series: list[tuple[int, dict[str, float]]] = []
    with open(path, "rb") as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        for schema, _, _, msg in reader.iter_decoded_messages():
            name = schema.name if schema is not None else ""
            if name == FACES and faces is None:
                faces = np.asarray(msg.faces, np.uint32).reshape(-1, 3)
            elif name == CAMERA_INFO and any(msg.k):
                camera_k, camera_size = np.asarray(msg.k, np.float64).reshape(3, 3), (int(msg.width), int(msg.height))
            elif name in (IMAGE, COMPRESSED):
                rgb = _image_rgb(msg, name)
                if rgb is not None:
                    images[_ns(msg.header.stamp)] = rgb
                    while len(images) > KEPT_IMAGES:
                        images.popitem(last=False)
            elif name == DIAGNOSTICS:
                pending_series.append((_ns(msg.header.stamp), diagnostic_series(msg)))
            elif name == MESHES:
                if logger is None:  # faces are latched and recorded first; a clipped bag may lack them
                    logger = FrameLogger(output.recording, faces)
                people = [person_from_message(h) for h in msg.humans]
                stamp = _ns(msg.header.stamp)
                rgb = images.pop(stamp, None)
                k, size = camera_k, camera_size
                if k is None:
                    estimated_k = intrinsics_from_projections(people) if people else estimated_k
                    k = estimated_k
                    if k is not None:
                        size = (round(2 * k[0, 2]), round(2 * k[1, 2]))  # the node's default K is centred
                logger.log(ViewerFrame(stamp_ns=stamp, people=people, rgb=rgb, camera_matrix=k, image_size=size,
                                       ended_track_ids=[int(t) for t in msg.ended_track_ids]))  # fmt: skip
                counts["frames"] += 1
                counts["people"] += len(people)
                counts["images"] += rgb is not None
            if logger is not None and pending_series:
                for stamp, series in pending_series:
                    logger.log_series(stamp, series)
                counts["diagnostics"] += len(pending_series)
                pending_series.clear()
    return counts


def run(args: argparse.Namespace) -> int:
    path = Path(args.input)
    if not path.is_file():
        print(f"[view] no such recording: {path}", file=sys.stderr)
        return 2
    try:
        from fasthmr_ros.perception.viewer import open_output

        output = open_output(port=None if args.save else args.viewer_port, save=args.save or None)
    except (ImportError, OSError, RuntimeError, ValueError) as err:
        print(f"[view] viewer: {err}", file=sys.stderr)
        return 2
    try:
        counts = replay(path, output)
    except Exception as err:  # a damaged or foreign file: say so in one line
        print(f"[view] cannot read {path}: {type(err).__name__}: {err}", file=sys.stderr)
        output.close()
        return 2
    print(f"[view] {counts['frames']} frames, {counts['people']} person-frames, {counts['diagnostics']} diagnostics, "
          f"{counts['images']} camera images from {path}", file=sys.stderr)  # fmt: skip
    if args.save:
        output.close()
        print(f"[view] wrote {args.save} (open it with `rerun {args.save}`)", file=sys.stderr)
        return 0
    print(f"[view] serving {output.url} (desktop viewer: rerun --connect {output.grpc_url}); Ctrl-C to stop",
          file=sys.stderr)  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
    output.close()
    return 0
