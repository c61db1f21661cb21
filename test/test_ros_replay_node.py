"""Replay of real footage -> the node -> this test, three processes: no frame lost, stamps carried through."""

from __future__ import annotations

import json
import time

import pytest
from conftest import Collector, diagnostics_values, spin_until
from diagnostic_msgs.msg import DiagnosticArray

from fasthmr_ros import footage
from fasthmr_ros.msg import HumanMeshArray

NODE_ARGS = ("-m", "fasthmr_ros.cli", "run", "-p", "models:=false")


def published_stamps(path) -> list[tuple[int, int]]:
    return [tuple(json.loads(line)) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("clip", "width", "frames"),
    [("sports2d_demo.mp4", 854, 90), ("vtest.avi", 0, 60), ("sports2d_demo.mp4", 0, 45)],
    ids=["854x480", "768x576", "1768x994"],
)
def test_replay_to_node_loses_no_frame(spawn, ros_node, tmp_path, clip, width, frames):
    video = footage.fetch([clip])[0]
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    diagnostics = Collector(ros_node, DiagnosticArray, "/diagnostics")
    node = spawn(*NODE_ARGS, name="node")
    assert spin_until(ros_node, lambda: meshes.sub.get_publisher_count() > 0, 30, [node]), "node did not come up"

    stamps_file = tmp_path / "stamps.jsonl"
    replay = spawn(
        "-m",
        "fasthmr_ros.cli",
        "replay",
        str(video),
        "--rate",
        "30",
        "--max-frames",
        str(frames),
        "--width",
        str(width),
        "--frame-id",
        "test_cam_optical_frame",
        "--stamps-out",
        str(stamps_file),
        name="replay",
    )
    assert replay.wait(timeout=60) == 0, replay.log()
    sent = published_stamps(stamps_file)
    assert len(sent) == frames

    def node_saw_everything() -> bool:
        if not diagnostics.messages:
            return False
        values = diagnostics_values(diagnostics.messages[-1])
        return int(values["frames_received"]) >= frames and len(meshes.messages) == int(values["frames_processed"])

    spin_until(ros_node, node_saw_everything, 20, [node])
    values = diagnostics_values(diagnostics.messages[-1]) if diagnostics.messages else {}
    missing = [
        i
        for i, s in enumerate(sent)
        if s not in {(m.header.stamp.sec, m.header.stamp.nanosec) for m in meshes.messages}
    ]
    assert node_saw_everything(), f"diagnostics {values}; frames without output: {missing}"
    assert int(values["frames_received"]) == frames, values  # not one frame lost between processes
    assert int(values["bad_frames"]) == 0 and int(values["errors"]) == 0, values
    assert int(values["frames_processed"]) + int(values["frames_dropped"]) == frames, values
    assert values["camera_info"] == "received"

    received = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in meshes.messages]
    assert set(received) <= set(sent)  # every output carries an input stamp
    assert received == sorted(received)  # in order
    assert all(m.header.frame_id == "test_cam_optical_frame" for m in meshes.messages)


def test_run_record_writes_a_readable_mcap(spawn, ros_node, tmp_path):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    video = footage.fetch(["sports2d_demo.mp4"])[0]
    bag = tmp_path / "out.mcap"
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    node = spawn(*NODE_ARGS, "--record", str(bag), name="node")
    assert spin_until(ros_node, lambda: meshes.sub.get_publisher_count() > 0, 30, [node])
    stamps_file = tmp_path / "stamps.jsonl"
    replay = spawn(
        "-m",
        "fasthmr_ros.cli",
        "replay",
        str(video),
        "--max-frames",
        "20",
        "--width",
        "640",
        "--stamps-out",
        str(stamps_file),
        name="replay",
    )
    assert replay.wait(timeout=60) == 0
    assert spin_until(ros_node, lambda: len(meshes.messages) >= 15, 10, [node])
    time.sleep(1.5)  # one diagnostics period
    assert node.stop() == 0

    sent = set(published_stamps(stamps_file))
    by_topic: dict[str, list] = {}
    with open(bag, "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        assert reader.get_header().profile == "ros2"
        for _schema, channel, _message, decoded in reader.iter_decoded_messages():
            by_topic.setdefault(channel.topic, []).append(decoded)
    recorded = by_topic["/fasthmr/meshes"]
    assert len(recorded) >= len(meshes.messages)
    assert {(m.header.stamp.sec, m.header.stamp.nanosec) for m in recorded} <= sent
    assert by_topic["/diagnostics"], by_topic.keys()
