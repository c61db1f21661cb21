"""Tracker on synthetic box sequences: crossing paths, occlusion gaps, births and deaths with hysteresis."""

from __future__ import annotations

import numpy as np
import pytest

from fasthmr_ros.perception.masks import PersonDetection
from fasthmr_ros.perception.tracking import Tracker

FRAME_HW = (240, 320)


def person(x: float, y: float, w: float = 30, h: float = 80, with_mask: bool = False) -> PersonDetection:
    box = np.array([x, y, x + w, y + h], dtype=np.float32)
    mask = None
    if with_mask:
        mask = np.zeros(FRAME_HW, dtype=bool)
        mask[int(y) : int(y + h), int(x) : int(x + w)] = True
    return PersonDetection(box=box, score=0.9, mask=mask)


def ids_by_x(update) -> list[tuple[int, float]]:
    return sorted((tid, float(det.box[0])) for tid, det in update.tracks)


@pytest.mark.parametrize("with_mask", [False, True])
def test_crossing_paths_keep_their_ids(with_mask):
    tracker = Tracker(min_hits=2, max_misses=3, mask_weight=0.5 if with_mask else 0.0)
    # A walks right, B walks left along the same line; they overlap completely around frame 10.
    owner: dict[int, str] = {}
    for t in range(21):
        a = person(20 + 12 * t, 100, with_mask=with_mask)
        b = person(260 - 12 * t, 100, with_mask=with_mask)
        update = tracker.update([a, b] if t % 2 else [b, a])  # detection order must not matter
        for tid, det in update.tracks:
            name = "A" if det is a else "B"
            assert owner.setdefault(tid, name) == name, f"frame {t}: id {tid} jumped from {owner[tid]} to {name}"
    assert sorted(owner.values()) == ["A", "B"]


def test_crossing_at_different_depths_keeps_ids():
    # Near person (big box) and far person (small box) crossing with a partial overlap.
    tracker = Tracker(min_hits=1)
    owner: dict[int, str] = {}
    for t in range(25):
        near = person(10 + 10 * t, 60, w=50, h=150)
        far = person(250 - 8 * t, 90, w=20, h=55)
        for tid, det in tracker.update([near, far]).tracks:
            assert owner.setdefault(tid, "near" if det is near else "far") == ("near" if det is near else "far")
    assert len(owner) == 2


def test_occlusion_gap_is_bridged_by_constant_velocity():
    tracker = Tracker(min_hits=2, max_misses=6)
    seen = []
    for t in range(20):
        visible = not 8 <= t < 13  # 5 frames behind an occluder while walking 9 px/frame
        update = tracker.update([person(10 + 9 * t, 50)] if visible else [])
        seen.extend(tid for tid, _ in update.tracks)
        assert update.ended == []
    assert set(seen) == {1}


def test_gap_longer_than_max_misses_ends_the_track_and_new_id_is_fresh():
    tracker = Tracker(min_hits=2, max_misses=3)
    ended_at: dict[int, int] = {}
    ids_after = set()
    for t in range(16):
        update = tracker.update([person(100, 50)] if t < 5 or t >= 10 else [])
        for tid in update.ended:
            assert tid not in ended_at, "an id must be reported as ended once"
            ended_at[tid] = t
        if t >= 10:
            ids_after.update(tid for tid, _ in update.tracks)
    # Last seen at t=4; misses at t=5..8 are within max_misses=3 for t=5,6,7; ends at t=8.
    assert ended_at == {1: 8}
    assert ids_after == {2}, "a returning person after the track ended gets a new id, never the old one"


def test_birth_needs_consecutive_hits():
    tracker = Tracker(min_hits=3, max_misses=5)
    reported = []
    for present in [1, 1, 0, 1, 0, 1, 1, 1, 1]:
        update = tracker.update([person(50, 40)] if present else [])
        reported.append([tid for tid, _ in update.tracks])
        assert update.ended == [], "tentative tracks die silently"
    # Flickering (hits 2, then 1, then 1) never confirms; the run of 3 from t=5 confirms at t=7.
    assert reported[:7] == [[]] * 7
    assert reported[7:] == [[1], [1]]


def test_min_hits_one_reports_immediately_and_ids_are_never_reused():
    tracker = Tracker(min_hits=1, max_misses=0)
    all_ids = []
    for t in range(6):
        # A person appears on even frames only: with max_misses=0 each disappearance ends the track.
        update = tracker.update([person(30, 30)] if t % 2 == 0 else [])
        all_ids.extend(tid for tid, _ in update.tracks)
        if t % 2:
            assert update.ended == [all_ids[-1]]
    assert all_ids == [1, 2, 3]


def test_birth_and_death_of_several_people():
    tracker = Tracker(min_hits=2, max_misses=2)
    lifetimes: dict[int, list[int]] = {}
    ended: dict[int, int] = {}
    for t in range(30):
        dets = []
        if t < 20:
            dets.append(person(10 + 2 * t, 20))  # P1: frames 0..19
        if 5 <= t < 12:
            dets.append(person(200, 120 - 3 * (t - 5)))  # P2: frames 5..11
        if t >= 15:
            dets.append(person(150, 150, w=25, h=60))  # P3: frames 15..29
        update = tracker.update(dets)
        for tid, _ in update.tracks:
            lifetimes.setdefault(tid, []).append(t)
        for tid in update.ended:
            ended[tid] = t
    assert {tid: (frames[0], frames[-1]) for tid, frames in lifetimes.items()} == {
        1: (1, 19),
        2: (6, 11),
        3: (16, 29),
    }
    assert ended == {2: 14, 1: 22}  # last seen + max_misses + 1
    assert tracker.active_ids == [3]


def test_empty_frames_and_reset():
    tracker = Tracker(min_hits=1)
    assert tracker.update([]).tracks == []
    assert tracker.update([person(5, 5)]).tracks[0][0] == 1
    assert tracker.reset() == [1]
    assert tracker.update([]).tracks == [] and tracker.active_ids == []
    assert tracker.update([person(5, 5)]).tracks[0][0] == 2


def test_bad_boxes_are_one_line_errors():
    tracker = Tracker()
    with pytest.raises(ValueError, match="x1, y1, x2, y2"):
        tracker.update([PersonDetection(box=np.array([0, 0, np.nan, 4]), score=1.0)])
    with pytest.raises(ValueError, match="x1, y1, x2, y2"):
        tracker.update([PersonDetection(box=np.zeros(3), score=1.0)])
    with pytest.raises(ValueError):
        Tracker(min_hits=0)
