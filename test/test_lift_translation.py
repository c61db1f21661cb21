"""The landmark source with the decoder on re-solves each published person's translation for the pose the decoder
published (perception/pipeline.py), so the published body lies on the person's 2D landmarks: on real footage
(Sports2D's walkers) its landmarks reproject closer to MediaPipe's 2D landmarks than with the lift's own
translation, and the decoder's strength setting for the lift source reaches the streaming decoder."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from fasthmr_ros import footage
from fasthmr_ros.model.rotation import axis_angle_to_rotmat
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.decoder_stream import StreamingDecoder
from fasthmr_ros.perception.landmark_lift import _PLACEMENT
from fasthmr_ros.perception.masks import PersonDetection
from fasthmr_ros.perception.pipeline import Pipeline, project
from fasthmr_ros.perception.types import Frame

FRAMES = 40
WIDTH = 640


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    video = footage.fetch(["sports2d_demo.mp4"])[0]
    capture = cv2.VideoCapture(str(video))
    out = []
    while len(out) < FRAMES:
        ok, bgr = capture.read()
        if not ok:
            break
        height = round(bgr.shape[0] * WIDTH / bgr.shape[1])
        out.append(cv2.cvtColor(cv2.resize(bgr, (WIDTH, height), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB))
    capture.release()
    assert len(out) == FRAMES
    return out


def reprojection_px(frames: list[np.ndarray], replace_translation: bool) -> np.ndarray:
    """Per published person and frame: the visibility-weighted mean distance (px) between the published mesh's
    placement landmarks, projected through K, and the person's 2D landmarks."""
    # the full correction (strength 1), where the decoder moves the pose most from the lift's own
    flat = {"pose_source": "landmarks", "decoder": True, "max_people": 2, "decoder_lift_strength": 1.0}
    pipeline = Pipeline(PipelineConfig.from_flat(flat))
    pipeline.replace_translation = replace_translation
    pipeline.history.smooth = False  # the translation filter's lag would hide what the placement does
    height, width = frames[0].shape[:2]
    k = np.array([[width, 0.0, width / 2], [0.0, width, height / 2], [0.0, 0.0, 1.0]])
    detect = pipeline.masks
    seen: list[PersonDetection] = []

    def recording(rgb: np.ndarray) -> list[PersonDetection]:
        seen[:] = detect(rgb)
        return seen

    pipeline.masks = recording
    errors = []
    pick = list(_PLACEMENT)
    for rgb in frames:
        for person in pipeline.process(Frame(rgb, k, True)).people:
            det = next(d for d in seen if np.allclose(d.box, person.box))
            visibility = det.keypoints[pick, 2] * (det.keypoints[pick, 2] >= 0.5)
            pixels = project(person.landmarks_3d[pick].astype(np.float64), k)
            distance = np.linalg.norm(pixels - det.keypoints[pick, :2], axis=1)
            errors.append(float((distance * visibility).sum() / max(visibility.sum(), 1e-9)))
    return np.array(errors)


def test_published_pose_is_placed_on_the_2d_landmarks(frames) -> None:
    torch.set_num_threads(1)
    resolved = reprojection_px(frames, True)
    lifted = reprojection_px(frames, False)
    assert len(resolved) == len(lifted) >= FRAMES - 5  # the walker, published once his track is confirmed
    # measured on these frames: lower in 82% of the published frames, mean 5.21 px against 5.39 (the lift's own
    # translation fits the lift's own pose; the decoder's pose is what is published)
    assert (resolved < lifted).mean() >= 0.7, (resolved < lifted).mean()
    assert resolved.mean() < 0.99 * lifted.mean(), (resolved.mean(), lifted.mean())


def test_lift_strength_reaches_the_decoder_and_blends() -> None:
    source = Pipeline(PipelineConfig.from_flat({"pose_source": "landmarks", "decoder_lift_strength": 0.25}))
    assert source.decoder is not None and source.decoder.strength == 0.25
    torch.manual_seed(0)
    estimate = axis_angle_to_rotmat(torch.randn(3, 24, 3) * 0.5)
    full = StreamingDecoder(source.decoder.model)
    none = StreamingDecoder(source.decoder.model, strength=0.0)
    half = StreamingDecoder(source.decoder.model, strength=0.5)
    answers = [d.update([0, 1, 2], estimate) for d in (full, none, half)]
    assert torch.allclose(answers[1], estimate, atol=1e-5)  # strength 0: the per-frame estimate
    moved = (answers[0] - estimate).norm(dim=(-1, -2))
    halfway = (answers[2] - estimate).norm(dim=(-1, -2))
    assert moved.mean() > 1e-3 and (halfway < moved + 1e-6).all() and halfway.mean() < 0.75 * moved.mean()
    with pytest.raises(ValueError, match="strength"):
        StreamingDecoder(source.decoder.model, strength=1.5)
