"""`fasthmr video` (the pipeline on a file, no ROS) in its own process on real footage: the overlay video and the
.npz of every person, with the pipeline's flags taken from the same table as the node's parameters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from fasthmr_ros import footage

FRAMES = 8


def test_video_writes_overlay_and_people(tmp_path: Path) -> None:
    clip = footage.clip_path("pose2sim_single_cam01.mp4")
    out = tmp_path / "overlay.mp4"
    run = subprocess.run(
        [sys.executable, "-m", "fasthmr_ros.cli", "video", str(clip), "--out", str(out), "--max-frames", str(FRAMES),
         "--width", "640", "--no-decoder", "--max-people", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    capture = cv2.VideoCapture(str(out))
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    capture.release()
    assert count == FRAMES and width == 640
    people = np.load(out.with_suffix(".npz"))
    # one man walks through this clip, found in every frame; a new track is published from its third frame on
    frames = list(people["frame"])
    assert frames == list(range(FRAMES - len(frames), FRAMES)) and len(frames) >= FRAMES - 2
    boxes = people["box"]
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 640).all() and (boxes[:, 2] > boxes[:, 0]).all()
    assert people["joints"].shape == (len(frames), 24, 3) and (people["joints"][..., 2] > 0).all()
    assert str(people["weights"]).startswith("landmark lift")  # the default pose source without a checkpoint


def test_video_rejects_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    clip = footage.clip_path("pose2sim_single_cam01.mp4")
    run = subprocess.run(
        [sys.executable, "-m", "fasthmr_ros.cli", "video", str(clip), "--out", str(tmp_path / "o.mp4"),
         "--mask-backend", "onnx"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 2
    assert "mask_backend 'onnx' needs mask_model" in run.stderr and "Traceback" not in run.stderr
