"""A bounded soak: 90 s of real footage at 30 Hz into the node with its models on. No crash, memory that stops
growing after warm-up, and frame counters that add up (every frame received is processed, dropped or bad)."""

from __future__ import annotations

import time

from conftest import Collector, diagnostics_values, spin_until
from diagnostic_msgs.msg import DiagnosticArray

from fasthmr_ros import footage
from fasthmr_ros.msg import HumanMeshArray

SOAK_S = 90.0
WARMUP_S = 25.0
MAX_GROWTH_MB = 150.0


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError("no VmRSS")


def test_soak_memory_and_counters(spawn, ros_node):
    video = footage.fetch(["sports2d_demo.mp4"])[0]
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    diagnostics = Collector(ros_node, DiagnosticArray, "/diagnostics")
    node = spawn("-m", "fasthmr_ros.cli", "run", "-p", "publish_overlay:=true", name="node")
    assert spin_until(ros_node, lambda: meshes.sub.get_publisher_count() > 0, 120, [node])
    replay = spawn("-m", "fasthmr_ros.cli", "replay", str(video), "--width", "640", "--rate", "30", "--loop",
                   name="replay")  # fmt: skip
    start = time.monotonic()
    spin_until(ros_node, lambda: time.monotonic() - start > WARMUP_S, WARMUP_S + 5, [node, replay])
    after_warmup = rss_mb(node.popen.pid)
    samples = [after_warmup]
    while time.monotonic() - start < SOAK_S:
        spin_until(ros_node, lambda: False, 5.0, [node, replay])
        samples.append(rss_mb(node.popen.pid))
    replay.stop()
    time.sleep(0.5)
    count = len(diagnostics.messages)
    assert spin_until(ros_node, lambda: len(diagnostics.messages) >= count + 2, 10, [node])
    values = {k: int(v) for k, v in diagnostics_values(diagnostics.messages[-1]).items() if v.lstrip("-").isdigit()}

    assert node.alive()
    assert max(samples) - after_warmup < MAX_GROWTH_MB, f"RSS MB over time: {samples}"
    assert values["frames_received"] > SOAK_S * 20, values  # the camera rate reached the node
    accounted = values["frames_processed"] + values["frames_dropped"] + values["bad_frames"] + values["errors"]
    assert abs(values["frames_received"] - accounted) <= 2, values
    assert values["frames_processed"] >= 20 and values["errors"] == 0, values
    assert len(meshes.messages) >= values["frames_processed"] - 2
