"""Left and right kept the same way round along each track.

BlazePose labels a person's sides from one frame's appearance, and for runs of frames it labels them mirrored,
the whole body or the arms or legs alone, mostly when a person turns side-on or away (Pose2Sim's cam02: 31 of 100
frames, checked against the other three calibrated views). The 2D points stay on the body; only their names
exchange. Lifted as they come, those frames give a body with its near and far limbs exchanged (PA-MPJPE ~225 mm
there against ~70 mm on the rest of that view). A person's limbs move a few pixels between frames while a left and
right counterpart are usually far apart, so the reading of this frame's labels (identity, arms swapped, legs
swapped, all swapped) whose 2D points lie nearest the track's previous, already corrected, points is the right
one; a swap is taken only when it is clearly nearer (side-on, where both readings lie close, nothing changes).
The correction carries to the world landmarks (the same relabelling: MediaPipe's 3D for such a frame is the
right body under the wrong names).

A track's first frame is taken as labelled: a person facing away from the start keeps BlazePose's reading.
"""

from __future__ import annotations

import copy

import numpy as np

from fasthmr_ros.model.landmark_map import NUM_LANDMARKS, SIDE_RELABELLINGS
from fasthmr_ros.perception.masks import PersonDetection

_RELABELLINGS = np.array(SIDE_RELABELLINGS)  # (4, 33)
# a swapped reading is taken when its mean 2D distance to the previous points is below this share of the
# identity's: the counterparts of a walker's limbs lie tens of pixels apart, a frame's motion a few
SWAP_MARGIN = 0.6
MIN_VISIBILITY = 0.5
_MIN_COMMON_POINTS = 6


def pick_relabelling(previous: np.ndarray, current: np.ndarray) -> int:
    """Index into SIDE_RELABELLINGS of the reading of `current` (33, 3: px, visibility) that fits `previous`
    (33, 3, the track's last corrected landmarks) best; 0 (as labelled) unless another is clearly nearer."""
    seen_before = previous[:, 2] >= MIN_VISIBILITY
    costs = []
    for order in _RELABELLINGS:
        read = current[order]
        common = seen_before & (read[:, 2] >= MIN_VISIBILITY)
        if common.sum() < _MIN_COMMON_POINTS:
            costs.append(np.inf)
            continue
        costs.append(float(np.linalg.norm(read[common, :2] - previous[common, :2], axis=1).mean()))
    best = int(np.argmin(costs))
    if best != 0 and np.isfinite(costs[0]) and costs[best] < SWAP_MARGIN * costs[0]:
        return best
    return 0


class SideContinuity:
    """Per track, the last corrected 2D landmarks; relabels each new detection of the track to match them."""

    def __init__(self) -> None:
        self._last: dict[int, np.ndarray] = {}
        self.swaps = 0  # detections relabelled so far

    def __call__(self, track_ids: list[int], detections: list[PersonDetection]) -> list[PersonDetection]:
        out = []
        for track_id, det in zip(track_ids, detections, strict=True):
            keypoints = det.keypoints
            if keypoints is None or keypoints.shape != (NUM_LANDMARKS, 3) or not np.isfinite(keypoints).all():
                out.append(det)
                continue
            previous = self._last.get(track_id)
            choice = 0 if previous is None else pick_relabelling(previous, keypoints)
            if choice:
                order = _RELABELLINGS[choice]
                world = det.world_landmarks
                if world is not None and world.shape == (NUM_LANDMARKS, 3):
                    world = world[order]
                # a shallow copy: dataclasses.replace would build the full-frame mask a crop-only detection defers
                det = copy.copy(det)
                det.keypoints, det.world_landmarks = keypoints[order], world
                self.swaps += 1
            self._last[track_id] = det.keypoints
            out.append(det)
        return out

    def end(self, track_ids) -> None:
        for track_id in track_ids:
            self._last.pop(int(track_id), None)
