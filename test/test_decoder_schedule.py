"""Noise schedule maths of the diffusion decoder: scaled-linear betas, zero terminal SNR, v <-> eps <-> x0."""

import torch

from fasthmr_ros.model.decoder_schedule import NoiseSchedule


def test_scaled_linear_betas_without_rescale():
    schedule = NoiseSchedule(1000, 0.00085, 0.012, zero_terminal_snr=False)
    roots = schedule.betas.sqrt()
    assert torch.allclose(roots[0], torch.tensor(0.00085, dtype=torch.float64).sqrt())
    assert torch.allclose(roots[-1], torch.tensor(0.012, dtype=torch.float64).sqrt())
    steps = roots[1:] - roots[:-1]
    assert torch.allclose(steps, steps.mean().expand_as(steps), atol=1e-12)  # linear in sqrt(beta)
    assert torch.allclose(schedule.alpha_bar, torch.cumprod(1 - schedule.betas, 0))


def test_zero_terminal_snr_rescale():
    plain = NoiseSchedule(1000, zero_terminal_snr=False)
    schedule = NoiseSchedule(1000)
    assert schedule.alpha_bar[-1] == 0  # pure noise at the last step
    assert plain.alpha_bar[-1] > 1e-3  # which the plain schedule does not reach
    assert torch.allclose(schedule.alpha_bar[0], plain.alpha_bar[0])  # first step unchanged
    assert bool((schedule.alpha_bar[1:] < schedule.alpha_bar[:-1]).all())
    assert bool(((schedule.betas > 0) & (schedule.betas <= 1)).all())
    assert torch.allclose(schedule.alpha_bar, torch.cumprod(1 - schedule.betas, 0))
    assert torch.allclose(schedule.signal**2 + schedule.noise**2, torch.ones(1000, dtype=torch.float64))


def test_v_eps_x0_conversions_round_trip():
    schedule = NoiseSchedule()
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 5, 144, generator=generator, dtype=torch.float64)
    eps = torch.randn(6, 5, 144, generator=generator, dtype=torch.float64)
    t = torch.tensor([0, 1, 250, 500, 998, 999])
    x_t = schedule.add_noise(x0, eps, t)
    v = schedule.velocity(x0, eps, t)
    assert torch.allclose(schedule.x0_from_v(x_t, v, t), x0, atol=1e-10)
    assert torch.allclose(schedule.eps_from_v(x_t, v, t), eps, atol=1e-10)
    inner = t < 999  # at zero SNR x_t carries nothing of x0, so x0 -> v needs s_t > 0 and a_t > 0 only there
    assert torch.allclose(schedule.v_from_x0(x_t, x0, t)[inner], v[inner], atol=1e-8)
    # At the terminal step the one-step estimate is x0 = -v and x_t is the noise itself.
    assert torch.allclose(x_t[-1], eps[-1])
    assert torch.allclose(schedule.x0_from_v(x_t, v, t)[-1], -v[-1])


def test_trailing_inference_timesteps():
    schedule = NoiseSchedule()
    assert schedule.inference_timesteps(1) == [999]
    four = schedule.inference_timesteps(4)
    assert four[0] == 999 and len(four) == 4 and four == sorted(four, reverse=True)
    assert len(set(schedule.inference_timesteps(1000))) == 1000
