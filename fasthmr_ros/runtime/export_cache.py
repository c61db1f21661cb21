"""Where exported graphs and engines are kept, and what makes a cached one reusable.

Layout under the cache folder (accel_cache, else $FASTHMR_CACHE, else $XDG_CACHE_HOME/fasthmr, else
~/.cache/fasthmr):
  onnx/<config>-b<batch>-<key>/model.onnx (+ model.base.onnx, model.json, *.data for vit_h)
  engines/<graph>-<key>.engine (+ .json)
The ONNX key hashes ExportSettings: config, batch, token-merging settings, merge-plan fingerprint, checkpoint file
fingerprint, opset. Any change gives a new folder, so a stale export is never picked up; an entry whose files no
longer match its sidecar is exported again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.model.tome import TokenMergingConfig
from fasthmr_ros.runtime.onnx_export import ExportSettings, export_encoder, read_export


def cache_dir(configured: str = "") -> Path:
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("FASTHMR_CACHE"):
        return Path(os.environ["FASTHMR_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fasthmr"


def export_folder(cache: Path, settings: ExportSettings) -> Path:
    return cache / "onnx" / f"{settings.config}-b{settings.batch}-{settings.key()}"


def cached_export(
    settings: ExportSettings,
    cache: Path,
    make_model: Callable[[], HMR2],
    weights: dict[str, str],
    log: Callable[[str], None] = print,
) -> Path:
    """The .onnx for `settings` in the cache, exported (and checked against PyTorch) when missing or broken.

    make_model builds the float32 CPU model (plan applied) only when an export is needed.
    """
    folder = export_folder(cache, settings)
    path = folder / "model.onnx"
    if path.is_file():
        try:
            sidecar = read_export(path)
            if settings.mismatch(sidecar["settings"]) is None:
                return path
            reason = "its settings differ"
        except (ValueError, KeyError) as error:
            reason = str(error)
        log(f"cached export {folder} is unusable ({reason}); exporting again")
        shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    log(f"exporting the {settings.config} encoder to ONNX (batch {settings.batch}) into {folder} (once per model)")
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".tmp-"))
    try:
        model = make_model()
        token_merging: TokenMergingConfig | None = settings.token_merging
        export_encoder(model, scratch / "model.onnx", settings.batch, token_merging, weights, settings.opset,
                       settings=settings)  # fmt: skip
        del model
        try:
            os.replace(scratch, folder)  # atomic: a reader sees a complete export or none
        except OSError:
            if not path.is_file():  # not a concurrent export that finished first
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return path
