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
  with a v + eps loss; inference runs ONE denoising step (DDIM, trailing timesteps) from x_T = 0 by default.
- The diffused variable (default representation "rot6d_delta") is, per frame and joint, the additive correction
  from the HMR estimate's 6D rotation to the true one, 6D(R_true) - 6D(R_hmr), normalised by its training std;
  the way back to rotations is Gram-Schmidt, no IK. The other representations (a relative rotation R_hmr^T R_true
  in 6D or axis-angle, or the absolute 6D pose) are kept for comparison. A learned linear temporal filter over the
  estimates is a skip path beside the transformer. docs/decoder.md has the measurements behind these choices.

Network: model/decoder_net.py; schedule: model/decoder_schedule.py; per-track state: perception/decoder_stream.py;
files: runtime/decoder_files.py.
"""

from __future__ import annotations

import torch
from torch import nn

from fasthmr_ros.model.decoder_net import DecoderConfig, TemporalDenoiser
from fasthmr_ros.model.decoder_schedule import NoiseSchedule
from fasthmr_ros.model.rotation import (
    axis_angle_to_rotmat,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_rot6d,
)
from fasthmr_ros.model.skeleton import NUM_JOINTS


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
        *,
        terminal_fraction: float,
        tokens: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """v + eps loss on (B,W,24,3,3) windows. The look-ahead k is drawn per window (half of them k = 0, the live
        default); the last k frames, which would see fewer than k future frames (never the case at run time), are
        left out of the loss. Also returns x0_hat, the frames it describes and the loss weights.

        terminal_fraction: share of windows trained at the last (pure-noise) step, the only step that one-step
        inference uses; the rest draw t uniformly as in DDPM. No default here: the trainer's setting
        (training/decoder_training.py) is the one place it is chosen.
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
