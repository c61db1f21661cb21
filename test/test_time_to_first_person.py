"""Time to first person: someone in view when nobody is followed is published (a confirmed track id) within 3
processed frames, also when the camera's frames in between are dropped (in one process, and through the running
node fed faster than it runs); the detector schedule states its bounds, and a detector that finds nothing costs no
landmarker call.

Real footage: the Sports2D clip at the demo's 854x480, started cold at frames where both walkers are fully visible
(checked by eye, docs/masks.md): the woman on the grass (large, the full-frame detector call finds her) and the man
on the roof (small, only a tile finds him)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fasthmr_ros.footage import fetch
from fasthmr_ros.perception.masks import create_mask_generator
from fasthmr_ros.perception.tracking import Tracker

SIZE = (854, 480)
BOUND = 3  # processed frames, the first one included


@pytest.fixture(scope="module")
def sports2d() -> list[np.ndarray]:
    (path,) = fetch(["sports2d_demo.mp4"])
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(cv2.resize(bgr, SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    assert len(frames) == 230
    return frames


def first_published(frames: list[np.ndarray], **options) -> dict[str, int | None]:
    """Processed-frame number (1-based) at which the roof man and the grass woman are first published."""
    generator = create_mask_generator("mediapipe", **options)
    tracker = Tracker()
    first: dict[str, int | None] = {"roof": None, "grass": None}
    for n, frame in enumerate(frames, start=1):
        for _, det in tracker.update(generator(frame)).tracks:
            place = "roof" if det.box[3] < 0.55 * SIZE[1] else "grass" if det.box[3] > 0.8 * SIZE[1] else None
            if place and first[place] is None:
                first[place] = n
    return first


# 80-150: both walkers upright and in the detector's reach (before 80 the woman is in profile at the right edge and
# the detector misses her on some frames whatever the schedule; from ~160 the man dives)
@pytest.mark.parametrize("start", [80, 110, 140])
@pytest.mark.parametrize("stride", [1, 3])  # 3: two of every three camera frames dropped
def test_both_walkers_published_within_three_processed_frames(sports2d, start, stride):
    frames = sports2d[start : start + stride * BOUND : stride]
    first = first_published(frames)
    # found on the first frame (full frame + the whole tile schedule within 2 frames), confirmed on the next
    assert first["grass"] is not None and first["grass"] <= BOUND, first
    assert first["roof"] is not None and first["roof"] <= BOUND, first


def test_schedule_bounds_are_stated_and_met_by_the_search():
    generator = create_mask_generator("mediapipe")
    bound = generator.detection_bound(*SIZE[::-1])
    assert bound["nobody_followed"] == 2  # + 1 frame for the tracker's min_hits=2 = 3
    # a newcomer while everyone else is followed: the full frame every 2 x idle_interval frames
    assert bound["followed_full"] == 2 * generator.idle_interval
    assert bound["followed_tiles"] > bound["followed_full"]
    assert Tracker().min_hits == 2


def test_detector_runs_only_when_someone_may_be_missing(sports2d):
    generator = create_mask_generator("mediapipe")
    earlier = create_mask_generator("mediapipe", detector_schedule="every_frame")
    frames_with_calls = 0
    for frame in sports2d[100:160]:
        before = generator.calls["detector"]
        generator(frame)
        earlier(frame)
        frames_with_calls += generator.calls["detector"] > before
    # both walkers are followed throughout: after the first frame's search the detector runs on the slow walk
    # (every idle_interval-th frame) and around the odd unconfirmed detection, not on every frame
    assert frames_with_calls <= 60 // 2
    assert generator.calls["detector"] <= 0.6 * earlier.calls["detector"]
    assert generator.calls["landmarker"] <= earlier.calls["landmarker"]


def test_blank_frames_cost_no_landmarker_call():
    generator = create_mask_generator("mediapipe")
    for _ in range(3):
        assert generator(np.zeros((SIZE[1], SIZE[0], 3), np.uint8)) == []
    assert generator.calls["landmarker"] == 0
    assert generator.calls["detector"] == 3 * 8  # searching: the whole 16-entry schedule every 2 frames


def test_through_the_node_with_frames_dropped(sports2d, spawn, ros_node, tmp_path):
    """The same bound across processes: the node, started cold, gets frames at 100 Hz (far faster than it runs, so
    it drops most: newest frame only) and must publish both walkers within its first 3 processed frames. The 40
    frames (both walkers upright throughout) are played in a loop, 150 in all, so that a slow first frame (start-up)
    still leaves the node frames to process."""
    from conftest import Collector, spin_until

    from fasthmr_ros.msg import HumanMeshArray

    folder = tmp_path / "frames"
    folder.mkdir()
    for n, frame in enumerate(sports2d[110:150]):
        cv2.imwrite(str(folder / f"{n:04d}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    node = spawn("-m", "fasthmr_ros.cli", "run", name="node")
    assert spin_until(ros_node, lambda: meshes.sub.get_publisher_count() > 0, 120, [node]), "node did not start"
    replay = spawn("-m", "fasthmr_ros.cli", "replay", str(folder), "--rate", "100", "--loop", "--max-frames", "150",
                   name="replay")  # fmt: skip
    assert replay.wait(timeout=120) == 0, replay.log()
    spin_until(ros_node, lambda: False, 8, [node])  # the node finishes the frame it holds

    processed = sorted(meshes.messages, key=lambda m: (m.header.stamp.sec, m.header.stamp.nanosec))
    assert 3 <= len(processed) < 150, f"{len(processed)} of 150 frames processed: none dropped, or too few to judge"

    def places(msg) -> set[str]:
        bottoms = [(h.roi.y_offset + h.roi.height) / SIZE[1] for h in msg.humans]
        return {"roof" if b < 0.55 else "grass" if b > 0.8 else "?" for b in bottoms}

    first = {place: next((n for n, m in enumerate(processed, start=1) if place in places(m)), None)
             for place in ("roof", "grass")}  # fmt: skip
    assert all(n is not None and n <= BOUND for n in first.values()), (first, [places(m) for m in processed[:6]])
