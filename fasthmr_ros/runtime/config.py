"""The encoder's settings: which weights, which accelerations. The one place their defaults live."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EncoderConfig:
    checkpoint: str = ""  # HMR2.0 Lightning .ckpt or state_dict; "" = the embedded demo model
    model_config: str = "vit_h"  # architecture of `checkpoint`
    merge_plan: str = ""  # ECLM merge plan (fasthmr calibrate); "" = no layer merging
    token_merging: bool = True  # Mask-ToMe in the first encoder blocks
    token_budget: int = 90  # tokens left after Mask-ToMe (of 192)
    backend: str = "torch"  # torch | onnxruntime | tensorrt (falls back with one log line)
    precision: str = "fp32"  # fp32 (reference) | fp16 | bf16 (torch, tensorrt) | int8 (tensorrt)
    cuda_graphs: bool = False  # torch on CUDA: replay the encoder as CUDA graphs at the batch size
    cpu_linear: str = "onednn"  # torch on CPU, fp32: onednn (faster linear layers) | torch (torch's default)
    accel_model: str = ""  # `fasthmr export` .onnx for onnxruntime/tensorrt; "" = export into accel_cache
    accel_cache: str = ""  # ONNX exports + TensorRT engines; "" = $FASTHMR_CACHE or ~/.cache/fasthmr
