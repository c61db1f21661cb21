"""RViz markers and the decimated marker mesh."""

from __future__ import annotations

import numpy as np
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from fasthmr_ros.model.skeleton import BONES
from fasthmr_ros.perception.mesh_decimate import decimate
from fasthmr_ros.perception.render import track_colour
from fasthmr_ros.perception.types import FrameResult, Person
from fasthmr_ros.ros.markers import people_markers


def uv_sphere(rings: int = 40, segments: int = 80) -> tuple[np.ndarray, np.ndarray]:
    theta = np.linspace(0, np.pi, rings + 1)[1:-1]
    phi = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    body = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], -1).reshape(-1, 3)
    vertices = np.vstack([[0, 0, 1], body, [0, 0, -1]])
    faces = []
    idx = lambda r, s: 1 + r * segments + s % segments  # noqa: E731
    for s in range(segments):
        faces.append((0, idx(0, s), idx(0, s + 1)))
        faces.append((len(vertices) - 1, idx(rings - 2, s + 1), idx(rings - 2, s)))
        for r in range(rings - 2):
            faces.append((idx(r, s), idx(r + 1, s), idx(r + 1, s + 1)))
            faces.append((idx(r, s), idx(r + 1, s + 1), idx(r, s + 1)))
    return vertices, np.asarray(faces)


def area(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(np.linalg.norm(np.cross(b - a, c - a), axis=1).sum() / 2)


def test_decimation_hits_the_budget_and_keeps_the_surface():
    vertices, faces = uv_sphere()
    assert len(faces) > 6000
    for target in (300, 1500):
        reduced = decimate(vertices, faces, target)
        assert 0.6 * target <= len(reduced) <= target
        assert reduced.min() >= 0 and reduced.max() < len(vertices)
        assert np.all(reduced[:, 0] != reduced[:, 1]) and np.all(reduced[:, 1] != reduced[:, 2])
        assert area(vertices, reduced) > 0.85 * area(vertices, faces)


def test_decimation_is_identity_under_budget():
    vertices, faces = uv_sphere(6, 8)
    np.testing.assert_array_equal(decimate(vertices, faces, 10_000), faces)


def person(track_id: int, rng) -> Person:
    joints = rng.normal(size=(24, 3)) * 0.3 + np.array([0, 0, 3])
    return Person(
        track_id=track_id,
        score=0.9,
        box=np.array([0, 0, 10, 10.0]),
        global_orient=np.zeros(3),
        body_pose=np.zeros(69),
        betas=np.zeros(10),
        translation=np.array([0, 0, 3.0]),
        joints=joints,
        keypoints_2d=np.zeros((24, 2)),
        vertices=rng.normal(size=(100, 3)) + np.array([0, 0, 3]),
    )


def test_markers_per_person_and_deletes_for_ended_tracks():
    rng = np.random.default_rng(0)
    people = [person(3, rng), person(8, rng)]
    faces = rng.integers(0, 100, size=(20, 3))
    header = Header(frame_id="cam")
    header.stamp.sec = 42
    array = people_markers(FrameResult(people=people, ended_track_ids=[5]), header, faces)
    by_key = {(m.ns, m.id): m for m in array.markers}
    assert len(by_key) == len(array.markers)  # (ns, id) unique
    for p in people:
        mesh = by_key[("mesh", p.track_id)]
        assert mesh.type == Marker.TRIANGLE_LIST and len(mesh.points) == faces.size
        np.testing.assert_allclose([mesh.points[4].x, mesh.points[4].y, mesh.points[4].z],
                                   p.vertices[faces.reshape(-1)[4]])  # fmt: skip
        bones = by_key[("bones", p.track_id)]
        assert len(bones.points) == 2 * len(BONES)
        child, parent = BONES[7]
        np.testing.assert_allclose([bones.points[14].x, bones.points[15].x], [p.joints[child, 0], p.joints[parent, 0]])
        assert len(by_key[("joints", p.track_id)].points) == 24
        assert f"id {p.track_id}" in by_key[("label", p.track_id)].text
        assert all(m.header.stamp.sec == 42 for m in array.markers)
        colour = mesh.color
        assert np.allclose([colour.r, colour.g, colour.b], track_colour(p.track_id))
    deletes = [m for m in array.markers if m.action == Marker.DELETE]
    assert {(m.ns, m.id) for m in deletes} == {(ns, 5) for ns in ("mesh", "joints", "bones", "label")}


def test_track_colours_differ():
    colours = np.array([track_colour(i) for i in range(1, 9)])
    distances = np.linalg.norm(colours[:, None] - colours[None], axis=-1)
    assert distances[~np.eye(8, dtype=bool)].min() > 0.05


def reference_markers(result: FrameResult, header, faces, lifetime_s: float = 1.0):
    """The markers built the plain way, with rclpy's generated constructors: the oracle for the CDR writer."""
    from builtin_interfaces.msg import Duration
    from geometry_msgs.msg import Point
    from std_msgs.msg import ColorRGBA
    from visualization_msgs.msg import MarkerArray

    def marker(ns, track_id, kind, rgb, alpha, points):
        m = Marker(header=header, ns=ns, id=track_id, type=kind, action=Marker.ADD)
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = 1.0
        m.color = ColorRGBA(r=float(rgb[0]), g=float(rgb[1]), b=float(rgb[2]), a=alpha)
        m.lifetime = Duration(sec=int(lifetime_s), nanosec=int((lifetime_s - int(lifetime_s)) * 1e9))
        m.points = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in points]
        return m

    out = []
    for p in result.people:
        rgb = track_colour(p.track_id)
        out.append(marker("mesh", p.track_id, Marker.TRIANGLE_LIST, rgb, 0.8, p.vertices[faces.reshape(-1)]))
        joints = marker("joints", p.track_id, Marker.SPHERE_LIST, rgb, 1.0, p.joints)
        joints.scale.x = joints.scale.y = joints.scale.z = 0.04
        bones = marker("bones", p.track_id, Marker.LINE_LIST, rgb, 1.0, p.joints[np.asarray(BONES).reshape(-1)])
        bones.scale.x = 0.015
        label = marker("label", p.track_id, Marker.TEXT_VIEW_FACING, (1.0, 1.0, 1.0), 1.0, [])
        label.pose.position = Point(x=float(p.joints[15, 0]), y=float(p.joints[15, 1]) - 0.25, z=float(p.joints[15, 2]))
        label.scale.z = 0.12
        label.text = f"id {p.track_id} ({p.score:.2f})"
        out += [joints, bones, label]
    for track_id in result.ended_track_ids:
        out += [
            Marker(header=header, ns=ns, id=track_id, action=Marker.DELETE)
            for ns in ("mesh", "joints", "bones", "label")
        ]
    return MarkerArray(markers=out)


def test_marker_bytes_decode_to_the_constructed_markers():
    """The CDR written from numpy must decode (rclpy's own deserialiser) to exactly what the generated
    constructors build; bytes are not compared: Fast DDS leaves alignment padding uninitialised. Odd-length
    strings and a 1-point-short list exercise the padding before each 8-byte field."""
    from rclpy.serialization import deserialize_message, serialize_message
    from visualization_msgs.msg import MarkerArray

    from fasthmr_ros.ros.markers import people_markers_cdr

    rng = np.random.default_rng(1)
    for people, ended, frame_id in (([person(2, rng), person(13, rng)], [7, 9], "camera_optical_frame"),
                                    ([person(101, rng)], [], "c"), ([], [4], "ab"), ([], [], "")):  # fmt: skip
        faces = rng.integers(0, 100, size=(31, 3))
        header = Header(frame_id=frame_id)
        header.stamp.sec, header.stamp.nanosec = 1_700_000_123, 456_789
        result = FrameResult(people=people, ended_track_ids=ended)
        data = people_markers_cdr(result, (header.stamp.sec, header.stamp.nanosec), frame_id, faces)
        expected = deserialize_message(serialize_message(reference_markers(result, header, faces)), MarkerArray)
        assert deserialize_message(data, MarkerArray) == expected
        assert len(data) == len(serialize_message(expected))
