"""The encoder + head as the pipeline runs it: which weights, which accelerations, one call per batch of crops.

Weights: the user's HMR2.0 checkpoint when `checkpoint` is set, else the embedded synthetic-data demo model from
data/hmr/. Accelerations (layer-merge plan, Mask-ToMe, other backends) are applied here at load time, so the
pipeline never needs to know which are on.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fasthmr_ros.model.checkpoint import OFFICIAL_CHECKPOINT_HINT, infer_config_name, load_hmr2, read_checkpoint
from fasthmr_ros.model.hmr2 import HMR2, HMROutput
from fasthmr_ros.paths import data_dir

EMBEDDED_DIR = "hmr"


def embedded_model_path() -> Path | None:
    """The embedded demo model file (data/hmr/*.ckpt or *.pt), if the package ships one."""
    folder = data_dir() / EMBEDDED_DIR
    files = sorted([*folder.glob("*.ckpt"), *folder.glob("*.pt")]) if folder.is_dir() else []
    return files[0] if files else None


def _embedded_metadata(path: Path) -> dict:
    side = path.with_suffix(".json")
    return json.loads(side.read_text()) if side.is_file() else {}


class HmrRuntime:
    """Callable: (crops (B,3,256,192), token_masks (B,16,12) bool | None) -> HMROutput."""

    def __init__(self, model: HMR2, description: str) -> None:
        self.model = model
        self.description = description
        self.last_notes: dict[str, str] = {}
        self.settings_text = f"{model.config.name}, {len(model.backbone.blocks)} blocks, no token merging"

    def __call__(self, images: torch.Tensor, token_masks: torch.Tensor | None = None) -> HMROutput:
        return self.model(images)


def load_runtime(config, device: torch.device) -> HmrRuntime:
    """config: anything with checkpoint, model_config (and the acceleration fields of PipelineConfig)."""
    if config.checkpoint:
        model = load_hmr2(config.checkpoint, config.model_config, device=device)
        description = f"user checkpoint {config.checkpoint} ({model.config.name})"
    else:
        path = embedded_model_path()
        if path is None:
            raise FileNotFoundError(
                f"no HMR weights: the embedded demo model is missing from {data_dir() / EMBEDDED_DIR}; "
                f"set the checkpoint parameter instead ({OFFICIAL_CHECKPOINT_HINT})"
            )
        meta = _embedded_metadata(path)
        name = meta.get("config") or infer_config_name(read_checkpoint(path))
        if name is None:
            raise ValueError(f"embedded model {path} fits none of the known configs")
        model = load_hmr2(path, name, device=device)
        description = f"embedded demo model (synthetic data, {name}): {meta.get('description', path.name)}"
    return HmrRuntime(model, description)
