"""Landmark-lift weights on disk: the embedded default in data/lift/, files written by `fasthmr train-lift`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from fasthmr_ros.model.lift_net import LandmarkLiftNet, LiftConfig
from fasthmr_ros.paths import data_dir

EMBEDDED_LIFT = Path("lift") / "landmark_lift.pt"


def save_lift(model: LandmarkLiftNet, path: str | Path, metadata: dict) -> Path:
    """fp16 weights + config + metadata in one .pt, and the same facts readable in a .json beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save({"config": asdict(model.config), "state_dict": state, "metadata": metadata}, path)
    path.with_suffix(".json").write_text(json.dumps({"config": asdict(model.config), **metadata}, indent=2) + "\n")
    return path


def load_lift(path: str | Path | None = None) -> tuple[LandmarkLiftNet, dict]:
    """(network in eval mode, metadata); None = the embedded lift."""
    path = Path(path) if path is not None else data_dir() / EMBEDDED_LIFT
    if not path.is_file():
        raise FileNotFoundError(
            f"landmark lift weights not found at {path}; reinstall fasthmr_ros or train them with "
            "`fasthmr train-lift --out data/lift/landmark_lift.pt`"
        )
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or "config" not in blob or "state_dict" not in blob:
        raise ValueError(f"{path} is not a fasthmr landmark-lift file (expected keys config and state_dict)")
    model = LandmarkLiftNet(LiftConfig(**blob["config"]))
    model.load_state_dict({k: v.float() for k, v in blob["state_dict"].items()})
    return model.eval(), dict(blob.get("metadata", {}))
