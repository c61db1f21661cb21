"""Per-track observations kept for the decoder's look-ahead, and the temporal treatment of what the pose decoder
does not refine: the camera-frame translation (a causal constant-velocity Kalman filter in the frames' capture
times, depth trusted less than the image-plane position) and the shape (the running mean over the track, as a
person's shape does not change).

The decoder answers for a track's observation `lookahead` steps back in that track's own sequence; that
observation's box, shape and translation go with it, and it is published only when it belongs to the frame
`lookahead` processed frames ago (a track that missed frames in between waits instead of taking another frame's
facts).

The translation is filtered when an observation is published (place()), not when it arrives: the landmark source
re-solves it then from the pose the decoder published, so the filter sees translations that belong to the
published bodies.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from fasthmr_ros.perception.masks import PersonDetection

# frames without a capture time are taken as this far apart (a common camera rate)
NOMINAL_FPS = 30.0
# velocity spread of a track's first measurement, m/s: a walker's pace is not known from one frame
_FIRST_VELOCITY_STD = 3.0


@dataclass(frozen=True)
class TranslationNoise:
    """Kalman settings. Measurement noise (per measurement) grows with the distance: monocular depth error is
    proportional to it. The motion noise is in physical time, continuous white acceleration: over dt seconds the
    velocity may change by `acceleration` * sqrt(dt) (m/s, one std), so one setting means the same walker at any
    frame rate (set per frame, a filter allows 4x the acceleration per second at 60 fps as at 30 fps)."""

    lateral: float = 0.006  # per metre of depth, x and y
    depth: float = 0.05  # per metre of depth, z
    acceleration: float = 1.0  # m/s per sqrt(s): velocity random walk
    rays: bool = True  # filter (x/z, y/z, z) rather than (x, y, z); see _Kalman


class _Kalman:
    """Constant velocity on each axis: state (position, velocity), piecewise-constant white acceleration.

    With noise.rays the axes are the direction to the person, x/z and y/z (what the 2D landmarks fix well), and the
    depth z (what they fix poorly): a monocular depth error moves the measurement along the camera ray, so on x, y,
    z axes it also shows as x noise for a person off the image centre (Sports2D's walkers, per frame: x 1.6%, y 0.6%
    of the depth), which a filter trusting x as a lateral position passes on. On rays the depth noise is filtered
    where it is, and the filtered person stays on the ray the image shows."""

    def __init__(self, first: np.ndarray, noise: TranslationNoise) -> None:
        self.noise = noise
        state = self._to_state(first)
        self.x = np.stack([state, np.zeros(3)], 1)  # (3 axes, 2)
        r = self._measurement_var(first)
        velocity_var = _FIRST_VELOCITY_STD**2 * self._axis_scale(first)
        self.p = np.stack([np.diag([v, u]) for v, u in zip(r, velocity_var, strict=True)])

    def _axis_scale(self, t: np.ndarray) -> np.ndarray:
        """Squared size of one metre on each state axis at t (1 / z^2 for a direction, 1 for a position)."""
        depth = max(float(t[2]), 0.3)
        return np.array([depth**-2, depth**-2, 1.0]) if self.noise.rays else np.ones(3)

    def _to_state(self, t: np.ndarray) -> np.ndarray:
        if not self.noise.rays:
            return np.asarray(t, np.float64)
        depth = max(float(t[2]), 0.3)
        return np.array([t[0] / depth, t[1] / depth, float(t[2])])

    def _from_state(self, s: np.ndarray) -> np.ndarray:
        return np.array([s[0] * s[2], s[1] * s[2], s[2]]) if self.noise.rays else s.copy()

    def _measurement_var(self, t: np.ndarray) -> np.ndarray:
        depth = max(float(t[2]), 0.3)
        n = self.noise
        var = np.array([(n.lateral * depth) ** 2, (n.lateral * depth) ** 2, (n.depth * depth) ** 2])
        return var * self._axis_scale(t)

    def update(self, measured: np.ndarray, dt: float) -> np.ndarray:
        """One measurement dt seconds after the previous one -> the filtered translation."""
        f = np.array([[1.0, dt], [0.0, 1.0]])
        # the motion noise a white acceleration builds up over dt (not a constant one held for a frame, which
        # would make the allowed motion per second depend on how often the camera samples it)
        white = np.array([[dt**3 / 3.0, dt**2 / 2.0], [dt**2 / 2.0, dt]])
        scale = self._axis_scale(self._from_state(self.x[:, 0]))
        r = self._measurement_var(measured)
        z = self._to_state(measured)
        for axis in range(3):
            q = white * self.noise.acceleration**2 * scale[axis]
            x = f @ self.x[axis]
            p = f @ self.p[axis] @ f.T + q
            gain = p[:, 0] / (p[0, 0] + r[axis])
            self.x[axis] = x + gain * (z[axis] - x[0])
            self.p[axis] = p - np.outer(gain, p[0])
        return self._from_state(self.x[:, 0])


@dataclass
class Observation:
    frame: int
    detection: PersonDetection
    betas: np.ndarray  # the track's shape estimate at this frame
    translation: np.ndarray  # (3,) camera frame, metres: as measured until place(), then as published
    camera_matrix: np.ndarray
    stamp: float  # capture time, seconds


@dataclass
class _Track:
    observations: deque
    kalman: _Kalman | None = None
    placed_stamp: float | None = None  # capture time of the last observation place() filtered
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
            translation: np.ndarray, camera_matrix: np.ndarray, stamp: float | None = None) -> Observation:  # fmt: skip
        """Keeps one observation (translation as measured; shape averaged over the track when smoothing).
        stamp: capture time in seconds; None = unknown, frames NOMINAL_FPS apart."""
        track = self._tracks.get(track_id)
        if track is None:
            track = self._tracks[track_id] = _Track(deque(maxlen=self.lookahead + 1))
        betas = np.asarray(betas, np.float64)
        if self.smooth:
            track.betas_sum = betas if track.betas_sum is None else track.betas_sum + betas
            track.count += 1
            betas = track.betas_sum / track.count
        observation = Observation(
            frame, detection, betas.astype(np.float32), np.asarray(translation, np.float64), camera_matrix,
            frame / NOMINAL_FPS if stamp is None else float(stamp),
        )  # fmt: skip
        track.observations.append(observation)
        return observation

    def paired(self, track_id: int, frame: int) -> Observation | None:
        """The observation the decoder's answer for this track belongs to, if it is from frame - lookahead."""
        track = self._tracks.get(track_id)
        if track is None or len(track.observations) <= self.lookahead:
            return None
        observation = track.observations[-1 - self.lookahead]
        return observation if observation.frame == frame - self.lookahead else None

    def place(self, track_id: int, observation: Observation, measured: np.ndarray | None = None) -> np.ndarray:
        """The translation to publish with `observation` (called once per published observation, in order):
        `measured` (default: the observation's own) through the track's Kalman filter when smoothing. Stored in
        the observation and returned."""
        translation = np.asarray(observation.translation if measured is None else measured, np.float64)
        track = self._tracks.get(track_id)
        if self.smooth and track is not None:
            if track.kalman is None:
                track.kalman = _Kalman(translation, self.noise)
            else:
                dt = observation.stamp - track.placed_stamp if track.placed_stamp is not None else 0.0
                if not dt > 0.0:
                    # a repeated or backward stamp (a replayed bag, an unset header): one nominal frame on
                    dt = 1.0 / NOMINAL_FPS
                translation = track.kalman.update(translation, dt)
            track.placed_stamp = observation.stamp
        observation.translation = translation
        return translation
