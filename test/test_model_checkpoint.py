from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _model_checkpoints import write_official_checkpoint

from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.runtime.checkpoint import load_hmr2, read_checkpoint, save_hmr2


def assert_same_weights(a: HMR2, b: HMR2) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def test_official_lightning_checkpoint_loads_strictly(tmp_path: Path) -> None:
    path = tmp_path / "epoch=35-step=1000000.ckpt"
    written = write_official_checkpoint(path)
    with pytest.raises(ModuleNotFoundError, match="yacs"):  # it pickles a class that is not importable here
        torch.load(path, weights_only=False)
    state = read_checkpoint(path)
    assert not any(k.startswith(("discriminator.", "smpl.")) or k == "initialized" for k in state)
    loaded = load_hmr2(path, "tiny")
    assert not loaded.training
    assert_same_weights(loaded, written)
    images = torch.randn(2, 3, 256, 192, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(loaded(images).pose_6d, written(images).pose_6d)


def test_checkpoint_overrides_mean_parameter_buffers(tmp_path: Path) -> None:
    model = HMR2("tiny")
    with torch.no_grad():
        model.smpl_head.init_cam.copy_(torch.tensor([[0.7, 0.1, -0.2]]))
        model.smpl_head.init_betas.fill_(0.5)
    save_hmr2(model, tmp_path / "m.ckpt")
    loaded = load_hmr2(tmp_path / "m.ckpt", "tiny")
    assert torch.equal(loaded.smpl_head.init_cam, torch.tensor([[0.7, 0.1, -0.2]]))
    assert torch.equal(loaded.smpl_head.init_betas, torch.full((1, 10), 0.5))


def test_plain_state_dict_and_lightning_layout_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(4)
    model = HMR2("tiny")
    save_hmr2(model, tmp_path / "plain.pt", lightning=False)
    save_hmr2(model, tmp_path / "lightning.ckpt")
    assert "state_dict" not in torch.load(tmp_path / "plain.pt", weights_only=True)
    assert "state_dict" in torch.load(tmp_path / "lightning.ckpt", weights_only=True)
    assert_same_weights(load_hmr2(tmp_path / "plain.pt", "tiny"), model)
    assert_same_weights(load_hmr2(tmp_path / "lightning.ckpt", "tiny"), model)


def test_missing_checkpoint_names_what_to_supply(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"not found: .*nope\.ckpt.*official 4D-Humans HMR2\.0 checkpoint"):
        load_hmr2(tmp_path / "nope.ckpt", "tiny")


def test_truncated_checkpoint_gives_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "full.ckpt"
    write_official_checkpoint(path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cannot read checkpoint .*truncated\.ckpt \(truncated") as info:
        load_hmr2(truncated, "tiny")
    assert "\n" not in str(info.value)
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        load_hmr2(text, "tiny")


def test_wrong_keys_and_shapes_are_named(tmp_path: Path) -> None:
    model = HMR2("tiny")
    state = model.state_dict()
    del state["backbone.blocks.3.mlp.fc2.bias"]
    state["backbone.blocks.9.norm1.weight"] = torch.zeros(192)
    state["smpl_head.deccam.weight"] = torch.zeros(4, 256)
    torch.save({"state_dict": state}, tmp_path / "bad.ckpt")
    with pytest.raises(ValueError) as info:
        load_hmr2(tmp_path / "bad.ckpt", "tiny")
    message = str(info.value)
    assert "\n" not in message
    assert "1 missing: backbone.blocks.3.mlp.fc2.bias" in message
    assert "1 unexpected: backbone.blocks.9.norm1.weight" in message
    assert "smpl_head.deccam.weight (4, 256) vs (3, 256)" in message


def test_config_mismatch_suggests_the_matching_config(tmp_path: Path) -> None:
    save_hmr2(HMR2("tiny"), tmp_path / "tiny.ckpt")
    with pytest.raises(ValueError, match=r"does not fit config 'vit_s'.*missing.*matches config 'tiny'"):
        load_hmr2(tmp_path / "tiny.ckpt", "vit_s")


def test_file_without_model_weights_is_rejected(tmp_path: Path) -> None:
    torch.save({"state_dict": {"encoder.weight": torch.zeros(3)}}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match=r"no backbone\.\*/smpl_head\.\* weights \(first keys: encoder\.weight\)"):
        load_hmr2(tmp_path / "other.ckpt", "tiny")
