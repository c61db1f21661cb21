"""ECLM layer merging and Mask-ToMe on the embedded demo model, measured with synthetic ground truth.

    python bench/synth_merge.py              # calibrate at tau 0.1 and 1 mm, then accuracy + encoder speed per variant

Calibration set: 256 synthetic frames of their own seed (2000; neither training nor evaluation data), crops from the
true tight boxes, labels = true camera-frame joints (`fasthmr calibrate --labels`). Evaluation: the held-out
sequences of bench/synth_eval.py, per frame on true boxes (Mask-ToMe rows get the true masks as token masks).
Speed: median encoder+head time of one crop (batch 1), interleaved variants, one torch thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.synth_eval import eval_set
from fasthmr_ros.cli import main as cli_main
from fasthmr_ros.model.eclm import apply_plan, load_plan
from fasthmr_ros.model.tome import TokenMergingConfig
from fasthmr_ros.perception.preprocess import crop_people
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.checkpoint import load_hmr2
from fasthmr_ros.runtime.demo_model import demo_metadata, demo_model_path
from fasthmr_ros.runtime.hmr_runtime import HmrRuntime
from fasthmr_ros.training.hmr_eval import PerFramePredictor, evaluate_sequences
from fasthmr_ros.training.synth.cache import cache_dir
from fasthmr_ros.training.synth.scene import SynthGenerator

CALIBRATION_SEED = 2000


def calibration_labels(frames: int) -> Path:
    path = cache_dir() / f"synth_calibration_seed{CALIBRATION_SEED}_n{frames}.npz"
    if not path.is_file():
        generated = SynthGenerator(seed=CALIBRATION_SEED).frames(range(frames))
        crops = torch.cat([crop_people(f.image, f.box[None].astype(np.float64)).images for f in generated])
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, crops=crops.numpy(), joints=np.stack([f.joints_cam for f in generated]))
    return path


def encoder_ms(runtimes: dict[str, HmrRuntime], crops: torch.Tensor, masks: torch.Tensor, repeats: int) -> dict:
    times: dict[str, list[float]] = {name: [] for name in runtimes}
    with torch.inference_mode():
        for i in range(repeats):
            for name, runtime in runtimes.items():
                image, mask = crops[i % len(crops)][None], masks[i % len(masks)][None]
                start = time.perf_counter()
                runtime(image, mask)
                times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--taus", type=float, nargs="+", default=[0.1, 1.0, 5.0])
    parser.add_argument("--calibration-frames", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = demo_metadata()["config"]
    checkpoint = str(demo_model_path())
    labels = calibration_labels(args.calibration_frames)
    models = {"base": load_hmr2(checkpoint, config)}
    plans = {}
    for tau in args.taus:
        plan_path = cache_dir() / f"demo_merge_plan_tau{tau:g}.json"
        code = cli_main(["calibrate", "--checkpoint", checkpoint, "--config", config, "--labels", str(labels),
                         "--tau", str(tau), "--out", str(plan_path), "--threads", "1"])  # fmt: skip
        if code != 0:
            raise SystemExit(f"calibrate failed for tau {tau}")
        plan = load_plan(plan_path)
        plans[tau] = plan
        models[f"ECLM tau {tau:g} mm"] = apply_plan(load_hmr2(checkpoint, config), plan)
    tome = TokenMergingConfig()
    runtimes = {name: HmrRuntime(model, name) for name, model in models.items()}
    for name, model in list(models.items()):
        runtimes[f"{name} + Mask-ToMe"] = HmrRuntime(model, name, tome)

    dataset = eval_set(9, 3.0, 30.0)
    body = load_body_model(None)
    results = {}
    for name, runtime in runtimes.items():
        use_masks = runtime.token_merging is not None
        results[name] = evaluate_sequences(dataset, PerFramePredictor(runtime, body, use_masks=use_masks))
    first = dataset.sequences()[0][:32]
    crops = [crop_people(dataset.image(int(i)), dataset["box"][int(i)][None].astype(np.float64),
                         masks=[dataset.mask(int(i))]) for i in first]  # fmt: skip
    speed = encoder_ms(
        runtimes, torch.cat([c.images for c in crops]), torch.cat([c.token_masks for c in crops]), args.repeats
    )
    for tau, plan in plans.items():
        print(f"tau {tau:g} mm: {plan.summary()}; calibration MPJPE {plan.base_error_mm:.2f} -> "
              f"{plan.final_error_mm:.2f} mm on {args.calibration_frames} frames")  # fmt: skip
    print("\n| encoder | blocks | MPJPE | PA-MPJPE | Accel | camera-frame error | encoder+head ms (batch 1) |")
    print("|---|---|---|---|---|---|---|")
    base_ms = speed["base"]
    for name, res in results.items():
        blocks = len(runtimes[name].model.backbone.blocks)
        figures = f"{res.mpjpe:.1f} | {res.pa_mpjpe:.1f} | {res.accel:.1f} | {res.camera_error:.0f}"
        print(f"| {name} | {blocks} | {figures} | {speed[name]:.2f} ({base_ms / speed[name]:.2f}x) |")
    if args.json:
        out = {
            "plans": {str(t): p.to_dict() for t, p in plans.items()},
            "rows": {k: {**v.row(), "encoder_ms": speed[k]} for k, v in results.items()},
        }
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
