"""The encoder + head as the pipeline runs it: which weights, which accelerations, one call per batch of crops.

Weights: the user's HMR2.0 checkpoint when `checkpoint` is set, else the embedded synthetic-data demo model from
data/hmr/. Accelerations (layer-merge plan, Mask-ToMe, other backends) are applied here at load time, so the
pipeline never needs to know which are on.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from fasthmr_ros.model.checkpoint import OFFICIAL_CHECKPOINT_HINT, infer_config_name, read_checkpoint
from fasthmr_ros.model.eclm import applied_plan, apply_plan, load_model, load_plan
from fasthmr_ros.model.hmr2 import HMR2, HMROutput
from fasthmr_ros.model.tome import TokenMergingConfig, check_schedule, describe, forward_merged
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
    """Callable: (crops (B,3,256,192), token_masks (B,16,12) bool | None) -> HMROutput.

    Mask-ToMe runs when `token_merging` is set and the call has token masks; without masks the base encoder runs
    (merging without masks would merge people) and last_notes says so. last_notes holds the last call's counters.
    """

    def __init__(self, model: HMR2, description: str, token_merging: TokenMergingConfig | None = None) -> None:
        self.model = model
        self.description = description
        self.token_merging = token_merging
        self.last_notes: dict[str, str] = {}
        num_tokens = model.config.backbone.num_patches
        if token_merging is not None:  # a schedule the encoder cannot run fails here, at load
            check_schedule(num_tokens, len(model.backbone.blocks), token_merging)
        plan = applied_plan(model)
        layers = plan.summary() if plan is not None else f"{len(model.backbone.blocks)} blocks, no layer merging"
        tokens = describe(token_merging, num_tokens) if token_merging is not None else "no token merging"
        self.settings_text = f"{model.config.name}, {layers}, {tokens}"

    def __call__(self, images: torch.Tensor, token_masks: torch.Tensor | None = None) -> HMROutput:
        num_tokens = self.model.config.backbone.num_patches
        if self.token_merging is None or token_masks is None:
            self.last_notes = {"encoder_tokens": str(num_tokens)}
            if self.token_merging is not None:
                self.last_notes["token_merging"] = "skipped: no person masks"
            return self.model(images)
        merged = forward_merged(self.model, images, token_masks.to(images.device), self.token_merging)
        person = token_masks.reshape(len(token_masks), -1).sum(dim=1)
        overflow = merged.state.person_merges
        self.last_notes = {
            "encoder_tokens": str(merged.state.sizes.shape[1]),
            "person_tokens_max": str(int(person.max())) if len(person) else "0",
            # merges that had to take a person token because the crop had too little background for the budget
            "person_token_merges": str(int(overflow.sum())),
        }
        return merged.output


def load_weights(checkpoint: str, model_config: str, device: torch.device | str) -> tuple[HMR2, str]:
    """(model, description): the user's checkpoint when given, else the embedded demo model."""
    if checkpoint:
        model = load_model(checkpoint, model_config, device=device)
        return model, f"user checkpoint {checkpoint} ({model.config.name})"
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
    model = load_model(path, name, device=device)
    return model, f"embedded demo model (synthetic data, {name}): {meta.get('description', path.name)}"


def load_runtime(config, device: torch.device) -> HmrRuntime:
    """config: anything with checkpoint, model_config and optionally merge_plan, token_merging, token_budget
    (PipelineConfig has them all)."""
    model, description = load_weights(config.checkpoint, config.model_config, device)
    if getattr(config, "merge_plan", ""):
        apply_plan(model, load_plan(config.merge_plan))
    token_merging = None
    if getattr(config, "token_merging", False):
        token_merging = TokenMergingConfig(budget=int(getattr(config, "token_budget", TokenMergingConfig.budget)))
    return HmrRuntime(model, description, token_merging)
