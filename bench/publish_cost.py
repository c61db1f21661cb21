"""What building and sending one frame's outputs costs in the node's visual thread: RViz markers and the
recording, old way vs new way side by side in one process.

People come from the pipeline (embedded defaults) on real Sports2D frames (854 px wide, the `make demo` size),
then each frame's outputs are built as the node's visual thread builds them: markers with the node's decimated mesh
(`marker_triangles`, default 1500) and the HumanMeshArray. Rows, medians over frames and alternating rounds:
- markers: `people_markers` with its point filling (new) vs `geometry_msgs/Point(x=, y=, z=)` per point (old);
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
from geometry_msgs.msg import Point
from rclpy.serialization import serialize_message
from std_msgs.msg import Header

from fasthmr_ros import footage
from fasthmr_ros.perception.camera import default_camera_matrix
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.frame_source import FrameSource
from fasthmr_ros.perception.mesh_decimate import decimate
from fasthmr_ros.perception.pipeline import Pipeline
from fasthmr_ros.perception.types import Frame, FrameResult
from fasthmr_ros.ros import markers as ros_markers
from fasthmr_ros.ros.messages import human_mesh_array
from fasthmr_ros.ros.params import NodeParams
from fasthmr_ros.ros.recorder import McapRecorder


def constructed_points(xyz: np.ndarray) -> list[Point]:
    """The old way: the generated constructor, which checks keywords and every field in Python."""
    return [Point(x=x, y=y, z=z) for x, y, z in np.asarray(xyz, np.float64).reshape(-1, 3).tolist()]


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
    fast_points = ros_markers._points
    with tempfile.TemporaryDirectory() as folder:
        recorder = McapRecorder(Path(folder) / "bench.mcap")
        for _ in range(args.rounds):
            for result in frames:
                ros_markers._points = constructed_points
                samples["markers old"].append(time_ms(ros_markers.people_markers, result, header, faces))
                ros_markers._points = fast_points
                samples["markers new"].append(time_ms(ros_markers.people_markers, result, header, faces))
                msg = human_mesh_array(result, header, pipeline.weights, pipeline.body_model, (854, 480), True)
                samples["record old"].append(time_ms(record_twice, recorder, msg))
                samples["record new"].append(time_ms(recorder.write, TOPIC, msg, time.time_ns()))
        recorder.close()
    ros_markers._points = fast_points
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
