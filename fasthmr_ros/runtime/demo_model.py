"""The embedded demo HMR model: a small HMR2.0-architecture model trained by `fasthmr train` on synthetic people
only. It lets the package run end to end without the official checkpoint; it is NOT HMR2.0's accuracy, and every
output made with it says "embedded demo model (synthetic data)".

Files: data/hmr/demo_micro.ckpt (Lightning layout, float16, loads with fasthmr_ros.runtime.checkpoint.load_hmr2) and
data/hmr/demo_micro.json (what it is, its config, how it was trained, measured figures).
"""

from __future__ import annotations

import json
from pathlib import Path

from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.paths import data_dir

WEIGHTS_LABEL = "embedded demo model (synthetic data)"
DESCRIPTION = (
    "synthetic-data demo model: a small HMR2.0-architecture model trained only on rendered synthetic people "
    "(fasthmr-embedded body model over real background plates); not the official HMR2.0 weights"
)
DEMO_CONFIG = "micro"
DEMO_NAME = f"demo_{DEMO_CONFIG}"


def demo_model_path() -> Path:
    return data_dir() / "hmr" / f"{DEMO_NAME}.ckpt"


def demo_metadata_path() -> Path:
    return data_dir() / "hmr" / f"{DEMO_NAME}.json"


def demo_metadata() -> dict:
    path = demo_metadata_path()
    if not path.is_file():
        raise FileNotFoundError(f"demo model metadata missing at {path}; rebuild the demo model with `fasthmr train`")
    return json.loads(path.read_text())


def load_demo_model(device: str = "cpu") -> tuple[HMR2, dict]:
    """(model in eval mode, metadata). The metadata's "config" names the HMRConfig it was trained with."""
    from fasthmr_ros.runtime.checkpoint import load_hmr2

    path = demo_model_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"embedded demo model missing at {path}; rebuild it with `fasthmr train`, or supply the official "
            "HMR2.0 checkpoint"
        )
    meta = demo_metadata()
    return load_hmr2(path, meta["config"], device=device), meta
