"""Real footage -> the node with its embedded defaults -> meshes, markers and the overlay, across processes."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
from conftest import Collector, spin_until
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker, MarkerArray

from fasthmr_ros import footage
from fasthmr_ros.msg import HumanMeshArray, MeshFaces
from fasthmr_ros.ros.markers import NAMESPACES

WIDTH = 640


def stamp(msg) -> tuple[int, int]:
    return (msg.header.stamp.sec, msg.header.stamp.nanosec)


def test_node_publishes_people_on_real_footage(spawn, ros_node, tmp_path):
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    video = footage.fetch(["sports2d_demo.mp4"])[0]
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    markers = Collector(ros_node, MarkerArray, "/fasthmr/markers")
    overlays = Collector(ros_node, Image, "/fasthmr/overlay")
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    faces = Collector(ros_node, MeshFaces, "/fasthmr/faces", latched)
    node = spawn("-m", "fasthmr_ros.cli", "run", "-p", "publish_overlay:=true", name="node")
    assert spin_until(ros_node, lambda: meshes.sub.get_publisher_count() > 0, 120, [node]), "node did not start"

    stamps_file = tmp_path / "stamps.jsonl"
    replay = spawn("-m", "fasthmr_ros.cli", "replay", str(video), "--width", str(WIDTH), "--rate", "10",
                   "--max-frames", "60", "--stamps-out", str(stamps_file), name="replay")  # fmt: skip
    assert replay.wait(timeout=120) == 0, replay.log()
    sent = {tuple(json.loads(line)) for line in stamps_file.read_text().splitlines()}
    spin_until(ros_node, lambda: False, 5, [node])  # drain the last outputs

    assert meshes.messages, node.log()[-3000:]
    assert {stamp(m) for m in meshes.messages} <= sent
    with_people = [m for m in meshes.messages if m.humans]
    assert len(with_people) >= len(meshes.messages) // 2, [len(m.humans) for m in meshes.messages]
    assert max(len(m.humans) for m in meshes.messages) >= 2  # both walkers
    assert all("embedded demo model" in m.weights or "user checkpoint" in m.weights for m in meshes.messages)

    # ids stay stable: a few ids cover almost every detection
    ids = Counter(h.track_id for m in with_people for h in m.humans)
    top_two = sum(count for _, count in ids.most_common(2))
    assert top_two >= 0.8 * sum(ids.values()), ids

    face_msg = faces.messages[0]
    faces_array = np.asarray(face_msg.faces).reshape(-1, 3)
    for m in with_people:
        for h in m.humans:
            vertices = np.frombuffer(h.vertices, np.float32).reshape(-1, 3)
            assert len(vertices) == face_msg.num_vertices and faces_array.max() < len(vertices)
            assert h.body_model == face_msg.body_model
            assert np.all(vertices[:, 2] > 0), "mesh behind the camera"
            joints = np.array([[p.x, p.y, p.z] for p in h.joints])
            assert joints.shape == (24, 3) and np.all(np.isfinite(joints))
            # the mesh sits on the person: its projection centre is inside the person's box (expanded by half)
            kp = np.asarray(h.keypoints_2d).reshape(-1, 2)
            cx, cy = kp.mean(axis=0)
            roi = h.roi
            assert roi.x_offset - roi.width / 2 <= cx <= roi.x_offset + 1.5 * roi.width
            assert roi.y_offset - roi.height / 2 <= cy <= roi.y_offset + 1.5 * roi.height

    # markers: per person one marker per namespace, ids = track ids, stamps = input stamps
    by_stamp = {stamp(m): m for m in meshes.messages}
    assert markers.messages
    for array in markers.messages:
        adds = [mk for mk in array.markers if mk.action == Marker.ADD]
        if not adds:
            continue
        key = stamp(adds[0])
        assert key in by_stamp
        people = {h.track_id for h in by_stamp[key].humans}
        for ns in NAMESPACES:
            assert {mk.id for mk in adds if mk.ns == ns} == people
    assert overlays.messages and {stamp(o) for o in overlays.messages} <= sent
    assert overlays.messages[0].width == WIDTH
