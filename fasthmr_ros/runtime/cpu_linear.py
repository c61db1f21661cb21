"""oneDNN for the encoder's linear layers on CPU (`cpu_linear: onednn`, the default on CPU).

Why: >90% of a CPU forward pass is the linear layers, and torch's default fp32 path (MKL sgemm on x86 wheels)
loses efficiency at the small row counts Mask-ToMe leaves (90 tokens per crop at batch 1). oneDNN's inner-product
kernel, which torch ships and Inductor uses for frozen CPU graphs, measured on this machine's AMD EPYC (AVX-512):
vit_h linears 11% faster at 192 tokens and 15% at 90 with 1 thread, 26% and 33% with 2 threads
(`python -m bench.encoder_speedup` has the whole-model figures). Results equal F.linear to float32 rounding.

The swap changes only the class of each nn.Linear (names, parameters and state_dict stay), runs only for float32
tensors on CPU with autograd off (the op has no backward) and outside tracing, and otherwise falls through to
nn.Linear, so training, CUDA, half precision and ONNX export are untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CPU_LINEAR_CHOICES = ("onednn", "torch")
# oneDNN's call costs ~10-15 us more than torch's: measured slower for 128-wide layers (0.72-0.88x), faster from
# 512x128 at 90 rows (1.11x) and for every layer of >= 1M weights at any row count (1.4-2.0x with 2 threads).
ONEDNN_MIN_WEIGHTS = 1 << 18


def _onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class OneDnnLinear(nn.Linear):
    """nn.Linear that runs oneDNN's inner product for float32 CPU inference, nn.Linear's own path otherwise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        usable = (
            x.device.type == "cpu"
            and x.dtype == torch.float32
            and self.weight.dtype == torch.float32
            and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))
            and not torch.jit.is_tracing()  # ONNX export traces: it must see a plain linear
        )
        return _onednn_linear(x, self.weight, self.bias) if usable else F.linear(x, self.weight, self.bias)


def onednn_problem() -> str:
    """Empty when oneDNN's linear runs here and matches F.linear, else why not (one line)."""
    if not torch.backends.mkldnn.is_available():
        return "this torch build has no oneDNN (mkldnn)"
    generator = torch.Generator().manual_seed(0)
    x, weight, bias = (torch.randn(shape, generator=generator) for shape in ((5, 16), (8, 16), (8,)))
    try:
        with torch.inference_mode():
            got = _onednn_linear(x, weight, bias)
    except (RuntimeError, AttributeError) as error:  # op missing from this build or refused by this CPU
        return f"oneDNN linear failed here: {str(error).splitlines()[0]}"
    if not torch.allclose(got, F.linear(x, weight, bias), atol=1e-5, rtol=1e-5):
        return "oneDNN linear disagrees with F.linear here"
    return ""


def use_cpu_linear(module: nn.Module, choice: str, min_weights: int = ONEDNN_MIN_WEIGHTS) -> int:
    """Make the nn.Linear layers in `module` run `choice` ("onednn" or "torch"); returns how many were switched.

    "onednn" switches only layers with at least `min_weights` weights (smaller ones are faster on torch's path);
    "torch" switches every layer back."""
    if choice not in CPU_LINEAR_CHOICES:
        raise ValueError(f"cpu_linear {choice!r}: choose one of {', '.join(CPU_LINEAR_CHOICES)}")
    switched = 0
    for layer in module.modules():
        if type(layer) not in (nn.Linear, OneDnnLinear):
            continue
        large = layer.weight.numel() >= min_weights
        target = OneDnnLinear if choice == "onednn" and large else nn.Linear
        if type(layer) is not target:
            layer.__class__ = target
            switched += 1
    return switched
