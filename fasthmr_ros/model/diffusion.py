"""Streaming diffusion decoder: refines per-frame HMR poses with temporal context and a learned motion prior.

FastHMR (PAPER.md, "Diffusion decoder") denoises 243-frame windows offline. A robot needs the newest frame now, so
this decoder is causal and streaming:

- Each tracked person has a sliding window of its last `window` per-frame HMR estimates (and, optionally, head
  tokens). Frame tokens carry absolute positions counted from the window's oldest frame and attend causally (frame
  i sees frames j <= i). So a window that is still filling is exactly a training prefix: one training window
  teaches every history length from 1 frame up, and the first frames of a track already give sensible output.
- Optional look-ahead k (0..`max_lookahead`, chosen at run time through an embedding): the output is frame t - k,
  i.e. k frames of delay for the benefit of seeing k frames of the future. The k frames of reach are split over
  the blocks (block n of L may look floor((k + n) / L) frames ahead), so every block takes part in reading the
  future and the total reach is exactly k frames whatever the depth.
- DDPM family: 1000 steps, scaled-linear betas 0.00085..0.012 rescaled to zero terminal SNR, v-prediction trained
  with a v + eps loss; inference runs ONE denoising step (DDIM, trailing timesteps) by default, more on request.
- The diffused variable is, per frame, the correction from the HMR estimate to the true pose (relative rotation
  R_hmr^T R_true) in 6D, normalised by its training std; the way back to SMPL rotations is Gram-Schmidt, no IK.
  docs/notes_decoder.md has the measurements behind these choices.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from fasthmr_ros.model.rotation import (
    axis_angle_to_rotmat,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_rot6d,
)
from fasthmr_ros.model.skeleton import NUM_JOINTS
from fasthmr_ros.paths import data_dir

REPRESENTATIONS = ("rot6d_delta", "rot6d_residual", "rot6d", "axis_angle_residual")
EMBEDDED_DECODER = "decoder/decoder_synthetic.pt"


# ----------------------------------------------------------------------------------------------------------------
# Noise schedule
# ----------------------------------------------------------------------------------------------------------------


class NoiseSchedule:
    """Scaled-linear DDPM betas with the zero-terminal-SNR rescale, and the v / eps / x0 conversions.

    x_t = a_t x0 + s_t eps with a_t = sqrt(alpha_bar_t), s_t = sqrt(1 - alpha_bar_t); v = a_t eps - s_t x0.
    """

    def __init__(
        self,
        num_steps: int = 1000,
        beta_start: float = 0.00085,
        beta_end: float = 0.012,
        zero_terminal_snr: bool = True,
    ) -> None:
        betas = torch.linspace(beta_start**0.5, beta_end**0.5, num_steps, dtype=torch.float64) ** 2
        alpha_bar = torch.cumprod(1.0 - betas, dim=0)
        if zero_terminal_snr:
            # Shift and scale sqrt(alpha_bar) so the last step is pure noise and the first is unchanged.
            root = alpha_bar.sqrt()
            first, last = root[0].clone(), root[-1].clone()
            root = (root - last) * first / (first - last)
            alpha_bar = root**2
            alphas = torch.cat((alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]))
            betas = 1.0 - alphas
        self.num_steps = num_steps
        self.betas = betas
        self.alpha_bar = alpha_bar
        self.signal = alpha_bar.sqrt()  # a_t
        self.noise = (1.0 - alpha_bar).sqrt()  # s_t

    def _coefficients(self, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (-1,) + (1,) * (like.ndim - 1)
        a = self.signal.to(like.device)[t].to(like.dtype).reshape(shape)
        s = self.noise.to(like.device)[t].to(like.dtype).reshape(shape)
        return a, s

    def add_noise(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = self._coefficients(t, x0)
        return a * x0 + s * eps

    def velocity(self, x0: torch.Tensor, eps: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = self._coefficients(t, x0)
        return a * eps - s * x0

    def x0_from_v(self, x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = self._coefficients(t, x_t)
        return a * x_t - s * v

    def eps_from_v(self, x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, s = self._coefficients(t, x_t)
        return s * x_t + a * v

    def v_from_x0(self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The v that maps x_t to x0 (used to express x0 corrections as v)."""
        a, s = self._coefficients(t, x_t)
        eps = (x_t - a * x0) / s.clamp_min(1e-12)
        return a * eps - s * x0

    def inference_timesteps(self, steps: int) -> list[int]:
        """`steps` timesteps with trailing spacing (starts at the last, pure-noise step, as zero-SNR needs)."""
        if not 1 <= steps <= self.num_steps:
            raise ValueError(f"denoising steps must be in 1..{self.num_steps}, got {steps}")
        stride = self.num_steps / steps
        return [round(self.num_steps - 1 - i * stride) for i in range(steps)]


# ----------------------------------------------------------------------------------------------------------------
# Network
# ----------------------------------------------------------------------------------------------------------------


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


# ----------------------------------------------------------------------------------------------------------------
# Decoder: representation + schedule + network
# ----------------------------------------------------------------------------------------------------------------


class DiffusionDecoder(nn.Module):
    """Denoiser plus everything needed to go from HMR rotations to refined rotations and back."""

    def __init__(self, config: DecoderConfig | None = None, metadata: dict | None = None) -> None:
        super().__init__()
        self.config = config or DecoderConfig()
        self.schedule = NoiseSchedule(self.config.num_train_steps, self.config.beta_start, self.config.beta_end)
        self.denoiser = TemporalDenoiser(self.config)
        # Std of the diffused variable on the training data (set by the trainer), so noise and data are comparable.
        self.register_buffer("target_scale", torch.ones(()))
        # Per look-ahead and per 6D feature, taps m = 0..M-1 weighting (HMR pose at frame i + k - m) - (at frame i).
        # Zero = identity; the transformer adds the non-linear part (flips, fast motion, the pose prior).
        self.filter = nn.Parameter(torch.zeros(self.config.max_lookahead + 1, self.config.filter_taps, NUM_JOINTS * 6))
        self.metadata: dict = dict(metadata or {})

    # -- representation -------------------------------------------------------------------------------------------

    def encode_target(self, true: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        """(...,24,3,3) true and estimated rotations -> (..., pose_dim) normalised diffusion variable."""
        rep = self.config.representation
        if rep == "rot6d":
            x0 = rotmat_to_rot6d(true).flatten(-2)
        elif rep == "rot6d_delta":
            x0 = (rotmat_to_rot6d(true) - rotmat_to_rot6d(estimate)).flatten(-2)
        else:
            relative = estimate.transpose(-1, -2) @ true
            if rep == "rot6d_residual":
                x0 = (rotmat_to_rot6d(relative) - _identity_6d(relative)).flatten(-2)
            else:
                x0 = rotmat_to_axis_angle(relative).flatten(-2)
        return x0 / self.target_scale

    def decode_target(self, x0: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
        """Inverse of encode_target: (..., pose_dim) and (...,24,3,3) estimates -> (...,24,3,3) rotations."""
        x0 = (x0 * self.target_scale).unflatten(-1, (NUM_JOINTS, -1))
        rep = self.config.representation
        if rep == "rot6d":
            return rot6d_to_rotmat(x0)
        if rep == "rot6d_delta":
            return rot6d_to_rotmat(rotmat_to_rot6d(estimate) + x0)
        if rep == "rot6d_residual":
            return estimate @ rot6d_to_rotmat(x0 + _identity_6d(x0))
        return estimate @ axis_angle_to_rotmat(x0)

    @staticmethod
    def condition(estimate: torch.Tensor) -> torch.Tensor:
        """(...,24,3,3) HMR rotations -> (...,144) 6D features (HMR2.0's pose_6d layout)."""
        return rotmat_to_rot6d(estimate).flatten(-2)

    def filter_term(
        self, condition: torch.Tensor, lengths: torch.Tensor, lookahead: torch.Tensor, positions: torch.Tensor
    ) -> torch.Tensor:
        """The linear filter's correction in x0 units at `positions` (B,P) of each window -> (B,P,pose_dim).

        Frames before the window's first frame (or after its last real one) repeat that end frame."""
        taps = self.config.filter_taps
        rows = torch.arange(condition.shape[0], device=condition.device)[:, None, None]
        offsets = torch.arange(taps, device=condition.device)
        source = positions[..., None] + lookahead[:, None, None] - offsets
        source = torch.minimum(source.clamp_min(0), (lengths - 1)[:, None, None])
        centre = condition[rows[..., 0], positions]
        weights = self.filter[lookahead][:, None]  # (B,1,M,C)
        return ((condition[rows, source] - centre[:, :, None]) * weights).sum(2) / self.target_scale

    def predict_v(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor,
        condition: torch.Tensor,
        lengths: torch.Tensor,
        lookahead: torch.Tensor,
        tokens: torch.Tensor | None = None,
        query: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The denoiser's v, plus the linear filter as a skip path: it adds s_t^2 * filter to x0 = a_t x_t - s_t v,
        i.e. the whole filter at the pure-noise step and nothing where x_t already pins x0 down."""
        v = self.denoiser(x_t, t, condition, lengths, lookahead, tokens, query)
        if not self.config.filter_taps:
            return v
        positions = torch.arange(x_t.shape[1], device=x_t.device)[None].expand(len(x_t), -1)
        if query is not None:
            positions = query[:, None]
        _, s = self.schedule._coefficients(t, v)
        return v - s * self.filter_term(condition, lengths, lookahead, positions)

    # -- training ---------------------------------------------------------------------------------------------------

    def training_losses(
        self,
        true: torch.Tensor,
        estimate: torch.Tensor,
        generator: torch.Generator | None = None,
        terminal_fraction: float = 0.5,
        tokens: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """v + eps loss on (B,W,24,3,3) windows. The look-ahead k is drawn per window (half of them k = 0, the live
        default); the last k frames, which would see fewer than k future frames (never the case at run time), are
        left out of the loss. Also returns x0_hat, the frames it describes and the loss weights.

        terminal_fraction: share of windows trained at the last (pure-noise) step, the only step that one-step
        inference uses; the rest draw t uniformly as in DDPM.
        """
        batch, length = true.shape[:2]
        device = true.device
        # Half the windows train look-ahead 0 (the live default), the rest a look-ahead in 1..max_lookahead.
        k = torch.randint(1, max(self.config.max_lookahead, 1) + 1, (batch,), generator=generator).to(device)
        live = torch.rand(batch, generator=generator).to(device) < 0.5
        k = torch.where(live | (self.config.max_lookahead == 0), torch.zeros_like(k), k)
        index = torch.arange(length, device=device)
        x0 = self.encode_target(true, estimate)
        eps = torch.randn(x0.shape, generator=generator).to(device)
        last = self.schedule.num_steps - 1
        t = torch.randint(0, self.schedule.num_steps, (batch,), generator=generator).to(device)
        terminal = torch.rand(batch, generator=generator).to(device) < terminal_fraction
        t = torch.where(terminal, torch.full_like(t, last), t)
        x_t = self.schedule.add_noise(x0, eps, t)
        v = self.schedule.velocity(x0, eps, t)
        lengths = torch.full((batch,), length, device=device)
        v_hat = self.predict_v(x_t, t, self.condition(estimate), lengths, k, tokens)
        eps_hat = self.schedule.eps_from_v(x_t, v_hat, t)
        weight = (index[None] < length - k[:, None]).float()[..., None]
        norm = weight.sum() * x0.shape[-1]
        loss_v = (((v_hat - v) ** 2) * weight).sum() / norm
        loss_eps = (((eps_hat - eps) ** 2) * weight).sum() / norm
        x0_hat = self.schedule.x0_from_v(x_t, v_hat, t)
        return {
            "v": loss_v,
            "eps": loss_eps,
            "x0_hat": x0_hat,
            "weight": weight[..., 0],
            "t": t,
            "target_true": true,
            "target_estimate": estimate,
        }

    # -- inference --------------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def denoise(
        self,
        condition: torch.Tensor,
        noise: torch.Tensor,
        lengths: torch.Tensor,
        lookahead: torch.Tensor,
        tokens: torch.Tensor | None = None,
        steps: int | None = None,
        query: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """DDIM (eta = 0) from pure noise (B,L,pose_dim) with `steps` trailing timesteps -> x0 (B,L,pose_dim).

        query (B,): only that frame of each window is wanted -> (B,1,pose_dim). With one step this skips work;
        with several, every frame is denoised (later steps need them) and the query rows are picked at the end.
        """
        timesteps = self.schedule.inference_timesteps(steps or self.config.inference_steps)
        rows = torch.arange(noise.shape[0], device=noise.device)
        x = noise
        for i, step in enumerate(timesteps):
            t = torch.full((noise.shape[0],), step, dtype=torch.long, device=noise.device)
            final = i + 1 == len(timesteps)
            if final and query is not None:
                v = self.predict_v(x, t, condition, lengths, lookahead, tokens, query)
                return self.schedule.x0_from_v(x[rows, query][:, None], v, t)
            v = self.predict_v(x, t, condition, lengths, lookahead, tokens)
            x0 = self.schedule.x0_from_v(x, v, t)
            if final:
                return x0
            eps = self.schedule.eps_from_v(x, v, t)
            x = self.schedule.add_noise(x0, eps, torch.full_like(t, timesteps[i + 1]))
        raise AssertionError("unreachable")

    @torch.no_grad()
    def refine_windows(
        self,
        estimate: torch.Tensor,
        lookahead: int = 0,
        generator: torch.Generator | None = None,
        tokens: torch.Tensor | None = None,
        steps: int | None = None,
    ) -> torch.Tensor:
        """Refine whole windows (B,L,24,3,3) at once (offline helper) -> (B,L-lookahead,24,3,3) for frames
        0..L-1-lookahead; frame i uses frames <= i + lookahead. Noise from `generator`, or x_T = 0 without one."""
        batch, length = estimate.shape[:2]
        if not 0 <= lookahead < length:
            raise ValueError(f"lookahead must be in 0..{length - 1} for a {length}-frame window, got {lookahead}")
        shape = (batch, length, self.config.pose_dim)
        noise = torch.zeros(shape) if generator is None else torch.randn(shape, generator=generator)
        lengths = torch.full((batch,), length, device=estimate.device)
        k = torch.full((batch,), lookahead, device=estimate.device)
        x0 = self.denoise(self.condition(estimate), noise.to(estimate.device), lengths, k, tokens, steps)
        return self.decode_target(x0[:, : length - lookahead], estimate[:, : length - lookahead])

    @property
    def description(self) -> str:
        return str(self.metadata.get("trained_on", "untrained"))


def _identity_6d(like: torch.Tensor) -> torch.Tensor:
    return torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=like.dtype, device=like.device)


# ----------------------------------------------------------------------------------------------------------------
# Streaming over tracked people
# ----------------------------------------------------------------------------------------------------------------


@dataclass
class _TrackWindow:
    condition: torch.Tensor  # (L,144)
    noise: torch.Tensor  # (L,pose_dim): each frame keeps its noise while in the window, so outputs don't shimmer
    tokens: torch.Tensor | None = None  # (L,token_dim)
    frames_seen: int = 0


@dataclass
class StreamingDecoder:
    """Per-track sliding windows over a DiffusionDecoder, batched over people.

    update(track_ids, rotmats) appends each person's newest per-frame HMR estimate to that track's window and
    returns the refined pose of frame t - lookahead for each (while fewer than lookahead + 1 frames have arrived, the
    oldest frame of the track). Unknown ids start a fresh, empty window; reset(track_id) forgets a lost track.

    sample_noise: False (default) starts denoising from x_T = 0, the mean of the noise distribution, which measured
    smoother than drawing x_T (docs/notes_decoder.md); True draws x_T ~ N(0, I) per frame from a `seed`ed
    generator (each frame keeps its draw while it stays in the window).
    """

    model: DiffusionDecoder | None = None
    lookahead: int = 0
    window: int | None = None
    steps: int | None = None
    sample_noise: bool = False
    seed: int = 0
    device: str | torch.device = "cpu"
    _tracks: dict[int, _TrackWindow] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.model is None:
            self.model = load_decoder(None)
        self.model = self.model.to(self.device).eval()
        config = self.model.config
        self.window = self.window or config.window
        if not 1 <= self.window <= config.window:
            raise ValueError(f"window must be in 1..{config.window} for this decoder, got {self.window}")
        if not 0 <= self.lookahead <= config.max_lookahead:
            raise ValueError(f"lookahead must be in 0..{config.max_lookahead} for this decoder, got {self.lookahead}")
        self._generator = torch.Generator().manual_seed(self.seed)

    @property
    def track_ids(self) -> list[int]:
        return list(self._tracks)

    def reset(self, track_id: int | None = None) -> None:
        """Forget one track's window (a lost track), or every window when track_id is None."""
        if track_id is None:
            self._tracks.clear()
        else:
            self._tracks.pop(int(track_id), None)

    def end_tracks(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self.reset(track_id)

    @torch.no_grad()  # the network runs in inference mode; what update returns is an ordinary tensor
    def update(
        self, track_ids: Sequence[int], rotmats: torch.Tensor, tokens: torch.Tensor | None = None
    ) -> torch.Tensor:
        """track_ids (N,), rotmats (N,24,3,3) per-frame estimates [, tokens (N,token_dim)] -> refined (N,24,3,3)."""
        assert self.model is not None
        ids = [int(i) for i in track_ids]
        if rotmats.ndim != 4 or rotmats.shape[1:] != (NUM_JOINTS, 3, 3) or len(ids) != rotmats.shape[0]:
            raise ValueError(
                f"update needs N track ids and (N,24,3,3) rotations, got {len(ids)} ids and {tuple(rotmats.shape)}"
            )
        if len(set(ids)) != len(ids):
            raise ValueError(f"track ids must be unique within a frame, got {ids}")
        if not ids:
            return rotmats.new_zeros((0, NUM_JOINTS, 3, 3))
        device = torch.device(self.device)
        estimate = rotmats.to(device=device, dtype=torch.float32)
        condition = self.model.condition(estimate)
        noise = torch.randn(len(ids), self.model.config.pose_dim, generator=self._generator).to(device)
        if not self.sample_noise:
            noise = torch.zeros_like(noise)
        windows = []
        for n, track_id in enumerate(ids):
            window = self._tracks.get(track_id)
            new_token = None if tokens is None else tokens[n : n + 1].to(device=device, dtype=torch.float32)
            if window is None:
                window = _TrackWindow(condition[n : n + 1], noise[n : n + 1], new_token)
                self._tracks[track_id] = window
            else:
                window.condition = torch.cat((window.condition, condition[n : n + 1]))[-self.window :]
                window.noise = torch.cat((window.noise, noise[n : n + 1]))[-self.window :]
                if new_token is not None:
                    old = (
                        window.tokens if window.tokens is not None else new_token.expand(len(window.condition) - 1, -1)
                    )
                    window.tokens = torch.cat((old, new_token))[-self.window :]
            window.frames_seen += 1
            windows.append(window)
        lengths = torch.tensor([len(w.condition) for w in windows], device=device)
        longest = int(lengths.max())
        cond_batch = torch.zeros(len(ids), longest, condition.shape[-1], device=device)
        noise_batch = torch.zeros(len(ids), longest, noise.shape[-1], device=device)
        token_batch = None
        if tokens is not None:
            token_batch = torch.zeros(len(ids), longest, tokens.shape[-1], device=device)
        for n, window in enumerate(windows):
            size = len(window.condition)
            cond_batch[n, :size] = window.condition
            noise_batch[n, :size] = window.noise
            if token_batch is not None and window.tokens is not None:
                token_batch[n, :size] = window.tokens
        effective = torch.clamp(lengths - 1, max=self.lookahead)
        out_index = lengths - 1 - effective
        x0 = self.model.denoise(cond_batch, noise_batch, lengths, effective, token_batch, self.steps, out_index)
        rows = torch.arange(len(ids), device=device)
        reference = rot6d_to_rotmat(cond_batch[rows, out_index].unflatten(-1, (NUM_JOINTS, 6)))
        return self.model.decode_target(x0[:, 0], reference).to(rotmats.dtype)


# ----------------------------------------------------------------------------------------------------------------
# Saving and loading
# ----------------------------------------------------------------------------------------------------------------


def save_decoder(model: DiffusionDecoder, path: str | Path, half: bool = True) -> Path:
    """Write weights (fp16 by default, for the embedded copy), config and metadata to one .pt file plus a .json."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({"config": asdict(model.config), "state_dict": state, "metadata": model.metadata}, path)
    path.with_suffix(".json").write_text(json.dumps({"config": asdict(model.config), **model.metadata}, indent=2))
    return path


def load_decoder(path: str | Path | None = None) -> DiffusionDecoder:
    """A decoder from a file written by save_decoder or a train-decoder checkpoint; None = the embedded default."""
    if path is None:
        path = data_dir() / EMBEDDED_DECODER
        if not path.is_file():
            raise FileNotFoundError(
                f"embedded decoder weights missing at {path}; reinstall fasthmr_ros or train one "
                "with `fasthmr train-decoder --export data/decoder/decoder_synthetic.pt`"
            )
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"decoder weights not found: {path} (train them with `fasthmr train-decoder`)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if "config" not in blob or ("state_dict" not in blob and "model" not in blob):
        raise ValueError(f"{path} is not a fasthmr decoder file (expected keys config and state_dict)")
    model = DiffusionDecoder(DecoderConfig(**blob["config"]), blob.get("metadata"))
    state = blob.get("state_dict", blob.get("model"))
    model.load_state_dict({k: v.float() for k, v in state.items()})
    return model.eval()
