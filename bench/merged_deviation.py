"""How far each merged encoder's output is from the base model's, on real crops of people: joint error in mm.

    python -m bench.merged_deviation --config vit_s                 # random (seeded init) weights
    python -m bench.merged_deviation --embedded                     # the embedded demo model, if data/hmr/ has it
    python -m bench.merged_deviation --checkpoint hmr2.ckpt --config vit_h --plan plan.json

Crops: evenly sampled frames of the Sports2D and Pose2Sim footage, people and masks from the mask generator
(perception.masks). Error: the body model's 24 joints (embedded body model unless --smpl-model)
from each variant's pose and shape, pelvis-aligned, against the base model's joints on the same crop (MPJPE, mm),
plus the largest per-crop error. ECLM uses --plan if given, else a fixed merge of the top blocks (depth/8 removed).
The CPU speed modes (oneDNN linears, bf16 encoder) are measured the same way. With random weights this is a
plumbing check of how much each variant moves the output, not an accuracy figure.
"""

from __future__ import annotations

import argparse
import copy
from dataclasses import replace

import torch

from bench.encoder_speedup import eclm_runs, layer_merged
from fasthmr_ros.footage import fetch
from fasthmr_ros.model.eclm import apply_plan, load_plan
from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.model.tome import TokenMergingConfig, forward_merged
from fasthmr_ros.paths import footage_dir
from fasthmr_ros.perception.footage_crops import crops_from_videos
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.cpu_linear import use_cpu_linear
from fasthmr_ros.runtime.torch_speed import apply_precision
from fasthmr_ros.training.eclm_search import body_joints, pelvis_aligned

CLIPS = ("sports2d_demo.mp4", "pose2sim_single_cam01.mp4", "pose2sim_multi_cam01.mp4")
TOME = TokenMergingConfig()
# The defaults and one change each: what every choice the paper leaves open is worth on these weights.
TOME_CHOICES = {
    "tome": TOME,
    "tome, token similarity": replace(TOME, similarity="tokens"),
    "tome, plain averaging": replace(TOME, size_weighted=False),
    "tome, no proportional attention": replace(TOME, proportional_attention=False),
    "tome, grid alternation": replace(TOME, split="alternate"),
}


def load_model(args: argparse.Namespace) -> tuple[HMR2, str]:
    if args.embedded or args.checkpoint:
        from fasthmr_ros.runtime.weights import load_weights

        model, description = load_weights(args.checkpoint, args.config, "cpu")
        return model.eval(), description
    torch.manual_seed(args.seed)
    return HMR2(args.config).eval(), f"random weights ({args.config}, the model's own init, seed {args.seed})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="vit_s")
    parser.add_argument("--checkpoint", default="")
    parser.add_argument("--embedded", action="store_true", help="use the embedded demo model (data/hmr/)")
    parser.add_argument("--plan", default=None, help="ECLM merge plan for the eclm variants")
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smpl-model", default="")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    fetch(list(CLIPS))
    crops = crops_from_videos([footage_dir() / clip for clip in CLIPS], args.frames, max_people=2)
    if crops.token_masks is None:
        raise SystemExit("no person masks: the deviation of Mask-ToMe needs masks")
    person = crops.token_masks.reshape(len(crops), -1).sum(dim=1)
    model, description = load_model(args)
    body = load_body_model(args.smpl_model or None)
    if args.plan:
        eclm = apply_plan(load_model(args)[0], load_plan(args.plan))
        eclm_text = f"plan {args.plan}"
    else:
        runs = eclm_runs(len(model.backbone.blocks))
        eclm = layer_merged(model, runs)
        eclm_text = "fixed merge " + ", ".join(f"{a}-{b}" for a, b in runs)
    variants = {"eclm": lambda im, m: eclm(im)}
    for name, config in TOME_CHOICES.items():
        variants[name] = lambda im, m, c=config: forward_merged(model, im, m, c).output
    variants["eclm + tome"] = lambda im, m: forward_merged(eclm, im, m, TOME).output
    # The CPU speed modes, on the same crops: oneDNN linears (cpu_linear) and the encoder in bf16 (precision).
    onednn = copy.deepcopy(model)
    use_cpu_linear(onednn, "onednn")
    variants["oneDNN linears (base)"] = lambda im, m: onednn(im)
    half = copy.deepcopy(model)
    apply_precision(half, "bf16")
    variants["bf16 encoder (base)"] = lambda im, m: half(im.bfloat16())
    variants["bf16 encoder + tome"] = lambda im, m: forward_merged(half, im.bfloat16(), m, TOME).output

    def joints_of(fn) -> torch.Tensor:
        out = []
        with torch.inference_mode():
            for start in range(0, len(crops), args.batch):
                images = crops.images[start : start + args.batch]
                masks = crops.token_masks[start : start + args.batch]
                out.append(pelvis_aligned(body_joints(body, fn(images, masks))))
        return torch.cat(out)

    base = joints_of(lambda im, m: model(im))
    print(f"weights: {description}; body model: {body.name}; ECLM: {eclm_text}")
    counts = f"person tokens median {int(person.median())} (max {int(person.max())})"
    print(f"{len(crops)} crops ({', '.join(CLIPS)}), {counts}")
    spread = (base - base.mean(dim=0)).norm(dim=-1).mean() * 1000
    print(f"base model's own spread (mean joint distance from its mean pose over the crops): {spread:.1f} mm\n")
    print("| variant | MPJPE vs base (mm) | max over crops (mm) |")
    print("|---|---|---|")
    for name, fn in variants.items():
        per_crop = (joints_of(fn) - base).norm(dim=-1).mean(dim=1) * 1000
        print(f"| {name} | {per_crop.mean():.2f} | {per_crop.max():.2f} |", flush=True)


if __name__ == "__main__":
    main()
