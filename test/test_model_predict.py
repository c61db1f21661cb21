"""`fasthmr predict` on a real frame with a random-weights checkpoint in the official layout."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from _model_checkpoints import write_official_checkpoint

from fasthmr_ros.cli import main
from fasthmr_ros.footage import fetch
from fasthmr_ros.paths import footage_dir
from fasthmr_ros.runtime.checkpoint import save_hmr2

BOX = ["580", "70", "725", "465"]  # the walker on the shed in the first Sports2D frame
KEYS = {"global_orient": (1, 3, 3), "body_pose": (23, 3, 3), "betas": (10,), "pred_cam": (3,), "pred_cam_t_full": (3,)}


@pytest.fixture(scope="module")
def frame_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    fetch(["sports2d_demo.mp4"])
    capture = cv2.VideoCapture(str(footage_dir() / "sports2d_demo.mp4"))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    path = tmp_path_factory.mktemp("frame") / "sports2d_0.png"
    cv2.imwrite(str(path), bgr)
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "epoch=35-step=1000000.ckpt"
    write_official_checkpoint(path, "tiny", seed=7)
    return path


def predict(frame: Path, checkpoint: Path, out: Path, *extra: str) -> dict[str, np.ndarray]:
    argv = ["predict", "--checkpoint", str(checkpoint), "--config", "tiny", "--image", str(frame), "--box", *BOX]
    assert main([*argv, "--out", str(out), *extra]) == 0
    with np.load(out) as data:
        return dict(data)


def test_predict_writes_the_contract_and_is_deterministic(frame_path: Path, checkpoint: Path, tmp_path: Path) -> None:
    first = predict(frame_path, checkpoint, tmp_path / "a.npz")
    second = predict(frame_path, checkpoint, tmp_path / "b.npz")
    assert {k: v.shape for k, v in first.items()} == KEYS
    for key in KEYS:
        assert np.array_equal(first[key], second[key]), key
    rotations = np.concatenate((first["global_orient"], first["body_pose"])).astype(np.float64)
    assert np.allclose(rotations @ rotations.transpose(0, 2, 1), np.eye(3), atol=1e-5)
    assert np.allclose(np.linalg.det(rotations), 1.0, atol=1e-5)


def test_predict_camera_follows_the_box_and_focal(frame_path: Path, checkpoint: Path, tmp_path: Path) -> None:
    default = predict(frame_path, checkpoint, tmp_path / "default.npz")
    real = predict(frame_path, checkpoint, tmp_path / "real.npz", "--focal", "1500")
    # box 145x395 -> widened to 296.25x395 -> side 395, centre (652.5, 267.5); image 1768x994
    s, tx, ty = default["pred_cam"].astype(np.float64)
    for result, focal in ((default, 5000 / 256 * 1768), (real, 1500.0)):
        expected = [2 * (652.5 - 884) / (395 * s) + tx, 2 * (267.5 - 497) / (395 * s) + ty, 2 * focal / (395 * s)]
        assert np.allclose(result["pred_cam_t_full"], expected, rtol=1e-5)
    assert np.array_equal(default["body_pose"], real["body_pose"])


def test_plain_state_dict_gives_the_same_prediction(frame_path: Path, checkpoint: Path, tmp_path: Path) -> None:
    from fasthmr_ros.runtime.checkpoint import load_hmr2

    save_hmr2(load_hmr2(checkpoint, "tiny"), tmp_path / "plain.pt", lightning=False)
    official = predict(frame_path, checkpoint, tmp_path / "official.npz")
    plain = predict(frame_path, tmp_path / "plain.pt", tmp_path / "plain.npz")
    for key in KEYS:
        assert np.array_equal(official[key], plain[key]), key


def test_predict_without_checkpoint_names_what_to_supply(
    frame_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", "--image", str(frame_path), "--box", *BOX, "--config", "tiny", "--out", str(tmp_path / "x.npz")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--checkpoint" in err and "4D-Humans HMR2.0 checkpoint" in err
    assert not (tmp_path / "x.npz").exists()


def test_predict_with_wrong_config_names_the_mismatch(
    frame_path: Path, checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["predict", "--checkpoint", str(checkpoint), "--image", str(frame_path), "--box", *BOX]
    assert main([*argv, "--out", str(tmp_path / "x.npz")]) == 2  # default config vit_h
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "does not fit config 'vit_h'" in err and "matches config 'tiny'" in err


def test_predict_random_weights_differ_from_another_seed(frame_path: Path, checkpoint: Path, tmp_path: Path) -> None:
    """Guards the determinism test against a constant output: other weights give another prediction."""
    other = tmp_path / "other.ckpt"
    write_official_checkpoint(other, "tiny", seed=8)
    a = predict(frame_path, checkpoint, tmp_path / "a.npz")
    b = predict(frame_path, other, tmp_path / "b.npz")
    assert not np.allclose(a["pred_cam"], b["pred_cam"])
    assert not np.allclose(a["body_pose"], b["body_pose"])


def test_predict_bad_inputs_fail_before_loading(
    frame_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing_ckpt = str(tmp_path / "never-read.ckpt")  # input errors are reported before the checkpoint is read
    base = ["predict", "--checkpoint", missing_ckpt, "--out", str(tmp_path / "x.npz")]
    assert main([*base, "--image", str(frame_path), "--box", "600", "70", "590", "465"]) == 2
    assert "x1 > x0" in capsys.readouterr().err
    assert main([*base, "--image", str(tmp_path / "none.png"), "--box", *BOX]) == 2
    assert "image not found" in capsys.readouterr().err
    assert main([*base, "--image", str(frame_path), "--box", *BOX, "--focal", "-3"]) == 2
    assert "--focal must be a positive" in capsys.readouterr().err
