"""`fasthmr calibrate`: ECLM layer-merge search on a calibration set -> merge plan (+ plot, + merged checkpoint).

Self-calibration (default): the unmerged model's own joints on your footage are the reference, so no labels are
needed; people come from the mask generator on evenly sampled frames of --video, or from a
--boxes file. Labelled mode (--labels): an .npz with ground-truth `joints` (N, 24, 3) in metres, SMPL joint order,
in the camera's orientation (as HMR2.0's global_orient), plus either `crops` (N, 3, 256, 192) as
fasthmr_ros.perception.preprocess.crop_people makes them, or `images` (N, H, W, 3) uint8 RGB with `boxes` (N, 4) xyxy.

    fasthmr calibrate --checkpoint hmr2.ckpt --video robot_run.mp4 --frames 40 --tau 0.1 --out plan.json
    fasthmr predict ... --merge-plan plan.json      # or the node's merge_plan parameter

The error is MPJPE (mm, pelvis-aligned) of the body model's 24 joints after the head; a merge is kept while the
merged model stays less than tau above the unmerged model's error.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from fasthmr_ros.model.configs import CONFIGS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="merge plan to write (.json, or .yaml/.yml)")
    parser.add_argument(
        "--checkpoint", default="", help="HMR2.0 weights (official .ckpt or fasthmr state_dict); default: embedded"
    )
    parser.add_argument("--config", default="vit_h", choices=sorted(CONFIGS), help="config of --checkpoint")
    inputs = parser.add_argument_group("calibration set (one of)")
    inputs.add_argument("--video", nargs="+", default=[], help="your footage (self-calibration)")
    inputs.add_argument("--crops", default=None, help=".npz with crops (N,3,256,192) (self-calibration)")
    inputs.add_argument("--labels", default=None, help=".npz with joints (N,24,3) m + crops or images+boxes")
    parser.add_argument("--frames", type=int, default=20, help="frames sampled per video (default 20)")
    parser.add_argument("--max-people", type=int, default=2, help="people per frame (default 2)")
    parser.add_argument("--boxes", default=None, help='JSON {"<frame>": [[x0,y0,x1,y1],...]} for one --video')
    parser.add_argument(
        "--tau",
        type=float,
        default=0.1,
        help="allowed MPJPE increase in mm against the unmerged model's own joints (self-calibration; stricter "
        "than the paper's tau of 0.1 mm, which is measured against ground truth)",
    )
    parser.add_argument("--smpl-model", default="", help="SMPL .pkl/.npz for the joints; default: embedded body")
    parser.add_argument("--plot", default=None, help="PNG of the error per candidate merge (default: <out>.png)")
    parser.add_argument("--save-checkpoint", default=None, help="also write the merged model here (.ckpt)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--batch", type=int, default=8, help="crops per forward pass (default 8)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")


def _load_calibration_set(args: argparse.Namespace):
    """(crops (N,3,256,192), reference joints (N,24,3) | None, description dict)."""
    import torch

    from fasthmr_ros.perception.footage_crops import crops_from_videos, read_box_file
    from fasthmr_ros.perception.preprocess import crop_people

    chosen = [bool(args.video), args.crops is not None, args.labels is not None]
    if sum(chosen) != 1:
        raise ValueError("give exactly one calibration set: --video FILE... , --crops FILE.npz or --labels FILE.npz")
    if args.labels is not None or args.crops is not None:
        path = Path(args.labels or args.crops)
        if not path.is_file():
            raise FileNotFoundError(f"calibration file not found: {path}")
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        if "crops" in arrays:
            crops = torch.from_numpy(np.asarray(arrays["crops"], np.float32))
        elif "images" in arrays and "boxes" in arrays:
            images, boxes = arrays["images"], np.asarray(arrays["boxes"], np.float64)
            if len(images) != len(boxes):
                raise ValueError(f"{path}: {len(images)} images but {len(boxes)} boxes (one box per image)")
            crops = torch.cat([crop_people(img, box[None]).images for img, box in zip(images, boxes, strict=True)])
        else:
            raise ValueError(f"{path} needs `crops` (N,3,256,192) or `images` (N,H,W,3) uint8 with `boxes` (N,4)")
        if crops.ndim != 4 or tuple(crops.shape[1:]) != (3, 256, 192):
            raise ValueError(f"{path}: crops must be (N, 3, 256, 192), got {tuple(crops.shape)}")
        joints = None
        if args.labels is not None:
            if "joints" not in arrays:
                raise ValueError(f"{path} has no `joints` (N, 24, 3) in metres: labelled mode needs them")
            joints = torch.from_numpy(np.asarray(arrays["joints"], np.float32))
            if tuple(joints.shape) != (len(crops), 24, 3):
                raise ValueError(f"{path}: joints must be ({len(crops)}, 24, 3) metres, got {tuple(joints.shape)}")
        return crops, joints, {"crops": len(crops), "source": str(path)}
    from tqdm import tqdm

    boxes = read_box_file(args.boxes) if args.boxes else None
    total = len(boxes) if boxes is not None else args.frames * len(args.video)
    with tqdm(total=total, desc="people in frames", unit="frame", file=sys.stderr) as bar:
        found = crops_from_videos(args.video, args.frames, args.max_people, boxes=boxes, progress=bar.update)
    sources = sorted({s.split("#")[0] for s in found.sources})
    return found.images, None, {"crops": len(found), "source": ", ".join(sources), "frames_per_video": args.frames}


def calibrate(args: argparse.Namespace):
    """Run the search; returns the MergePlan (also written to args.out) and the unmerged model."""
    import torch
    from tqdm import tqdm

    from fasthmr_ros.model.eclm import MergePlan, applied_plan, sliding_window_search, weights_fingerprint
    from fasthmr_ros.runtime.body_files import load_body_model
    from fasthmr_ros.runtime.weights import load_weights
    from fasthmr_ros.training.eclm_search import MergeErrorEvaluator

    if args.tau < 0:
        raise ValueError(f"--tau must be >= 0 mm, got {args.tau}")
    if args.threads:
        torch.set_num_threads(args.threads)
    crops, joints, described = _load_calibration_set(args)
    model, weights = load_weights(args.checkpoint, args.config, args.device)
    if applied_plan(model) is not None:
        raise ValueError(f"{weights} is already layer-merged: calibrate the unmerged weights")
    body = load_body_model(args.smpl_model or None).to(args.device)
    depth = len(model.backbone.blocks)
    with tqdm(total=len(crops), desc="unmerged model", unit="crop", file=sys.stderr) as bar:
        evaluator = MergeErrorEvaluator(model, body, crops, joints, batch_size=args.batch, progress=bar.update)
    started = time.perf_counter()
    # The search tries each window's lower end once, top down: at most depth - 1 evaluations.
    with tqdm(total=depth - 1, desc=f"ECLM search (tau {args.tau:g} mm)", unit="try", file=sys.stderr) as bar:

        def on_step(step) -> None:
            bar.set_postfix_str(f"[{step.window[0]}-{step.window[1]}] +{step.increase_mm:.3f} mm")
            bar.update(1)

        runs, steps = sliding_window_search(depth, evaluator.error, evaluator.base_error, args.tau, on_step)
        bar.update(bar.total - bar.n)
    plan = MergePlan(
        config=model.config.name,
        depth=depth,
        merges=runs,
        tau_mm=args.tau,
        mode="labelled" if joints is not None else "self",
        base_error_mm=evaluator.base_error,
        final_error_mm=evaluator.error(runs),
        weights=weights,
        fingerprint=weights_fingerprint(model),
        calibration={**described, "search_seconds": round(time.perf_counter() - started, 1)},
        steps=steps,
    )
    plan.save(args.out)
    return plan, model


def plot_plan(plan, path: str | Path) -> None:
    """Error increase per candidate window, in search order; green = kept, red = over tau."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = plan.steps
    fig, ax = plt.subplots(figsize=(max(7.0, 0.28 * len(steps) + 3.5), 4))
    xs = np.arange(len(steps))
    increases = [s.increase_mm for s in steps]
    colors = ["tab:green" if s.committed else "tab:olive" if s.accepted else "tab:red" for s in steps]
    ax.bar(xs, increases, color=colors)
    ax.axhline(plan.tau_mm, color="black", linestyle="--", linewidth=1, label=f"tau = {plan.tau_mm:g} mm")
    ax.set_yscale("symlog", linthresh=max(plan.tau_mm, 1e-3))
    ax.set_xticks(xs, [f"{s.window[0]}-{s.window[1]}" for s in steps], rotation=90, fontsize=7)
    ax.set_xlabel("candidate window (blocks lo-top, with the merges committed before it)")
    ax.set_ylabel("MPJPE increase (mm)")
    kept = ", ".join(f"{a}-{b}" for a, b in plan.merges) or "none"
    ax.set_title(f"ECLM {plan.config}: {plan.depth} -> {plan.depth_after} blocks (merged {kept}; {plan.mode} mode)")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in ("tab:green", "tab:olive", "tab:red")]
    labels = ["committed", "passed", "failed", ax.lines[0].get_label()]
    ax.legend([*handles, ax.lines[0]], labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    try:
        plan, model = calibrate(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"fasthmr calibrate: error: {error}", file=sys.stderr)
        return 2
    plot = args.plot or str(Path(args.out).with_suffix(".png"))
    plot_plan(plan, plot)
    print(f"{plan.summary()}: MPJPE {plan.base_error_mm:.3f} -> {plan.final_error_mm:.3f} mm ({plan.mode} mode, "
          f"{plan.calibration.get('crops')} crops); plan {args.out}, plot {plot}")  # fmt: skip
    if args.save_checkpoint:
        from fasthmr_ros.model.eclm import apply_plan
        from fasthmr_ros.runtime.weights import save_merged_checkpoint

        save_merged_checkpoint(apply_plan(model, plan), args.save_checkpoint)
        print(f"merged checkpoint {args.save_checkpoint} ({plan.depth_after} blocks)")
    return 0
