"""Stable person ids across frames: box IoU (optionally blended with mask overlap) + Hungarian assignment.

- Each track predicts its box with a constant-velocity model (smoothed per-frame velocity of all four box edges),
  which carries it through short occlusions and keeps crossing people apart.
- Birth with hysteresis: a new track is tentative until it has been matched on `min_hits` consecutive frames; only
  then does it get an id and appear in the output. A tentative track that misses a frame is dropped silently.
  The default of 2 publishes a person on the second processed frame they are matched in: with a detector that sees
  them on their first frame, within 2 processed frames of appearing (test/test_time_to_first_person.py).
- A detection that carries the mask backend's `follow_id` (the backend followed that person from the previous frame
  by their own landmarks) matches the track that took the same follow_id last frame before any box overlap counts,
  so a person who moved far between two processed frames (dropped frames, fast motion) keeps their track.
- Death with hysteresis: a confirmed track survives `max_misses` frames without a match (not reported while
  missing), then ends; its id is listed once in TrackUpdate.ended so per-track temporal windows can be cleared.
- Ids come from a counter and are never reused.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from fasthmr_ros.perception.masks import PersonDetection, box_iou

# Masks are compared at this stride: overlap ratios need no full-resolution pixels.
_MASK_STRIDE = 4


@dataclass
class TrackUpdate:
    tracks: list[tuple[int, PersonDetection]]  # confirmed tracks seen this frame, by id
    ended: list[int]  # ids whose track ended this frame (never seen again)


@dataclass
class _Track:
    box: np.ndarray  # (4,) last matched box
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4))  # box edges, px per frame
    track_id: int | None = None  # None while tentative
    hits: int = 1
    misses: int = 0  # frames since the last match
    mask: np.ndarray | None = None  # last matched mask, strided (only kept when masks are compared)
    follow_id: int | None = None  # the mask backend's follow id of the last matched detection

    def predicted_box(self) -> np.ndarray:
        box = self.box + self.velocity * (self.misses + 1)
        # Keep a valid box even if the size shrank fast before an occlusion.
        centre = 0.5 * (box[:2] + box[2:])
        half = np.maximum(0.5 * (box[2:] - box[:2]), 0.5)
        return np.concatenate([centre - half, centre + half])


class Tracker:
    """Assigns track ids to per-frame PersonDetections.

    iou_threshold: least similarity (IoU of predicted and detected boxes, or the mask blend) to match.
    min_hits: consecutive matched frames before a track is confirmed and gets an id (1 = immediately).
    max_misses: frames a confirmed track may go unmatched before it ends.
    mask_weight: 0..1 share of mask IoU in the similarity when both sides have masks (0 = boxes only).
    velocity_smoothing: 0..1 weight of the newest velocity sample (1 = last displacement only).
    """

    def __init__(
        self,
        iou_threshold: float = 0.2,
        min_hits: int = 2,
        max_misses: int = 10,
        mask_weight: float = 0.0,
        velocity_smoothing: float = 0.5,
    ) -> None:
        if min_hits < 1 or max_misses < 0:
            raise ValueError("Tracker needs min_hits >= 1 and max_misses >= 0")
        if not 0.0 <= mask_weight <= 1.0 or not 0.0 < velocity_smoothing <= 1.0:
            raise ValueError("Tracker needs mask_weight in [0, 1] and velocity_smoothing in (0, 1]")
        self.iou_threshold = iou_threshold
        self.min_hits = min_hits
        self.max_misses = max_misses
        self.mask_weight = mask_weight
        self.velocity_smoothing = velocity_smoothing
        self._tracks: list[_Track] = []
        self._next_id = 1

    @property
    def active_ids(self) -> list[int]:
        """Ids of confirmed tracks still alive (seen now or coasting through a miss)."""
        return sorted(t.track_id for t in self._tracks if t.track_id is not None)

    def reset(self) -> list[int]:
        """End every track (e.g. on a scene cut); returns the ids that ended. Ids are still never reused."""
        ended = self.active_ids
        self._tracks = []
        return ended

    def update(self, detections: list[PersonDetection]) -> TrackUpdate:
        boxes = np.array([_check_box(d.box) for d in detections], dtype=np.float64).reshape(-1, 4)
        matches, unmatched_tracks, unmatched_dets = self._associate(detections, boxes)

        seen: list[tuple[int, PersonDetection]] = []
        for t, d in matches:
            track = self._tracks[t]
            gap = track.misses + 1
            step = (boxes[d] - track.box) / gap
            if track.hits == 1 and track.track_id is None:
                track.velocity = step
            else:
                track.velocity = self.velocity_smoothing * step + (1 - self.velocity_smoothing) * track.velocity
            track.box = boxes[d]
            track.mask = self._strided(detections[d])
            track.follow_id = detections[d].follow_id
            track.hits += 1
            track.misses = 0
            if track.track_id is None and track.hits >= self.min_hits:
                track.track_id = self._next_id
                self._next_id += 1
            if track.track_id is not None:
                seen.append((track.track_id, detections[d]))

        ended: list[int] = []
        survivors: list[_Track] = []
        for index, track in enumerate(self._tracks):
            if index in unmatched_tracks:
                track.misses += 1
                if track.track_id is None or track.misses > self.max_misses:
                    if track.track_id is not None:
                        ended.append(track.track_id)
                    continue
            survivors.append(track)
        for d in unmatched_dets:
            track = _Track(box=boxes[d], mask=self._strided(detections[d]), follow_id=detections[d].follow_id)
            if self.min_hits <= 1:
                track.track_id = self._next_id
                self._next_id += 1
                seen.append((track.track_id, detections[d]))
            survivors.append(track)
        self._tracks = survivors
        return TrackUpdate(tracks=sorted(seen, key=lambda item: item[0]), ended=sorted(ended))

    def _strided(self, detection: PersonDetection) -> np.ndarray | None:
        # reading .mask may build a full-frame array (masks made lazily): only when masks are compared
        return _strided_mask(detection.mask) if self.mask_weight > 0 else None

    def _associate(
        self, detections: list[PersonDetection], boxes: np.ndarray
    ) -> tuple[list[tuple[int, int]], set[int], list[int]]:
        if not self._tracks or not len(boxes):
            return [], set(range(len(self._tracks))), list(range(len(boxes)))
        predicted = np.stack([t.predicted_box() for t in self._tracks])
        similarity = box_iou(predicted, boxes)
        if self.mask_weight > 0:
            for t, track in enumerate(self._tracks):
                for d, det in enumerate(detections):
                    overlap = _mask_iou(track.mask, self._strided(det))
                    if overlap is not None and similarity[t, d] > 0:
                        similarity[t, d] = (1 - self.mask_weight) * similarity[t, d] + self.mask_weight * overlap
        # The backend's own continuity: the same followed person, whatever the boxes did in between.
        follow = np.array([[t.follow_id is not None and t.follow_id == det.follow_id for det in detections]
                           for t in self._tracks])  # fmt: skip
        similarity = np.where(follow, np.maximum(similarity, 1.0), similarity)
        # Confirmed tracks win ties against tentative ones, so a flicker of duplicates cannot steal an id.
        bonus = np.array([1e-3 if t.track_id is not None else 0.0 for t in self._tracks])[:, None]
        rows, cols = linear_sum_assignment(-(similarity + bonus + follow))
        matches = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if similarity[r, c] >= self.iou_threshold]
        matched_tracks = {r for r, _ in matches}
        matched_dets = {c for _, c in matches}
        unmatched_tracks = set(range(len(self._tracks))) - matched_tracks
        unmatched_dets = [d for d in range(len(boxes)) if d not in matched_dets]
        return matches, unmatched_tracks, unmatched_dets


def _check_box(box: np.ndarray) -> np.ndarray:
    box = np.asarray(box, dtype=np.float64)
    if box.shape != (4,) or not np.all(np.isfinite(box)):
        raise ValueError(f"Tracker needs each detection box as 4 finite numbers x1, y1, x2, y2, got {box!r}")
    return box


def _strided_mask(mask: np.ndarray | None) -> np.ndarray | None:
    return None if mask is None else np.ascontiguousarray(mask[::_MASK_STRIDE, ::_MASK_STRIDE])


def _mask_iou(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None or a.shape != b.shape:
        return None
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b)) / union if union else None
