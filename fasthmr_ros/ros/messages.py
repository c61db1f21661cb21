"""Builders for the node's output messages (HumanMeshArray, MeshFaces, DiagnosticArray)."""

from __future__ import annotations

import array

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, Vector3
from sensor_msgs.msg import RegionOfInterest

from fasthmr_ros.msg import HumanMesh, HumanMeshArray, MeshFaces
from fasthmr_ros.perception.types import FrameResult, Person


def _roi(box: np.ndarray, width: int, height: int) -> RegionOfInterest:
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, y0 = min(max(x0, 0.0), width), min(max(y0, 0.0), height)
    x1, y1 = min(max(x1, x0), width), min(max(y1, y0), height)
    roi = RegionOfInterest()
    roi.x_offset, roi.y_offset = int(x0), int(y0)
    roi.width, roi.height = round(x1 - x0), round(y1 - y0)
    return roi


def _float32s(values) -> array.array:
    """An unbounded float32[] field's value. rclpy stores these as array.array('f') and builds one from a numpy
    array element by element (3.3 ms for one person's 20,670 vertex coordinates); from the bytes it is a copy."""
    out = array.array("f")
    out.frombytes(np.ascontiguousarray(values, dtype="<f4").reshape(-1).tobytes())
    return out


def human_mesh(person: Person, header, body_model: str, image_size: tuple[int, int], with_vertices: bool) -> HumanMesh:
    msg = HumanMesh()
    msg.header = header
    msg.track_id = int(person.track_id)
    msg.confidence = float(person.score)
    msg.roi = _roi(person.box, *image_size)
    msg.body_model = body_model
    msg.global_orient = np.asarray(person.global_orient, np.float32).reshape(3)
    msg.body_pose = np.asarray(person.body_pose, np.float32).reshape(69)
    msg.betas = _float32s(person.betas)
    tx, ty, tz = (float(v) for v in person.translation)
    msg.translation = Vector3(x=tx, y=ty, z=tz)
    msg.joints = [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in np.asarray(person.joints, np.float64)]
    msg.keypoints_2d = _float32s(person.keypoints_2d)
    if with_vertices and person.vertices is not None:
        msg.vertices = _float32s(person.vertices)
    return msg


def human_mesh_array(
    result: FrameResult, header, weights: str, body_model: str, image_size: tuple[int, int], with_vertices: bool
) -> HumanMeshArray:
    msg = HumanMeshArray()
    msg.header = header
    msg.weights = weights
    msg.humans = [human_mesh(p, header, body_model, image_size, with_vertices) for p in result.people]
    msg.ended_track_ids = [int(t) for t in result.ended_track_ids]
    return msg


def mesh_faces(faces: np.ndarray, num_vertices: int, body_model: str, header) -> MeshFaces:
    msg = MeshFaces()
    msg.header = header
    msg.body_model = body_model
    msg.num_vertices = int(num_vertices)
    msg.faces = np.asarray(faces, np.uint32).reshape(-1)
    return msg


def diagnostics(values: dict[str, object], level: bytes, message: str, stamp, name: str) -> DiagnosticArray:
    """level: one of DiagnosticStatus.OK / WARN / ERROR (a one-byte bytes object in rclpy)."""
    status = DiagnosticStatus()
    status.level = level
    status.name = name
    status.message = message
    status.hardware_id = "fasthmr_ros"
    status.values = [KeyValue(key=str(k), value=str(v)) for k, v in values.items()]
    msg = DiagnosticArray()
    msg.header.stamp = stamp
    msg.status = [status]
    return msg
