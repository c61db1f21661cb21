"""Load and save HMR2.0 weights: the official 4D-Humans Lightning checkpoint or a plain state_dict.

The official checkpoint (4D-Humans `hmr2_data.tar.gz`: logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=
1000000.ckpt, ~2.7 GB) is a PyTorch Lightning file with the weights under "state_dict". Only backbone.* and
smpl_head.* are used and both are checked strictly (every key present, no extra key, every shape equal);
discriminator.*, smpl.* and other training-only entries are ignored.

Lightning files also pickle training objects (a yacs CfgNode of hyper-parameters, callback states). Those classes
need packages we do not install, so the file is read with a restricted unpickler: tensors, storages and plain
containers are rebuilt, every other class becomes an inert placeholder and nothing from the file is executed.
"""

from __future__ import annotations

import pickle
import types
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from fasthmr_ros.model.configs import CONFIGS, HMRConfig, get_config
from fasthmr_ros.model.hmr2 import HMR2

MODEL_PREFIXES = ("backbone.", "smpl_head.")
OFFICIAL_CHECKPOINT_HINT = (
    "supply the official 4D-Humans HMR2.0 checkpoint (hmr2_data.tar.gz: "
    "logs/train/multiruns/hmr2/0/checkpoints/epoch=35-step=1000000.ckpt) or a state_dict saved by fasthmr"
)
# How many offending keys an error message names.
_SHOWN = 3


class _Opaque(dict):
    """Stand-in for any pickled class outside the allow-list: accepts whatever the pickle feeds it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.pickled_args = args

    def __setstate__(self, state: Any) -> None:
        self.pickled_state = state

    def append(self, item: Any) -> None:
        self.__dict__.setdefault("pickled_items", []).append(item)

    def extend(self, items: Any) -> None:
        self.__dict__.setdefault("pickled_items", []).extend(items)


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
}
_ALLOWED_REBUILDERS = {
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
    "_rebuild_device_tensor_from_numpy",
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[(module, name)]
        if module == "torch._utils" and name in _ALLOWED_REBUILDERS:
            return getattr(torch._utils, name)
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        return type(name, (_Opaque,), {"__module__": f"fasthmr_opaque.{module}"})


# torch.load takes a "pickle module"; this one differs from pickle only by its Unpickler.
_restricted_pickle = types.ModuleType("fasthmr_restricted_pickle")
_restricted_pickle.Unpickler = _RestrictedUnpickler  # type: ignore[attr-defined]
_restricted_pickle.load = lambda file, **kw: _RestrictedUnpickler(file, **kw).load()  # type: ignore[attr-defined]
_restricted_pickle.__name__ = "fasthmr_restricted_pickle"


def read_entry(path: str | Path, key: str) -> Any:
    """A top-level entry of a checkpoint file other than the weights (e.g. "fasthmr_merge_plan"), or None."""
    payload = _load_payload(Path(path))
    return payload.get(key) if isinstance(payload, Mapping) else None


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The backbone.* and smpl_head.* tensors of a Lightning .ckpt or a plain state_dict file (CPU, float)."""
    path = Path(path)
    payload = _load_payload(path)
    state = payload.get("state_dict", payload) if isinstance(payload, Mapping) else None
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint {path} holds no state_dict (found {type(payload).__name__})")
    tensors = {k: v for k, v in state.items() if isinstance(k, str) and k.startswith(MODEL_PREFIXES)}
    if not tensors:
        sample = ", ".join(list(map(str, state))[:_SHOWN]) or "nothing"
        raise ValueError(
            f"checkpoint {path} has no backbone.*/smpl_head.* weights (first keys: {sample}); "
            f"{OFFICIAL_CHECKPOINT_HINT}"
        )
    bad = [k for k, v in tensors.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"checkpoint {path}: entries that are not tensors: {', '.join(bad[:_SHOWN])}")
    return tensors


def _load_payload(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"HMR2.0 checkpoint not found: {path}; {OFFICIAL_CHECKPOINT_HINT}")
    try:
        # mmap keeps the 2.7 GB official file out of RAM until load_state_dict copies it into the model.
        is_zip = zipfile.is_zipfile(path)
        return torch.load(path, map_location="cpu", pickle_module=_restricted_pickle, weights_only=False, mmap=is_zip)
    except Exception as error:  # torch raises RuntimeError, UnpicklingError, EOFError, ... on damaged files
        # The first sentence is enough (torch appends a paragraph of advice).
        detail = str(error).split(". ")[0].splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"cannot read checkpoint {path} (truncated or not a PyTorch file?): {detail}; {OFFICIAL_CHECKPOINT_HINT}"
        ) from error


def infer_config_name(state: Mapping[str, torch.Tensor]) -> str | None:
    """The CONFIGS entry whose key names and shapes match `state` exactly, if any."""
    for name, config in CONFIGS.items():
        with torch.device("meta"):
            expected = HMR2(config).state_dict()
        if set(expected) == set(state) and all(tuple(state[k].shape) == tuple(v.shape) for k, v in expected.items()):
            return name
    return None


def check_state_dict(state: Mapping[str, torch.Tensor], model: HMR2, source: str) -> None:
    """Raise one ValueError naming the first missing, unexpected and wrongly shaped keys."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if not (missing or unexpected or wrong_shape):
        return
    parts = []
    found = (("missing", missing), ("unexpected", unexpected), ("wrong shape (file vs model)", wrong_shape))
    for label, items in found:
        if items:
            more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:_SHOWN])}{more}")
    guess = infer_config_name(state)
    hint = f"; the file matches config {guess!r}" if guess else ""
    raise ValueError(f"checkpoint {source} does not fit config {model.config.name!r}: {'; '.join(parts)}{hint}")


def load_hmr2(path: str | Path, config: str | HMRConfig = "vit_h", device: str | torch.device = "cpu") -> HMR2:
    """An HMR2 in eval mode with the weights of `path` (official .ckpt or plain state_dict), strictly checked."""
    config = get_config(config)
    state = read_checkpoint(path)
    with torch.device("meta"):
        model = HMR2(config)
    check_state_dict(state, model, str(path))
    # Copies, so the model does not keep the memory-mapped file alive (or see it change on disk).
    model.load_state_dict({k: v.to(torch.float32, copy=True) for k, v in state.items()}, strict=True, assign=True)
    return model.to(device).eval()


def save_hmr2(model: HMR2, path: str | Path, lightning: bool = True) -> None:
    """Write the model's weights: Lightning layout ({"state_dict": ...}) by default, else a plain state_dict."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if lightning:
        payload: dict[str, Any] = {
            "epoch": 0,
            "global_step": 0,
            "state_dict": OrderedDict(state),
            "fasthmr_config": model.config.name,
        }
    else:
        payload = OrderedDict(state)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(payload, path)
