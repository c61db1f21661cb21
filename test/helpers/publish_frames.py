"""A camera for transport tests: publishes frames with sensor-data QoS on /camera/image_raw, like a camera driver.

usage: publish_frames.py WIDTH HEIGHT COUNT RATE_HZ OUT.json [--encoding E] [--every-other WxH] [--burst N]
Each frame is stamped with the wall clock when it is published (the test measures stamp -> output latency) and
carries its index in header.frame_id; --every-other makes every odd-indexed frame that size instead; --burst
sends N frames back to back, then waits N periods (the same mean rate). OUT.json gets the stamps, how long each
publish() call took, and each frame's size in bytes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

BYTES_PER_PIXEL = {"rgb8": 3, "rgba8": 4, "rgb16": 6, "rgba16": 8, "mono8": 1}


def frame(width: int, height: int, encoding: str) -> Image:
    step = width * BYTES_PER_PIXEL[encoding]
    msg = Image(height=height, width=width, encoding=encoding, step=step)
    # noise, so no layer of the transport can get away with less than the full frame
    msg.data = np.random.default_rng(0).integers(0, 256, height * step, dtype=np.uint8).tobytes()
    return msg


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("width", "height", "count"):
        parser.add_argument(name, type=int)
    parser.add_argument("rate", type=float)
    parser.add_argument("out")
    parser.add_argument("--encoding", default="rgb8", choices=sorted(BYTES_PER_PIXEL))
    parser.add_argument("--every-other", default="", metavar="WxH")
    parser.add_argument("--burst", type=int, default=1, metavar="N")
    args = parser.parse_args()

    rclpy.init()
    node = rclpy.create_node("frame_publisher")
    pub = node.create_publisher(Image, "/camera/image_raw", qos_profile_sensor_data)
    deadline = time.monotonic() + 30
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # discovery is two-sided: let the subscriber match us too

    frames = [frame(args.width, args.height, args.encoding)]
    if args.every_other:
        width, height = (int(v) for v in args.every_other.split("x"))
        frames.append(frame(width, height, args.encoding))
    stamps, publish_ms, sizes = [], [], []
    next_time = time.monotonic()
    for index in range(args.count):
        msg = frames[index % len(frames)]
        msg.header.frame_id = str(index)
        msg.header.stamp = node.get_clock().now().to_msg()
        start = time.perf_counter()
        pub.publish(msg)
        publish_ms.append((time.perf_counter() - start) * 1e3)
        stamps.append([msg.header.stamp.sec, msg.header.stamp.nanosec])
        sizes.append(len(msg.data))
        if (index + 1) % args.burst == 0:
            next_time += args.burst / args.rate
            time.sleep(max(0.0, next_time - time.monotonic()))
    with open(args.out, "w") as f:
        json.dump({"stamps": stamps, "publish_ms": publish_ms, "frame_bytes": sizes}, f)
    time.sleep(1.0)  # best effort has no retransmission, but let the last fragments leave before the segment goes
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
