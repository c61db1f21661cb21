"""Decoder weights on disk: the embedded default in data/decoder/, files written by `fasthmr train-decoder`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from fasthmr_ros.model.decoder import DiffusionDecoder
from fasthmr_ros.model.decoder_net import DecoderConfig
from fasthmr_ros.paths import data_dir

EMBEDDED_DECODER = "decoder/decoder_synthetic.pt"


def save_decoder(model: DiffusionDecoder, path: str | Path, half: bool = True) -> Path:
    """Write weights (fp16 by default, for the embedded copy), config and metadata to one .pt file plus a .json."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({"config": asdict(model.config), "state_dict": state, "metadata": model.metadata}, path)
    path.with_suffix(".json").write_text(json.dumps({"config": asdict(model.config), **model.metadata}, indent=2))
    return path


def load_decoder(path: str | Path | None = None) -> DiffusionDecoder:
    """A decoder from a file written by save_decoder or a train-decoder checkpoint; None = the embedded default."""
    if path is None:
        path = data_dir() / EMBEDDED_DECODER
        if not path.is_file():
            raise FileNotFoundError(
                f"embedded decoder weights missing at {path}; reinstall fasthmr_ros or train one "
                "with `fasthmr train-decoder --export data/decoder/decoder_synthetic.pt`"
            )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"decoder weights not found: {path} (train them with `fasthmr train-decoder`)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if "config" not in blob or ("state_dict" not in blob and "model" not in blob):
        raise ValueError(f"{path} is not a fasthmr decoder file (expected keys config and state_dict)")
    model = DiffusionDecoder(DecoderConfig(**blob["config"]), blob.get("metadata"))
    state = blob.get("state_dict", blob.get("model"))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()
