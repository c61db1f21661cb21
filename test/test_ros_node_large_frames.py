"""Frames larger than the old 16 MB shared-memory segment reach the node, and frames lost in transport are counted.

A helper process is the camera (test/helpers/publish_frames.py); the node runs with models:=false; this test
process reads the node's outputs and /diagnostics. All three use the shipped Fast DDS profile, as `fasthmr run`
and `fasthmr replay` do, except where a test gives the camera a profile of its own.
"""

from __future__ import annotations

import json
import time

import numpy as np
from conftest import ROOT, Collector, diagnostics_values, spin_until
from diagnostic_msgs.msg import DiagnosticArray

from fasthmr_ros.msg import HumanMeshArray

NODE_ARGS = ("-m", "fasthmr_ros.cli", "run", "-p", "models:=false")
PUBLISHER = str(ROOT / "test" / "helpers" / "publish_frames.py")

# A camera on plain loopback UDP: no shared memory, the system's default socket buffers. Frames of many 64 KB
# fragments then lose fragments, so best-effort frames are lost in transport.
UDP_ONLY_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.eprosima.com">
  <profiles>
    <transport_descriptors>
      <transport_descriptor>
        <transport_id>udp_lo</transport_id>
        <type>UDPv4</type>
        <interfaceWhiteList><address>127.0.0.1</address></interfaceWhiteList>
      </transport_descriptor>
    </transport_descriptors>
    <participant profile_name="udp_only" is_default_profile="true">
      <rtps>
        <userTransports><transport_id>udp_lo</transport_id></userTransports>
        <useBuiltinTransports>false</useBuiltinTransports>
      </rtps>
    </participant>
  </profiles>
</dds>
"""


def start_node(spawn, ros_node):
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    diagnostics = Collector(ros_node, DiagnosticArray, "/diagnostics")
    arrivals: dict[int, float] = {}
    # the wall-clock arrival of each frame's output here: stamp -> arrival is camera -> node -> consumer
    ros_node.create_subscription(
        HumanMeshArray, "/fasthmr/meshes", lambda m: arrivals.setdefault(int(m.header.frame_id), time.time()), 10
    )
    node = spawn(*NODE_ARGS, name="node")
    assert spin_until(ros_node, lambda: meshes.sub.get_publisher_count() > 0, 30, [node]), "node did not come up"
    return node, meshes, diagnostics, arrivals


def settled_diagnostics(ros_node, diagnostics, node, done) -> dict[str, str]:
    spin_until(ros_node, lambda: bool(diagnostics.messages) and done(diagnostics_values(diagnostics.messages[-1])),
               15, [node])  # fmt: skip
    return diagnostics_values(diagnostics.messages[-1]) if diagnostics.messages else {}


def test_4k_rgb8_frames_reach_the_node(spawn, ros_node, tmp_path):
    # bursts of 3 back-to-back frames: a camera's frames queue up whenever the node's side lags, and the
    # shared-memory segment must hold them (the old 16 MB one could not hold even one)
    width, height, count, rate, burst = 3840, 2160, 30, 5.0, 3
    node, meshes, diagnostics, arrivals = start_node(spawn, ros_node)
    report = tmp_path / "published.json"
    camera = spawn(PUBLISHER, *map(str, (width, height, count, rate, report)), "--burst", str(burst), name="camera")
    assert spin_until(ros_node, lambda: not camera.alive(), 60, [node]), "the camera did not finish"
    assert camera.wait(timeout=5) == 0, camera.log()
    published = json.loads(report.read_text())
    assert set(published["frame_bytes"]) == {width * height * 3}
    assert width * height * 3 > 16 * 2**20  # larger than the old shared-memory segment

    values = settled_diagnostics(ros_node, diagnostics, node, lambda v: int(v["frames_received"]) >= count)
    assert int(values.get("frames_received", -1)) == count, values  # not one 4K frame lost between processes
    assert int(values["frames_lost"]) == 0 and int(values["frames_lost_in_transport"]) == 0, values
    assert int(values["bad_frames"]) == 0 and int(values["errors"]) == 0, values
    assert spin_until(ros_node, lambda: len(meshes.messages) == int(values["frames_processed"]), 5, [node])
    assert int(values["frames_processed"]) + int(values["frames_dropped"]) == count, values

    stamps = {i: sec + nsec * 1e-9 for i, (sec, nsec) in enumerate(published["stamps"])}
    latency_ms = np.array([(arrivals[i] - stamps[i]) * 1e3 for i in arrivals])
    publish_ms = np.array(published["publish_ms"])
    print(
        f"4K rgb8 ({width * height * 3 / 1e6:.1f} MB) at {rate:.0f} Hz in bursts of {burst}: {count}/{count} received, "
        f"{len(arrivals)} processed; camera publish() p50 {np.median(publish_ms):.1f} ms p95 "
        f"{np.percentile(publish_ms, 95):.1f} ms; stamp -> node output here p50 {np.median(latency_ms):.1f} ms "
        f"p95 {np.percentile(latency_ms, 95):.1f} ms; node decode p50 {values.get('decode_ms_p50')} ms, "
        f"total p50 {values.get('total_ms_p50')} ms"
    )


def test_frames_lost_in_transport_are_counted_and_said_once(spawn, ros_node, ros_env, tmp_path):
    # small frames (one datagram) that get through, every other one a 4K frame (380 fragments) that does not
    small, big, count, rate = (64, 48), "3840x2160", 40, 20.0
    node, _meshes, diagnostics, arrivals = start_node(spawn, ros_node)
    profile = tmp_path / "udp_only.xml"
    profile.write_text(UDP_ONLY_PROFILE)
    camera_env = dict(ros_env, FASTRTPS_DEFAULT_PROFILES_FILE=str(profile), FASTDDS_DEFAULT_PROFILES_FILE=str(profile))
    report = tmp_path / "published.json"
    camera = spawn(PUBLISHER, *map(str, (*small, count, rate, report)), "--every-other", big, name="camera",
                   env=camera_env)  # fmt: skip
    assert spin_until(ros_node, lambda: not camera.alive(), 60, [node]), "the camera did not finish"
    assert camera.wait(timeout=5) == 0, camera.log()

    # a gap shows between two frames the node got: frames before its first one and after its last one are not
    # counted as gaps (a camera may have run long before the node started)
    def span() -> int:
        return max(arrivals) - min(arrivals) + 1 if arrivals else count

    def accounted(v: dict[str, str]) -> bool:
        return "frames_lost" in v and int(v["frames_received"]) + int(v["frames_lost"]) >= span()

    values = settled_diagnostics(ros_node, diagnostics, node, accounted)
    assert "frames_lost" in values, values
    lost, received = int(values["frames_lost"]), int(values["frames_received"])
    in_transport = int(values["frames_lost_in_transport"])
    assert lost > 0 and in_transport > 0, values  # this camera's transport does lose frames: the node says so
    assert len(arrivals) >= count // 4, sorted(arrivals)  # small frames got through: gaps between them show
    # every frame between the first and the last the node got is either received or counted lost
    assert span() <= received + lost <= count, (values, min(arrivals), max(arrivals))
    assert diagnostics.messages[-1].status[0].level != b"\x00", values  # not OK while frames are being lost
    log = node.log().splitlines()
    # said once each (rate-limited), not once per lost frame
    assert len([line for line in log if "DDS lost" in line]) == 1, log
    assert len([line for line in log if "never reached the node" in line]) == 1, log
    print(f"UDP-only camera, {small[0]}x{small[1]} and {big} frames at {rate:.0f} Hz: {received} received, "
          f"{lost} lost ({in_transport} reported by DDS)")  # fmt: skip
