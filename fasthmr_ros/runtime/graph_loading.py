"""Load the onnxruntime or TensorRT runtime for an EncoderConfig.

ONNX graphs come from `accel_model` (a `fasthmr export` output, checked against the node's settings) or from the
export cache (exported on first use). TensorRT engines are always cached, keyed by graph hash, GPU, TensorRT
version and precision (`fasthmr export --tensorrt` fills the cache ahead of time, INT8 included).
The PyTorch weights are loaded only when an export is needed: a cache hit starts without them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from fasthmr_ros.model.configs import get_config
from fasthmr_ros.model.eclm import MergePlan, apply_plan, load_plan
from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.model.tome import TokenMergingConfig, describe, merge_schedule
from fasthmr_ros.runtime.config import EncoderConfig
from fasthmr_ros.runtime.export_cache import cache_dir, cached_export
from fasthmr_ros.runtime.fingerprint import file_fingerprint
from fasthmr_ros.runtime.graph_runtime import Graph, GraphRuntime
from fasthmr_ros.runtime.onnx_export import ExportSettings, graph_path, plan_fingerprint, read_export


def export_settings(config: EncoderConfig, batch: int) -> tuple[ExportSettings, dict[str, str], MergePlan | None]:
    """(settings, weights info, plan): what an export for `config` at `batch` must have been made from."""
    from fasthmr_ros.runtime.weights import weights_source

    path, name, description = weights_source(config.checkpoint, config.model_config)
    plan = load_plan(config.merge_plan) if config.merge_plan else None
    merging = None
    if config.token_merging:
        merging = TokenMergingConfig(budget=config.token_budget)
        if not merge_schedule(get_config(name).backbone.num_patches, merging):
            merging = None  # the budget keeps every token: nothing merges, the base graph is the whole export
    fingerprint = file_fingerprint(path)
    weights = {"description": description, "file": path.name, "fingerprint": fingerprint}
    return ExportSettings(name, batch, merging, plan_fingerprint(plan), fingerprint), weights, plan


def load_export_model(config: EncoderConfig, plan: MergePlan | None) -> HMR2:
    """The float32 CPU model an export is made from (plan applied)."""
    from fasthmr_ros.runtime.weights import load_weights

    model, _ = load_weights(config.checkpoint, config.model_config, "cpu")
    if plan is not None:
        apply_plan(model, plan)
    return model.float().eval()


def resolve_onnx(config: EncoderConfig, batch: int, log: Callable[[str], None]) -> tuple[Path, dict, str]:
    """(path of the main .onnx, its sidecar, weights description): accel_model when set, else the cache."""
    settings, weights, plan = export_settings(config, batch)
    accel_model = config.accel_model
    if accel_model:
        path = Path(accel_model).expanduser()
        if path.suffix != ".onnx":
            raise ValueError(f"accel_model must be a .onnx file from `fasthmr export`, got {path}")
        sidecar = read_export(path)
        recorded = sidecar.get("settings", {})
        # the export's own batch is used as it is (the runtime pads/chunks to it)
        wanted = ExportSettings(settings.config, int(recorded.get("batch", 0)), settings.token_merging, settings.plan,
                                settings.weights, int(recorded.get("opset", settings.opset)))  # fmt: skip
        problem = wanted.mismatch(recorded)
        if problem:
            raise ValueError(
                f"{path} does not fit this node's settings ({problem}); re-export with `fasthmr export` using the "
                f"node's checkpoint, merge_plan and token settings, or clear accel_model to export into the cache"
            )
        return path, sidecar, weights["description"]
    path = cached_export(settings, cache_dir(config.accel_cache),
                         lambda: load_export_model(config, plan), weights, log)  # fmt: skip
    return path, read_export(path), weights["description"]


def load_graph_runtime(config: EncoderConfig, device: torch.device, backend: str, precision: str, batch: int,
                       threads: int = 0, log: Callable[[str], None] = print) -> GraphRuntime:  # fmt: skip
    """GraphRuntime on onnxruntime ("onnxruntime") or TensorRT ("tensorrt") for up to `batch` crops a call."""
    onnx_path, sidecar, description = resolve_onnx(config, batch, log)
    merged = "merged" in sidecar["graphs"]
    main_kind = "merged" if merged else "base"

    def build(kind: str) -> Graph:
        file = graph_path(onnx_path, sidecar, kind)
        if backend == "onnxruntime":
            from fasthmr_ros.runtime.onnx_backend import OnnxGraph

            return OnnxGraph(file, device, threads)
        from fasthmr_ros.runtime.tensorrt_engine import TensorRTGraph, ensure_engine

        cache = cache_dir(config.accel_cache)
        sha = sidecar["graphs"][kind]["sha256"]
        return TensorRTGraph(ensure_engine(file, sha, kind, cache, precision, device, log=log), device)

    main = build(main_kind)
    name = sidecar["config"]
    tokens = get_config(name).backbone.num_patches
    layers = sidecar.get("merge_plan") or f"{get_config(name).backbone.depth} blocks, no layer merging"
    token_text = describe(TokenMergingConfig(**sidecar["settings"]["token_merging"]), tokens) if merged else (
        "no token merging")  # fmt: skip
    if backend == "onnxruntime":
        engine = f"onnxruntime fp32 ({', '.join(getattr(main, 'providers', []))})"
    else:
        engine = f"TensorRT {precision}"
    settings_text = f"{name}, {layers}, {token_text}, {engine}, batch {main.batch}"
    return GraphRuntime(
        backend, main, (lambda: build("base")) if merged else None, merged,
        (tokens, int(sidecar["token_budget"])), description, settings_text, device,
    )  # fmt: skip
