"""Where generated synthetic data, background plates and training runs go: $FASTHMR_CACHE or data/cache/
(git-ignored)."""

from __future__ import annotations

import os
from pathlib import Path

from fasthmr_ros.paths import data_dir


def cache_dir() -> Path:
    env = os.environ.get("FASTHMR_CACHE")
    return Path(env) if env else data_dir() / "cache"
