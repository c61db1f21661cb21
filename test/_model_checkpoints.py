"""Writes random-weights checkpoints in the official 4D-Humans Lightning layout for tests."""

from __future__ import annotations

import sys
import types
from collections import OrderedDict
from pathlib import Path

import torch

from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.runtime.config import EncoderConfig


def write_official_checkpoint(path: Path, config: str = "tiny", seed: int = 0) -> HMR2:
    """A Lightning-style .ckpt like the official one: weights under "state_dict" next to training-only keys
    (discriminator.*, smpl.*, initialized) and hyper-parameters pickled as a yacs CfgNode, a class that is not
    importable when the file is read back. Returns the model whose weights were written."""
    torch.manual_seed(seed)
    model = HMR2(config).eval()
    state = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    state["discriminator.D_conv1.weight"] = torch.randn(32, 9, 1, 1)
    state["smpl.shapedirs"] = torch.randn(16, 3, 10)
    state["initialized"] = torch.tensor(True)

    fake_yacs = types.ModuleType("yacs.config")

    class CfgNode(dict):
        pass

    CfgNode.__module__ = "yacs.config"
    CfgNode.__qualname__ = "CfgNode"
    fake_yacs.CfgNode = CfgNode
    saved = {name: sys.modules.get(name) for name in ("yacs", "yacs.config")}
    sys.modules["yacs"] = types.ModuleType("yacs")
    sys.modules["yacs.config"] = fake_yacs
    try:
        cfg = CfgNode(MODEL=CfgNode(IMAGE_SIZE=256, BBOX_SHAPE=[192, 256]), EXTRA=CfgNode(FOCAL_LENGTH=5000))
        cfg.__dict__["frozen"] = True
        payload = {
            "epoch": 35,
            "global_step": 1000000,
            "pytorch-lightning_version": "2.0.0",
            "state_dict": state,
            "hyper_parameters": {"cfg": cfg},
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-5}]}],
        }
        torch.save(payload, path)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return model


def runtime_config(checkpoint: str = "", **settings) -> EncoderConfig:
    """The encoder config the pipeline hands load_runtime, for a tiny checkpoint."""
    return EncoderConfig(**{"checkpoint": checkpoint, "model_config": "tiny", **settings})
