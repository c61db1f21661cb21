"""HmrRuntime's contract on exported graphs (onnxruntime or TensorRT): (crops, token_masks | None) -> HMROutput.

Crops are run in chunks of the graph's static batch, the last chunk padded (accel.static_batch). With token masks
the merged graph runs; without them the base graph runs (as the PyTorch runtime does: merging without masks would
merge the person), loaded on the first call that needs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from fasthmr_ros.model.head import HeadOutput
from fasthmr_ros.model.hmr2 import HMR2, HMROutput
from fasthmr_ros.runtime.static_batch import run_static_batch


class Graph(Protocol):
    batch: int

    def run(self, images: torch.Tensor, token_masks: torch.Tensor | None) -> dict[str, torch.Tensor]: ...


def hmr_output(outputs: dict[str, torch.Tensor], device: torch.device) -> HMROutput:
    """Named graph outputs -> HMROutput (float32, on `device`)."""

    def get(name: str) -> torch.Tensor:
        return outputs[name].to(device=device, dtype=torch.float32)

    head = HeadOutput(pose_6d=get("pose_6d"), betas=get("betas"), cam=get("pred_cam"), token=get("token"))
    return HMR2.output_from_head(head)


def merged_notes(token_masks: torch.Tensor, person_merges: torch.Tensor, tokens_left: int) -> dict[str, str]:
    person = token_masks.reshape(len(token_masks), -1).sum(dim=1)
    return {
        "encoder_tokens": str(tokens_left),
        "person_tokens_max": str(int(person.max())) if len(person) else "0",
        # merges that had to take a person token because the crop had too little background for the budget
        "person_token_merges": str(int(person_merges.sum())),
    }


class GraphRuntime:
    """Same interface as model.runtime.HmrRuntime (description, settings_text, last_notes, backend, __call__)."""

    def __init__(
        self,
        backend: str,
        main: Graph,
        load_base: Callable[[], Graph] | None,
        merged: bool,
        tokens: tuple[int, int],
        description: str,
        settings_text: str,
        device: torch.device,
    ) -> None:
        """main: the merged graph when `merged`, else the base graph. load_base: builds the base graph on demand
        (None when main is the base graph). tokens: (encoder tokens without merging, tokens left after merging)."""
        self.backend = backend
        self._main = main
        self._load_base = load_base
        self._base: Graph | None = None if merged else main
        self.merged = merged
        self.tokens = tokens
        self.description = description
        self.settings_text = settings_text
        self.device = device
        self.batch = main.batch
        self.fallback_note = ""
        self.last_notes: dict[str, str] = {}

    def base_graph(self) -> Graph:
        if self._base is None:
            assert self._load_base is not None
            self._base = self._load_base()
        return self._base

    def __call__(self, images: torch.Tensor, token_masks: torch.Tensor | None = None) -> HMROutput:
        if self.merged and token_masks is not None:
            masks = token_masks.to(torch.bool)
            outputs = run_static_batch(self._main.run, self.batch, images, masks)
            self.last_notes = merged_notes(masks.cpu(), outputs["person_merges"], self.tokens[1])
        else:
            base = self.base_graph()
            outputs = run_static_batch(base.run, base.batch, images, None)
            self.last_notes = {"encoder_tokens": str(self.tokens[0])}
            if self.merged:
                self.last_notes["token_merging"] = "skipped: no person masks"
        return hmr_output(outputs, self.device)
