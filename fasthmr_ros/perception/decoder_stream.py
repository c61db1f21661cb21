"""The streaming decoder as the pipeline runs it: one sliding window of per-frame estimates per tracked person,
refined together in one batched call per frame."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from fasthmr_ros.model.decoder import DiffusionDecoder
from fasthmr_ros.model.rotation import rot6d_to_rotmat, rotmat_to_rot6d
from fasthmr_ros.model.skeleton import NUM_JOINTS
from fasthmr_ros.runtime.decoder_files import load_decoder


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

    strength: the share of the decoder's correction applied, 0..1 (1 = its answer; 0 = the per-frame estimate): the
    output is the 6D blend (1 - strength) * estimate + strength * answer, back to a rotation by Gram-Schmidt. For a
    pose source whose errors differ from those the decoder was trained on (the landmark lift), a partial correction
    can keep more of the per-frame accuracy while still smoothing.

    sample_noise: False (default) starts denoising from x_T = 0, the mean of the noise distribution, which measured
    smoother than drawing x_T (docs/decoder.md); True draws x_T ~ N(0, I) per frame from a `seed`ed
    generator (each frame keeps its draw while it stays in the window).
    """

    model: DiffusionDecoder | None = None
    lookahead: int = 0
    window: int | None = None
    steps: int | None = None
    strength: float = 1.0
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
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be in 0..1, got {self.strength}")
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
        refined = self.model.decode_target(x0[:, 0], reference)
        if self.strength != 1.0:
            blend = (1.0 - self.strength) * rotmat_to_rot6d(reference) + self.strength * rotmat_to_rot6d(refined)
            refined = rot6d_to_rotmat(blend)
        return refined.to(rotmats.dtype)
