"""With decoder look-ahead k, a published person carries the box, shape and translation of the very observation
the decoder's pose is for, also when the track missed frames (the pairing is by observation, not by frame count).

The person detector is replaced by a scripted list of detections (body-model people with known positions), so
the test knows which observation each output must come from; everything after it is the real pipeline."""

from __future__ import annotations

import numpy as np
import torch

from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import HIP_LANDMARKS, NUM_LANDMARKS
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.masks import PersonDetection
from fasthmr_ros.perception.pipeline import Pipeline
from fasthmr_ros.perception.track_state import TrackHistory, TranslationNoise
from fasthmr_ros.perception.types import Frame
from fasthmr_ros.training.lift_data import make_samples

K = np.array([[800.0, 0, 320], [0, 800.0, 240], [0, 0, 1]])
LOOKAHEAD = 2
MISSING = {6, 7}  # frames where the detector misses the person


def scripted_people(pipeline: Pipeline, frames: int) -> list[list[PersonDetection]]:
    landmarks = BodyLandmarks(pipeline.body)
    data = make_samples(landmarks, 1, seed=5)
    with torch.no_grad():
        model = landmarks(data.rotmats, data.betas)[0]
    model = model[0].numpy()
    out = []
    for f in range(frames):
        if f in MISSING:
            out.append([])
            continue
        camera = model + np.array([0.02 * f, 0.0, 5.0])  # walks right, 2 cm a frame
        pixels = (camera[:, :2] / camera[:, 2:]) * 800.0 + np.array([320, 240])
        box = np.array([*pixels.min(0), *pixels.max(0)], np.float32)
        keypoints = np.concatenate([pixels, np.ones((NUM_LANDMARKS, 1))], 1).astype(np.float32)
        world = (model - model[list(HIP_LANDMARKS)].mean(0)).astype(np.float32)
        out.append([PersonDetection(box, 0.9, keypoints=keypoints, world_landmarks=world)])
    return out


def test_lookahead_pairs_each_pose_with_its_own_observation() -> None:
    pipeline = Pipeline(PipelineConfig.from_flat({"pose_source": "landmarks", "decoder_lookahead": LOOKAHEAD}))
    frames = 14
    script = scripted_people(pipeline, frames)
    scripted = iter(script)
    pipeline.masks = lambda rgb: next(scripted)
    pipeline.tracker.min_hits = 1
    image = np.zeros((480, 640, 3), np.uint8)
    published = {}
    for f in range(frames):
        result = pipeline.process(Frame(image, K, True))
        assert result.delay_frames == LOOKAHEAD
        for person in result.people:
            published[f] = person
    assert published, "nothing published"
    for f, person in published.items():
        source = f - LOOKAHEAD
        assert source not in MISSING
        expected_box = script[source][0].box
        assert np.allclose(person.box, expected_box), (f, source)
    # right after the gap, the observation k steps back in the track is from before the gap: not published
    for f in (8, 9):
        assert f not in published
    assert {f for f in published} >= {4, 5, 12, 13}


def test_translation_filter_smooths_depth_and_keeps_up() -> None:
    rng = np.random.default_rng(0)
    history = TrackHistory(lookahead=0, smooth=True)
    raw = TrackHistory(lookahead=0, smooth=False)
    truth = np.stack([np.linspace(0, 1.0, 90), np.zeros(90), np.linspace(3.0, 4.5, 90)], 1)  # walking away
    noisy = truth + rng.normal(0, 1, truth.shape) * np.array([0.01, 0.01, 0.09])
    det = PersonDetection(np.zeros(4, np.float32), 1.0)
    smooth = np.stack([history.place(1, history.add(1, f, det, np.zeros(10), noisy[f], K)) for f in range(90)])
    plain = np.stack([raw.place(1, raw.add(1, f, det, np.zeros(10), noisy[f], K)) for f in range(90)])
    assert np.allclose(plain, noisy)
    step_raw = np.abs(np.diff(plain[:, 2])).mean()
    step_smooth = np.abs(np.diff(smooth[:, 2])).mean()
    assert step_smooth < 0.25 * step_raw, (step_smooth, step_raw)
    # it follows the motion: after settling, the depth error is below the measurement noise
    assert np.abs(smooth[30:, 2] - truth[30:, 2]).mean() < 0.5 * np.abs(noisy[30:, 2] - truth[30:, 2]).mean()


def test_translation_filter_keeps_a_person_on_the_image_ray() -> None:
    """Monocular depth noise moves a measurement along its camera ray; filtered on rays (x/z, y/z, z) the published
    person stays on the ray the image shows, where an x, y, z filter passes the depth noise on as x noise."""
    rng = np.random.default_rng(1)
    frames = 120
    direction = np.stack([np.linspace(-0.3, 0.3, frames), np.full(frames, 0.1), np.ones(frames)], 1)  # walks across
    depth = 4.0
    measured = direction * (depth * (1 + 0.04 * rng.normal(size=frames)))[:, None]  # 4% depth noise, exact ray
    det = PersonDetection(np.zeros(4, np.float32), 1.0)
    out = {}
    for rays in (True, False):
        history = TrackHistory(lookahead=0, smooth=True, noise=TranslationNoise(rays=rays))
        out[rays] = np.stack([history.place(1, history.add(1, f, det, np.zeros(10), measured[f], K))
                              for f in range(frames)])  # fmt: skip
    ray_error = {r: np.abs(t[20:, 0] / t[20:, 2] - direction[20:, 0]).mean() for r, t in out.items()}
    depth_error = {r: np.abs(t[20:, 2] - depth).mean() for r, t in out.items()}
    assert ray_error[True] < 0.3 * ray_error[False], ray_error
    assert depth_error[True] < 1.2 * depth_error[False], depth_error


def test_translation_filter_counts_the_time_between_frames() -> None:
    """A walker at 1.2 m/s seen at 30 fps, then (the node falling behind) one frame in three: with the frames'
    capture times the filter keeps up; counted as evenly spaced frames it lags ~0.15 m behind the walker."""
    times = np.r_[np.arange(30) / 30, 1 + np.arange(0, 60, 3) / 30]
    truth = np.stack([np.full_like(times, 0.2), np.zeros_like(times), 3.0 + 1.2 * times], 1)
    det = PersonDetection(np.zeros(4, np.float32), 1.0)
    errors = {}
    for stamped in (True, False):
        history = TrackHistory(lookahead=0, smooth=True)
        stamps = times if stamped else [None] * len(times)
        out = np.stack([history.place(1, history.add(1, f, det, np.zeros(10), truth[f], K, stamps[f]))
                        for f in range(len(times))])  # fmt: skip
        errors[stamped] = np.abs(out[30:, 2] - truth[30:, 2]).mean()
    assert errors[True] < 0.005, errors
    assert errors[False] > 0.05, errors


def test_translation_filter_repeated_stamps_step_one_nominal_frame() -> None:
    """A stamp that does not move forward (an unset header, a replayed bag) gives a finite translation, as if one
    nominal frame had passed, rather than a zero or negative time step."""
    det = PersonDetection(np.zeros(4, np.float32), 1.0)
    history = TrackHistory(lookahead=0, smooth=True)
    stamps = [5.0, 5.0, 4.0, 5.1]
    out = [history.place(1, history.add(1, f, det, np.zeros(10), np.array([0.0, 0.0, 3.0 + 0.01 * f]), K, s))
           for f, s in enumerate(stamps)]  # fmt: skip
    assert np.isfinite(np.stack(out)).all()
    assert abs(out[-1][2] - 3.03) < 0.03
