"""Which inference backend runs: the one asked for when it can run here, else the next best, with one line why.

tensorrt needs a CUDA device, CUDA in torch and the tensorrt module. Without it: onnxruntime when it can use the
same device (CPU, or CUDA through onnxruntime-gpu), else PyTorch. onnxruntime on a CUDA device without the CUDA
provider falls back to PyTorch (running the graph on the CPU next to an idle GPU would be the slowest choice).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import torch

BACKENDS = ("torch", "onnxruntime", "tensorrt")
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
TENSORRT_INSTALL_HINT = (
    "JetPack ships it (python3-libnvinfer); on a desktop GPU `pip install tensorrt` from NVIDIA's index"
)


@dataclass(frozen=True)
class BackendChoice:
    backend: str  # the backend that will run
    requested: str
    note: str = ""  # the one line to log when `backend` is not `requested`


def check_backend_settings(backend: str, precision: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


def tensorrt_missing(device: torch.device) -> str:
    """Why TensorRT cannot run on `device` ('' when it can)."""
    if device.type != "cuda":
        return f"TensorRT needs a CUDA device, device is {device}"
    if not torch.cuda.is_available():
        return "CUDA is not available to torch"
    try:
        importlib.import_module("tensorrt")
    except ImportError as error:
        return f"the tensorrt Python module is missing ({error}; {TENSORRT_INSTALL_HINT})"
    return ""


def onnxruntime_missing(device: torch.device) -> str:
    """Why onnxruntime cannot run on `device` ('' when it can)."""
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError as error:
        return f"onnxruntime is not installed ({error})"
    if device.type == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        return "onnxruntime has no CUDAExecutionProvider for the CUDA device (install onnxruntime-gpu)"
    return ""


def choose_backend(requested: str, device: torch.device | str) -> BackendChoice:
    device = torch.device(device)
    if requested not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {requested!r}")
    if requested == "torch":
        return BackendChoice("torch", requested)
    if requested == "tensorrt":
        reason = tensorrt_missing(device)
        if not reason:
            return BackendChoice("tensorrt", requested)
        fallback = "onnxruntime" if not onnxruntime_missing(device) else "torch"
        return BackendChoice(fallback, requested, f"backend tensorrt unavailable ({reason}): using {fallback}")
    reason = onnxruntime_missing(device)
    if not reason:
        return BackendChoice("onnxruntime", requested)
    return BackendChoice("torch", requested, f"backend onnxruntime unavailable ({reason}): using torch")
