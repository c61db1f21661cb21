"""Encoder + head latency per backend, side by side in one process (random weights; speed does not depend on them).

    python -m bench.backends                                   # CPU: vit_s and vit_h, batch 1 and 8, 1 thread
    python -m bench.backends --configs vit_s --repeats 9 --threads 2
    python -m bench.backends --device cuda --configs vit_h     # GPU table (fp32/fp16/bf16/CUDA graphs/ORT/TRT)

The merged encoder is ECLM (a fixed merge removing depth/8 blocks, vit_h 32 -> 28, as bench.encoder_speedup) +
Mask-ToMe (budget 90) with upright elliptical person masks (accel.onnx_export.sample_inputs). Each variant runs
the full encoder + SMPL head on the same crops.

CPU: PyTorch fp32 (torch's default linear kernel, and oneDNN's: `cpu_linear`, accel/cpu_linear.py) vs onnxruntime
(CPUExecutionProvider) on the graph `fasthmr export` writes, at a static batch; torch.set_num_threads and
onnxruntime's intra-op threads are set equal. One warm-up, then `repeats` interleaved
rounds (one run of each variant per round); cells are medians, "ratio" the median of the per-round ratios.
GPU (--device cuda): base fp32, merged fp32/fp16/bf16, merged fp16 + CUDA graphs, and onnxruntime (CUDA provider)
/ TensorRT fp16 where installed; the device is synchronised around every timed call.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from bench.encoder_speedup import eclm_runs
from bench.vit_forward import random_model
from fasthmr_ros.model.eclm import MergePlan, apply_plan
from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.model.tome import TokenMergingConfig, forward_merged
from fasthmr_ros.runtime.cpu_linear import use_cpu_linear
from fasthmr_ros.runtime.onnx_export import export_encoder, sample_inputs
from fasthmr_ros.runtime.static_batch import run_static_batch
from fasthmr_ros.runtime.torch_speed import CudaGraphRunner, apply_precision

Runner = Callable[[], object]


def merged_model(name: str, device: str = "cpu") -> HMR2:
    model = random_model(name)
    depth = len(model.backbone.blocks)
    apply_plan(model, MergePlan(name, depth, eclm_runs(depth), tau_mm=0.0))
    return model.to(device).eval()


def interleaved(runners: dict[str, Runner], repeats: int, sync: Callable[[], None]) -> dict[str, list[float]]:
    """Seconds per run of each runner, one of each per round, after one warm-up round."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for round_index in range(repeats + 1):
        for name, run in runners.items():
            sync()
            start = time.perf_counter()
            run()
            sync()
            if round_index:
                times[name].append(time.perf_counter() - start)
    return times


def cpu_table(configs: list[str], batches: list[int], repeats: int, threads: int, scratch: Path) -> None:
    import onnxruntime as ort

    torch.set_num_threads(threads)
    print(f"CPU, {threads} thread(s) for torch and onnxruntime {ort.__version__}, torch {torch.__version__}")
    print("| config | batch | torch ms/crop | torch oneDNN ms/crop | onnxruntime ms/crop | torch/onnxruntime "
          "| torch oneDNN/onnxruntime | export s | max abs err |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    token_merging = TokenMergingConfig()
    for name in configs:
        model = merged_model(name)
        for batch in batches:
            images, masks = sample_inputs(batch, model.config.backbone.grid)
            path = scratch / f"{name}-b{batch}.onnx"
            sidecar = export_encoder(model, path, batch, token_merging, {"fingerprint": "random"},
                                     sample=(images, masks), tolerance=math.inf, include_base=False)  # fmt: skip
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            feed = {"images": images.numpy(), "token_masks": masks.numpy()}

            def run_torch(linear: str, model=model, images=images, masks=masks) -> object:
                use_cpu_linear(model, linear)  # one model for both kernels (vit_h twice would not fit with ORT's)
                with torch.inference_mode():
                    return forward_merged(model, images, masks, token_merging)

            def run_ort(session=session, feed=feed) -> object:
                return session.run(None, feed)

            runners = {"torch": lambda: run_torch("torch"), "onednn": lambda: run_torch("onednn"), "ort": run_ort}
            times = interleaved(runners, repeats, lambda: None)
            torch_ms, onednn_ms, ort_ms = (statistics.median(times[k]) * 1e3 for k in ("torch", "onednn", "ort"))
            ratio, onednn_ratio = (
                statistics.median(a / b for a, b in zip(times[key], times["ort"], strict=True))
                for key in ("torch", "onednn")
            )
            graph = sidecar["graphs"]["merged"]
            print(f"| {name} (merged) | {batch} | {torch_ms / batch:,.1f} | {onednn_ms / batch:,.1f} | "
                  f"{ort_ms / batch:,.1f} | {ratio:.2f}x | {onednn_ratio:.2f}x | {graph['export_s']:.0f} | "
                  f"{max(graph['max_abs_error'].values()):.1e} |", flush=True)  # fmt: skip
            del session
            for file in scratch.glob(f"{name}-b{batch}*"):
                file.unlink()


def gpu_runners(name: str, batch: int, device: torch.device, scratch: Path) -> dict[str, Runner]:
    """Every GPU variant as a no-argument runner on the same crops."""
    token_merging = TokenMergingConfig()
    images, masks = sample_inputs(batch, (16, 12))
    images_gpu, masks_gpu = images.to(device), masks.to(device)
    base = random_model(name).to(device).eval()
    runners: dict[str, Runner] = {}

    def base_fp32() -> object:
        with torch.inference_mode():
            return base(images_gpu)

    runners["base fp32"] = base_fp32
    for precision in ("fp32", "fp16", "bf16"):
        model = merged_model(name, str(device))
        dtype = apply_precision(model, precision)

        def merged(model=model, dtype=dtype) -> object:
            with torch.inference_mode():
                return forward_merged(model, images_gpu.to(dtype), masks_gpu, token_merging)

        runners[f"merged {precision}"] = merged
    graphed_model = merged_model(name, str(device))
    apply_precision(graphed_model, "fp16")

    def graph_fn(x: torch.Tensor, m: torch.Tensor | None) -> dict[str, torch.Tensor]:
        out = forward_merged(graphed_model, x, m, token_merging).output
        return {"pose_6d": out.pose_6d, "betas": out.betas, "pred_cam": out.pred_cam, "token": out.token}

    graph = CudaGraphRunner(graph_fn, device, batch)
    images_half = images_gpu.half()

    def merged_graphs() -> object:
        with torch.inference_mode():
            return run_static_batch(graph.run, batch, images_half, masks_gpu)

    runners["merged fp16 + CUDA graphs"] = merged_graphs
    onnx_path = scratch / f"{name}-b{batch}.onnx"
    export_encoder(merged_model(name), onnx_path, batch, token_merging, {"fingerprint": "random"},
                   sample=(images, masks), tolerance=math.inf, include_base=False)  # fmt: skip
    from fasthmr_ros.runtime.backend_choice import onnxruntime_missing, tensorrt_missing

    if not onnxruntime_missing(device):
        from fasthmr_ros.runtime.onnx_backend import OnnxGraph

        ort_graph = OnnxGraph(onnx_path, device)
        runners["onnxruntime CUDA fp32"] = lambda: ort_graph.run(images, masks)
    else:
        print(f"(onnxruntime on CUDA skipped: {onnxruntime_missing(device)})")
    if not tensorrt_missing(device):
        from fasthmr_ros.runtime.onnx_export import read_export
        from fasthmr_ros.runtime.tensorrt_engine import TensorRTGraph, ensure_engine

        sha = read_export(onnx_path)["graphs"]["merged"]["sha256"]
        engine = TensorRTGraph(ensure_engine(onnx_path, sha, "merged", scratch, "fp16", device), device)
        runners["TensorRT fp16"] = lambda: engine.run(images_gpu, masks_gpu)
    else:
        print(f"(TensorRT skipped: {tensorrt_missing(device)})")
    return runners


def gpu_table(configs: list[str], batches: list[int], repeats: int, scratch: Path) -> None:
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 rows are the reference: no TF32 shortcuts
    torch.backends.cudnn.allow_tf32 = False
    print(f"GPU: {torch.cuda.get_device_name(device)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    print("| config | batch | variant | ms | ms/crop | speed-up vs base fp32 |")
    print("|---|---|---|---|---|---|")
    for name in configs:
        for batch in batches:
            runners = gpu_runners(name, batch, device, scratch)
            times = interleaved(runners, repeats, torch.cuda.synchronize)
            base = times["base fp32"]
            for variant, values in times.items():
                ms = statistics.median(values) * 1e3
                speed = statistics.median(b / v for b, v in zip(base, values, strict=True))
                print(f"| {name} | {batch} | {variant} | {ms:.2f} | {ms / batch:.2f} | {speed:.2f}x |", flush=True)
            del runners
            torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", nargs="+", default=["vit_s", "vit_h"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for torch and onnxruntime alike")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--scratch", default="", help="folder for the exported graphs (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.scratch or None) as scratch:
        if args.device == "cuda":
            gpu_table(args.configs, args.batches, args.repeats, Path(scratch))
        else:
            cpu_table(args.configs, args.batches, args.repeats, args.threads, Path(scratch))


if __name__ == "__main__":
    main()
