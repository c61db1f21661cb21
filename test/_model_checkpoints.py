"""Writes random-weights checkpoints in the official 4D-Humans Lightning layout for tests.

The official file pickles its hyper-parameters as a yacs `CfgNode`, so the fixture writes a real one (yacs is a
test dependency). Users' machines have no yacs, and the loader has to read the file without it: from the moment
this module is imported, yacs is hidden from the test process (dropped from sys.modules, its import refused),
except inside `yacs_importable()`, which the writer uses.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.runtime.config import EncoderConfig


class _RefuseYacs(importlib.abc.MetaPathFinder):
    """Makes `import yacs` fail as on a machine without it, although it is installed in the test venv."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "yacs" or name.startswith("yacs."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


_REFUSE_YACS = _RefuseYacs()


def hide_yacs() -> None:
    for name in [n for n in sys.modules if n == "yacs" or n.startswith("yacs.")]:
        del sys.modules[name]
    if _REFUSE_YACS not in sys.meta_path:
        sys.meta_path.insert(0, _REFUSE_YACS)


@contextmanager
def yacs_importable() -> Iterator[None]:
    """yacs as installed, for writing (pickle looks the class up by name) and for reading the file back with it."""
    if _REFUSE_YACS in sys.meta_path:
        sys.meta_path.remove(_REFUSE_YACS)
    try:
        yield
    finally:
        hide_yacs()


hide_yacs()


def official_cfg():
    """Part of the official HMR2.0 model config, as the real `CfgNode` Lightning pickles (frozen, nested)."""
    from yacs.config import CfgNode

    cfg = CfgNode(
        {
            "MODEL": {
                "IMAGE_SIZE": 256,
                "IMAGE_MEAN": [0.485, 0.456, 0.406],
                "IMAGE_STD": [0.229, 0.224, 0.225],
                "BBOX_SHAPE": [192, 256],
                "BACKBONE": {"TYPE": "vit"},
                "SMPL_HEAD": {
                    "TYPE": "transformer_decoder",
                    "TRANSFORMER_DECODER": {"depth": 6, "heads": 8, "mlp_dim": 1024, "dim_head": 64,
                                            "context_dim": 1280},
                },
            },
            "SMPL": {"GENDER": "neutral", "NUM_BODY_JOINTS": 23},
            "EXTRA": {"FOCAL_LENGTH": 5000, "PELVIS_IND": 0},
            "LOSS_WEIGHTS": {"KEYPOINTS_3D": 0.05, "KEYPOINTS_2D": 0.01, "ADVERSARIAL": 0.0005},
        }
    )  # fmt: skip
    cfg.freeze()
    return cfg


def write_official_checkpoint(path: Path, config: str = "tiny", seed: int = 0) -> HMR2:
    """A Lightning-style .ckpt like the official one: weights under "state_dict" next to training-only keys
    (discriminator.*, smpl.*, initialized) and hyper-parameters pickled as a real yacs CfgNode, which cannot be
    unpickled once yacs is hidden again on return. Returns the model whose weights were written."""
    torch.manual_seed(seed)
    model = HMR2(config).eval()
    state = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    state["discriminator.D_conv1.weight"] = torch.randn(32, 9, 1, 1)
    state["smpl.shapedirs"] = torch.randn(16, 3, 10)
    state["initialized"] = torch.tensor(True)
    with yacs_importable():
        payload = {
            "epoch": 35,
            "global_step": 1000000,
            "pytorch-lightning_version": "2.0.0",
            "state_dict": state,
            "hyper_parameters": {"cfg": official_cfg()},
            "optimizer_states": [{"state": {}, "param_groups": [{"lr": 1e-5}]}],
        }
        torch.save(payload, path)
    return model


def runtime_config(checkpoint: str = "", **settings) -> EncoderConfig:
    """The encoder config the pipeline hands load_runtime, for a tiny checkpoint."""
    return EncoderConfig(**{"checkpoint": checkpoint, "model_config": "tiny", **settings})
