"""Publishes HumanMeshArray messages built from seeds 0..N-1 (and latched MeshFaces), for the round-trip test."""

from __future__ import annotations

import sys
import time

import numpy as np
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import Header

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from mesh_messages import people_from_seed

from fasthmr_ros.msg import HumanMeshArray, MeshFaces
from fasthmr_ros.ros import messages as ros_messages


def main() -> None:
    count = int(sys.argv[1])
    rclpy.init()
    node = rclpy.create_node("mesh_publisher")
    pub = node.create_publisher(HumanMeshArray, "/roundtrip/meshes", QoSProfile(depth=50))
    faces_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    faces_pub = node.create_publisher(MeshFaces, "/roundtrip/faces", faces_qos)
    faces = np.arange(300, dtype=np.uint32).reshape(100, 3)
    faces_pub.publish(ros_messages.mesh_faces(faces, 6890, "fasthmr-embedded", Header(frame_id="cam")))
    deadline = time.monotonic() + 20
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    for seed in range(count):
        header = Header(frame_id=f"cam_{seed}")
        header.stamp.sec, header.stamp.nanosec = 1000 + seed, 5000 * seed
        pub.publish(
            ros_messages.human_mesh_array(
                people_from_seed(seed), header, "weights-x", "fasthmr-embedded", (640, 480), True
            )
        )
        time.sleep(0.05)
    rclpy.spin_once(node, timeout_sec=3.0)  # keep the latched faces available a moment longer
    node.destroy_node()
    rclpy.try_shutdown()


if __name__ == "__main__":
    main()
