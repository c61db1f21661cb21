"""CPU time of one HMR2 forward pass (ViT encoder + SMPL head) per config and batch size, random weights.

    python -m bench.vit_forward                       # vit_h, vit_b, vit_s, tiny at batch 1 and 8
    python -m bench.vit_forward --configs vit_h --batches 1 --repeats 3 --threads 2

Weights are random (speed does not depend on their values; they are drawn from N(0, 0.02) so that no denormals
or NaNs from uninitialised memory slow the arithmetic). Each cell is the median of --repeats timed runs after
one warm-up run, all in this one process. The head is also timed alone at batch 1 to show its share.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch
from torch.utils.flop_counter import FlopCounterMode

from fasthmr_ros.model.configs import CONFIGS
from fasthmr_ros.model.hmr2 import HMR2


def random_model(name: str) -> HMR2:
    """A model with random weights, built without the slow truncated-normal init of 670 M values."""
    with torch.device("meta"):
        model = HMR2(name)
    model = model.to_empty(device="cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.normal_(0.0, 0.02, generator=generator)
    return model.eval()


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: first-call allocations and kernel selection
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gmacs_per_person(name: str) -> float:
    """Multiply-accumulates of one forward pass (torch's flop counter on the meta device, attention products
    included)."""
    with torch.device("meta"):
        model = HMR2(name).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, 256, 192))
    return counter.get_total_flops() / 2e9


def time_config(name: str, batches: list[int], repeats: int) -> None:
    """Print one table row per batch size for config `name`."""
    gmacs = gmacs_per_person(name)
    model = random_model(name)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    tokens = torch.randn(1, model.config.backbone.num_patches, model.config.backbone.embed_dim)
    with torch.inference_mode():
        head_ms = 1e3 * median_seconds(partial(model.head_from_tokens, tokens), 3 * repeats)
        for batch in batches:
            ms = 1e3 * median_seconds(partial(model, torch.randn(batch, 3, 256, 192)), repeats)
            cells = [name, f"{params:.1f}", f"{gmacs:.1f}", batch, f"{ms:.0f}", f"{ms / batch:.0f}", f"{head_ms:.1f}"]
            print("| " + " | ".join(map(str, [*cells, repeats])) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per cell for vit_h (others get 3x)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32, CPU")
    print("| config | params (M) | GMAC/person | batch | median (ms) | per person (ms) | head, batch 1 (ms) | runs |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.configs:
        time_config(name, args.batches, args.repeats if name == "vit_h" else 3 * args.repeats)


if __name__ == "__main__":
    main()
