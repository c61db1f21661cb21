"""Where a ViT block's time goes at the token counts Mask-ToMe produces: attention vs MLP, with and without the
proportional-attention bias, and time per token (does CPU time fall as fast as the MACs?).

    python -m bench.block_breakdown --config vit_h --batches 1 8 --repeats 9

One block of the config (random weights), inputs of 192/152/112/90 tokens; attention half = norm1 + qkv +
scaled_dot_product_attention + proj (+ residual), MLP half = norm2 + fc1 + GELU + fc2 (+ residual). Interleaved,
median of --repeats after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
from functools import partial

import torch

from fasthmr_ros.model.configs import get_config
from fasthmr_ros.model.vit import Block

TOKENS = (192, 152, 112, 90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="vit_h")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = get_config(args.config).backbone
    torch.manual_seed(0)
    block = Block(config).eval()
    dim = config.embed_dim
    print(f"{args.config} block, {torch.get_num_threads()} thread(s)")
    print("| batch | tokens | attention (ms) | attention + bias (ms) | MLP (ms) | attention share | ms/token | "
          "MACs/token vs 192 | time/token vs 192 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for batch in args.batches:
        inputs = {n: torch.randn(batch, n, dim) for n in TOKENS}
        biases = {n: torch.rand(batch, 1, 1, n).add(1).log() for n in TOKENS}
        cases = {}
        for n in TOKENS:
            x, bias = inputs[n], biases[n]
            cases[(n, "attn")] = partial(block.attention_residual, x)
            cases[(n, "bias")] = partial(block.attention_residual, x, bias)
            cases[(n, "mlp")] = partial(block.mlp_residual, x)
        times: dict[tuple[int, str], list[float]] = {key: [] for key in cases}
        with torch.inference_mode():
            for round_index in range(args.repeats + 1):
                for key, fn in cases.items():
                    start = time.perf_counter()
                    fn()
                    if round_index:
                        times[key].append(time.perf_counter() - start)
        ms = {key: 1e3 * statistics.median(values) for key, values in times.items()}

        def macs_per_token(n: int) -> float:
            return 12 * dim * dim + 2 * n * dim  # linears + the two attention products

        base = (ms[(192, "attn")] + ms[(192, "mlp")]) / 192
        for n in TOKENS:
            total = ms[(n, "attn")] + ms[(n, "mlp")]
            cells = [
                batch, n, f"{ms[(n, 'attn')]:.1f}", f"{ms[(n, 'bias')]:.1f}", f"{ms[(n, 'mlp')]:.1f}",
                f"{ms[(n, 'attn')] / total:.0%}", f"{total / n / batch:.3f}",
                f"{macs_per_token(n) / macs_per_token(192):.3f}", f"{total / n / base:.3f}",
            ]  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    main()
