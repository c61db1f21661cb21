"""Left/right continuity of BlazePose landmarks along a track (perception/landmark_sides.py): on body-model
landmarks with labels flipped on purpose, and on the real Pose2Sim clip where BlazePose flips them itself."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fasthmr_ros.footage import fetch
from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import HIP_LANDMARKS, SIDE_RELABELLINGS
from fasthmr_ros.model.poses import standard_pose_axis_angle
from fasthmr_ros.model.rotation import axis_angle_to_rotmat
from fasthmr_ros.perception.landmark_sides import SideContinuity, pick_relabelling
from fasthmr_ros.perception.masks import PersonDetection
from fasthmr_ros.runtime.body_files import load_body_model

K = np.array([[900.0, 0.0, 320.0], [0.0, 900.0, 240.0], [0.0, 0.0, 1.0]])


def project(points: np.ndarray) -> np.ndarray:
    uvw = points @ K.T
    return uvw[:, :2] / uvw[:, 2:]


@pytest.fixture(scope="module")
def walk() -> tuple[np.ndarray, np.ndarray]:
    """20 frames of a body-model walk (one stride, arms swinging) seen from the front at 3 m: (T, 33, 3) px +
    visibility, (T, 33, 3) world (hip-centred)."""
    body = load_body_model(None)
    landmarks = BodyLandmarks(body)
    stride = torch.from_numpy(standard_pose_axis_angle("walking")).float()
    frames = 20
    keypoints, world = [], []
    with torch.no_grad():
        for f in range(frames):
            rot = axis_angle_to_rotmat(stride * np.cos(np.pi * f / (frames - 1)))  # (24, 3, 3)
            points = landmarks(rot[None], torch.zeros(1, body.num_betas))[0][0].double().numpy()
            points = points - points[list(HIP_LANDMARKS)].mean(0)
            camera = points * np.array([1.0, -1.0, -1.0]) + np.array([0.0, 0.0, 3.0])  # face the camera, upright
            keypoints.append(np.concatenate([project(camera), np.ones((len(camera), 1))], 1))
            world.append(points)
    return np.array(keypoints, np.float32), np.array(world, np.float32)


def detection(keypoints: np.ndarray, world: np.ndarray) -> PersonDetection:
    return PersonDetection(box=np.array([0, 0, 640, 480], np.float32), score=1.0, mask=None,
                           keypoints=keypoints.copy(), world_landmarks=world.copy())  # fmt: skip


def test_flipped_labels_are_put_back_and_true_labels_left_alone(walk) -> None:
    keypoints, world = walk
    flips = {6: 3, 7: 3, 8: 3, 12: 2, 15: 1}  # frame -> relabelling applied to the detector's answer
    sides = SideContinuity()
    for f in range(len(keypoints)):
        order = list(SIDE_RELABELLINGS[flips.get(f, 0)])
        (out,) = sides([1], [detection(keypoints[f][order], world[f][order])])
        np.testing.assert_array_equal(out.keypoints, keypoints[f])
        np.testing.assert_array_equal(out.world_landmarks, world[f])
    assert sides.swaps == len(flips)


def test_a_track_starts_as_labelled_and_a_new_track_starts_afresh(walk) -> None:
    keypoints, world = walk
    mirrored = list(SIDE_RELABELLINGS[3])
    sides = SideContinuity()
    (first,) = sides([1], [detection(keypoints[0][mirrored], world[0][mirrored])])
    np.testing.assert_array_equal(first.keypoints, keypoints[0][mirrored])  # nothing to compare with yet
    sides.end([1])
    (again,) = sides([1], [detection(keypoints[1], world[1])])  # the same id after it ended: no memory
    np.testing.assert_array_equal(again.keypoints, keypoints[1])
    assert sides.swaps == 0


def test_side_on_where_both_readings_lie_close_nothing_changes() -> None:
    rng = np.random.default_rng(0)
    previous = np.concatenate([rng.uniform(100, 400, (33, 2)), np.ones((33, 1))], 1)
    # left and right counterparts on the same pixels (a person seen exactly side-on), plus a little noise
    for order in SIDE_RELABELLINGS[1:]:
        previous[list(order)] = previous
    current = previous.copy()
    current[:, :2] += rng.normal(0, 2.0, (33, 2))
    assert pick_relabelling(previous, current) == 0


def test_too_few_visible_points_keep_the_labels() -> None:
    previous = np.zeros((33, 3))
    current = np.zeros((33, 3))
    current[:, :2] = 50.0
    assert pick_relabelling(previous, current) == 0  # nothing was visible before


def test_blazepose_flips_on_the_real_clip_are_undone_and_its_3d_then_moves_smoothly() -> None:
    """Pose2Sim's cam02 at 60 fps, frames 28-75, where BlazePose labels the turning man mirrored for runs of frames
    (found against the other three calibrated views by bench.real3d). The correction is chosen from the 2D points
    alone; MediaPipe's world landmarks, which it never looks at, are the independent check: hip-centred, a body
    moves a few cm between frames at 60 fps, and a mislabelled frame jumps by tens of cm."""
    from fasthmr_ros.perception.masks import create_mask_generator

    (path,) = fetch(["pose2sim_single_cam02.mp4"])
    capture = cv2.VideoCapture(str(path))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 28)
    generator = create_mask_generator("mediapipe")
    raw: list[PersonDetection] = []
    for _ in range(48):
        ok, bgr = capture.read()
        assert ok
        people = [p for p in generator(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)) if p.keypoints is not None]
        assert people, "the man is in every frame of this stretch"
        raw.append(max(people, key=lambda p: (p.box[2] - p.box[0]) * (p.box[3] - p.box[1])))
    capture.release()
    sides = SideContinuity()
    fixed = [sides([1], [det])[0] for det in raw]

    def steps(dets: list[PersonDetection]) -> np.ndarray:
        world = np.array([d.world_landmarks for d in dets], np.float64)
        world = world - world[:, list(HIP_LANDMARKS)].mean(1, keepdims=True)
        limbs = list(range(11, 17)) + list(range(23, 29))
        return np.linalg.norm(np.diff(world[:, limbs], axis=0), axis=-1).mean(-1)  # (T-1,) metres

    raw_steps, fixed_steps = steps(raw), steps(fixed)
    assert sides.swaps >= 5, f"BlazePose flipped {sides.swaps} frames here; this test expects a run of them"
    assert raw_steps.max() > 0.15, f"raw 3D never jumps (max step {raw_steps.max():.3f} m)"
    assert fixed_steps.max() < 0.5 * raw_steps.max()
    assert np.median(fixed_steps) <= np.median(raw_steps) + 1e-9
