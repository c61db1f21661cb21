"""`fasthmr train` end to end on a small rendered set: checkpoints, resume, export of a loadable demo-model file
that says what it is, mean-parameter start, and one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fasthmr_ros.cli import main as cli_main
from fasthmr_ros.runtime.checkpoint import load_hmr2
from fasthmr_ros.runtime.demo_model import DESCRIPTION, WEIGHTS_LABEL
from fasthmr_ros.training.synth.dataset import SynthSet, generate_frames
from fasthmr_ros.training.synth.scene import SynthGenerator
from fasthmr_ros.training.train_hmr import mean_parameters


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "frames.npz"
    generate_frames(path, 40, seed=3, generator=SynthGenerator(seed=3))
    return path


def _train(data, tmp_path, *extra: str) -> int:
    return cli_main(
        ["train", "--data", str(data), "--config", "micro", "--batch-size", "4", "--minutes", "10",
         "--run-dir", str(tmp_path / "run"), "--export", str(tmp_path / "demo.ckpt"), *extra]
    )  # fmt: skip


def test_train_checkpoints_resumes_and_exports_a_loadable_demo_model(small_set, tmp_path):
    assert _train(small_set, tmp_path, "--max-steps", "3") == 0
    first = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert first["state"]["step"] == 3
    assert _train(small_set, tmp_path, "--max-steps", "5", "--resume") == 0
    resumed = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert resumed["state"]["step"] == 5
    assert resumed["state"]["elapsed_s"] >= first["state"]["elapsed_s"]
    changed = [k for k, v in resumed["model"].items() if not torch.equal(v, first["model"][k])]
    assert any(k.startswith("backbone.blocks") for k in changed)

    model = load_hmr2(tmp_path / "demo.ckpt", "micro")
    meta = json.loads((tmp_path / "demo.json").read_text())
    assert meta["description"] == DESCRIPTION and "synthetic-data demo model" in meta["description"]
    assert meta["weights_label"] == WEIGHTS_LABEL and meta["config"] == "micro" and meta["dtype"] == "float16"
    assert meta["training"]["steps"] == 5 and meta["training"]["batch_size"] == 4
    # float16 export of the trained weights.
    for key, value in resumed["model"].items():
        torch.testing.assert_close(model.state_dict()[key], value.half().float(), rtol=0, atol=0)
    # The head starts from the training frames' mean parameters (buffers: training leaves them alone).
    dataset = SynthSet.load(small_set)
    means = mean_parameters(dataset, np.arange(len(dataset) - 4))
    np.testing.assert_allclose(model.smpl_head.init_cam.numpy(), means["init_cam"], rtol=2e-3)
    with torch.inference_mode():
        out = model(torch.zeros(1, 3, 256, 192))
    assert out.rotmats.shape == (1, 24, 3, 3)


def test_train_bad_input_gives_one_line_errors(small_set, tmp_path, capsys):
    assert _train(small_set, tmp_path, "--resume") == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert cli_main(["train", "--data", str(tmp_path / "missing.npz"), "--samples", "0"]) == 2
    assert "count must be positive" in capsys.readouterr().err
