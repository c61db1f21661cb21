"""Per-track observations kept for the decoder's look-ahead, and the temporal treatment of what the pose decoder
does not refine: the camera-frame translation (a causal constant-velocity Kalman filter, depth trusted less than
the image-plane position) and the shape (the running mean over the track, as a person's shape does not change).

The decoder answers for a track's observation `lookahead` steps back in that track's own sequence; that
observation's box, shape and translation go with it, and it is published only when it belongs to the frame
`lookahead` processed frames ago (a track that missed frames in between waits instead of taking another frame's
facts).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from fasthmr_ros.perception.masks import PersonDetection


@dataclass(frozen=True)
class TranslationNoise:
    """Kalman settings, in metres per processed frame. Measurement noise grows with the distance (monocular depth
    error is proportional to it); acceleration noise allows a walking person's starts, stops and turns."""

    lateral: float = 0.006  # per metre of depth, x and y
    depth: float = 0.05  # per metre of depth, z
    acceleration: float = 0.004  # m / frame^2


class _Kalman:
    """Constant velocity on each axis: state (position, velocity), piecewise-constant white acceleration."""

    def __init__(self, first: np.ndarray, noise: TranslationNoise) -> None:
        self.noise = noise
        self.x = np.stack([first, np.zeros(3)], 1)  # (3 axes, 2)
        r = self._measurement_var(first)
        self.p = np.stack([np.diag([v, 1e-2]) for v in r])  # (3,2,2)

    def _measurement_var(self, t: np.ndarray) -> np.ndarray:
        depth = max(float(t[2]), 0.3)
        n = self.noise
        return np.array([(n.lateral * depth) ** 2, (n.lateral * depth) ** 2, (n.depth * depth) ** 2])

    def update(self, measured: np.ndarray, steps: int = 1) -> np.ndarray:
        f = np.array([[1.0, steps], [0.0, 1.0]])
        g = np.array([0.5 * steps**2, steps])
        q = np.outer(g, g) * self.noise.acceleration**2
        r = self._measurement_var(measured)
        for axis in range(3):
            x = f @ self.x[axis]
            p = f @ self.p[axis] @ f.T + q
            gain = p[:, 0] / (p[0, 0] + r[axis])
            self.x[axis] = x + gain * (measured[axis] - x[0])
            self.p[axis] = p - np.outer(gain, p[0])
        return self.x[:, 0].copy()


@dataclass
class Observation:
    frame: int
    detection: PersonDetection
    betas: np.ndarray  # the track's shape estimate at this frame
    translation: np.ndarray  # (3,) camera frame, metres (filtered when smoothing)
    camera_matrix: np.ndarray


@dataclass
class _Track:
    observations: deque
    kalman: _Kalman | None = None
    betas_sum: np.ndarray | None = None
    count: int = 0


@dataclass
class TrackHistory:
    lookahead: int = 0
    smooth: bool = True  # False: the per-frame translation and shape, untouched
    noise: TranslationNoise = field(default_factory=TranslationNoise)
    _tracks: dict[int, _Track] = field(default_factory=dict, init=False)

    def end(self, track_ids) -> None:
        for track_id in track_ids:
            self._tracks.pop(int(track_id), None)

    def add(self, track_id: int, frame: int, detection: PersonDetection, betas: np.ndarray,
            translation: np.ndarray, camera_matrix: np.ndarray) -> Observation:  # fmt: skip
        track = self._tracks.get(track_id)
        if track is None:
            track = self._tracks[track_id] = _Track(deque(maxlen=self.lookahead + 1))
        translation = np.asarray(translation, np.float64)
        betas = np.asarray(betas, np.float64)
        if self.smooth:
            if track.kalman is None:
                track.kalman = _Kalman(translation, self.noise)
                track.betas_sum = np.zeros_like(betas)
            else:
                gap = frame - track.observations[-1].frame if track.observations else 1
                translation = track.kalman.update(translation, max(1, gap))
            track.betas_sum = track.betas_sum + betas
            track.count += 1
            betas = track.betas_sum / track.count
        observation = Observation(frame, detection, betas.astype(np.float32), translation, camera_matrix)
        track.observations.append(observation)
        return observation

    def paired(self, track_id: int, frame: int) -> Observation | None:
        """The observation the decoder's answer for this track belongs to, if it is from frame - lookahead."""
        track = self._tracks.get(track_id)
        if track is None or len(track.observations) <= self.lookahead:
            return None
        observation = track.observations[-1 - self.lookahead]
        return observation if observation.frame == frame - self.lookahead else None
