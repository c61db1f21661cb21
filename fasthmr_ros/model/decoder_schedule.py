"""The decoder's DDPM noise schedule: scaled-linear betas rescaled to zero terminal SNR, the v / eps / x0
conversions, and the trailing timesteps that inference samples at."""

from __future__ import annotations

import torch


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
