"""MACs per person for base / ECLM / Mask-ToMe / both, counted from the model config alone, next to the paper's.

    python -m bench.encoder_macs                           # vit_h, each figure also checked with torch's flop counter
    python -m bench.encoder_macs --configs vit_h vit_b --no-check

Counted from BackboneConfig and HeadConfig with the Mask-ToMe schedule (`merge_schedule`, 40/40/22 for vit_h) and
the ECLM depth: merging sits between a block's attention and its MLP, so a merging block's attention runs on the
tokens before its merge and its MLP on those after; an ECLM-merged run is one block of the usual shape, so only the
block count matters (depth - depth // 8: vit_h 32 -> 28, the paper's depth, as in bench/encoder_speedup.py). Two
ways of counting, both printed: "layers" = the linear layers and the patch conv; "all" adds the attention products
(QK^T and AV in every block and in the head). Mask-ToMe's similarity products (a few MMAC) are left out; the flop
counter check shows them as its difference.

Which figures are the paper's (Tab. 12: 122.6 / 107.5 / 52.8 GMAC for base / ECLM / ECLM + Mask-ToMe): the whole
model, encoder + SMPL head, counted as layers (vit_h: 122.5 / 107.4 / 52.8); the encoder alone is 121.0 / 105.9 /
52.1 as layers and 124.0 / 108.5 / 52.8 with the attention products, and bench/encoder_speedup.py prints the whole
model with them (125.5 / 110.1 / 60.7 / 53.5, Mask-ToMe alone included).

"The remaining 10": the paper's text has the last merging layer merge the remaining 10 tokens, but 40 + 40 merges
leave 112 of the 192 tokens and the fixed budget of 90 needs 22 more, so our figures count 40/40/22 (the third
merging block merges 22 tokens, the other 25 of the 28 ECLM blocks run at 90), which is the schedule that gives
the paper's own 52.8 GMAC (the "40/40/10" row, ending at 102 tokens, does not).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from fasthmr_ros.model.configs import HMRConfig, get_config
from fasthmr_ros.model.tome import TokenMergingConfig, merge_schedule

PAPER_GMAC = {"vit_h": {"base": 122.6, "eclm": 107.5, "both": 52.8}}  # FastHMR Tab. 12 (HMR2.0)


@dataclass(frozen=True)
class Macs:
    """GMAC of one crop, split by part (encoder, head) and by kind (layers, attention products)."""

    encoder_layers: float
    encoder_attention: float
    head_layers: float
    head_attention: float

    @property
    def encoder_all(self) -> float:
        return self.encoder_layers + self.encoder_attention

    @property
    def model_layers(self) -> float:
        return self.encoder_layers + self.head_layers

    @property
    def model_all(self) -> float:
        return self.model_layers + self.encoder_attention + self.head_attention


def eclm_depth(depth: int) -> int:
    return depth - depth // 8


def count_macs(config: HMRConfig, depth: int, schedule: tuple[int, ...]) -> Macs:
    """MACs for `depth` encoder blocks whose first len(schedule) blocks merge schedule[i] tokens each."""
    backbone, head = config.backbone, config.head
    dim, hidden = backbone.embed_dim, int(backbone.embed_dim * backbone.mlp_ratio)
    tokens = backbone.num_patches
    layers = tokens * 3 * backbone.patch_size**2 * dim  # the patch conv
    attention = 0
    for index in range(depth):
        after = tokens - (schedule[index] if index < len(schedule) else 0)
        layers += tokens * 4 * dim * dim + after * 2 * dim * hidden  # qkv + proj before the merge, fc1 + fc2 after
        attention += 2 * tokens * tokens * dim  # QK^T and AV over all heads
        tokens = after
    inner = head.heads * head.dim_head
    # one query token; the cross-attention's keys and values come from every encoder token
    per_layer = head.dim * 3 * inner + inner * head.dim + tokens * dim * 2 * inner + head.dim * inner
    per_layer += inner * head.dim + 2 * head.dim * head.mlp_dim
    head_layers = head.depth * per_layer + head.dim * (1 + head.npose + head.num_betas + 3)
    head_attention = head.depth * (2 * inner + 2 * tokens * inner)
    return Macs(layers / 1e9, attention / 1e9, head_layers / 1e9, head_attention / 1e9)


def variants(config: HMRConfig) -> dict[str, tuple[int, tuple[int, ...]]]:
    """name -> (encoder blocks, tokens merged per block)."""
    depth = config.backbone.depth
    schedule = merge_schedule(config.backbone.num_patches, TokenMergingConfig())
    variants = {
        "base": (depth, ()),
        "eclm": (eclm_depth(depth), ()),
        "tome": (depth, schedule),
        "both": (eclm_depth(depth), schedule),
    }
    if len(schedule) == 3:  # the paper's "remaining 10" read literally: 40/40/10, ending at 102 tokens
        variants["both 40/40/10"] = (eclm_depth(depth), (*schedule[:2], 10))
    return variants


def counted_by_torch(config: HMRConfig, name: str) -> Macs:
    """The same split from torch's flop counter on the meta device, running the variant's real forward pass."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from bench.encoder_speedup import variant_functions
    from fasthmr_ros.model.hmr2 import HMR2

    image_shape = (1, 3, config.backbone.image_height, config.backbone.image_width)
    with torch.device("meta"):
        model = HMR2(config).eval()
        masks = torch.zeros(1, config.backbone.num_patches, dtype=torch.bool)  # all background: the fixed schedule
        with FlopCounterMode(display=False) as counter:
            variant_functions(model, masks)[name](torch.empty(image_shape))
    counts = counter.get_flop_counts()
    head_key = next(k for k in counts if k in ("HMR2.smpl_head", "SMPLHead"))

    def split(ops) -> tuple[float, float]:
        attention = sum(v for op, v in ops.items() if "bmm" in str(op) or "attention" in str(op))
        return (sum(ops.values()) - attention) / 2e9, attention / 2e9

    model_layers, model_attention = split(counts["Global"])
    head_layers, head_attention = split(counts[head_key])
    return Macs(model_layers - head_layers, model_attention - head_attention, head_layers, head_attention)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["vit_h"])
    parser.add_argument("--no-check", action="store_true", help="skip the flop counter check (no torch forward)")
    args = parser.parse_args()
    header = (
        "| config | variant | blocks | tokens | encoder, layers | encoder, all | model, layers | model, all "
        "| paper (Tab. 12) | flop counter - ours (model, all) |"
    )
    print(header)
    print("|" + "---|" * header.count(" | ") + "---|")
    for name in args.configs:
        config = get_config(name)
        for variant, (depth, schedule) in variants(config).items():
            macs = count_macs(config, depth, schedule)
            tokens = config.backbone.num_patches
            shown = f"{tokens}->{tokens - sum(schedule)}" if schedule else str(tokens)
            paper = PAPER_GMAC.get(name, {}).get(variant)
            check = ""
            if not args.no_check and variant in ("base", "eclm", "tome", "both"):
                counted = counted_by_torch(config, variant)
                check = f"{counted.model_all - macs.model_all:+.3f}"
                # the counter runs the real forward: any gap beyond the similarity products is a counting error
                assert abs(counted.model_layers - macs.model_layers) < 1e-6, (variant, counted, macs)
            print(
                f"| {name} | {variant} | {depth} | {shown} | {macs.encoder_layers:.1f} | {macs.encoder_all:.1f} "
                f"| {macs.model_layers:.1f} | {macs.model_all:.1f} | {paper if paper else '-'} | {check} |"
            )
    print("GMAC per person (crop 256x192). layers = linear layers + patch conv; all = + attention products;")
    print("model = encoder + SMPL head. The paper's figures are 'model, layers'.")


if __name__ == "__main__":
    main()
