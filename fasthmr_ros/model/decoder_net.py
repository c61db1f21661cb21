"""The decoder's denoising network: a small causal transformer over a track's window of per-frame estimates, with
a look-ahead embedding (model/decoder.py puts it to work)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from fasthmr_ros.model.skeleton import NUM_JOINTS

REPRESENTATIONS = ("rot6d_delta", "rot6d_residual", "rot6d", "axis_angle_residual")


@dataclass
class DecoderConfig:
    window: int = 32
    d_model: int = 128
    layers: int = 3
    heads: int = 4
    ffn: int = 256
    max_lookahead: int = 8
    representation: str = "rot6d_delta"
    filter_taps: int = 16  # > 0 (rot6d_delta only): learned linear temporal filter as a skip path, this many taps
    token_dim: int = 0  # > 0: per-frame HMR head tokens are a second conditioning input (paired-data variant)
    num_train_steps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    inference_steps: int = 1

    def __post_init__(self) -> None:
        if self.representation not in REPRESENTATIONS:
            raise ValueError(f"unknown decoder representation {self.representation!r}; choose one of {REPRESENTATIONS}")
        if self.filter_taps and self.representation != "rot6d_delta":
            raise ValueError("filter_taps needs representation 'rot6d_delta' (the filter works on 6D features)")
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")

    @property
    def pose_dim(self) -> int:
        return NUM_JOINTS * (3 if self.representation.startswith("axis_angle") else 6)


class _Block(nn.Module):
    """Pre-norm transformer block with a learned relative-position attention bias (initialised like ALiBi, so each
    head starts out looking at its recent frames with its own width); `mask` (B,1,L,L) bool, True = allowed."""

    def __init__(self, d_model: int, heads: int, ffn: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.window = window
        slopes = 2.0 ** (-8.0 * torch.arange(1, heads + 1) / heads)
        distance = (torch.arange(2 * window - 1) - (window - 1)).abs().float()
        self.relative_bias = nn.Parameter(-slopes[:, None] * distance[None])  # (heads, 2W-1), index i - j + W - 1
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn), nn.GELU(), nn.Linear(ffn, d_model))

    def forward(self, h: torch.Tensor, mask: torch.Tensor, query: torch.Tensor | None = None) -> torch.Tensor:
        """h (B,L,d) -> (B,L,d); with `query` (B,) only that row per window is computed and returned (B,1,d)."""
        batch, length, width = h.shape
        q, k, v = self.qkv(self.norm1(h)).reshape(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        index = torch.arange(length, device=h.device)
        bias = self.relative_bias[:, index[:, None] - index[None, :] + self.window - 1]  # (heads, L, L)
        attn_bias = bias[None].masked_fill(~mask, float("-inf"))
        if query is not None:  # streaming needs one output frame per person: skip the other rows
            rows = torch.arange(batch, device=h.device)
            h = h[rows, query][:, None]
            q = q[rows, :, query][:, :, None]
            attn_bias = attn_bias[rows, :, query][:, :, None]
            length = 1
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_bias)
        h = h + self.proj(attended.transpose(1, 2).reshape(batch, length, width))
        return h + self.ffn(self.norm2(h))


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (B,) -> (B, dim) of integer timesteps."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat((angles.sin(), angles.cos()), dim=-1)


class TemporalDenoiser(nn.Module):
    """Causal transformer over a window of frames: (noisy x_t, HMR 6D pose [, token]) per frame -> v per frame."""

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        # Per frame: noisy x_t, the HMR pose (6D) and its change since the previous frame of the window.
        self.input = nn.Linear(config.pose_dim + 2 * NUM_JOINTS * 6, d)
        self.token_input = nn.Linear(config.token_dim, d) if config.token_dim > 0 else None
        self.position = nn.Parameter(torch.randn(config.window, d) * 0.02)
        self.lookahead = nn.Embedding(config.max_lookahead + 1, d)
        self.time = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(_Block(d, config.heads, config.ffn, config.window) for _ in range(config.layers))
        self.norm = nn.LayerNorm(d)
        self.output = nn.Linear(d, config.pose_dim)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def forward(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        condition: torch.Tensor,
        lengths: torch.Tensor,
        lookahead: torch.Tensor,
        tokens: torch.Tensor | None = None,
        query: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x_t (B,L,pose_dim), t (B,), condition (B,L,144), lengths (B,), lookahead (B,) -> v (B,L,pose_dim).

        Output i sees frames <= i + lookahead.

        query (B,): compute only that frame of each window (the last block skips the rest) -> v (B,1,pose_dim).
        """
        length = x_t.shape[1]
        if length > self.config.window:
            raise ValueError(f"decoder window holds {self.config.window} frames, got {length}")
        change = torch.cat((torch.zeros_like(condition[:, :1]), condition[:, 1:] - condition[:, :-1]), dim=1)
        h = self.input(torch.cat((x_t, condition, change), dim=-1)) + self.position[:length]
        if self.token_input is not None:
            if tokens is None:
                raise ValueError(
                    f"this decoder is conditioned on HMR head tokens (dim {self.config.token_dim}); "
                    "pass tokens to update()/forward()"
                )
            h = h + self.token_input(tokens)
        h = h + (self.time(timestep_embedding(t, self.config.d_model)) + self.lookahead(lookahead))[:, None]
        last = len(self.blocks) - 1
        for n, block in enumerate(self.blocks):
            reach = torch.div(lookahead + n, len(self.blocks), rounding_mode="floor")  # sums to k over the blocks
            h = block(h, attention_mask(length, lengths, reach), query if n == last else None)
        return self.output(self.norm(h))


def attention_mask(length: int, lengths: torch.Tensor, reach: torch.Tensor) -> torch.Tensor:
    """(B,1,L,L) bool: query i may attend key j iff j <= i + reach and j is a real (not padded) frame."""
    index = torch.arange(length, device=lengths.device)
    causal = index[None, None, :] <= index[None, :, None] + reach[:, None, None]
    real = index[None, None, :] < lengths[:, None, None]
    return (causal & real)[:, None]
