"""The HMR2.0 SMPL head: a transformer decoder with one query token cross-attending to the image tokens.

Parameter names follow 4D-Humans (`hmr2/models/heads/smpl_head.py`, `components/pose_transformer.py`):
transformer.to_token_embedding, transformer.pos_embedding, transformer.transformer.layers.i.{0,1,2}.{norm,fn.*}
with self-attention fn.to_qkv/fn.to_out.0, cross-attention fn.to_q/fn.to_kv/fn.to_out.0, feed-forward
fn.net.0/fn.net.3; readouts decpose/decshape/deccam; buffers init_body_pose/init_betas/init_cam.

The readouts are residuals on the mean parameters (init_*). The official buffers come from SPIN's
smpl_mean_params.npz, which we do not have: by default the pose is identity for all 24 joints, betas are zero
and the camera is (s, tx, ty) = (0.9, 0, 0) (SPIN's mean camera). Loading a checkpoint overwrites all three.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fasthmr_ros.model.configs import HeadConfig

DEFAULT_INIT_CAM = (0.9, 0.0, 0.0)


@dataclass
class HeadOutput:
    pose_6d: torch.Tensor  # (B, 6*24), global orientation first, HMR2.0 6D layout
    betas: torch.Tensor  # (B, num_betas)
    cam: torch.Tensor  # (B, 3) = (s, tx, ty) in the crop
    token: torch.Tensor  # (B, dim) decoder output the readouts see (the diffusion decoder's condition)


class Sublayer(nn.Module):
    """Pre-norm wrapper: fn(norm(x)); the caller adds the residual."""

    def __init__(self, dim: int, fn: nn.Module, eps: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor | None) -> torch.Tensor:
        return self.fn(self.norm(x), **kwargs)


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    batch, tokens, inner = x.shape
    return x.reshape(batch, tokens, heads, inner // heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    batch, heads, tokens, dim_head = x.shape
    return x.transpose(1, 2).reshape(batch, tokens, heads * dim_head)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, context_dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.heads = heads
        self.to_kv = nn.Linear(context_dim, 2 * heads * dim_head, bias=False)
        self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_bias: torch.Tensor | None = None) -> torch.Tensor:
        """context_bias (B, N): added to the logits of every query for context token n (e.g. log token sizes)."""
        k, v = (_split_heads(t, self.heads) for t in self.to_kv(context).chunk(2, dim=-1))
        q = _split_heads(self.to_q(x), self.heads)
        mask = None if context_bias is None else context_bias[:, None, None, :].to(q.dtype)
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=mask)))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        # Indices 0 and 3 carry the weights in the official layout (2 was a Dropout(0) there).
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Identity(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DecoderLayers(nn.Module):
    def __init__(self, config: HeadConfig, context_dim: int) -> None:
        super().__init__()
        dim, eps = config.dim, config.norm_eps
        self.layers = nn.ModuleList(
            nn.ModuleList(
                (
                    Sublayer(dim, SelfAttention(dim, config.heads, config.dim_head), eps),
                    Sublayer(dim, CrossAttention(dim, context_dim, config.heads, config.dim_head), eps),
                    Sublayer(dim, FeedForward(dim, config.mlp_dim), eps),
                )
            )
            for _ in range(config.depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_bias: torch.Tensor | None = None) -> torch.Tensor:
        for self_attn, cross_attn, feed_forward in self.layers:
            x = self_attn(x) + x
            x = cross_attn(x, context=context, context_bias=context_bias) + x
            x = feed_forward(x) + x
        return x


class QueryDecoder(nn.Module):
    """One query token from a zero input: Linear(1 -> dim) + pos_embedding, then the decoder layers."""

    def __init__(self, config: HeadConfig, context_dim: int) -> None:
        super().__init__()
        self.to_token_embedding = nn.Linear(1, config.dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, 1, config.dim))
        self.transformer = DecoderLayers(config, context_dim)

    def forward(self, context: torch.Tensor, context_bias: torch.Tensor | None = None) -> torch.Tensor:
        """context (B, N, context_dim) -> (B, dim)."""
        zero_input = context.new_zeros(context.shape[0], 1, 1)
        query = self.to_token_embedding(zero_input) + self.pos_embedding
        return self.transformer(query, context, context_bias).squeeze(1)


class SMPLHead(nn.Module):
    def __init__(self, config: HeadConfig, context_dim: int) -> None:
        super().__init__()
        self.config = config
        self.transformer = QueryDecoder(config, context_dim)
        self.decpose = nn.Linear(config.dim, config.npose)
        self.decshape = nn.Linear(config.dim, config.num_betas)
        self.deccam = nn.Linear(config.dim, 3)
        identity_6d = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(config.num_body_joints + 1)
        self.register_buffer("init_body_pose", identity_6d[None])
        self.register_buffer("init_betas", torch.zeros(1, config.num_betas))
        self.register_buffer("init_cam", torch.tensor([DEFAULT_INIT_CAM]))

    def forward(self, tokens: torch.Tensor, context_bias: torch.Tensor | None = None) -> HeadOutput:
        """tokens (B, N, context_dim) for any N (merged encoders give fewer than 192)."""
        token = self.transformer(tokens, context_bias)
        return HeadOutput(
            pose_6d=self.decpose(token) + self.init_body_pose,
            betas=self.decshape(token) + self.init_betas,
            cam=self.deccam(token) + self.init_cam,
            token=token,
        )
