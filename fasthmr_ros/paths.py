"""Where the package finds its embedded data, user files and fetched footage."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir() -> Path:
    """The embedded-defaults folder: $FASTHMR_DATA, the repo's data/, or the installed share/fasthmr_ros/data."""
    candidates = []
    if os.environ.get("FASTHMR_DATA"):
        candidates.append(Path(os.environ["FASTHMR_DATA"]))
    candidates.append(PACKAGE_DIR.parent / "data")
    candidates.append(Path(sys.prefix) / "share" / "fasthmr_ros" / "data")
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / "fasthmr_ros" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[1]


def config_dir() -> Path:
    """config/ of the checkout, else of the installed share folder."""
    for candidate in (PACKAGE_DIR.parent / "config", Path(sys.prefix) / "share" / "fasthmr_ros" / "config"):
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR.parent / "config"


def footage_dir() -> Path:
    """Fetched real footage (not in git): $FASTHMR_FOOTAGE or data/footage/."""
    env = os.environ.get("FASTHMR_FOOTAGE")
    return Path(env) if env else data_dir() / "footage"
