"""Encoder + head latency: base vs ECLM vs Mask-ToMe vs both, side by side in one process (random weights).

    python -m bench.encoder_speedup                                  # vit_h, batch 1 and 8, 1 thread
    python -m bench.encoder_speedup --configs vit_s vit_b --repeats 9

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
drifting between rounds). MACs are
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


def variant_functions(model: HMR2, masks: torch.Tensor) -> dict[str, Callable[[torch.Tensor], object]]:
    config = TokenMergingConfig()
    eclm = layer_merged(model, eclm_runs(len(model.backbone.blocks)))
    schedule = merge_schedule(model.config.backbone.num_patches, config)
    return {
        "base": model,
        "eclm": eclm,
        "tome": lambda images: forward_merged(model, images, masks, config),
        "both": lambda images: forward_merged(eclm, images, masks, config),
        "ideal": partial(ideal_forward, eclm, schedule=schedule),
    }


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
    from fasthmr_ros.footage_crops import crops_from_videos
    from fasthmr_ros.paths import footage_dir

    fetch(["sports2d_demo.mp4"])
    crops = crops_from_videos([footage_dir() / "sports2d_demo.mp4"], frames_per_video=max(8, 2 * count), max_people=1)
    if crops.token_masks is None:
        raise RuntimeError("no person masks came back from the detector")
    return crops.token_masks[torch.arange(count) % len(crops)]


def time_config(name: str, batches: list[int], repeats: int, masks_all: torch.Tensor) -> None:
    macs = gmacs_per_person(name, masks_all[:1])
    model = random_model(name)
    schedule = merge_schedule(model.config.backbone.num_patches, TokenMergingConfig())
    depth, depth_eclm = len(model.backbone.blocks), len(model.backbone.blocks) - name_removed(model)
    for batch in batches:
        masks = masks_all[:batch]
        images = torch.randn(batch, 3, 256, 192)
        variants = variant_functions(model, masks)
        with torch.inference_mode():
            times: dict[str, list[float]] = {key: [] for key in variants}
            match = matching_only(model, masks, TokenMergingConfig())
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
        for key in variants:
            blocks = depth_eclm if key in ("eclm", "both", "ideal") else depth
            tokens = f"192->{192 - sum(schedule)}" if key in ("tome", "both", "ideal") else "192"
            extra = f"{100 * matching_ms / median['both']:.1f}%" if key == "both" else ""
            cells = [
                name, batch, key, blocks, tokens, f"{macs[key]:.1f}", f"{macs['base'] / macs[key]:.2f}x",
                f"{median[key]:.0f}", f"{median[key] / batch:.0f}", f"{median['base'] / median[key]:.2f}x",
                f"{statistics.median(b / v for b, v in zip(times['base'], times[key], strict=True)):.2f}x", extra,
            ]  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)


def name_removed(model: HMR2) -> int:
    return sum(last - first for first, last in eclm_runs(len(model.backbone.blocks)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["vit_h"])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (after one warm-up round)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    masks = real_masks(max(args.batches))
    print(f"threads {torch.get_num_threads()}, person tokens per crop {masks.reshape(len(masks), -1).sum(1).tolist()}")
    columns = ["config", "batch", "variant", "blocks", "tokens", "GMAC/person", "MAC ratio", "ms", "ms/person"]
    print("| " + " | ".join([*columns, "speed-up", "per-round speed-up", "matching"]) + " |")
    print("|---" * 12 + "|")
    for name in args.configs:
        time_config(name, args.batches, args.repeats, masks)


if __name__ == "__main__":
    main()
