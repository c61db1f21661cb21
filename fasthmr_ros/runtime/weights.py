"""Which HMR weights the node runs and reading them: the user's HMR2.0 checkpoint (plain or layer-merged), else
the embedded demo model from data/hmr/."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fasthmr_ros.model.configs import get_config
from fasthmr_ros.model.eclm import MergePlan, applied_plan, apply_merges
from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.paths import data_dir
from fasthmr_ros.runtime.checkpoint import (
    OFFICIAL_CHECKPOINT_HINT,
    check_state_dict,
    infer_config_name,
    load_hmr2,
    read_checkpoint,
    read_entry,
)

MERGED_CHECKPOINT_KEY = "fasthmr_merge_plan"


def save_merged_checkpoint(model: HMR2, path: str | Path) -> None:
    """Write a layer-merged model (Lightning layout) with its plan inside, so loading needs no plan file."""
    plan = applied_plan(model)
    if plan is None:
        raise ValueError("this model carries no merge plan: apply one (apply_plan) before saving a merged checkpoint")
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {"state_dict": state, "fasthmr_config": model.config.name, MERGED_CHECKPOINT_KEY: plan.to_dict()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)


def load_model(path: str | Path, config: str, device: str | torch.device = "cpu") -> HMR2:
    """load_hmr2 that also reads merged checkpoints (save_merged_checkpoint): their blocks are already merged."""
    from fasthmr_ros.runtime.checkpoint import read_checkpoint

    entry = read_entry(path, MERGED_CHECKPOINT_KEY)
    if entry is None:
        return load_hmr2(path, config, device=device)
    plan = MergePlan.from_dict(entry, f"merged checkpoint {path}")
    config = get_config(config)
    if plan.config != config.name:
        raise ValueError(f"merged checkpoint {path} is a {plan.config!r} model, not {config.name!r}")
    with torch.device("meta"):
        model = apply_merges(HMR2(config), plan.merges)
    state = read_checkpoint(path)
    check_state_dict(state, model, str(path))
    model.load_state_dict({k: v.to(torch.float32, copy=True) for k, v in state.items()}, strict=True, assign=True)
    model.backbone.merge_plan = plan
    return model.to(device).eval()


EMBEDDED_DIR = "hmr"


def embedded_model_path() -> Path | None:
    """The embedded demo model file (data/hmr/*.ckpt or *.pt), if the package ships one."""
    folder = data_dir() / EMBEDDED_DIR
    files = sorted([*folder.glob("*.ckpt"), *folder.glob("*.pt")]) if folder.is_dir() else []
    return files[0] if files else None


def _embedded_metadata(path: Path) -> dict:
    side = path.with_suffix(".json")
    return json.loads(side.read_text()) if side.is_file() else {}


def weights_source(checkpoint: str, model_config: str) -> tuple[Path, str, str]:
    """(file, config name, description) of the weights: the user's checkpoint when given, else the embedded model."""
    if checkpoint:
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path} ({OFFICIAL_CHECKPOINT_HINT})")
        return path, model_config, f"user checkpoint {checkpoint} ({model_config})"
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
    return path, name, f"embedded demo model (synthetic data, {name}): {meta.get('description', path.name)}"


def load_weights(checkpoint: str, model_config: str, device: torch.device | str) -> tuple[HMR2, str]:
    """(model, description): the user's checkpoint when given, else the embedded demo model."""
    if checkpoint:
        model = load_model(checkpoint, model_config, device=device)
        return model, f"user checkpoint {checkpoint} ({model.config.name})"
    path, name, description = weights_source(checkpoint, model_config)
    return load_model(path, name, device=device), description
