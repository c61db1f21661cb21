"""Bad CameraInfo through the running node: ignored with one line per reason, frames keep flowing, and
/diagnostics says which intrinsics are in use."""

from __future__ import annotations

import time

import numpy as np
from conftest import Collector, diagnostics_values, spin_until
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, Image
from test_ros_node_bad_input import NODE_ARGS, real_frame, stamped

from fasthmr_ros.msg import HumanMeshArray
from fasthmr_ros.ros import images as ros_io


class Camera:
    """The node plus a camera that sends a CameraInfo with every frame, as drivers do."""

    def __init__(self, spawn, ros_node) -> None:
        self.ros_node = ros_node
        self.meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
        self.diagnostics = Collector(ros_node, DiagnosticArray, "/diagnostics")
        self.image_pub = ros_node.create_publisher(Image, "/camera/image_raw", QoSProfile(depth=10))
        self.info_pub = ros_node.create_publisher(CameraInfo, "/camera/camera_info", QoSProfile(depth=10))
        self.node = spawn(*NODE_ARGS, name="node")
        assert spin_until(
            ros_node,
            lambda: (
                self.image_pub.get_subscription_count() > 0
                and self.info_pub.get_subscription_count() > 0
                and self.meshes.sub.get_publisher_count() > 0
            ),
            30,
            [self.node],
        )
        self.rgb = real_frame()
        self.sent = 0
        # Matched on this side does not mean the node's side has matched this publisher yet (discovery is per
        # side): a first frame can still be lost in DDS. Warm up until the node answers, then count from 1.
        for n in range(50):
            self.image_pub.publish(ros_io.rgb_to_image_msg(self.rgb, stamped(1000 + n)))
            if spin_until(ros_node, lambda: bool(self.meshes.messages), 0.2, [self.node]):
                break
        assert self.meshes.messages, "the node never answered a warm-up frame"
        spin_until(ros_node, lambda: False, 0.3, [self.node])  # let a second warm-up answer land, then forget them
        self.meshes.messages.clear()

    def send(self, info: CameraInfo, frames: int = 1, gap: float = 0.2) -> None:
        for _ in range(frames):
            self.sent += 1
            self.info_pub.publish(info)
            self.image_pub.publish(ros_io.rgb_to_image_msg(self.rgb, stamped(self.sent)))
            end = time.monotonic() + gap
            while time.monotonic() < end:
                self.ros_node.test_executor.spin_once(timeout_sec=0.02)

    def all_frames_published(self) -> bool:
        expected = set(range(1, self.sent + 1))
        ok = spin_until(
            self.ros_node, lambda: {m.header.stamp.sec for m in self.meshes.messages} == expected, 10, [self.node]
        )
        assert ok, f"outputs for {sorted(m.header.stamp.sec for m in self.meshes.messages)} of 1..{self.sent}"
        return ok

    def diagnostics_when(self, condition) -> dict[str, str]:
        """The first /diagnostics after now that satisfies condition (or the last one seen)."""
        seen = len(self.diagnostics.messages)

        def ready() -> bool:
            fresh = self.diagnostics.messages[seen:]
            return bool(fresh) and condition(diagnostics_values(fresh[-1]))

        spin_until(self.ros_node, ready, 6, [self.node])
        return diagnostics_values(self.diagnostics.messages[-1]) if self.diagnostics.messages else {}

    def width_height(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def pinhole(width: int, height: int, focal: float = 300.0) -> np.ndarray:
    return np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def info_for(width: int, height: int, k: np.ndarray | None = None) -> CameraInfo:
    return ros_io.camera_info_msg(pinhole(width, height) if k is None else k, width, height, stamped(0))


def test_bad_camera_info_is_ignored_with_one_line_and_frames_keep_flowing(spawn, ros_node):
    camera = Camera(spawn, ros_node)
    width, height = camera.width_height()

    # height 0 with the width set: once made every later frame fail with ZeroDivisionError
    zero_height = info_for(width, height)
    zero_height.height = 0
    camera.send(zero_height, frames=6)
    assert camera.all_frames_published()
    values = camera.diagnostics_when(lambda v: int(v["bad_camera_info"]) == 6)
    assert int(values["errors"]) == 0, values
    assert int(values["bad_camera_info"]) == 6, values
    assert values["camera_info"] == "invalid (default focal)", values
    assert f"{width}x0" in values["camera_info_problem"], values
    lines = [line for line in camera.node.log().splitlines() if "ignoring CameraInfo" in line]
    assert len(lines) == 1, lines  # one line for six bad messages
    assert f"{width}x0" in lines[0] and "default focal length" in lines[0], lines

    # a valid one, then each other kind of bad one: every reason said once, the valid intrinsics kept
    camera.send(info_for(width, height))
    assert camera.diagnostics_when(lambda v: v["camera_info"] == "received")["camera_info"] == "received"
    k = pinhole(width, height)
    not_finite, zero_focal, not_pinhole, outside = k.copy(), k.copy(), k.copy(), k.copy()
    not_finite[0, 0] = np.nan
    zero_focal[1, 1] = 0.0
    not_pinhole[2, 2] = 0.0
    outside[0, 2] = 5.0 * width
    roi_outside = info_for(width, height)
    roi_outside.roi.x_offset, roi_outside.roi.width, roi_outside.roi.height = width // 2, width, height
    bad = {
        "non-finite": info_for(width, height, not_finite),
        "focal lengths": info_for(width, height, zero_focal),
        "not a pinhole matrix": info_for(width, height, not_pinhole),
        "principal point": info_for(width, height, outside),
        "ROI": roi_outside,
    }
    for info in bad.values():
        camera.send(info, frames=3)
    assert camera.all_frames_published()
    values = camera.diagnostics_when(lambda v: int(v["bad_camera_info"]) == 6 + 3 * len(bad))
    assert int(values["errors"]) == 0 and int(values["bad_camera_info"]) == 6 + 3 * len(bad), values
    assert values["camera_info"] == "received (newer ones invalid, last valid kept)", values
    assert "ROI" in values["camera_info_problem"], values  # the latest reason
    assert camera.diagnostics.messages[-1].status[0].level != b"\x00", values  # not OK while CameraInfo is bad
    lines = [line for line in camera.node.log().splitlines() if "ignoring CameraInfo" in line]
    for reason in bad:
        said = [line for line in lines if reason in line]
        assert len(said) == 1 and "keeping the last valid one" in said[0], (reason, lines)
    assert camera.node.alive()


def test_camera_info_of_other_images_is_scaled_or_refused(spawn, ros_node):
    camera = Camera(spawn, ros_node)
    width, height = camera.width_height()

    # calibrated at twice the resolution, same aspect ratio: the stream is a resized copy, K scales with it
    camera.send(info_for(2 * width, 2 * height), frames=2)
    values = camera.diagnostics_when(lambda v: v["camera_info"] == "received")
    assert values["camera_info"] == "received", values

    # calibrated for 4:3 images while the frames are 16:9: no K fits these frames, the default is used
    other = (width, width * 3 // 4)
    assert abs(other[1] - height) > 0.05 * height  # really another aspect ratio
    camera.send(info_for(*other), frames=4)
    assert camera.all_frames_published()
    values = camera.diagnostics_when(lambda v: v["camera_info"] == "size mismatch (default focal)")
    assert values["camera_info"] == "size mismatch (default focal)", values
    assert f"{other[0]}x{other[1]}" in values["camera_info_problem"], values
    assert int(values["errors"]) == 0, values
    lines = [line for line in camera.node.log().splitlines() if "describes" in line]
    assert len(lines) == 1, lines  # four frames, one line
    assert f"{width}x{height}" in lines[0] and "default focal length" in lines[0], lines

    # the right CameraInfo again: in use again
    camera.send(info_for(width, height), frames=2)
    assert camera.diagnostics_when(lambda v: v["camera_info"] == "received")["camera_info"] == "received"
    assert camera.all_frames_published()
