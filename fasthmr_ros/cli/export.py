"""`fasthmr export`: the encoder + head to ONNX (static batch, Mask-ToMe inside), checked against PyTorch, and
optionally TensorRT engines (FP16/BF16, or INT8 calibrated on crops of your own footage) into the engine cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from fasthmr_ros.model.configs import CONFIGS
from fasthmr_ros.runtime.config import EncoderConfig
from fasthmr_ros.runtime.onnx_export import DEFAULT_OPSET, DEFAULT_TOLERANCE, export_encoder

INT8_HINT = "--precision int8 calibrates on your footage: add --video CLIP (a few dozen people)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="", help="ONNX file to write (.onnx); the sidecar .json goes beside it")
    parser.add_argument("--onnx", default="",
                        help="with --tensorrt: build engines from this existing export")  # fmt: skip
    parser.add_argument("--checkpoint", default="", help="HMR2.0 checkpoint (default: the embedded demo model)")
    parser.add_argument("--config", default="vit_h", choices=sorted(CONFIGS), help="architecture of --checkpoint")
    parser.add_argument("--merge-plan", default="", help="ECLM merge plan from `fasthmr calibrate`")
    parser.add_argument("--token-budget", type=int, default=90, help="Mask-ToMe tokens left (node: token_budget)")
    parser.add_argument("--no-token-merging", action="store_true", help="export the base encoder only")
    parser.add_argument("--batch", type=int, default=4, help="static batch (node: max_people; crops are padded)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET)
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="largest accepted |onnxruntime - PyTorch| on the check inputs")  # fmt: skip
    parser.add_argument("--video", default="",
                        help="check (and INT8-calibrate) on person crops of this clip")  # fmt: skip
    parser.add_argument("--frames", type=int, default=32, help="frames sampled from --video")
    parser.add_argument("--tensorrt", action="store_true", help="also build TensorRT engines into the cache")
    parser.add_argument("--precision", default="fp16", choices=("fp32", "fp16", "bf16", "int8"),
                        help="TensorRT engine precision (int8 needs --video for calibration)")  # fmt: skip
    parser.add_argument("--device", default="cuda", help="GPU for the TensorRT build")
    parser.add_argument("--cache", default="", help="engine cache (default $FASTHMR_CACHE or ~/.cache/fasthmr)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild engines even when cached")


def _video_crops(video: str, frames: int, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(images, masks) of the people in the clip; masks all-background where the detector gave none."""
    from fasthmr_ros.perception.footage_crops import crops_from_videos

    path = Path(video).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}; pass a clip of your camera's footage with --video")
    crops = crops_from_videos([path], frames_per_video=frames, max_people=batch)
    if len(crops) < batch:
        raise ValueError(f"{path}: found {len(crops)} person crops in {frames} frames, need at least --batch {batch}; "
                         f"raise --frames or use a clip with people")  # fmt: skip
    masks = crops.token_masks
    if masks is None:
        masks = torch.zeros(len(crops), 16, 12, dtype=torch.bool)  # no masks: check the base path's inputs only
    return crops.images, masks


def run(args: argparse.Namespace) -> int:
    from fasthmr_ros.runtime.graph_loading import export_settings, load_export_model
    from fasthmr_ros.runtime.onnx_export import read_export

    if args.onnx:  # engines only, from an export made elsewhere (vit_h needs ~18 GB RAM to export)
        try:
            if not args.tensorrt:
                raise ValueError("--onnx builds engines from an existing export: add --tensorrt")
            sidecar = read_export(args.onnx)
            if args.precision == "int8" and not args.video:
                raise ValueError(INT8_HINT)
            calibration = _video_crops(args.video, args.frames, sidecar["batch"]) if args.video else None
        except (FileNotFoundError, ValueError) as error:
            print(f"[export] {error}", file=sys.stderr)
            return 2
        return _build_engines(args, Path(args.onnx).expanduser(), sidecar, calibration)
    if not args.out:
        print("[export] give --out FILE.onnx (or --onnx EXISTING.onnx --tensorrt to build engines only)",
              file=sys.stderr)  # fmt: skip
        return 2

    config = EncoderConfig(
        checkpoint=args.checkpoint, model_config=args.config, merge_plan=args.merge_plan,
        token_merging=not args.no_token_merging, token_budget=args.token_budget,
    )  # fmt: skip
    try:
        if args.batch < 1:
            raise ValueError(f"--batch must be >= 1, got {args.batch}")
        settings, weights, plan = export_settings(config, args.batch)
        settings = type(settings)(settings.config, args.batch, settings.token_merging, settings.plan,
                                  settings.weights, args.opset)  # fmt: skip
        calibration = _video_crops(args.video, args.frames, args.batch) if args.video else None
        if args.tensorrt and args.precision == "int8" and calibration is None:
            raise ValueError(INT8_HINT)
        model = load_export_model(config, plan)
        sample = (calibration[0][: args.batch], calibration[1][: args.batch]) if calibration is not None else None
        sidecar = export_encoder(model, args.out, args.batch, settings.token_merging, weights, args.opset, sample,
                                 args.tolerance, settings)  # fmt: skip
    except (FileNotFoundError, ValueError) as error:
        print(f"[export] {error}", file=sys.stderr)
        return 2
    out = Path(args.out)
    for kind, graph in sidecar["graphs"].items():
        worst = max(graph["max_abs_error"].values())
        size = sum(graph["bytes"]) / 1e6
        print(f"[export] {kind} graph: {out.parent / graph['file']} ({size:.1f} MB, batch {args.batch}, "
              f"exported in {graph['export_s']:.1f} s), max |onnxruntime - torch| = {worst:.2e}")  # fmt: skip
    print(f"[export] sidecar: {out.with_suffix('.json')}")
    if not args.tensorrt:
        return 0
    return _build_engines(args, out, sidecar, calibration)


def _build_engines(args: argparse.Namespace, out: Path, sidecar: dict, calibration) -> int:
    from fasthmr_ros.runtime.backend_choice import tensorrt_missing
    from fasthmr_ros.runtime.export_cache import cache_dir

    device = torch.device(args.device)
    reason = tensorrt_missing(device)
    if reason:
        print(f"[export] TensorRT engines not built: {reason}. The ONNX is written; build on the target with "
              f"`fasthmr export --tensorrt ...` there, or trtexec (docs/deploy.md)", file=sys.stderr)  # fmt: skip
        return 2
    from fasthmr_ros.runtime.tensorrt_engine import CropBatches, ensure_engine

    cache = cache_dir(args.cache)
    try:
        for kind, graph in sidecar["graphs"].items():
            batches = None
            if calibration is not None and args.precision == "int8":
                masks = calibration[1] if kind == "merged" else None
                batches = CropBatches(calibration[0], masks, int(sidecar["batch"]), device)
            path = ensure_engine(out.parent / graph["file"], graph["sha256"], kind, cache, args.precision, device,
                                 batches, args.rebuild, log=lambda text: print(f"[export] {text}"))  # fmt: skip
            print(f"[export] {kind} engine: {path}")
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        print(f"[export] {error}", file=sys.stderr)
        return 2
    return 0
