"""ONNX export of the encoder + head at a static batch, checked against PyTorch, with a JSON sidecar.

One export = up to two graphs with the same weights:
- "merged": Mask-ToMe inside the graph, inputs images (B, 3, 256, 192) float32 and token_masks (B, 16, 12) bool,
  outputs pose_6d, betas, pred_cam, token, person_merges. Written when token merging is on (and merges anything).
- "base": the unmerged encoder, input images only, the four model outputs. Always written: it is what runs when a
  call has no person masks (the PyTorch runtime runs the base encoder then, since merging without masks would
  merge the person), and the only graph when token merging is off.
ECLM plans are applied to the model before export, so both graphs carry the merged blocks.

The fixed Mask-ToMe schedule makes every shape static; the batch is fixed at export (the runtime pads/chunks).
The sidecar (same name, .json) records what the graphs were made from (config, batch, token merging, merge-plan
and weights fingerprints, opset, versions), each graph's files, size and sha256, and the parity check's max abs
error against PyTorch on the same inputs.
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fasthmr_ros.model.eclm import MergePlan, applied_plan
from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.model.tome import MaskToMeModel, TokenMergingConfig, check_schedule
from fasthmr_ros.runtime.fingerprint import files_sha256, settings_key

SIDECAR_FORMAT = "fasthmr-onnx"
SIDECAR_VERSION = 1
DEFAULT_OPSET = 17
BASE_OUTPUTS = ("pose_6d", "betas", "pred_cam", "token")
MERGED_OUTPUTS = (*BASE_OUTPUTS, "person_merges")
# protobuf cannot hold more than 2 GiB: bigger graphs (vit_h: 2.7 GB of fp32 weights) keep their weights in one
# external data file next to the .onnx.
EXTERNAL_DATA_ABOVE = 1_500_000_000
DEFAULT_TOLERANCE = 1e-3
EXPORT_HINT = "export it with `fasthmr export` (or leave accel_model empty to export into the cache on first use)"


class BaseGraph(nn.Module):
    """The unmerged encoder + head as an export module: images -> (pose_6d, betas, pred_cam, token)."""

    def __init__(self, model: HMR2) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(images)
        return out.pose_6d, out.betas, out.pred_cam, out.token


def plan_fingerprint(plan: MergePlan | None) -> str:
    """What identifies a merge plan's effect: config, depth, merged runs and the weights it was made for."""
    if plan is None:
        return ""
    fields = {"config": plan.config, "depth": plan.depth, "merges": plan.merges, "weights": plan.fingerprint}
    return settings_key(fields)


@dataclass(frozen=True)
class ExportSettings:
    """Everything that decides the exported graphs. Equal settings -> the same graphs (the cache key)."""

    config: str
    batch: int
    token_merging: TokenMergingConfig | None
    plan: str  # plan_fingerprint ("" = no layer merging)
    weights: str  # file_fingerprint of the checkpoint file
    opset: int = DEFAULT_OPSET

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["token_merging"] = asdict(self.token_merging) if self.token_merging is not None else None
        return {"format_version": SIDECAR_VERSION, **data}

    def key(self) -> str:
        return settings_key(self.to_dict())

    def mismatch(self, recorded: dict[str, Any]) -> str | None:
        """The first setting that differs from a sidecar's recorded settings, as 'name: recorded vs wanted'."""
        wanted = self.to_dict()
        for name, value in wanted.items():
            if recorded.get(name) != value:
                return f"{name}: exported with {recorded.get(name)!r}, this node wants {value!r}"
        return None


def sample_inputs(batch: int, grid: tuple[int, int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic check inputs: noise crops and upright elliptical person masks of 30-80 tokens (different per crop)."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, 256, 192, generator=generator)
    rows, cols = grid
    y = (torch.arange(rows, dtype=torch.float32)[:, None] + 0.5) / rows - 0.5
    x = (torch.arange(cols, dtype=torch.float32)[None, :] + 0.5) / cols - 0.5
    masks = torch.zeros(batch, rows, cols, dtype=torch.bool)
    for n in range(batch):
        width = 0.18 + 0.14 * float(torch.rand(1, generator=generator))
        masks[n] = (y / 0.45) ** 2 + (x / width) ** 2 <= 1.0
    return images, masks


def _export_one(module: nn.Module, inputs: tuple[torch.Tensor, ...], names: tuple[list[str], list[str]], opset: int,
                path: Path) -> list[Path]:  # fmt: skip
    """torch.onnx.export (TorchScript exporter) into a scratch folder, then one .onnx (+ one .data file if big)."""
    import onnx

    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".export-") as scratch:
        raw = Path(scratch) / "graph.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer warnings
            torch.onnx.export(
                module, inputs, str(raw), dynamo=False, opset_version=opset, input_names=names[0],
                output_names=names[1], do_constant_folding=True,
            )  # fmt: skip
        proto = onnx.load(str(raw))  # pulls in any external data the exporter wrote for a >2 GB model
        data = path.with_name(path.name + ".data")
        for stale in (path, data):
            stale.unlink(missing_ok=True)
        if proto.ByteSize() > EXTERNAL_DATA_ABOVE:
            onnx.save_model(proto, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                            location=data.name, size_threshold=1024)  # fmt: skip
            onnx.checker.check_model(str(path))
            return [path, data]
        onnx.save_model(proto, str(path))
        onnx.checker.check_model(proto)
        return [path]


def _max_abs_errors(expected: tuple[torch.Tensor, ...], got: list[np.ndarray], names: tuple[str, ...]) -> dict:
    errors = {}
    for name, a, b in zip(names, expected, got, strict=True):
        diff = np.abs(a.detach().cpu().numpy().astype(np.float64) - np.asarray(b, dtype=np.float64))
        errors[name] = float(diff.max()) if diff.size else 0.0
    return errors


def export_encoder(
    model: HMR2,
    out: str | Path,
    batch: int,
    token_merging: TokenMergingConfig | None,
    weights: dict[str, str],
    opset: int = DEFAULT_OPSET,
    sample: tuple[torch.Tensor, torch.Tensor] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    settings: ExportSettings | None = None,
    include_base: bool = True,
) -> dict[str, Any]:
    """Export `model` (ECLM plan already applied, if any) to `out` (.onnx) + sidecar; returns the sidecar dict.
    The model is moved to float32 on the CPU in place (exports are fp32; TensorRT picks lower precision itself).

    weights: {"description", "fingerprint" (file_fingerprint of the checkpoint), ...}. sample: check inputs
    (images, token masks) with `batch` rows (default: sample_inputs). Raises ValueError when onnxruntime's
    outputs differ from PyTorch's by more than `tolerance` (the sidecar is written either way, for inspection).
    settings: what the sidecar records as the export's identity (default: derived from the model; callers that
    look exports up by their own settings, like the cache, pass theirs). include_base=False skips the base graph
    of a merging export (benchmarks only: the runtime needs it for calls without masks).
    """
    import onnx
    import onnxruntime as ort

    out = Path(out)
    if out.suffix != ".onnx":
        raise ValueError(f"export path must end in .onnx, got {out}")
    if batch < 1:
        raise ValueError(f"export batch must be >= 1, got {batch}")
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.float().cpu().eval()
    backbone = model.backbone
    tokens = backbone.config.num_patches
    schedule = check_schedule(tokens, len(backbone.blocks), token_merging) if token_merging is not None else ()
    merging = token_merging if schedule else None
    images, masks = sample if sample is not None else sample_inputs(batch, backbone.config.grid)
    if len(images) != batch or len(masks) != batch:
        raise ValueError(f"check inputs must have the export batch ({batch}) rows, got {len(images)}")
    masks = masks.to(torch.bool)
    plan = applied_plan(model)
    if settings is None:
        settings = ExportSettings(model.config.name, batch, merging, plan_fingerprint(plan),
                                  weights.get("fingerprint", ""), opset)  # fmt: skip
    elif (settings.config, settings.batch, settings.token_merging) != (model.config.name, batch, merging):
        raise ValueError(f"export settings {settings} do not describe this model/batch/token merging")

    graphs: dict[str, dict[str, Any]] = {}
    jobs: list[tuple[str, nn.Module, tuple[torch.Tensor, ...], tuple[str, ...], Path]] = []
    base_path = out if merging is None else out.with_name(out.stem + ".base.onnx")
    if merging is not None:
        jobs.append(("merged", MaskToMeModel(model, merging).eval(), (images, masks), MERGED_OUTPUTS, out))
    if merging is None or include_base:
        jobs.append(("base", BaseGraph(model).eval(), (images,), BASE_OUTPUTS, base_path))
    worst = 0.0
    for kind, module, inputs, outputs, path in jobs:
        input_names = ["images", "token_masks"][: len(inputs)]
        started = time.perf_counter()
        files = _export_one(module, inputs, (input_names, list(outputs)), opset, path)
        export_s = time.perf_counter() - started
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # as many as torch uses for the reference run
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = {name: value.numpy() for name, value in zip(input_names, inputs, strict=True)}
        got = session.run(list(outputs), feed)
        with torch.inference_mode():
            expected = module(*inputs)
        errors = _max_abs_errors(expected, got, outputs)
        worst = max(worst, *errors.values())
        graphs[kind] = {
            "file": path.name,
            "files": [f.name for f in files],
            "bytes": [f.stat().st_size for f in files],
            "sha256": files_sha256(files),
            "inputs": {name: [*value.shape] for name, value in zip(input_names, inputs, strict=True)},
            "outputs": list(outputs),
            "max_abs_error": errors,
            "export_s": round(export_s, 2),
        }
        del session
    sidecar = {
        "format": SIDECAR_FORMAT,
        "version": SIDECAR_VERSION,
        "settings": settings.to_dict(),
        "config": model.config.name,
        "batch": batch,
        "token_budget": merging.budget if merging is not None else tokens,
        "schedule": list(schedule),
        "merge_plan": plan.summary() if plan is not None else None,
        "weights": weights,
        "graphs": graphs,
        "parity": {"max_abs_error": worst, "tolerance": tolerance, "inputs": "given" if sample else "synthetic"},
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
        "exporter": "torch.onnx TorchScript (dynamo=False)",
        "opset": opset,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    sidecar_path(out).write_text(json.dumps(sidecar, indent=1) + "\n")
    if not worst <= tolerance:  # also catches NaN
        raise ValueError(
            f"exported graph differs from PyTorch by {worst:.3g} (> tolerance {tolerance:g}); see {sidecar_path(out)}"
        )
    return sidecar


def sidecar_path(onnx_path: str | Path) -> Path:
    return Path(onnx_path).with_suffix(".json")


def read_export(onnx_path: str | Path) -> dict[str, Any]:
    """The sidecar of an export, checked: format, version, and every graph file present with its recorded size.

    FileNotFoundError when the .onnx is missing; ValueError (one line) for a missing/bad sidecar or a graph file
    that is missing or has another size than at export (truncated, overwritten: stale).
    """
    path = Path(onnx_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}; {EXPORT_HINT}")
    side = sidecar_path(path)
    if not side.is_file():
        raise ValueError(f"{path} has no sidecar {side.name}: it was not written by `fasthmr export`; {EXPORT_HINT}")
    try:
        data = json.loads(side.read_text())
    except ValueError as error:
        raise ValueError(f"sidecar {side} is not valid JSON ({error}); {EXPORT_HINT}") from error
    if not isinstance(data, dict) or data.get("format") != SIDECAR_FORMAT:
        raise ValueError(f"{side} is not a fasthmr export sidecar (no 'format: {SIDECAR_FORMAT}'); {EXPORT_HINT}")
    if data.get("version") != SIDECAR_VERSION:
        raise ValueError(f"{side} is export version {data.get('version')}, this fasthmr reads {SIDECAR_VERSION}: "
                         f"re-export with `fasthmr export`")  # fmt: skip
    graphs = data.get("graphs")
    if not isinstance(graphs, dict) or not graphs or not set(graphs) <= {"merged", "base"}:
        raise ValueError(f"{side} lists no graphs; {EXPORT_HINT}")
    for kind, graph in graphs.items():
        for name, size in zip(graph["files"], graph["bytes"], strict=True):
            file = path.parent / name
            if not file.is_file():
                raise ValueError(f"{kind} graph file {file} named in {side.name} is missing; {EXPORT_HINT}")
            if file.stat().st_size != size:
                raise ValueError(
                    f"{file} has {file.stat().st_size} bytes, its sidecar says {size}: the file changed after export "
                    f"(stale or truncated); re-export with `fasthmr export`"
                )
    return data


def graph_path(onnx_path: str | Path, sidecar: dict[str, Any], kind: str) -> Path:
    return Path(onnx_path).expanduser().parent / sidecar["graphs"][kind]["file"]
