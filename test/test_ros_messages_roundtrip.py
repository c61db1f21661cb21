"""Custom messages between two processes: HumanMeshArray content survives intact, MeshFaces is latched."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from conftest import Collector, spin_until
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from mesh_messages import people_from_seed

from fasthmr_ros.msg import HumanMeshArray, MeshFaces


def test_human_mesh_array_round_trip(spawn, ros_node):
    count = 5
    meshes = Collector(ros_node, HumanMeshArray, "/roundtrip/meshes", QoSProfile(depth=50))
    publisher = spawn("test/helpers/publish_meshes.py", str(count), name="publisher")
    assert spin_until(ros_node, lambda: len(meshes.messages) >= count, 30, [publisher])

    for seed, msg in enumerate(meshes.messages[:count]):
        expected = people_from_seed(seed)
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (
            1000 + seed,
            5000 * seed,
            f"cam_{seed}",
        )
        assert msg.weights == "weights-x"
        assert list(msg.ended_track_ids) == expected.ended_track_ids
        assert len(msg.humans) == len(expected.people)
        for human, person in zip(msg.humans, expected.people, strict=True):
            assert human.track_id == person.track_id
            assert human.body_model == "fasthmr-embedded"
            assert human.header.stamp == msg.header.stamp
            np.testing.assert_allclose(human.confidence, person.score, rtol=1e-6)
            np.testing.assert_allclose(np.asarray(human.global_orient), person.global_orient, rtol=1e-6)
            np.testing.assert_allclose(np.asarray(human.body_pose), person.body_pose, rtol=1e-6)
            np.testing.assert_allclose(np.asarray(human.betas), person.betas, rtol=1e-6)
            t = human.translation
            np.testing.assert_allclose([t.x, t.y, t.z], person.translation, rtol=1e-12)
            np.testing.assert_allclose([[p.x, p.y, p.z] for p in human.joints], person.joints, rtol=1e-12)
            np.testing.assert_allclose(np.frombuffer(human.vertices, np.float32).reshape(-1, 3), person.vertices)
            np.testing.assert_allclose(np.asarray(human.keypoints_2d).reshape(-1, 2), person.keypoints_2d, rtol=1e-6)
            x0, y0, x1, y1 = person.box
            assert (human.roi.x_offset, human.roi.y_offset) == (int(x0), int(y0))
            assert (human.roi.width, human.roi.height) == (round(x1 - x0), round(y1 - y0))

    # a subscriber that joins late still gets the (transient-local) faces
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    faces = Collector(ros_node, MeshFaces, "/roundtrip/faces", latched)
    assert spin_until(ros_node, lambda: len(faces.messages) >= 1, 10, [])
    face_msg = faces.messages[0]
    assert face_msg.num_vertices == 6890
    np.testing.assert_array_equal(np.asarray(face_msg.faces), np.arange(300))
