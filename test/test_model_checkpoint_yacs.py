"""The official-layout checkpoint fixture holds a real yacs CfgNode, and the loader reads it with yacs absent."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from _model_checkpoints import write_official_checkpoint, yacs_importable

from fasthmr_ros.runtime.checkpoint import read_checkpoint, read_entry


def test_fixture_pickles_a_real_cfgnode_that_the_loader_reads_without_yacs(tmp_path: Path) -> None:
    path = tmp_path / "epoch=35-step=1000000.ckpt"
    written = write_official_checkpoint(path)
    with yacs_importable():
        from yacs.config import CfgNode

        cfg = torch.load(path, weights_only=False)["hyper_parameters"]["cfg"]
        assert type(cfg) is CfgNode and cfg.is_frozen() and cfg.EXTRA.FOCAL_LENGTH == 5000

    assert not any(name == "yacs" or name.startswith("yacs.") for name in sys.modules)
    with pytest.raises(ModuleNotFoundError, match="yacs"):
        import yacs  # noqa: F401
    state = read_checkpoint(path)
    assert state.keys() == {k for k in written.state_dict() if k.startswith(("backbone.", "smpl_head."))}
    # the restricted unpickler turns the CfgNode into an inert dict with the same entries, importing nothing
    inert = read_entry(path, "hyper_parameters")["cfg"]
    assert type(inert).__module__ == "fasthmr_opaque.yacs.config" and type(inert).__name__ == "CfgNode"
    assert inert["EXTRA"]["FOCAL_LENGTH"] == 5000 and inert["MODEL"]["BBOX_SHAPE"] == [192, 256]
    assert not any(name == "yacs" or name.startswith("yacs.") for name in sys.modules)
