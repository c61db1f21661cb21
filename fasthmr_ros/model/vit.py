"""The HMR2.0 image encoder: a plain ViT (ViTPose-H in the official model) on the 256x192 person crop.

Parameter names follow 4D-Humans' `hmr2/models/backbones/vit.py` (pos_embed, patch_embed.proj, blocks.i.{norm1,
attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, last_norm) so the official checkpoint loads strictly.

Structure kept open for the accelerations that come later:
- `blocks` is an nn.ModuleList whose length is read at run time, so ECLM can replace runs of blocks by one merged
  block without touching this code.
- Each Block exposes its two residual halves (`attention_residual`, `mlp_residual`); a token-merging encoder
  (Mask-ToMe) runs them itself and merges tokens in between. `attention_residual` can return the keys (ToMe's
  similarity) and takes an additive attention bias (ToMe's proportional attention: log token sizes).
- `forward` returns tokens (B, N, C), not the official (B, C, 16, 12) map: after merging there is no grid, and
  the SMPL head only needs a token sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fasthmr_ros.model.configs import BackboneConfig


class PatchEmbed(nn.Module):
    """16x16 patch conv with padding 2: (B, 3, 256, 192) -> (B, 192, C) tokens in row-major grid order."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        self.proj = nn.Conv2d(
            3,
            config.embed_dim,
            kernel_size=config.patch_size,
            stride=config.patch_size,
            padding=config.patch_padding,
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, attn_bias: torch.Tensor | None = None, return_keys: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """x (B, N, C) -> (B, N, C); with return_keys also the keys (B, heads, N, head_dim).

        attn_bias is added to the attention logits (broadcast to (B, heads, N, N)); the scale is head_dim**-0.5,
        scaled_dot_product_attention's default, as in the official model.
        """
        batch, tokens, _ = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)
        out = self.proj(out.transpose(1, 2).reshape(batch, tokens, -1))
        return (out, k) if return_keys else out


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact (erf) GELU, as the official model
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-LN transformer block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        dim = config.embed_dim
        self.norm1 = nn.LayerNorm(dim, eps=config.norm_eps)
        self.attn = Attention(dim, config.num_heads, config.qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=config.norm_eps)
        self.mlp = Mlp(dim, int(dim * config.mlp_ratio))

    def attention_residual(
        self, x: torch.Tensor, attn_bias: torch.Tensor | None = None, return_keys: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if return_keys:
            out, keys = self.attn(self.norm1(x), attn_bias, return_keys=True)
            return x + out, keys
        return x + self.attn(self.norm1(x), attn_bias)

    def mlp_residual(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm2(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp_residual(self.attention_residual(x))


class ViT(nn.Module):
    def __init__(self, config: BackboneConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed(config)
        # One slot more than patches: the pretrained ViTPose had a cls token. There is no cls token here; the
        # cls slot is added to every patch embedding instead (see embed()).
        self.pos_embed = nn.Parameter(torch.zeros(1, config.num_patches + 1, config.embed_dim))
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.depth))
        self.last_norm = nn.LayerNorm(config.embed_dim, eps=config.norm_eps)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random init (truncated normal 0.02 for pos_embed and linears, as ViTPose); checkpoints overwrite it."""
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, 256, 192) normalised crops -> (B, 192, C) patch tokens with position embeddings."""
        expected = (3, self.config.image_height, self.config.image_width)
        if images.dim() != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"ViT expects images (B, {', '.join(map(str, expected))}), got {tuple(images.shape)}")
        tokens = self.patch_embed(images)
        return tokens + self.pos_embed[:, 1:] + self.pos_embed[:, :1]

    def forward_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Run every block and last_norm on (B, N, C) tokens."""
        for block in self.blocks:
            tokens = block(tokens)
        return self.last_norm(tokens)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, 256, 192) -> (B, 192, C) tokens (row-major over the 16x12 grid)."""
        return self.forward_tokens(self.embed(images))
