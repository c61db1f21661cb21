"""Record ROS 2 messages to a rosbag2-compatible MCAP file (readable by Foxglove, `ros2 bag play`, rosbags).

Messages are stored CDR-serialised exactly as on the wire (rclpy.serialization), with the `ros2msg` schema text
that MCAP readers need to decode them; the schema is assembled from the installed .msg files.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path

from mcap.writer import CompressionType, Writer
from rclpy.serialization import serialize_message

PRIMITIVES = {
    "bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64",
    "uint64", "string", "wstring",
}  # fmt: skip
SEPARATOR = "=" * 80


def _share_dirs() -> list[Path]:
    dirs = [Path(sys.prefix) / "share"]
    dirs += [Path(p) / "share" for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return dirs


def _msg_file(package: str, name: str) -> Path:
    for share in _share_dirs():
        path = share / package / "msg" / f"{name}.msg"
        if path.is_file():
            return path
    raise FileNotFoundError(f"message definition {package}/msg/{name}.msg not found under {_share_dirs()}")


def _field_types(text: str, package: str) -> list[str]:
    """Complex (non-primitive) field types of a .msg text, as 'pkg/Name'."""
    types = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = line.split(None, 1)
        if len(tokens) < 2 or re.match(r"^\w+\s*=", tokens[1]):
            continue  # constant, not a field
        type_token = tokens[0]
        base = re.sub(r"\[.*\]$", "", type_token)
        base = re.sub(r"<=\d+$", "", base)
        if base in PRIMITIVES:
            continue
        if "/" not in base:
            base = "std_msgs/Header" if base == "Header" else f"{package}/{base}"
        types.append(base.replace("/msg/", "/"))
    return types


def message_definition(type_name: str) -> str:
    """The ros2msg schema text of e.g. 'sensor_msgs/msg/Image': its .msg plus every nested type's .msg."""
    package, _, name = type_name.replace("/msg/", "/").partition("/")
    main = _msg_file(package, name).read_text()
    parts, seen = [main.rstrip("\n")], set()
    stack = list(reversed(_field_types(main, package)))
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        dep_package, _, dep_name = dep.partition("/")
        text = _msg_file(dep_package, dep_name).read_text()
        parts.append(f"{SEPARATOR}\nMSG: {dep}\n{text.rstrip(chr(10))}")
        stack.extend(reversed(_field_types(text, dep_package)))
    return "\n".join(parts) + "\n"


def ros_type_name(msg) -> str:
    """'pkg/msg/Type' of an rclpy message instance."""
    module = type(msg).__module__.split(".")
    return f"{module[0]}/msg/{type(msg).__name__}"


class McapRecorder:
    """Thread-safe MCAP writer; topics are registered on first use."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115
        self._writer = Writer(self._file, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="fasthmr_ros")
        self._channels: dict[str, int] = {}
        self._schemas: dict[str, int] = {}
        self._sequence: dict[str, int] = {}
        self._lock = threading.Lock()
        self.count = 0

    def _channel(self, topic: str, type_name: str) -> int:
        if topic not in self._channels:
            if type_name not in self._schemas:
                self._schemas[type_name] = self._writer.register_schema(
                    name=type_name, encoding="ros2msg", data=message_definition(type_name).encode()
                )
            self._channels[topic] = self._writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=self._schemas[type_name]
            )
            self._sequence[topic] = 0
        return self._channels[topic]

    def write(self, topic: str, msg, log_time_ns: int, publish_time_ns: int | None = None) -> bytes:
        """Records `msg`; returns its CDR bytes (rclpy publishers take them as they are)."""
        data = serialize_message(msg)
        self.write_cdr(topic, ros_type_name(msg), data, log_time_ns, publish_time_ns)
        return data

    def write_cdr(
        self, topic: str, type_name: str, data: bytes, log_time_ns: int, publish_time_ns: int | None = None
    ) -> None:
        """Records an already serialised message of type_name ('pkg/msg/Type')."""
        with self._lock:
            channel = self._channel(topic, type_name)
            self._writer.add_message(
                channel_id=channel, log_time=log_time_ns, publish_time=publish_time_ns or log_time_ns, data=data,
                sequence=self._sequence[topic],
            )  # fmt: skip
            self._sequence[topic] += 1
            self.count += 1

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._writer.finish()
                self._file.close()
