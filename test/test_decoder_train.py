"""`fasthmr train-decoder` on tiny runs: exact resume, checkpoints, AMASS-layout input with resampling, export."""

import json

import numpy as np
import torch

from fasthmr_ros.cli import main
from fasthmr_ros.runtime.decoder_files import load_decoder
from fasthmr_ros.training.synth.motion import save_motion_set, synthetic_motion_set

TINY = [
    "--window",
    "8",
    "--d-model",
    "16",
    "--layers",
    "1",
    "--heads",
    "2",
    "--ffn",
    "32",
    "--max-lookahead",
    "2",
    "--batch",
    "4",
    "--checkpoint-every",
    "2",
    "--val-clips",
    "0",
    "--no-progress",
]


def _weights(folder) -> dict[str, torch.Tensor]:
    return torch.load(folder / "checkpoint.pt", weights_only=True)["model"]


def test_resume_continues_exactly(tmp_path, capsys):
    data = ["--synthetic-clips", "4", "--clip-seconds", "2", "--seed", "3"]
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert main(["train-decoder", *data, *TINY, "--steps", "4", "--out", str(straight)]) == 0
    assert main(["train-decoder", *data, *TINY, "--steps", "4", "--stop-after", "2", "--out", str(split)]) == 0
    halfway = torch.load(split / "checkpoint.pt", weights_only=True)
    assert halfway["step"] == 2
    assert main(["train-decoder", *data, *TINY, "--steps", "4", "--resume", "--out", str(split)]) == 0
    a, b = _weights(straight), _weights(split)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # And the run did learn something: weights moved away from the first checkpoint.
    assert any(not torch.equal(halfway["model"][k], a[k]) for k in a)
    out = capsys.readouterr().out
    assert json.loads(out[out.rindex('{\n  "checkpoint"') :])["checkpoint"].endswith("checkpoint.pt")


def test_train_from_amass_layout_files_and_export(tmp_path, capsys):
    clips = synthetic_motion_set(3, 2.0, 60.0, seed=4)  # 60 fps files, trained at 30 fps
    files = save_motion_set(clips, tmp_path / "motions")
    with np.load(files[0]) as data:
        assert data["poses"].shape == (120, 72) and float(data["mocap_framerate"]) == 60.0
    export = tmp_path / "decoder.pt"
    args = ["--amass", str(tmp_path / "motions"), "--fps", "30", *TINY, "--steps", "2"]
    assert main(["train-decoder", *args, "--out", str(tmp_path / "run"), "--export", str(export)]) == 0
    out = capsys.readouterr().out
    summary = json.loads(out[out.index("{") :])
    assert "AMASS-layout" in summary["trained_on"]
    model = load_decoder(export)
    assert model.config.window == 8 and "AMASS-layout" in model.description
    assert json.loads(export.with_suffix(".json").read_text())["fps"] == 30.0
