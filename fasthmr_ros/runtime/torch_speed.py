"""The PyTorch backend's speed modes: reduced precision, CUDA graphs, pinned-memory uploads.

- precision: fp32 is the reference; fp16/bf16 cast the encoder's weights (halving the bytes every linear layer
  streams, and letting scaled_dot_product_attention pick its fused fp16/bf16 kernels on CUDA); the SMPL head stays
  float32 (it is ~6% of vit_h and its 6D readout is where half precision would show). Works on CPU too (bf16 is
  a speed mode on CPUs with AMX/AVX512-BF16, fp16 mostly is not).
- CUDA graphs: the merged encoder has static shapes (fixed token schedule, fixed batch), so one graph per
  (batch, merged/base) replays the whole forward with one launch; this pays where kernel launches dominate
  (batch 1, small configs, Jetson). Captured on first use; inputs are padded to the captured batch.
- Pinned uploads: crops are copied into a reused page-locked buffer, then sent to the GPU asynchronously.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from fasthmr_ros.model.hmr2 import HMR2

PRECISION_DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
GRAPH_WARMUP_RUNS = 2

Outputs = dict[str, torch.Tensor]


def apply_precision(model: HMR2, precision: str) -> torch.dtype:
    """Cast the encoder to `precision` (head stays float32); returns the dtype the encoder's input must have."""
    if precision not in PRECISION_DTYPES:
        raise ValueError(
            f"precision {precision!r} is not available in the torch backend: choose one of "
            f"{', '.join(PRECISION_DTYPES)} (int8 needs the tensorrt backend)"
        )
    dtype = PRECISION_DTYPES[precision]
    model.backbone.to(dtype)
    model.smpl_head.to(torch.float32)
    return dtype


class PinnedUploader:
    """Host tensors -> device through a reused pinned buffer (asynchronous copy); a no-op off CUDA."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._buffers: dict[tuple[torch.dtype, int], torch.Tensor] = {}
        self._copied: dict[tuple[torch.dtype, int], torch.cuda.Event] = {}

    def __call__(self, tensor: torch.Tensor, slot: int = 0) -> torch.Tensor:
        if self.device.type != "cuda" or tensor.device.type != "cpu":
            return tensor.to(self.device)
        key = (tensor.dtype, slot)
        buffer = self._buffers.get(key)
        if buffer is None or buffer.numel() < tensor.numel():
            buffer = torch.empty(tensor.numel(), dtype=tensor.dtype, pin_memory=True)
            self._buffers[key] = buffer
        elif key in self._copied:
            self._copied[key].synchronize()  # the previous asynchronous copy still reads this buffer
        staged = buffer[: tensor.numel()].view(tensor.shape)
        staged.copy_(tensor)
        moved = staged.to(self.device, non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        self._copied[key] = event
        return moved


class CudaGraphRunner:
    """fn(images, masks | None) -> dict of tensors, captured once as a CUDA graph at a fixed batch and replayed.

    images/masks given to run() must have exactly `batch` rows (run_static_batch pads them). Outputs are cloned
    out of the graph's static buffers, so a later replay does not overwrite what the caller holds.
    """

    def __init__(self, fn: Callable[[torch.Tensor, torch.Tensor | None], Outputs], device: torch.device,
                 batch: int) -> None:  # fmt: skip
        if device.type != "cuda" or not torch.cuda.is_available():
            raise ValueError(f"cuda_graphs needs a CUDA device, device is {device}: set cuda_graphs false")
        self.fn = fn
        self.device = device
        self.batch = batch
        self._graph: torch.cuda.CUDAGraph | None = None
        self._inputs: tuple[torch.Tensor, torch.Tensor | None] | None = None
        self._outputs: Outputs = {}

    def _capture(self, images: torch.Tensor, masks: torch.Tensor | None) -> None:
        static_images = images.clone()
        static_masks = masks.clone() if masks is not None else None
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):  # warm-up outside the graph: lazy inits, cuBLAS handles, autotuning
            for _ in range(GRAPH_WARMUP_RUNS):
                self.fn(static_images, static_masks)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._outputs = self.fn(static_images, static_masks)
        self._graph = graph
        self._inputs = (static_images, static_masks)

    @torch.inference_mode()  # the static buffers are inference tensors: every later copy into them must be too
    def run(self, images: torch.Tensor, masks: torch.Tensor | None) -> Outputs:
        if len(images) != self.batch:
            raise ValueError(f"CUDA graph was captured for batch {self.batch}, got {len(images)} crops")
        images = images.to(self.device)
        masks = masks.to(self.device) if masks is not None else None
        if self._graph is None or self._inputs is None:
            self._capture(images, masks)
        else:
            static_images, static_masks = self._inputs
            static_images.copy_(images)
            if static_masks is not None and masks is not None:
                static_masks.copy_(masks)
        assert self._graph is not None
        self._graph.replay()
        return {name: value.clone() for name, value in self._outputs.items()}
