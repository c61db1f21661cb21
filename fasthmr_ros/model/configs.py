"""Model configurations: the official HMR2.0 ViT-H (`vit_h`) and smaller models of the same architecture.

vit_h reproduces the public 4D-Humans model (ViTPose-H backbone + 6-layer transformer-decoder SMPL head) so the
official checkpoint loads with strict key checks. The small configs keep every structural choice (patch conv with
padding 2 on a 256x192 crop, pos_embed with a cls slot, pre-LN blocks, last_norm, one zero-input query, 6D pose
added to mean parameters); only widths and depths shrink. They are for CPU robots, tests and the embedded model.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackboneConfig:
    embed_dim: int = 1280
    depth: int = 32
    num_heads: int = 16
    mlp_ratio: float = 4.0
    patch_size: int = 16
    # ViTPose's PatchEmbed pads by 2 (4 + 2*(ratio//2 - 1) with ratio 1), giving a 16x12 grid on 256x192.
    patch_padding: int = 2
    image_height: int = 256
    image_width: int = 192
    qkv_bias: bool = True
    norm_eps: float = 1e-6

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of the token grid the patch conv produces."""
        rows = (self.image_height + 2 * self.patch_padding - self.patch_size) // self.patch_size + 1
        cols = (self.image_width + 2 * self.patch_padding - self.patch_size) // self.patch_size + 1
        return rows, cols

    @property
    def num_patches(self) -> int:
        rows, cols = self.grid
        return rows * cols


@dataclass(frozen=True)
class HeadConfig:
    """The SMPL transformer-decoder head (4D-Humans `SMPLTransformerDecoderHead` with `TransformerDecoder`)."""

    dim: int = 1024
    depth: int = 6
    heads: int = 8
    dim_head: int = 64
    mlp_dim: int = 1024
    num_body_joints: int = 23  # plus the global orientation: 24 rotations in the 6D readout
    num_betas: int = 10
    norm_eps: float = 1e-5  # torch's LayerNorm default, as in the official head

    @property
    def npose(self) -> int:
        return 6 * (self.num_body_joints + 1)


@dataclass(frozen=True)
class HMRConfig:
    name: str
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head: HeadConfig = field(default_factory=HeadConfig)
    # Camera model the crop-level prediction assumes (4D-Humans EXTRA.FOCAL_LENGTH for a 256 px crop).
    crop_focal_length: float = 5000.0
    crop_size: int = 256


CONFIGS: dict[str, HMRConfig] = {
    "vit_h": HMRConfig("vit_h"),
    "vit_b": HMRConfig("vit_b", BackboneConfig(embed_dim=768, depth=12, num_heads=12)),
    "vit_s": HMRConfig("vit_s", BackboneConfig(embed_dim=384, depth=12, num_heads=6)),
    # tiny also narrows the head (256 wide, 2 layers, 4 heads of 64): the official head on a 192-wide context has
    # 32.9 M parameters, ~11x this backbone, which defeats a test/demo model.
    "tiny": HMRConfig(
        "tiny",
        BackboneConfig(embed_dim=192, depth=6, num_heads=3),
        HeadConfig(dim=256, depth=2, heads=4, dim_head=64, mlp_dim=512),
    ),
    # micro: the embedded synthetic-data demo model (fasthmr train): 4 blocks of 128 wide and tiny's head, 2.4 M
    # parameters, about 3x cheaper than tiny to train and run on a CPU (measurements in docs/synth.md).
    "micro": HMRConfig(
        "micro",
        BackboneConfig(embed_dim=128, depth=4, num_heads=2),
        HeadConfig(dim=256, depth=2, heads=4, dim_head=64, mlp_dim=512),
    ),
}


def get_config(config: str | HMRConfig) -> HMRConfig:
    """A config by name (one of CONFIGS) or passed through."""
    if isinstance(config, HMRConfig):
        return config
    if config not in CONFIGS:
        raise ValueError(f"unknown model config {config!r}: choose one of {', '.join(CONFIGS)}")
    return CONFIGS[config]
