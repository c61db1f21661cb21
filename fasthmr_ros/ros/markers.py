"""RViz markers for the people of one frame: a mesh, joints, bones and a label per track, DELETE for ended tracks.

The node sends them as CDR bytes written here straight from the numpy arrays (`people_markers_cdr`; rclpy
publishers and the MCAP recorder take serialised messages as they are). Why: a 1,500-triangle mesh marker holds
4,500 points, and building them as geometry_msgs/Point objects and then serialising those objects one by one cost
~14 ms a frame for two people, all of it holding the GIL the inference threads need; here the points are one
`tobytes()` each. `people_markers` gives the same content as a MarkerArray message (rclpy's own deserialiser).

Layout: ROS 2's CDR (XCDR1, little endian, 4-byte encapsulation header 00 01 00 00): primitives aligned to their
size counted from after the header, strings as uint32 length with the NUL included, sequences as a uint32 count
followed by the elements.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
from rclpy.serialization import deserialize_message
from visualization_msgs.msg import Marker, MarkerArray

from fasthmr_ros.model.skeleton import BONES
from fasthmr_ros.perception.render import track_colour
from fasthmr_ros.perception.types import FrameResult

NAMESPACES = ("mesh", "joints", "bones", "label")
_BONE_ENDS = np.asarray(BONES).reshape(-1)
_ENCAPSULATION_CDR_LE = b"\x00\x01\x00\x00"


class _CdrWriter:
    """Appends CDR fields to a buffer, padding each to its alignment (offsets count from after the header)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = [_ENCAPSULATION_CDR_LE]
        self._size = 0  # bytes after the encapsulation header

    def _align(self, alignment: int) -> None:
        pad = -self._size % alignment
        if pad:
            self._parts.append(b"\x00" * pad)
            self._size += pad

    def raw(self, data: bytes, alignment: int) -> None:
        self._align(alignment)
        self._parts.append(data)
        self._size += len(data)

    def pack(self, fmt: str, *values, alignment: int) -> None:
        self.raw(struct.pack("<" + fmt, *values), alignment)

    def string(self, text: str) -> None:
        data = text.encode() + b"\x00"
        self.pack("I", len(data), alignment=4)
        self.raw(data, 1)

    def points(self, xyz: np.ndarray) -> None:
        """sequence<geometry_msgs/Point>: three float64 each."""
        flat = np.ascontiguousarray(xyz, dtype="<f8").reshape(-1, 3)
        self.pack("I", len(flat), alignment=4)
        if len(flat):
            self.raw(flat.tobytes(), 8)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


def _marker(
    out: _CdrWriter,
    stamp: tuple[int, int],
    frame_id: str,
    ns: str,
    marker_id: int,
    kind: int,
    action: int,
    *,
    scale: Sequence[float] = (1.0, 1.0, 1.0),
    rgba: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
    lifetime_s: float = 0.0,
    position: Sequence[float] = (0.0, 0.0, 0.0),
    points: np.ndarray | None = None,
    text: str = "",
) -> None:
    """One visualization_msgs/Marker, every field in the message's order (identity orientation)."""
    out.pack("iI", *stamp, alignment=4)
    out.string(frame_id)
    out.string(ns)
    out.pack("iii", int(marker_id), int(kind), int(action), alignment=4)
    out.pack("7d", *map(float, position), 0.0, 0.0, 0.0, 1.0, alignment=8)  # pose: position, orientation (x,y,z,w)
    out.pack("3d", *map(float, scale), alignment=8)
    out.pack("4f", *map(float, rgba), alignment=4)
    seconds = int(lifetime_s)
    out.pack("iI", seconds, int((lifetime_s - seconds) * 1e9), alignment=4)
    out.pack("?", False, alignment=1)  # frame_locked
    out.points(np.zeros((0, 3)) if points is None else points)
    out.pack("I", 0, alignment=4)  # colors
    out.string("")  # texture_resource
    out.pack("iI", 0, 0, alignment=4)  # texture: sensor_msgs/CompressedImage header stamp
    out.string("")  # texture.header.frame_id
    out.string("")  # texture.format
    out.pack("I", 0, alignment=4)  # texture.data
    out.pack("I", 0, alignment=4)  # uv_coordinates
    out.string(text)
    out.string("")  # mesh_resource
    out.string("")  # mesh_file.filename
    out.pack("I", 0, alignment=4)  # mesh_file.data
    out.pack("?", False, alignment=1)  # mesh_use_embedded_materials


def people_markers_cdr(
    result: FrameResult,
    stamp: tuple[int, int],
    frame_id: str,
    marker_faces: np.ndarray | None,
    lifetime_s: float = 1.0,
) -> bytes:
    """A serialised visualization_msgs/MarkerArray. stamp = (sec, nanosec) of the frame; marker_faces: the
    (decimated) triangle list over the body model's vertex indices, None for no mesh."""
    count = 0
    body = _CdrWriter()
    # the array's element count comes first but is only known at the end; it is a uint32 at offset 0, so the
    # markers can be written after it and the count patched in
    body.pack("I", 0, alignment=4)
    for person in result.people:
        rgb = tuple(float(c) for c in track_colour(person.track_id))
        if marker_faces is not None and person.vertices is not None and len(marker_faces):
            _marker(body, stamp, frame_id, "mesh", person.track_id, Marker.TRIANGLE_LIST, Marker.ADD,
                    rgba=(*rgb, 0.8), points=person.vertices[marker_faces], lifetime_s=lifetime_s)  # fmt: skip
            count += 1
        _marker(body, stamp, frame_id, "joints", person.track_id, Marker.SPHERE_LIST, Marker.ADD,
                scale=(0.04, 0.04, 0.04), rgba=(*rgb, 1.0), points=person.joints, lifetime_s=lifetime_s)  # fmt: skip
        _marker(body, stamp, frame_id, "bones", person.track_id, Marker.LINE_LIST, Marker.ADD,
                scale=(0.015, 1.0, 1.0), rgba=(*rgb, 1.0), points=person.joints[_BONE_ENDS],
                lifetime_s=lifetime_s)  # fmt: skip
        head = person.joints[15]
        # optical frame: y points down, so "above the head" is -y
        _marker(body, stamp, frame_id, "label", person.track_id, Marker.TEXT_VIEW_FACING, Marker.ADD,
                scale=(1.0, 1.0, 0.12), rgba=(1.0, 1.0, 1.0, 1.0), position=(head[0], head[1] - 0.25, head[2]),
                text=f"id {person.track_id} ({person.score:.2f})", lifetime_s=lifetime_s)  # fmt: skip
        count += 3
    for track_id in result.ended_track_ids:
        for ns in NAMESPACES:
            _marker(body, stamp, frame_id, ns, track_id, Marker.ARROW, Marker.DELETE, scale=(0.0, 0.0, 0.0))
            count += 1
    data = bytearray(body.getvalue())
    data[4:8] = struct.pack("<I", count)
    return bytes(data)


def people_markers(
    result: FrameResult, header, marker_faces: np.ndarray | None, lifetime_s: float = 1.0
) -> MarkerArray:
    """The same markers as a message (for code that wants message objects; the node sends the bytes)."""
    stamp = (int(header.stamp.sec), int(header.stamp.nanosec))
    data = people_markers_cdr(result, stamp, header.frame_id, marker_faces, lifetime_s)
    return deserialize_message(data, MarkerArray)
