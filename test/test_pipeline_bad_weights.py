"""The pipeline with weights that produce NaNs: nobody is published with NaNs, the drop is counted, and the node
refuses a checkpoint path that does not exist with one line."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from fasthmr_ros import footage
from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.perception.camera import default_camera_matrix
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.pipeline import Pipeline
from fasthmr_ros.perception.types import Frame
from fasthmr_ros.runtime.checkpoint import save_hmr2


def sports2d_frames(count: int, width: int = 640) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(footage.fetch(["sports2d_demo.mp4"])[0]))
    frames = []
    for _ in range(count):
        ok, bgr = capture.read()
        assert ok
        height = round(bgr.shape[0] * width / bgr.shape[1])
        frames.append(cv2.cvtColor(cv2.resize(bgr, (width, height)), cv2.COLOR_BGR2RGB))
    return frames


def test_nan_weights_publish_nobody_and_are_counted(tmp_path):
    model = HMR2("micro")
    with torch.no_grad():
        model.smpl_head.decpose.weight.fill_(float("nan"))
    path = tmp_path / "nan.ckpt"
    save_hmr2(model, path)
    sane = Pipeline(PipelineConfig.from_flat(dict(decoder=False, token_merging=False, pose_source="hmr")))
    broken = Pipeline(PipelineConfig.from_flat(dict(checkpoint=str(path), model_config="micro", token_merging=False)))
    seen_sane, seen_broken, notes = 0, 0, {}
    for rgb in sports2d_frames(8):
        k = default_camera_matrix(rgb.shape[1], rgb.shape[0])
        seen_sane += len(sane.process(Frame(rgb, k, False)).people)
        result = broken.process(Frame(rgb, k, False))
        seen_broken += len(result.people)
        notes.update(result.notes)
    assert seen_sane > 0  # the same frames do hold people
    assert seen_broken == 0
    assert int(notes["non_finite_people_dropped"]) == broken.non_finite_people > 0


def test_node_refuses_a_missing_checkpoint_with_one_line(spawn, tmp_path):
    missing = tmp_path / "no_such.ckpt"
    node = spawn("-m", "fasthmr_ros.cli", "run", "-p", f"checkpoint:={missing}", name="node")
    assert node.wait(timeout=120) == 2
    lines = [line for line in node.log().splitlines() if "cannot start" in line]
    assert len(lines) == 1 and str(missing) in lines[0], node.log()
