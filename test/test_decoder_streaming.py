"""StreamingDecoder: determinism, causal masking, look-ahead, track windows and resets (real tensors, random
decoder weights so that every input can matter)."""

import pytest
import torch

from fasthmr_ros.model.decoder import DiffusionDecoder
from fasthmr_ros.model.decoder_net import DecoderConfig
from fasthmr_ros.perception.decoder_stream import StreamingDecoder
from fasthmr_ros.training.synth.hmr_errors import HMRErrorModel
from fasthmr_ros.training.synth.motion import synthetic_motion_set


def _random_decoder(**overrides) -> DiffusionDecoder:
    torch.manual_seed(0)
    config = DecoderConfig(window=12, d_model=32, layers=2, heads=2, ffn=64, max_lookahead=3, **overrides)
    model = DiffusionDecoder(config)
    torch.nn.init.normal_(model.denoiser.output.weight, std=0.05)  # the trained-from-zero head would hide inputs
    torch.nn.init.normal_(model.filter, std=0.02)  # and so would the zero-initialised linear filter
    return model.eval()


@pytest.fixture(scope="module")
def frames() -> torch.Tensor:
    clips = synthetic_motion_set(3, 1.0, 30.0, seed=5)
    true = torch.stack([c.rotmats() for c in clips])
    return HMRErrorModel().apply(true, 30.0, torch.Generator().manual_seed(1))  # (3,30,24,3,3)


def _stream(decoder: StreamingDecoder, frames: torch.Tensor, ids=(0, 1, 2)) -> torch.Tensor:
    return torch.stack([decoder.update(list(ids), frames[:, t]) for t in range(frames.shape[1])], dim=1)


def test_same_seed_same_output_different_seed_differs(frames):
    model = _random_decoder()
    first = _stream(StreamingDecoder(model, sample_noise=True, seed=3), frames)
    again = _stream(StreamingDecoder(model, sample_noise=True, seed=3), frames)
    other = _stream(StreamingDecoder(model, sample_noise=True, seed=4), frames)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    mean_start = _stream(StreamingDecoder(model, seed=3), frames)  # x_T = 0: no seed dependence at all
    assert torch.equal(mean_start, _stream(StreamingDecoder(model, seed=4), frames))
    assert torch.allclose(first @ first.transpose(-1, -2), torch.eye(3).expand_as(first), atol=1e-5)


def test_future_frames_cannot_change_current_output_without_lookahead(frames):
    model = _random_decoder()
    estimate = frames[:, :12]
    changed = estimate.clone()
    changed[:, 7:] = estimate[:, 7:].flip(1)  # rewrite frames 7..11
    out = model.refine_windows(estimate, lookahead=0, generator=torch.Generator().manual_seed(0))
    out_changed = model.refine_windows(changed, lookahead=0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[:, :7], out_changed[:, :7])
    assert not torch.allclose(out[:, 7:], out_changed[:, 7:])
    # With look-ahead 2, frame 5 sees frames 6 and 7 (so it changes) but frame 4 does not see frame 7.
    ahead = model.refine_windows(estimate, lookahead=2, generator=torch.Generator().manual_seed(0))
    ahead_changed = model.refine_windows(changed, lookahead=2, generator=torch.Generator().manual_seed(0))
    assert ahead.shape[1] == 10
    assert torch.equal(ahead[:, :5], ahead_changed[:, :5])
    assert not torch.allclose(ahead[:, 5], ahead_changed[:, 5])


def test_streaming_matches_offline_window_and_lookahead_delays(frames):
    model = _random_decoder()
    noise_seed = 11
    streamed = _stream(StreamingDecoder(model, sample_noise=True, seed=noise_seed), frames[:, :12])
    # The streaming noise for frame t is drawn at frame t: rebuild the same noise for an offline pass.
    generator = torch.Generator().manual_seed(noise_seed)
    noise = torch.stack([torch.randn(3, model.config.pose_dim, generator=generator) for _ in range(12)], dim=1)
    condition = model.condition(frames[:, :12])
    x0 = model.denoise(condition, noise, torch.full((3,), 12), torch.zeros(3, dtype=torch.long))
    offline = model.decode_target(x0, frames[:, :12])
    assert torch.allclose(streamed, offline, atol=1e-5)  # causal: frame t of a full window = streaming at time t
    two_step = _stream(StreamingDecoder(model, steps=2, sample_noise=True, seed=noise_seed), frames[:, :12])
    x0_two = model.denoise(condition, noise, torch.full((3,), 12), torch.zeros(3, dtype=torch.long), steps=2)
    assert torch.allclose(two_step, model.decode_target(x0_two, frames[:, :12]), atol=1e-5)
    assert not torch.allclose(two_step, streamed, atol=1e-4)
    delayed = _stream(StreamingDecoder(model, lookahead=2, sample_noise=True, seed=noise_seed), frames[:, :12])
    # From the third frame on, the answer at time t is frame t - 2, seen with frames up to t.
    x0_ahead = model.denoise(condition, noise, torch.full((3,), 12), torch.full((3,), 2, dtype=torch.long))
    offline_ahead = model.decode_target(x0_ahead[:, :10], frames[:, :10])
    assert torch.allclose(delayed[:, 2:], offline_ahead, atol=1e-5)
    assert not torch.allclose(delayed[:, 5], streamed[:, 3], atol=1e-3)  # same frame, seen with 2 more frames
    # Before that it answers for frame 0 with what look-ahead it has (k = 1 at the second frame).
    x0_first = model.denoise(condition[:, :2], noise[:, :2], torch.full((3,), 2), torch.ones(3, dtype=torch.long))
    assert torch.allclose(delayed[:, 1], model.decode_target(x0_first[:, 0], frames[:, 0]), atol=1e-5)


def _noise_free_decoder() -> DiffusionDecoder:
    """Random weights, but blind to the diffusion noise input, so outputs depend on the HMR frames only."""
    model = _random_decoder()
    with torch.no_grad():
        model.denoiser.input.weight[:, : model.config.pose_dim] = 0
    return model


def test_window_reset_when_track_is_lost(frames):
    model = _noise_free_decoder()
    decoder = StreamingDecoder(model, seed=0)
    for t in range(9):
        decoder.update([0, 1], frames[:2, t])
    decoder.reset(0)  # track 0 lost; track 1 keeps its window
    assert decoder.track_ids == [1]
    after_reset = decoder.update([0, 1], frames[:2, 9])
    fresh = StreamingDecoder(model, seed=0).update([0], frames[:1, 9])
    assert torch.allclose(after_reset[0], fresh[0], atol=1e-6)  # answered from the new frame alone
    kept = StreamingDecoder(model, seed=0)
    for t in range(10):
        kept_out = kept.update([1], frames[1:2, t])
    assert torch.allclose(after_reset[1], kept_out[0], atol=1e-6)  # the other track kept its history
    with_history = StreamingDecoder(model, seed=0)
    for t in range(10):
        history_out = with_history.update([0], frames[:1, t])
    assert not torch.allclose(after_reset[0], history_out[0], atol=1e-4)  # history mattered before the reset
    decoder.end_tracks([1])
    assert decoder.track_ids == [0]


def test_people_do_not_influence_each_other(frames):
    model = _noise_free_decoder()
    together = StreamingDecoder(model, seed=2)
    alone_0 = StreamingDecoder(model, seed=2)
    alone_1 = StreamingDecoder(model, seed=2)
    for t in range(16):  # past the window length, so windows slide; track 1 joins late (shorter window, padding)
        if t < 5:
            both = together.update([0], frames[:1, t])
        else:
            both = together.update([0, 1], frames[:2, t])
            assert torch.allclose(both[1], alone_1.update([1], frames[1:2, t])[0], atol=1e-5)
        assert torch.allclose(both[0], alone_0.update([0], frames[:1, t])[0], atol=1e-5)


def test_bad_input_is_rejected(frames):
    decoder = StreamingDecoder(_random_decoder(), seed=0)
    with pytest.raises(ValueError, match="track ids"):
        decoder.update([0, 1], frames[:1, 0])
    with pytest.raises(ValueError, match="unique"):
        decoder.update([3, 3], frames[:2, 0])
    with pytest.raises(ValueError, match="lookahead"):
        StreamingDecoder(_random_decoder(), lookahead=9)
    with pytest.raises(ValueError, match="tokens"):
        token_model = _random_decoder(token_dim=16)
        StreamingDecoder(token_model).update([0], frames[:1, 0])


def test_token_conditioned_variant_uses_tokens(frames):
    model = _random_decoder(token_dim=16)
    torch.nn.init.normal_(model.denoiser.token_input.weight, std=0.5)
    tokens = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(0))
    a, b = StreamingDecoder(model, seed=0), StreamingDecoder(model, seed=0)
    for t in range(6):
        out_a = a.update([0, 1], frames[:2, t], tokens[:, t])
        out_b = b.update([0, 1], frames[:2, t], tokens[:, t] * 0)
    assert not torch.allclose(out_a, out_b, atol=1e-4)
