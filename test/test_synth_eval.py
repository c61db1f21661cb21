"""The evaluation itself: exact answers score zero, known offsets score what they are, missing frames are counted,
and a decoder wrapper keeps frames aligned under look-ahead."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fasthmr_ros.model.configs import CONFIGS
from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.training.hmr_eval import DecodedPredictor, PerFramePredictor, evaluate_sequences, sequence_frames
from fasthmr_ros.training.synth.backgrounds import load_plates
from fasthmr_ros.training.synth.dataset import SynthSet, generate_sequences
from fasthmr_ros.training.synth.scene import SynthGenerator


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    path = tmp_path_factory.mktemp("eval") / "seq.npz"
    generator = SynthGenerator(seed=11, plates=load_plates())
    generate_sequences(path, 2, seed=11, seconds=0.4, fps=30.0, size=(160, 120), generator=generator)
    return SynthSet.load(path)


def _truth_by_first_pixel(dataset):
    """A method that looks its frames up in the data set and answers the truth (what a perfect model would)."""
    starts = {dataset.image(int(seq[0])).tobytes(): seq for seq in dataset.sequences()}
    return lambda frames: dataset["joints_cam"][starts[frames[0].image.tobytes()]].astype(np.float64)


def test_perfect_answers_score_zero_and_offsets_score_their_size(dataset):
    truth = _truth_by_first_pixel(dataset)
    perfect = evaluate_sequences(dataset, truth)
    assert perfect.frames == 24 and perfect.found == 1.0
    assert perfect.mpjpe < 1e-6 and perfect.pa_mpjpe < 1e-3 and perfect.accel < 1e-6 and perfect.root_error < 1e-6
    # A translation offset of 10 cm: invisible to the aligned metrics, exactly 100 mm in the camera frame.
    shifted = evaluate_sequences(dataset, lambda frames: truth(frames) + np.array([0.0, 0.06, 0.08]))
    assert shifted.mpjpe < 1e-6 and abs(shifted.camera_error - 100.0) < 1e-3 and abs(shifted.root_error - 100) < 1e-3

    # Missing frames are counted and left out of the means; Accel skips frames whose neighbours are missing.
    def with_gaps(frames):
        out = truth(frames)
        out[3] = np.nan
        return out

    gaps = evaluate_sequences(dataset, with_gaps)
    assert abs(gaps.found - 22 / 24) < 1e-9 and gaps.mpjpe < 1e-6
    with pytest.raises(ValueError, match=r"\(T, 24, 3\)"):
        evaluate_sequences(dataset, lambda frames: np.zeros((1, 24, 3)))


class _DelayDecoder:
    """Answers the input of `lookahead` frames ago, like a look-ahead decoder that changes nothing."""

    def __init__(self, lookahead: int) -> None:
        self.lookahead = lookahead
        self.seen: list[torch.Tensor] = []

    def reset(self, track_id=None) -> None:
        self.seen = []

    def update(self, track_ids, rotmats, tokens=None):
        self.seen.append(rotmats)
        return self.seen[max(0, len(self.seen) - 1 - self.lookahead)]


def test_decoded_predictor_realigns_look_ahead_answers(dataset):
    body = load_body_model(None)
    torch.manual_seed(0)
    per_frame = PerFramePredictor(HMR2(CONFIGS["micro"]), body)
    frames = sequence_frames(dataset, dataset.sequences()[0])
    direct = per_frame(frames)
    delayed = DecodedPredictor(per_frame, _DelayDecoder(2), lookahead=2)(frames)
    np.testing.assert_allclose(delayed[:-2], direct[:-2], atol=1e-5)
    assert np.isnan(delayed[-2:]).all()
