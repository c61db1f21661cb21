"""`fasthmr replay`: publish a video, an image folder or one image as a camera (Image + CameraInfo).

The pip user's substitute for a camera driver. Frames go out at the source's frame rate (or --rate) with
sensor-data QoS, stamped with the time of publishing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import cv2
import numpy as np

from fasthmr_ros.perception.frame_source import FrameSource


def encode_image(rgb: np.ndarray, encoding: str, header):
    """RGB frame -> sensor_msgs/Image in the requested encoding (for testing the node's decoders too)."""
    from sensor_msgs.msg import Image

    if encoding in ("rgb8", "bgr8"):
        from fasthmr_ros.ros.images import rgb_to_image_msg

        return rgb_to_image_msg(rgb, header, encoding)
    converters = {
        "rgba8": lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2RGBA),
        "bgra8": lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2BGRA),
        "mono8": lambda im: cv2.cvtColor(im, cv2.COLOR_RGB2GRAY),
    }
    if encoding not in converters:
        raise ValueError(f"replay publishes rgb8, bgr8, rgba8, bgra8 or mono8, not {encoding}")
    pixels = np.ascontiguousarray(converters[encoding](rgb))
    msg = Image()
    msg.header = header
    msg.height, msg.width = pixels.shape[:2]
    msg.encoding = encoding
    msg.step = pixels.strides[0]
    msg.data = pixels.tobytes()
    return msg


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="video file, folder of images, or one image")
    parser.add_argument("--topic", default="/camera/image_raw", help="image topic")
    parser.add_argument("--camera-info-topic", default="/camera/camera_info")
    parser.add_argument("--no-camera-info", action="store_true", help="publish images only")
    parser.add_argument("--frame-id", default="camera_optical_frame")
    parser.add_argument("--rate", type=float, default=0.0, help="frames per second (default: the source's)")
    parser.add_argument("--loop", action="store_true", help="start again at the end")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0 = no limit)")
    parser.add_argument("--width", type=int, default=0, help="resize to this width, keeping the aspect ratio")
    parser.add_argument(
        "--focal",
        type=float,
        default=0.0,
        help="focal length in px for CameraInfo (default: max(W,H), about a 53 degree field of view)",
    )
    parser.add_argument("--encoding", default="rgb8", help="rgb8 | bgr8 | rgba8 | bgra8 | mono8")
    parser.add_argument("--compressed", action="store_true", help="publish JPEG CompressedImage on <topic>/compressed")
    parser.add_argument("--reliable", action="store_true", help="reliable QoS instead of sensor data (best effort)")
    parser.add_argument(
        "--wait-subscribers",
        type=int,
        default=1,
        help="wait (up to --wait-timeout s) until this many subscribers match before publishing",
    )
    parser.add_argument("--wait-timeout", type=float, default=20.0)
    parser.add_argument("--stamps-out", default="", help="write the stamp of each published frame as JSON lines")
    parser.add_argument("--dds", default="localhost", help="Fast DDS profile: localhost, none or an XML path")


def run(args: argparse.Namespace) -> int:
    from fasthmr_ros.ros.dds import configure_dds

    configure_dds(args.dds)
    try:
        source = FrameSource(args.source, args.width)
    except (FileNotFoundError, ValueError) as err:
        print(f"[replay] {err}", file=sys.stderr)
        return 2

    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from std_msgs.msg import Header

    from fasthmr_ros.ros.images import camera_info_msg

    rclpy.init(args=None)
    node = rclpy.create_node("fasthmr_replay")
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE) if args.reliable else qos_profile_sensor_data
    if args.compressed:
        image_pub = node.create_publisher(CompressedImage, args.topic.rstrip("/") + "/compressed", qos)
    else:
        image_pub = node.create_publisher(Image, args.topic, qos)
    info_pub = None if args.no_camera_info else node.create_publisher(CameraInfo, args.camera_info_topic, qos)
    stamps_file = open(args.stamps_out, "w") if args.stamps_out else None  # noqa: SIM115

    deadline = time.monotonic() + args.wait_timeout
    while rclpy.ok() and image_pub.get_subscription_count() < args.wait_subscribers and time.monotonic() < deadline:
        time.sleep(0.05)
    if not rclpy.ok():
        return 1
    if image_pub.get_subscription_count() < args.wait_subscribers:
        print(
            f"[replay] no subscriber on {image_pub.topic_name} after {args.wait_timeout:.0f} s; publishing anyway",
            file=sys.stderr,
        )
    time.sleep(0.5)  # discovery is two-sided: give the subscriber time to match us too

    rate = args.rate or source.fps
    period = 1.0 / rate
    published = 0
    next_time = time.monotonic()
    try:
        while True:
            for rgb in source:
                if not rclpy.ok():
                    raise StopIteration
                header = Header(frame_id=args.frame_id)
                header.stamp = node.get_clock().now().to_msg()
                if args.compressed:
                    msg = CompressedImage(header=header, format="jpeg")
                    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
                    if not ok:
                        raise RuntimeError("JPEG encoding failed")
                    msg.data = jpeg.tobytes()
                else:
                    msg = encode_image(rgb, args.encoding, header)
                if info_pub is not None:
                    height, width = rgb.shape[:2]
                    focal = args.focal or float(max(width, height))
                    k = np.array([[focal, 0, width / 2.0], [0, focal, height / 2.0], [0, 0, 1]])
                    info_pub.publish(camera_info_msg(k, width, height, header))
                image_pub.publish(msg)
                published += 1
                if stamps_file:
                    stamps_file.write(json.dumps([header.stamp.sec, header.stamp.nanosec]) + "\n")
                    stamps_file.flush()
                if args.max_frames and published >= args.max_frames:
                    raise StopIteration
                next_time += period
                delay = next_time - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    next_time = time.monotonic()  # fell behind (slow decode): don't burst to catch up
            if not args.loop:
                break
    except (StopIteration, KeyboardInterrupt):
        pass
    finally:
        if stamps_file:
            stamps_file.close()
        print(f"[replay] published {published} frames from {args.source} at {rate:.1f} Hz", file=sys.stderr)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
