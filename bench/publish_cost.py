"""What building and sending one frame's outputs costs in the node's visual thread: RViz markers and the
recording, old way vs new way side by side in one process.

People come from the pipeline (embedded defaults) on real Sports2D frames (854 px wide, the `make demo` size),
then each frame's outputs are built as the node's visual thread builds them: markers with the node's decimated mesh
(`marker_triangles`, default 1500) and the HumanMeshArray. Rows, medians over frames and alternating rounds:
- markers: the MarkerArray's CDR bytes written from numpy (`people_markers_cdr`, new) vs the markers built as
  rclpy messages, points filled into `geometry_msgs/Point` slots, then serialised (`serialize_message`, old): what
  the node sends either way is the bytes;
- recording (`record` on, as in `make demo`): the HumanMeshArray serialised once, the bytes going to both the
  recording and the topic (`McapRecorder.write` returns them; rclpy publishes bytes as they are), vs serialised
  for the topic and again for the recording (old).

    python -m bench.publish_cost [--frames 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point
from rclpy.serialization import serialize_message
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from fasthmr_ros import footage
from fasthmr_ros.model.skeleton import BONES
from fasthmr_ros.perception.camera import default_camera_matrix
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.frame_source import FrameSource
from fasthmr_ros.perception.mesh_decimate import decimate
from fasthmr_ros.perception.pipeline import Pipeline
from fasthmr_ros.perception.render import track_colour
from fasthmr_ros.perception.types import Frame, FrameResult
from fasthmr_ros.ros import markers as ros_markers
from fasthmr_ros.ros.messages import human_mesh_array
from fasthmr_ros.ros.params import NodeParams
from fasthmr_ros.ros.recorder import McapRecorder


def message_points(xyz: np.ndarray) -> list[Point]:
    """Points with their slots filled (the generated constructor's checks skipped, as the old node did)."""
    new, out = Point.__new__, []
    for x, y, z in np.asarray(xyz, np.float64).reshape(-1, 3).tolist():
        point = new(Point)
        point._x, point._y, point._z, point._check_fields = x, y, z, False
        out.append(point)
    return out


def message_markers(result: FrameResult, header, faces: np.ndarray) -> bytes:
    """The old way: the markers as rclpy messages, then serialised."""
    markers = []
    for person in result.people:
        rgb = track_colour(person.track_id)
        for ns, kind, points, scale in (("mesh", Marker.TRIANGLE_LIST, person.vertices[faces], (1.0, 1.0, 1.0)),
                                        ("joints", Marker.SPHERE_LIST, person.joints, (0.04, 0.04, 0.04)),
                                        ("bones", Marker.LINE_LIST, person.joints[np.asarray(BONES).reshape(-1)],
                                         (0.015, 1.0, 1.0))):  # fmt: skip
            marker = Marker(header=header, ns=ns, id=person.track_id, type=kind, action=Marker.ADD)
            marker.pose.orientation.w = 1.0
            marker.scale.x, marker.scale.y, marker.scale.z = scale
            marker.color = ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=1.0)
            marker.lifetime = Duration(sec=1)
            marker.points = message_points(points)
            markers.append(marker)
        label = Marker(header=header, ns="label", id=person.track_id, type=Marker.TEXT_VIEW_FACING)
        label.text = f"id {person.track_id} ({person.score:.2f})"
        markers.append(label)
    return serialize_message(MarkerArray(markers=markers))


def cdr_markers(result: FrameResult, header, faces: np.ndarray) -> bytes:
    return ros_markers.people_markers_cdr(result, (header.stamp.sec, header.stamp.nanosec), header.frame_id, faces)


def results(frames: int) -> tuple[list[FrameResult], Pipeline]:
    pipeline = Pipeline(PipelineConfig(threads=1))
    out = []
    for index, rgb in enumerate(FrameSource(str(footage.fetch(["sports2d_demo.mp4"])[0]), 854)):
        k = default_camera_matrix(rgb.shape[1], rgb.shape[0])
        result = pipeline.process(Frame(rgb, k, False))
        if result.people and index >= 60:
            out.append(result)
        if len(out) >= frames:
            break
    return out, pipeline


TOPIC = "/fasthmr/meshes"


def time_ms(call, *args) -> float:
    start = time.perf_counter()
    call(*args)
    return (time.perf_counter() - start) * 1e3


def record_twice(recorder: McapRecorder, msg) -> None:
    """The old way: the topic's serialisation (publish(msg)) and the recording's own."""
    serialize_message(msg)
    recorder.write(TOPIC, msg, time.time_ns())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40, help="frames with people, from frame 60 on (both walkers)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    frames, pipeline = results(args.frames)
    faces = decimate(pipeline.rest_vertices, pipeline.faces, NodeParams().marker_triangles)
    header = Header(frame_id="camera_optical_frame")
    people = statistics.mean(len(r.people) for r in frames)
    samples: dict[str, list[float]] = {k: [] for k in ("markers old", "markers new", "record old", "record new")}
    with tempfile.TemporaryDirectory() as folder:
        recorder = McapRecorder(Path(folder) / "bench.mcap")
        for _ in range(args.rounds):
            for result in frames:
                samples["markers old"].append(time_ms(message_markers, result, header, faces))
                samples["markers new"].append(time_ms(cdr_markers, result, header, faces))
                msg = human_mesh_array(result, header, pipeline.weights, pipeline.body_model, (854, 480), True)
                samples["record old"].append(time_ms(record_twice, recorder, msg))
                samples["record new"].append(time_ms(recorder.write, TOPIC, msg, time.time_ns()))
        recorder.close()
    print(f"{len(frames)} Sports2D frames at 854 px, {people:.2f} people a frame, marker mesh {len(faces)} triangles, "
          f"{args.rounds} rounds; medians, ms per frame")  # fmt: skip
    print("| step | old | new | old / new |")
    print("|---|---|---|---|")
    for step in ("markers", "record"):
        old, new = statistics.median(samples[f"{step} old"]), statistics.median(samples[f"{step} new"])
        print(f"| {step} | {old:.2f} | {new:.2f} | {old / new:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
