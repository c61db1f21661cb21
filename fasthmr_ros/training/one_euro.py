"""One-Euro filter (Casiez et al., CHI 2012) on per-frame poses: the classic low-latency smoothing baseline.

The filter runs on the 6D rotation features of every joint (the same features the decoder is conditioned on) and
maps back with Gram-Schmidt. Its cutoff rises with speed: cutoff = min_cutoff + beta * |dx/dt|.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from fasthmr_ros.model.rotation import rot6d_to_rotmat, rotmat_to_rot6d
from fasthmr_ros.model.skeleton import NUM_JOINTS


def _smoothing(cutoff: torch.Tensor | float, dt: float) -> torch.Tensor | float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class OneEuroFilter:
    """Element-wise One-Euro filter over tensors of a fixed shape, sampled at `fps`."""

    fps: float = 30.0
    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    _previous: torch.Tensor | None = field(default=None, init=False, repr=False)
    _derivative: torch.Tensor | None = field(default=None, init=False, repr=False)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        dt = 1.0 / self.fps
        if self._previous is None:
            self._previous, self._derivative = x.clone(), torch.zeros_like(x)
            return x.clone()
        assert self._derivative is not None
        a_d = _smoothing(self.d_cutoff, dt)
        self._derivative = self._derivative + a_d * ((x - self._previous) / dt - self._derivative)
        cutoff = self.min_cutoff + self.beta * self._derivative.abs()
        self._previous = self._previous + _smoothing(cutoff, dt) * (x - self._previous)
        return self._previous.clone()


@dataclass
class OneEuroPoseFilter:
    """Per-track One-Euro filtering of (N,24,3,3) rotations, with StreamingDecoder's update/reset interface."""

    fps: float = 30.0
    min_cutoff: float = 1.0
    beta: float = 0.0
    d_cutoff: float = 1.0
    _filters: dict[int, OneEuroFilter] = field(default_factory=dict, init=False, repr=False)

    def reset(self, track_id: int | None = None) -> None:
        if track_id is None:
            self._filters.clear()
        else:
            self._filters.pop(int(track_id), None)

    def end_tracks(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            self.reset(track_id)

    def update(
        self, track_ids: Sequence[int], rotmats: torch.Tensor, tokens: torch.Tensor | None = None
    ) -> torch.Tensor:
        del tokens  # accepted for interface parity with StreamingDecoder
        if rotmats.ndim != 4 or rotmats.shape[1:] != (NUM_JOINTS, 3, 3) or len(track_ids) != rotmats.shape[0]:
            raise ValueError(
                f"update needs N track ids and (N,24,3,3) rotations, got {len(track_ids)} ids and "
                f"{tuple(rotmats.shape)}"
            )
        features = rotmat_to_rot6d(rotmats)
        out = torch.empty_like(features)
        for n, track_id in enumerate(track_ids):
            filt = self._filters.get(int(track_id))
            if filt is None:
                filt = OneEuroFilter(self.fps, self.min_cutoff, self.beta, self.d_cutoff)
                self._filters[int(track_id)] = filt
            out[n] = filt(features[n])
        return rot6d_to_rotmat(out)
