"""`fasthmr calibrate` on real footage, `fasthmr predict --merge-plan`, and the runtime with both accelerations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _merged_data import real_crops
from _model_checkpoints import runtime_config, write_official_checkpoint

from fasthmr_ros.cli import main
from fasthmr_ros.footage import fetch
from fasthmr_ros.model.eclm import MergePlan, load_plan, weights_fingerprint
from fasthmr_ros.paths import footage_dir
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.checkpoint import load_hmr2
from fasthmr_ros.runtime.hmr_runtime import load_runtime
from fasthmr_ros.training.eclm_search import body_joints, mpjpe_mm

VIDEO = "sports2d_demo.mp4"
CALIBRATION_VIDEO = "pose2sim_single_cam01.mp4"  # MediaPipe finds the person in every frame
BOX = ["580", "70", "725", "465"]  # the walker on the shed in the first Sports2D frame


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    write_official_checkpoint(path, "tiny", seed=5)
    return path


def calibrate(checkpoint: Path, out: Path, *extra: str) -> int:
    argv = ["calibrate", "--checkpoint", str(checkpoint), "--config", "tiny", "--out", str(out), *extra]
    return main(argv)


def test_self_calibration_at_tau_zero_merges_nothing(checkpoint: Path, tmp_path: Path) -> None:
    fetch([CALIBRATION_VIDEO])
    out = tmp_path / "plan.json"
    video = str(footage_dir() / CALIBRATION_VIDEO)
    assert calibrate(checkpoint, out, "--video", video, "--frames", "3", "--tau", "0") == 0
    plan = load_plan(out)
    assert plan.mode == "self" and plan.merges == [] and plan.depth_after == 6
    assert plan.base_error_mm == 0.0 and plan.calibration["crops"] >= 2
    assert len(plan.steps) == 5 and not any(step.accepted for step in plan.steps)
    assert all(step.increase_mm > 0 for step in plan.steps)
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_a_loose_tau_merges_everything_and_predict_applies_the_plan(checkpoint: Path, tmp_path: Path) -> None:
    crops = tmp_path / "crops.npz"
    np.savez(crops, crops=real_crops().images[:4].numpy())
    out, merged = tmp_path / "plan.yaml", tmp_path / "merged.ckpt"
    assert calibrate(checkpoint, out, "--crops", str(crops), "--tau", "1e9", "--save-checkpoint", str(merged)) == 0
    plan = load_plan(out)
    assert plan.merges == [(0, 5)] and plan.depth_after == 1  # the window reached block 0 and was committed

    frame = tmp_path / "frame.png"
    import cv2

    capture = cv2.VideoCapture(str(footage_dir() / VIDEO))
    ok, bgr = capture.read()
    capture.release()
    assert ok and cv2.imwrite(str(frame), bgr)
    base = ["predict", "--config", "tiny", "--image", str(frame), "--box", *BOX]
    assert main([*base, "--checkpoint", str(checkpoint), "--out", str(tmp_path / "a.npz")]) == 0
    assert (
        main([*base, "--checkpoint", str(checkpoint), "--merge-plan", str(out), "--out", str(tmp_path / "b.npz")]) == 0
    )
    assert main([*base, "--checkpoint", str(merged), "--out", str(tmp_path / "c.npz")]) == 0
    a, b, c = (np.load(tmp_path / f"{name}.npz") for name in "abc")
    assert not np.allclose(a["body_pose"], b["body_pose"])
    np.testing.assert_array_equal(b["body_pose"], c["body_pose"])
    # the plan again on the merged checkpoint, or on another config: exit status 2, one line
    assert main([*base, "--checkpoint", str(merged), "--merge-plan", str(out), "--out", str(tmp_path / "d.npz")]) == 2
    other = tmp_path / "vit_s_plan.json"
    data = json.loads(json.dumps(plan.to_dict()))
    data["config"] = "vit_s"
    other.write_text(json.dumps(data))
    assert (
        main([*base, "--checkpoint", str(checkpoint), "--merge-plan", str(other), "--out", str(tmp_path / "e.npz")])
        == 2
    )


def test_labelled_calibration_measures_against_the_labels(checkpoint: Path, tmp_path: Path) -> None:
    images = real_crops().images[:4]
    model = load_hmr2(checkpoint, "tiny")
    body = load_body_model(None)
    with torch.inference_mode():
        predicted = body_joints(body, model(images))
    labels = predicted + 0.01 * torch.randn(predicted.shape, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "labels.npz"
    np.savez(path, crops=images.numpy(), joints=labels.numpy())
    out = tmp_path / "plan.json"
    assert calibrate(checkpoint, out, "--labels", str(path), "--tau", "0.05") == 0
    plan = load_plan(out)
    assert plan.mode == "labelled"
    assert plan.base_error_mm == pytest.approx(mpjpe_mm(predicted, labels), rel=1e-4)
    assert plan.base_error_mm > 1.0


def test_calibration_crops_from_a_box_file(checkpoint: Path, tmp_path: Path) -> None:
    fetch([VIDEO])
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"0": [[float(v) for v in BOX]], "40": [[600, 60, 760, 470], [100, 300, 180, 520]]}))
    out = tmp_path / "plan.json"
    video = str(footage_dir() / VIDEO)
    assert calibrate(checkpoint, out, "--video", video, "--boxes", str(boxes), "--tau", "0") == 0
    assert load_plan(out).calibration["crops"] == 3
    boxes.write_text(json.dumps({"100000": [[float(v) for v in BOX]]}))
    assert calibrate(checkpoint, out, "--video", video, "--boxes", str(boxes)) == 2


def test_calibrate_input_errors_are_one_line(checkpoint: Path, tmp_path: Path, capsys) -> None:
    assert calibrate(checkpoint, tmp_path / "p.json") == 2
    assert "exactly one calibration set" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    np.savez(bad, crops=np.zeros((2, 3, 64, 64), np.float32))
    assert calibrate(checkpoint, tmp_path / "p.json", "--labels", str(bad)) == 2
    assert "(N, 3, 256, 192)" in capsys.readouterr().err


def test_runtime_applies_plan_and_token_merging_and_reports_them(checkpoint: Path, tmp_path: Path) -> None:
    plan_path = tmp_path / "plan.json"
    weights = load_hmr2(checkpoint, "tiny")
    MergePlan("tiny", 6, [(3, 5)], tau_mm=0.1, fingerprint=weights_fingerprint(weights)).save(plan_path)
    runtime = load_runtime(
        runtime_config(str(checkpoint), merge_plan=str(plan_path)), torch.device("cpu"), batch=4, threads=1
    )
    assert "ECLM 6->4 blocks" in runtime.settings_text and "192->90 tokens" in runtime.settings_text
    crops = real_crops()
    fits = crops.token_masks.reshape(len(crops), -1).sum(dim=1) <= 89  # enough background for the budget
    images, masks = crops.images[fits][:3], crops.token_masks[fits][:3]
    with torch.inference_mode():
        merged = runtime(images, masks)
        assert runtime.last_notes["encoder_tokens"] == "90"
        assert runtime.last_notes["person_token_merges"] == "0"
        assert runtime.last_notes["person_tokens_max"] == str(int(masks.reshape(3, -1).sum(dim=1).max()))
        unmasked = runtime(images, None)
        assert runtime.last_notes["encoder_tokens"] == "192" and "skipped" in runtime.last_notes["token_merging"]
    assert merged.pose_6d.shape == unmasked.pose_6d.shape == (3, 144)
    assert not torch.allclose(merged.pose_6d, unmasked.pose_6d)
    plain = load_runtime(runtime_config(str(checkpoint), token_merging=False), torch.device("cpu"), batch=4, threads=1)
    assert "6 blocks, no layer merging" in plain.settings_text and "no token merging" in plain.settings_text
    MergePlan("tiny", 6, [(0, 4)], tau_mm=0.1).save(plan_path)  # 2 blocks left: too few for 3 merging blocks
    with pytest.raises(ValueError, match="token merging needs 3 blocks"):
        load_runtime(
            runtime_config(str(checkpoint), merge_plan=str(plan_path)), torch.device("cpu"), batch=4, threads=1
        )
