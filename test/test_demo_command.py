"""`fasthmr demo` (what `make demo` runs): the node as its own process on the Sports2D clip, played in lockstep;
every frame sent is either answered or counted as dropped by the node, none stalls the run, and the outputs a
person looks at are written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import cv2


def test_demo_writes_every_frame_and_never_waits_on_a_dropped_one(tmp_path):
    frames = 12
    out = tmp_path / "demo"
    env = dict(os.environ)
    env.pop("ROS_DOMAIN_ID", None)  # the demo picks a private domain itself
    started = time.monotonic()
    # four frames in flight is more than the node's two stages and its one-frame input slot hold, so the node may
    # drop some (newest frame only); a dropped frame must not hold the demo for its --timeout
    proc = subprocess.run(
        [sys.executable, "-m", "fasthmr_ros.cli", "demo", "--frames", str(frames), "--in-flight", "4",
         "--timeout", "120", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=400,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["frames"] + summary["frames_dropped_by_node"] == frames
    assert summary["frames_in_flight_max"] == 4, "the demo never had its whole window of frames out at once"
    assert summary["frames_decoded_before_start"] == frames  # decoded while the node started, no more than asked
    assert summary["frames"] >= frames // 2 and summary["frames_with_people"] >= 1
    assert elapsed < 120, f"took {elapsed:.0f} s: a frame was waited on for its whole timeout"
    assert "landmark lift" in summary["weights"]
    video = cv2.VideoCapture(str(out / "overlay.mp4"))
    written = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
    video.release()
    # dropped frames are written plain once the video has started, so the video keeps the clip's timing
    assert summary["frames"] <= written <= frames
    assert (out / "outputs.mcap").stat().st_size > 0


def test_an_unreadable_video_gives_one_line_and_leaves_no_node_behind(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video")
    out = tmp_path / "demo"
    env = dict(os.environ)
    env.pop("ROS_DOMAIN_ID", None)
    proc = subprocess.run([sys.executable, "-m", "fasthmr_ros.cli", "demo", "--video", str(bad), "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 1
    assert f"[demo] cannot open video {bad}" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    # the node the demo started records into OUT: no process may still be running with that path
    time.sleep(1.0)
    left = subprocess.run(["pgrep", "-f", str(out / "outputs.mcap")], capture_output=True, text=True)
    assert left.stdout.strip() == "", f"node still running: {left.stdout}"
