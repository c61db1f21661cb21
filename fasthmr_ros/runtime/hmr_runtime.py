"""The encoder + head as the pipeline runs it: which weights, which accelerations, one call per batch of crops.

Weights: the user's HMR2.0 checkpoint when `checkpoint` is set, else the embedded synthetic-data demo model from
data/hmr/. Accelerations (layer-merge plan, Mask-ToMe, precision, CUDA graphs, the onnxruntime/TensorRT backends)
are applied here at load time, so the pipeline never needs to know which are on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from fasthmr_ros.model.eclm import applied_plan, apply_plan, load_plan
from fasthmr_ros.model.hmr2 import HMR2, HMROutput
from fasthmr_ros.model.tome import TokenMergingConfig, check_schedule, describe, forward_merged
from fasthmr_ros.runtime.backend_choice import check_backend_settings, choose_backend
from fasthmr_ros.runtime.config import EncoderConfig
from fasthmr_ros.runtime.cpu_linear import CPU_LINEAR_CHOICES, onednn_problem, use_cpu_linear
from fasthmr_ros.runtime.graph_runtime import GraphRuntime, hmr_output, merged_notes
from fasthmr_ros.runtime.static_batch import run_static_batch
from fasthmr_ros.runtime.torch_speed import CudaGraphRunner, PinnedUploader, apply_precision
from fasthmr_ros.runtime.weights import load_weights


class HmrRuntime:
    """Callable: (crops (B,3,256,192), token_masks (B,16,12) bool | None) -> HMROutput (float32, on the device).

    Mask-ToMe runs when `token_merging` is set and the call has token masks; without masks the base encoder runs
    (merging without masks would merge people) and last_notes says so. last_notes holds the last call's counters.
    precision: fp32 (reference) | fp16 | bf16 for the encoder (the head stays fp32). cuda_graphs: capture each
    path (merged/base) once at batch `graph_batch` and replay it (crops padded to that batch); CUDA only.
    cpu_linear: "onednn" runs the linear layers through oneDNN on CPU in float32 (accel/cpu_linear.py; falls back
    to "torch", with cpu_linear_note saying why, where oneDNN cannot run); ignored on other devices/precisions.
    """

    backend = "torch"

    def __init__(
        self,
        model: HMR2,
        description: str,
        token_merging: TokenMergingConfig | None = None,
        precision: str = "fp32",
        cuda_graphs: bool = False,
        graph_batch: int = 4,
        cpu_linear: str = "torch",
    ) -> None:
        self.model = model
        self.description = description
        self.token_merging = token_merging
        self.last_notes: dict[str, str] = {}
        self.fallback_note = ""
        num_tokens = model.config.backbone.num_patches
        if token_merging is not None:  # a schedule the encoder cannot run fails here, at load
            check_schedule(num_tokens, len(model.backbone.blocks), token_merging)
        self.device = next(model.parameters()).device
        self.precision = precision
        self.dtype = apply_precision(model, precision)
        self.cpu_linear, self.cpu_linear_note = self._choose_cpu_linear(cpu_linear)
        switched = use_cpu_linear(model, self.cpu_linear)
        self.upload = PinnedUploader(self.device)
        self._graphs: dict[str, CudaGraphRunner] | None = None
        self.graph_batch = max(1, graph_batch)
        if cuda_graphs:
            if self.device.type != "cuda":
                raise ValueError(f"cuda_graphs needs device cuda, the model is on {self.device}: set cuda_graphs false")
            self._graphs = {}
        plan = applied_plan(model)
        layers = plan.summary() if plan is not None else f"{len(model.backbone.blocks)} blocks, no layer merging"
        tokens = describe(token_merging, num_tokens) if token_merging is not None else "no token merging"
        speed = f"torch {precision}" + (f", CUDA graphs (batch {self.graph_batch})" if cuda_graphs else "")
        if self.cpu_linear == "onednn":
            speed += f", oneDNN linears ({switched} layers; smaller ones stay on torch)"
        self.settings_text = f"{model.config.name}, {layers}, {tokens}, {speed}"

    def _choose_cpu_linear(self, requested: str) -> tuple[str, str]:
        """(linear kernel to use, one-line note when the request could not be honoured)."""
        if requested not in CPU_LINEAR_CHOICES:
            raise ValueError(f"cpu_linear {requested!r}: choose one of {', '.join(CPU_LINEAR_CHOICES)}")
        if requested == "torch" or self.device.type != "cpu" or self.dtype != torch.float32:
            return "torch", ""
        problem = onednn_problem()
        return ("torch", f"cpu_linear onednn -> torch: {problem}") if problem else ("onednn", "")

    def _merged(self, images: torch.Tensor, masks: torch.Tensor | None) -> dict[str, torch.Tensor]:
        assert masks is not None and self.token_merging is not None
        merged = forward_merged(self.model, images, masks, self.token_merging)
        out = merged.output
        return {"pose_6d": out.pose_6d, "betas": out.betas, "pred_cam": out.pred_cam, "token": out.token,
                "person_merges": merged.state.person_merges}  # fmt: skip

    def _base(self, images: torch.Tensor, masks: torch.Tensor | None) -> dict[str, torch.Tensor]:
        out = self.model(images)
        return {"pose_6d": out.pose_6d, "betas": out.betas, "pred_cam": out.pred_cam, "token": out.token}

    def __call__(self, images: torch.Tensor, token_masks: torch.Tensor | None = None) -> HMROutput:
        num_tokens = self.model.config.backbone.num_patches
        merging = self.token_merging is not None and token_masks is not None
        run = self._merged if merging else self._base
        images = self.upload(images).to(self.dtype)
        masks = self.upload(token_masks.to(torch.bool), slot=1) if merging and token_masks is not None else None
        if self._graphs is not None:
            kind = "merged" if merging else "base"
            if kind not in self._graphs:
                self._graphs[kind] = CudaGraphRunner(run, self.device, self.graph_batch)
            outputs = run_static_batch(self._graphs[kind].run, self.graph_batch, images, masks)
        else:
            outputs = run(images, masks)
        if merging and token_masks is not None:
            tokens_left = num_tokens - sum(check_schedule(num_tokens, len(self.model.backbone.blocks),
                                                          self.token_merging))  # fmt: skip
            self.last_notes = merged_notes(token_masks.cpu(), outputs["person_merges"], tokens_left)
        else:
            self.last_notes = {"encoder_tokens": str(num_tokens)}
            if self.token_merging is not None:
                self.last_notes["token_merging"] = "skipped: no person masks"
        return hmr_output(outputs, self.device)


def _log_stderr(text: str) -> None:
    print(text, file=sys.stderr)


def load_runtime(
    config: EncoderConfig,
    device: torch.device | str,
    batch: int,
    threads: int = 0,
    log: Callable[[str], None] = _log_stderr,
) -> HmrRuntime | GraphRuntime:
    """The encoder + head for `config` on `device`, called with up to `batch` crops at a time (CUDA graphs and
    exported graphs are built for that batch); `threads` is for onnxruntime's CPU sessions (0 = its default).

    The runtime's fallback_note is the one line to log when the requested backend cannot run here (it says which
    one runs instead); log receives progress lines (first-use export, engine builds)."""
    device = torch.device(device)
    batch = max(1, int(batch))
    backend, precision = config.backend, config.precision
    check_backend_settings(backend, precision)
    choice = choose_backend(backend, device)
    note = choice.note
    if choice.backend != "torch":
        from fasthmr_ros.runtime.graph_loading import load_graph_runtime

        if precision == "int8" and choice.backend != "tensorrt":
            note = f"{note}; " if note else ""
            note += "precision int8 needs TensorRT: running the fp32 graph"
        runtime: HmrRuntime | GraphRuntime = load_graph_runtime(
            config, device, choice.backend, precision, batch, threads, log
        )
        runtime.fallback_note = note
        return runtime
    if precision == "int8":
        if backend == "torch":
            raise ValueError("precision int8 needs backend tensorrt: use fp32, fp16 or bf16 with backend torch")
        precision = "fp16" if device.type == "cuda" else "fp32"
        note += f" (precision int8 -> {precision} in torch)"
    model, description = load_weights(config.checkpoint, config.model_config, device)
    if config.merge_plan:
        apply_plan(model, load_plan(config.merge_plan))
    token_merging = TokenMergingConfig(budget=config.token_budget) if config.token_merging else None
    runtime = HmrRuntime(model, description, token_merging, precision, config.cuda_graphs, batch, config.cpu_linear)
    runtime.fallback_note = "; ".join(text for text in (note, runtime.cpu_linear_note) if text)
    return runtime
