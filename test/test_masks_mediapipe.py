"""The embedded MediaPipe mask generator on real footage (Sports2D demo: a man on a roof, a woman walking below),
plus empty, tiny, huge and malformed frames."""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np
import pytest

from fasthmr_ros.footage import clip_path, fetch
from fasthmr_ros.perception.masks import box_iou, create_mask_generator
from fasthmr_ros.perception.masks_mediapipe import KEYPOINT_NAMES, Roi, detection_tiles
from fasthmr_ros.perception.tracking import Tracker

FIRST, COUNT = 96, 10  # both people fully visible here (checked by eye), the man small against the sky


@pytest.fixture(scope="module")
def sports2d_frames() -> list[np.ndarray]:
    (path,) = fetch(["sports2d_demo.mp4"])
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, FIRST)
    frames = []
    for _ in range(COUNT):
        ok, bgr = cap.read()
        assert ok, f"could not read {clip_path('sports2d_demo.mp4')}"
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames


@pytest.fixture(scope="module")
def sports2d_results(sports2d_frames):
    generator = create_mask_generator("mediapipe")
    tracker = Tracker(min_hits=2)
    per_frame = []
    for frame in sports2d_frames:
        people = generator(frame)
        per_frame.append((people, tracker.update(people)))
    return per_frame


def test_finds_both_people_with_full_body_boxes_masks_and_keypoints(sports2d_frames, sports2d_results):
    height, width = sports2d_frames[0].shape[:2]
    # The detector schedule (full frame + tiles, 2 calls per frame) has covered the frame after 5 frames.
    for people, _ in sports2d_results[5:]:
        assert len(people) == 2
        roof, ground = sorted(people, key=lambda p: p.box[3])
        # The man stands on the roof (feet above mid-frame), the woman walks on the grass (feet low in the frame).
        assert roof.box[3] < 0.55 * height and ground.box[3] > 0.8 * height
        assert box_iou(roof.box, ground.box)[0, 0] == 0.0
        for person in people:
            x1, y1, x2, y2 = person.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            assert (y2 - y1) > 1.4 * (x2 - x1), "a standing person's full-body box is tall"
            assert person.mask.shape == (height, width) and person.mask.dtype == bool
            ys, xs = np.nonzero(person.mask)
            assert xs.min() >= x1 and xs.max() < x2 and ys.min() >= y1 and ys.max() < y2
            assert person.mask[int(y1) : int(y2), int(x1) : int(x2)].mean() > 0.25
            assert person.keypoints.shape == (len(KEYPOINT_NAMES), 3)
            ankles = person.keypoints[[KEYPOINT_NAMES.index("left_ankle"), KEYPOINT_NAMES.index("right_ankle")], :2]
            nose = person.keypoints[KEYPOINT_NAMES.index("nose"), :2]
            assert np.all(ankles[:, 1] > nose[1] + 0.6 * (y2 - y1)), "ankles far below the nose"
            assert 0.5 <= person.score <= 1.0


def test_ids_are_stable_over_the_clip_piece(sports2d_results):
    ids_per_frame = [sorted(tid for tid, _ in update.tracks) for _, update in sports2d_results[6:]]
    assert all(ids == ids_per_frame[0] for ids in ids_per_frame) and len(ids_per_frame[0]) == 2
    assert all(not update.ended for _, update in sports2d_results)


def test_huge_frame_gives_the_same_people_scaled(sports2d_frames, sports2d_results):
    generator = create_mask_generator("mediapipe")
    frame = sports2d_frames[-1]
    big = cv2.resize(frame, None, fx=2.2, fy=2.2, interpolation=cv2.INTER_LINEAR)  # 3890 x 2187
    for _ in range(5):
        people = generator(big)
    expected = np.stack([p.box for p in sports2d_results[-1][0]]) * 2.2
    got = np.stack([p.box for p in people])
    assert got.shape == expected.shape
    assert np.all(box_iou(got, expected).max(axis=1) > 0.75)
    assert people[0].mask.shape == big.shape[:2]


def test_blank_tiny_and_malformed_frames():
    generator = create_mask_generator("mediapipe")
    assert generator(np.zeros((480, 640, 3), np.uint8)) == []
    assert generator(np.full((720, 1280, 3), 255, np.uint8)) == []
    for shape in ((1, 1, 3), (7, 5, 3), (2, 900, 3)):
        assert generator(np.zeros(shape, np.uint8)) == []
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        generator(np.zeros((480, 640), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        generator(np.zeros((48, 64, 3), np.float32))
    with pytest.raises(ValueError, match="empty image"):
        generator(np.zeros((0, 64, 3), np.uint8))


@pytest.mark.parametrize(("height", "width", "fraction"), [(994, 1768, 0.5), (1920, 1080, 0.5), (576, 768, 0.6)])
def test_detector_tiles_cover_the_frame(height, width, fraction):
    tiles = detection_tiles(height, width, fraction)
    assert tiles[0] == (0, 0, width, height)
    covered = np.zeros((height, width), dtype=bool)
    side = round(fraction * min(height, width))
    for x, y, w, h in tiles[1:]:
        assert (w, h) == (side, side) and x >= 0 and x + w <= width and y >= 0 and y + h <= height
        covered[y : y + h, x : x + w] = True
    assert covered.all()
    xs = sorted({x for x, _, _, _ in tiles[1:]})
    assert all(b - a <= 0.75 * side + 1 for a, b in itertools.pairwise(xs)), "neighbours overlap >= 25%"
    assert detection_tiles(height, width, 0) == [(0, 0, width, height)]


def test_roi_follows_mediapipe_alignment_rule():
    upright = Roi.from_points(np.array([100.0, 200.0]), np.array([100.0, 120.0]))  # scale point above the hip
    assert upright.rotation == pytest.approx(0.0) and upright.size == pytest.approx(2 * 80 * 1.25)
    lying = Roi.from_points(np.array([100.0, 200.0]), np.array([180.0, 200.0]))  # head to the right
    assert lying.rotation == pytest.approx(math.pi / 2)
    assert lying.half_extent() == pytest.approx(lying.size / 2)
    tilted = Roi.from_points(np.array([0.0, 0.0]), np.array([30.0, -30.0]))
    assert tilted.rotation == pytest.approx(math.pi / 4) and tilted.half_extent() == pytest.approx(
        tilted.size / 2 * math.sqrt(2)
    )


def test_landmarker_threads_give_the_same_people(sports2d_frames, sports2d_results):
    # two graphs in two threads share the followed people between them; every person must come out as one graph
    # alone gives it, in the same order (ids, boxes, landmarks), and every run counted
    generator = create_mask_generator("mediapipe", landmark_threads=2)
    for frame, (alone, _) in zip(sports2d_frames, sports2d_results, strict=True):
        shared = generator(frame)
        assert len(shared) == len(alone)
        for a, b in zip(alone, shared, strict=True):
            assert a.follow_id == b.follow_id
            np.testing.assert_allclose(a.box, b.box, atol=1.0)
            np.testing.assert_allclose(a.keypoints[:, :2], b.keypoints[:, :2], atol=1.0)
    assert generator.calls["landmarker"] >= 2 * (COUNT - 5)
