"""The lift's simulated per-frame estimates used to train the decoder on the landmark source's errors
(training/lift_errors.py): close to the true motion, and the persistence setting makes the errors follow over
frames."""

from __future__ import annotations

import numpy as np
import torch

from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import HIP_LANDMARKS
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.lift_files import load_lift
from fasthmr_ros.training.lift_errors import LiftErrorModel
from fasthmr_ros.training.synth import motion


def test_lift_estimates_follow_the_motion_with_persistent_errors() -> None:
    body = BodyLandmarks(load_body_model(None))
    net, _ = load_lift(None)
    rng = np.random.default_rng(0)
    clips = [motion.synthesize_clip(kind, 2.0, 30.0, rng) for kind in ("walk", "reach", "walk", "run")]
    true = motion.camera_view(torch.stack([c.rotmats()[:60].float() for c in clips]), torch.zeros(4), torch.zeros(4))

    def points(rotmats: torch.Tensor) -> torch.Tensor:
        flat = rotmats.flatten(0, 1)
        lm = body(flat, torch.zeros(len(flat), 5))[0]
        return (lm - lm[:, list(HIP_LANDMARKS)].mean(1, keepdim=True)).unflatten(0, rotmats.shape[:2])

    figures = {}
    for persistence in (0.0, 0.8):
        with torch.no_grad():
            estimate = LiftErrorModel(body, net.eval(), persistence).apply(true, 30.0, torch.Generator().manual_seed(1))
            error = (points(estimate) - points(true)).flatten(2)
        lag1 = float((error[:, 1:] * error[:, :-1]).sum() / (error * error).sum())
        figures[persistence] = (float(error.unflatten(-1, (-1, 3)).norm(dim=-1).mean() * 1000), lag1)
    with torch.no_grad():
        other = float((points(true.roll(1, 0)) - points(true)).norm(dim=-1).mean() * 1000)
    # measured: 27.5 mm (iid errors) and 29.1 mm (persistent), lag-1 correlation 0.28 and 0.39; another clip's
    # poses are 351 mm away
    assert figures[0.0][0] < 45.0 and figures[0.8][0] < 45.0 and other > 5 * figures[0.8][0], (figures, other)
    assert figures[0.8][1] > figures[0.0][1] + 0.05, figures
