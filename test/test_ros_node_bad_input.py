"""Bad camera input through the running node: each bad frame is reported and skipped, good frames still flow."""

from __future__ import annotations

import time

import cv2
import numpy as np
from conftest import Collector, diagnostics_values, spin_until
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.qos import QoSProfile
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from fasthmr_ros import footage
from fasthmr_ros.msg import HumanMeshArray
from fasthmr_ros.ros import images as ros_io

NODE_ARGS = ("-m", "fasthmr_ros.cli", "run", "-p", "models:=false")


def real_frame(width: int = 320) -> np.ndarray:
    capture = cv2.VideoCapture(str(footage.fetch(["sports2d_demo.mp4"])[0]))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (width, int(rgb.shape[0] * width / rgb.shape[1])))


def stamped(sec: int) -> Header:
    header = Header(frame_id="cam")
    header.stamp.sec = sec
    return header


def raw_frames(rgb: np.ndarray) -> list[tuple[Image, bool]]:
    """(message, is_good) in sending order; stamps 1..N identify them."""
    height, width = rgb.shape[:2]
    good = ros_io.rgb_to_image_msg(rgb, stamped(1))
    wrong_encoding = ros_io.rgb_to_image_msg(rgb, stamped(2))
    wrong_encoding.encoding = "hsv8"
    short = ros_io.rgb_to_image_msg(rgb, stamped(3))
    short.data = bytes(short.data)[: len(short.data) // 2]
    zero = Image(header=stamped(4), height=0, width=width, encoding="rgb8", step=width * 3)
    padded_rows = np.concatenate([rgb.reshape(height, -1), np.zeros((height, 7), np.uint8)], axis=1)
    odd_step = Image(header=stamped(5), height=height, width=width, encoding="bgr8", step=width * 3 + 7)
    odd_step.data = np.ascontiguousarray(
        np.concatenate([rgb[:, :, ::-1].reshape(height, -1), padded_rows[:, -7:]], axis=1)
    ).tobytes()
    gray16 = (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257).astype("<u2")
    mono16 = Image(header=stamped(6), height=height, width=width, encoding="mono16", step=width * 2)
    mono16.data = gray16.tobytes()
    step_too_small = ros_io.rgb_to_image_msg(rgb, stamped(7))
    step_too_small.step = width
    last_good = ros_io.rgb_to_image_msg(rgb, stamped(8))
    return [
        (good, True),
        (wrong_encoding, False),
        (short, False),
        (zero, False),
        (odd_step, True),
        (mono16, True),
        (step_too_small, False),
        (last_good, True),
    ]


def send_spaced(node, publisher, messages, gap: float = 0.25) -> None:
    for msg in messages:
        publisher.publish(msg)
        end = time.monotonic() + gap
        while time.monotonic() < end:
            node.test_executor.spin_once(timeout_sec=0.02)


def test_bad_raw_images_are_reported_and_skipped(spawn, ros_node):
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    diagnostics = Collector(ros_node, DiagnosticArray, "/diagnostics")
    image_pub = ros_node.create_publisher(Image, "/camera/image_raw", QoSProfile(depth=10))
    info_pub = ros_node.create_publisher(CameraInfo, "/camera/camera_info", QoSProfile(depth=10))
    node = spawn(*NODE_ARGS, name="node")
    assert spin_until(
        ros_node, lambda: image_pub.get_subscription_count() > 0 and meshes.sub.get_publisher_count() > 0, 30, [node]
    )
    time.sleep(0.3)

    frames = raw_frames(real_frame())
    send_spaced(ros_node, image_pub, [m for m, _ in frames])
    good = {m.header.stamp.sec for m, ok in frames if ok}
    assert spin_until(ros_node, lambda: {m.header.stamp.sec for m in meshes.messages} == good, 10, [node]), [
        m.header.stamp.sec for m in meshes.messages
    ]

    bad = len(frames) - len(good)
    assert spin_until(
        ros_node,
        lambda: diagnostics.messages and int(diagnostics_values(diagnostics.messages[-1])["bad_frames"]) == bad,
        5,
        [node],
    )
    values = diagnostics_values(diagnostics.messages[-1])
    assert values["camera_info"].startswith("missing")
    assert diagnostics.messages[-1].status[0].level != b"\x00"  # not OK while input is bad

    log = node.log()
    for reason in ("unsupported image encoding 'hsv8'", "expected height*step", "zero-size image", "step"):
        assert reason in log, log
    assert log.count("no CameraInfo on /camera/camera_info") == 1  # said once, not per frame

    # CameraInfo arrives late: the node picks it up
    rgb_h, rgb_w = frames[0][0].height, frames[0][0].width
    k = np.array([[300.0, 0, rgb_w / 2], [0, 300.0, rgb_h / 2], [0, 0, 1]])
    info_pub.publish(ros_io.camera_info_msg(k, rgb_w, rgb_h, stamped(9)))
    assert spin_until(
        ros_node, lambda: diagnostics_values(diagnostics.messages[-1])["camera_info"] == "received", 5, [node]
    )
    assert node.alive()


def test_each_distinct_bad_input_reason_is_logged(spawn, ros_node):
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    diagnostics = Collector(ros_node, DiagnosticArray, "/diagnostics")
    image_pub = ros_node.create_publisher(Image, "/camera/image_raw", QoSProfile(depth=10))
    node = spawn(*NODE_ARGS, name="node")
    assert spin_until(
        ros_node, lambda: image_pub.get_subscription_count() > 0 and meshes.sub.get_publisher_count() > 0, 30, [node]
    )
    time.sleep(0.3)

    rgb = real_frame()
    height, width = rgb.shape[:2]
    depth = [Image(header=stamped(sec), height=height, width=width, encoding="32FC1", step=width * 4) for sec in (1, 2)]
    for msg in depth:
        msg.data = np.zeros((height, width), np.float32).tobytes()
    no_encoding = ros_io.rgb_to_image_msg(rgb, stamped(3))
    no_encoding.encoding = ""
    short_rgb, short_bgr = ros_io.rgb_to_image_msg(rgb, stamped(4)), ros_io.rgb_to_image_msg(rgb, stamped(5), "bgr8")
    for msg in (short_rgb, short_bgr):
        msg.data = bytes(msg.data)[: len(msg.data) // 2]
    good = ros_io.rgb_to_image_msg(rgb, stamped(6))
    send_spaced(ros_node, image_pub, [*depth, no_encoding, short_rgb, short_bgr, good])
    assert spin_until(ros_node, lambda: {m.header.stamp.sec for m in meshes.messages} == {6}, 10, [node])
    assert spin_until(
        ros_node,
        lambda: diagnostics.messages and int(diagnostics_values(diagnostics.messages[-1])["bad_frames"]) == 5,
        5,
        [node],
    )

    lines = [line for line in node.log().splitlines() if "skipping a frame" in line]
    # four distinct reasons, four lines: the repeated 32FC1 frame is rate-limited, the others are not hidden by it
    assert len(lines) == 4, lines
    assert sum("unsupported image encoding '32FC1'" in line for line in lines) == 1, lines
    assert any("empty encoding" in line for line in lines), lines
    assert any("expected height*step" in line and "rgb8" in line for line in lines), lines  # one key per encoding
    assert any("expected height*step" in line and "bgr8" in line for line in lines), lines
    assert node.alive()


def test_corrupt_compressed_frames_are_reported_and_skipped(spawn, ros_node):
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    image_pub = ros_node.create_publisher(CompressedImage, "/camera/image_raw/compressed", QoSProfile(depth=10))
    node = spawn(*NODE_ARGS, "-p", "image_transport:=compressed", name="node")
    assert spin_until(
        ros_node, lambda: image_pub.get_subscription_count() > 0 and meshes.sub.get_publisher_count() > 0, 30, [node]
    )
    time.sleep(0.3)

    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(real_frame(), cv2.COLOR_RGB2BGR))
    assert ok
    messages = [
        CompressedImage(header=stamped(1), format="jpeg", data=jpeg.tobytes()),
        CompressedImage(header=stamped(2), format="jpeg", data=b"\xff\xd8\xff\xe0garbage" * 10),
        CompressedImage(header=stamped(3), format="jpeg", data=b""),
        CompressedImage(header=stamped(4), format="jpeg", data=jpeg.tobytes()),
    ]
    send_spaced(ros_node, image_pub, messages)
    assert spin_until(ros_node, lambda: {m.header.stamp.sec for m in meshes.messages} == {1, 4}, 10, [node])
    log = node.log()
    assert "corrupt compressed image" in log and "empty compressed image" in log, log
    assert node.alive()


def test_node_refuses_a_bad_parameter_with_one_line(spawn):
    node = spawn(*NODE_ARGS, "-p", "image_transport:=theora", name="node")
    assert node.wait(timeout=30) == 2
    lines = [line for line in node.log().splitlines() if "cannot start" in line]
    assert len(lines) == 1 and "image_transport" in lines[0], node.log()
