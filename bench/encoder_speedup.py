"""Encoder + head latency: base vs ECLM vs Mask-ToMe vs both, side by side in one process (random weights).

    python -m bench.encoder_speedup                                  # vit_h, batch 1 and 8, 1 thread
    python -m bench.encoder_speedup --configs vit_s vit_b --repeats 9
    python -m bench.encoder_speedup --batches 1 --threads 2 --linear torch onednn

Variants (all run the full HMR2 forward: encoder + SMPL head):
- base: the unmerged model, 192 tokens in every block;
- eclm: a fixed layer merge removing depth/8 blocks (vit_h 32 -> 28, the depth the paper reports; the runs are
  the top ones, which blocks does not change the time);
- tome: Mask-ToMe, budget 90 (40/40/22 merged in blocks 0-2), real person masks from footage;
- both: ECLM + Mask-ToMe;
- ideal: the both-variant's token counts with none of the merging work (tokens simply dropped, no bias): the
  floor that matching, keys and proportional attention add to.
Runs are interleaved (one of each variant per round) after one warm-up round; each cell is the median, and
"per-round speed-up" is the median of base/variant within each round (robust to load from other processes
drifting between rounds). --linear runs every variant with torch's default linear kernel and/or oneDNN's
(accel/cpu_linear.py, the node's CPU default), interleaved too; "speed-up" compares within one kernel, "vs torch
base" against the unmerged model on torch's default kernel (the stock PyTorch HMR2.0). MACs are
counted by torch's flop counter on the meta device (matmuls and attention products). "matching" is the time of
the bipartite merges alone (same shapes), as a share of the both-variant's time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench.vit_forward import random_model
from fasthmr_ros.model.eclm import merged_blocks
from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.model.tome import MergeState, TokenMergingConfig, bipartite_merge, forward_merged, merge_schedule
from fasthmr_ros.runtime.cpu_linear import use_cpu_linear
from fasthmr_ros.runtime.torch_speed import apply_precision


def eclm_runs(depth: int) -> list[tuple[int, int]]:
    """Remove depth // 8 blocks with merges of 3 blocks (2 removed each), from the top down."""
    removed = depth // 8
    runs, top = [], depth - 1
    while removed > 0:
        size = min(3, removed + 1)
        runs.append((top - size + 1, top))
        removed -= size - 1
        top -= size
    return sorted(runs)


def layer_merged(model: HMR2, runs: list[tuple[int, int]]) -> HMR2:
    """A model sharing `model`'s modules except the merged blocks."""
    with torch.device("meta"):
        shell = HMR2(model.config)
    shell.smpl_head = model.smpl_head
    shell.backbone.patch_embed = model.backbone.patch_embed
    shell.backbone.pos_embed = model.backbone.pos_embed
    shell.backbone.last_norm = model.backbone.last_norm
    shell.backbone.blocks = nn.ModuleList(merged_blocks(list(model.backbone.blocks), runs))
    return shell.eval()


def ideal_forward(model: HMR2, images: torch.Tensor, schedule: tuple[int, ...]):
    """Same token counts as Mask-ToMe, no matching: tokens are cut after each merging block's attention."""
    x = model.backbone.embed(images)
    for index, block in enumerate(model.backbone.blocks):
        x = block.attention_residual(x)
        if index < len(schedule):
            x = x[:, : x.shape[1] - schedule[index]]
        x = block.mlp_residual(x)
    return model.head_from_tokens(model.backbone.last_norm(x))


def matching_only(model: HMR2, masks: torch.Tensor, config: TokenMergingConfig) -> Callable[[], object]:
    """The bipartite merges of one forward pass on random tokens of the right shapes."""
    backbone = model.backbone.config
    batch, tokens = masks.shape[0], backbone.num_patches
    schedule = merge_schedule(tokens, config)
    inputs, count = [], tokens
    for merge in schedule:
        x = torch.randn(batch, count, backbone.embed_dim)
        inputs.append((x, torch.randn(batch, count, backbone.embed_dim // backbone.num_heads), merge))
        count -= merge

    def run() -> None:
        state = MergeState.start(masks.reshape(batch, -1), torch.float32)
        for x, metric, merge in inputs:
            state = MergeState(state.sizes[:, : x.shape[1]], state.person[:, : x.shape[1]], state.person_merges)
            bipartite_merge(x, metric, state, merge, config)

    return run


def variant_functions(
    model: HMR2, masks: torch.Tensor, linear: str = "torch"
) -> dict[str, Callable[[torch.Tensor], object]]:
    """linear: "torch" | "onednn" (the float32 kernel) | "bf16" (encoder in bfloat16, head float32: what
    `precision: bf16` runs; images are cast inside)."""
    config = TokenMergingConfig()
    dtype = apply_precision(model, "bf16") if linear == "bf16" else torch.float32
    eclm = layer_merged(model, eclm_runs(len(model.backbone.blocks)))
    if linear != "bf16":
        for module in (model, eclm):
            use_cpu_linear(module, linear)
    schedule = merge_schedule(model.config.backbone.num_patches, config)
    functions: dict[str, Callable[[torch.Tensor], object]] = {
        "base": model,
        "eclm": eclm,
        "tome": lambda images: forward_merged(model, images, masks, config),
        "both": lambda images: forward_merged(eclm, images, masks, config),
        "ideal": partial(ideal_forward, eclm, schedule=schedule),
    }
    return {key: (lambda images, fn=fn: fn(images.to(dtype))) for key, fn in functions.items()}


def gmacs_per_person(name: str, mask: torch.Tensor) -> dict[str, float]:
    """Multiply-accumulates of one crop per variant (flop counter on the meta device: matmuls, conv, attention)."""
    with torch.device("meta"):
        model = HMR2(name).eval()
        result = {}
        for key, fn in variant_functions(model, mask.to("meta")).items():
            with FlopCounterMode(display=False) as counter:
                fn(torch.empty(1, 3, 256, 192))
            result[key] = counter.get_total_flops() / 2e9
    return result


def real_masks(count: int) -> torch.Tensor:
    """Person token masks of real crops (Sports2D, MediaPipe masks), repeated to `count`."""
    from fasthmr_ros.footage import fetch
    from fasthmr_ros.paths import footage_dir
    from fasthmr_ros.perception.footage_crops import crops_from_videos

    fetch(["sports2d_demo.mp4"])
    crops = crops_from_videos([footage_dir() / "sports2d_demo.mp4"], frames_per_video=max(8, 2 * count), max_people=1)
    if crops.token_masks is None:
        raise RuntimeError("no person masks came back from the detector")
    return crops.token_masks[torch.arange(count) % len(crops)]


def time_config(name: str, batches: list[int], repeats: int, masks_all: torch.Tensor, linears: list[str]) -> None:
    macs = gmacs_per_person(name, masks_all[:1])
    with torch.device("meta"):
        shape_only = HMR2(name)  # for shapes and counts; no weights
    schedule = merge_schedule(shape_only.config.backbone.num_patches, TokenMergingConfig())
    model_depth = shape_only.config.backbone.depth
    # one model per kernel, built once: switching a shared model's kernels between runs would also be timed
    models = {linear: random_model(name) for linear in linears}
    for batch in batches:
        masks = masks_all[:batch]
        images = torch.randn(batch, 3, 256, 192)
        variants = {
            (linear, key): fn
            for linear in linears
            for key, fn in variant_functions(models[linear], masks, linear).items()
        }
        with torch.inference_mode():
            times: dict[tuple[str, str], list[float]] = {key: [] for key in variants}
            match = matching_only(shape_only, masks, TokenMergingConfig())
            match_times = []
            for round_index in range(repeats + 1):
                for key, fn in variants.items():
                    start = time.perf_counter()
                    fn(images)
                    if round_index:
                        times[key].append(time.perf_counter() - start)
                start = time.perf_counter()
                match()
                if round_index:
                    match_times.append(time.perf_counter() - start)
        median = {key: 1e3 * statistics.median(values) for key, values in times.items()}
        matching_ms = 1e3 * statistics.median(match_times)
        stock = median[(linears[0], "base")]
        for linear, key in variants:
            base = median[(linear, "base")]
            blocks = model_depth - removed_blocks(model_depth) if key in ("eclm", "both", "ideal") else model_depth
            tokens = f"192->{192 - sum(schedule)}" if key in ("tome", "both", "ideal") else "192"
            extra = f"{100 * matching_ms / median[(linear, 'both')]:.1f}%" if key == "both" else ""
            per_round = statistics.median(
                b / v for b, v in zip(times[(linear, "base")], times[(linear, key)], strict=True)
            )
            cells = [
                name, batch, linear, key, blocks, tokens, f"{macs[key]:.1f}", f"{macs['base'] / macs[key]:.2f}x",
                f"{median[(linear, key)]:.0f}", f"{median[(linear, key)] / batch:.0f}",
                f"{base / median[(linear, key)]:.2f}x", f"{per_round:.2f}x",
                f"{stock / median[(linear, key)]:.2f}x", extra,
            ]  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)


def removed_blocks(depth: int) -> int:
    return sum(last - first for first, last in eclm_runs(depth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["vit_h"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (after one warm-up round)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--linear",
        nargs="+",
        choices=["torch", "onednn", "bf16"],
        default=["torch", "onednn"],
        help="linear-layer kernels to time (bf16: the encoder in bfloat16, `precision: bf16`); the first is the "
        "reference of 'vs <first> base'",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    masks = real_masks(max(args.batches))
    print(f"threads {torch.get_num_threads()}, person tokens per crop {masks.reshape(len(masks), -1).sum(1).tolist()}")
    columns = ["config", "batch", "linear", "variant", "blocks", "tokens", "GMAC/person", "MAC ratio", "ms",
               "ms/person", "speed-up", "per-round speed-up", f"vs {args.linear[0]} base", "matching"]  # fmt: skip
    print("| " + " | ".join(columns) + " |")
    print("|---" * len(columns) + "|")
    for name in args.configs:
        time_config(name, args.batches, args.repeats, masks, args.linear)


if __name__ == "__main__":
    main()
