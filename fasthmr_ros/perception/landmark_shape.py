"""The body's shape from MediaPipe's metric bone lengths, for the landmark pose source.

Why: the translation solve puts the posed model's landmarks on the person's 2D landmarks, so the camera distance
comes out in proportion to the size of the model's landmark skeleton. The lift was trained with a +-12% scale
error on its input and so ignores the input's size; its bodies come out near the mean shape. On real people
(Sports2D and vtest clips, not the benchmark) that skeleton measured 14% larger than the MediaPipe world landmarks
it was lifted from (shoulder width +25..30%, torso +16%, shins +15..17%, forearms +14..19%, thighs -1%), which
placed people ~14% too far. MediaPipe's world landmarks are in metres from its learned human proportions, so here
the shape coefficients are refitted so the model's limb bones have the lengths MediaPipe measured: a few
Gauss-Newton steps on log bone lengths, the lift's own shape as the prior.

One frame's bone lengths are noisy (fitted per frame, the real-footage benchmark's root depth error stayed at 149
mm with a bias of only +20 mm), while a person's bones do not change, so the lengths are averaged over the frames
in which the mask backend follows the same person (BoneMemory, keyed by its follow id).
"""

from __future__ import annotations

import numpy as np
import torch

from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import LANDMARK_NAMES

_SIDES = (("left", "right"), ("right", "left"))
# (a, b) landmark index pairs; a pair of pairs is the distance between two midpoints (the torso)
_PAIRS = [(f"{s}_{a}", f"{s}_{b}") for s, _ in _SIDES
          for a, b in (("shoulder", "elbow"), ("elbow", "wrist"), ("hip", "knee"), ("knee", "ankle"))]  # fmt: skip
_PAIRS += [("left_shoulder", "right_shoulder"), ("left_hip", "right_hip")]
BONE_ENDS = np.array([[LANDMARK_NAMES.index(a), LANDMARK_NAMES.index(b)] for a, b in _PAIRS])
TORSO = (
    (LANDMARK_NAMES.index("left_shoulder"), LANDMARK_NAMES.index("right_shoulder")),
    (LANDMARK_NAMES.index("left_hip"), LANDMARK_NAMES.index("right_hip")),
)
SHAPE_PRIOR_STD = 1.0  # betas, around the lift's own answer
# MediaPipe's spread of one bone's log length for one person (~10%): sets how far the bones pull against the prior
BONE_LOG_STD = 0.1
BETA_LIMIT = 3.0  # the shape directions hold their meaning within a few standard deviations
_STEP = 0.05  # finite-difference step in betas (bone lengths are nearly linear in them)


def bone_lengths(points: torch.Tensor) -> torch.Tensor:
    """(..., 33, 3) landmarks -> (..., 11) the limb bones, shoulder and hip width, and the torso (metres)."""
    bones = (points[..., BONE_ENDS[:, 0], :] - points[..., BONE_ENDS[:, 1], :]).norm(dim=-1)
    top = points[..., list(TORSO[0]), :].mean(-2)
    bottom = points[..., list(TORSO[1]), :].mean(-2)
    return torch.cat([bones, (top - bottom).norm(dim=-1, keepdim=True)], -1)


def bone_weights(visibility: torch.Tensor, min_visibility: float) -> torch.Tensor:
    """(..., 33) visibility -> (..., 11) weights: a bone counts where both its ends are visible."""
    ends = visibility[..., BONE_ENDS]  # (..., 10, 2)
    weights = ends.min(-1).values
    torso = visibility[..., [*TORSO[0], *TORSO[1]]].min(-1, keepdim=True).values
    weights = torch.cat([weights, torso], -1)
    return weights * (weights >= min_visibility)


class BoneMemory:
    """Per followed person, the visibility-weighted mean of the log bone lengths seen so far. A person the mask
    backend found afresh (follow id None) starts over; people no longer followed are forgotten."""

    def __init__(self) -> None:
        self._sums: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __call__(self, follow_ids: list[int | None], log_lengths: torch.Tensor,
                 weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """(N,) ids, (N, 11) log lengths and weights of this frame -> the averaged (log lengths, weights)."""
        kept: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        out_log, out_weights = log_lengths.clone(), weights.clone()
        for i, follow_id in enumerate(follow_ids):
            weighted, total = log_lengths[i] * weights[i], weights[i].clone()
            if follow_id is not None and follow_id in self._sums:
                weighted = weighted + self._sums[follow_id][0]
                total = total + self._sums[follow_id][1]
            if follow_id is not None:
                kept[follow_id] = (weighted, total)
            seen = total > 0
            out_log[i] = torch.where(seen, weighted / total.clamp_min(1e-9), log_lengths[i])
            # a bone seen clearly in a few frames counts fully; the prior's pull stays that of one good frame
            out_weights[i] = (total / 3.0).clamp(max=1.0)
        self._sums = kept
        return out_log, out_weights


def fit_shape(landmarks: BodyLandmarks, rotmats: torch.Tensor, betas: torch.Tensor, target: torch.Tensor,
              weights: torch.Tensor, steps: int = 2) -> torch.Tensor:  # fmt: skip
    """Betas (N, K) whose posed landmarks' log bone lengths match target (N, 11) with weights (N, 11) (from
    bone_lengths(world).log() and bone_weights); the lift's betas (N, K) are the prior and the answer where too few
    bones are seen. Two steps: on Sports2D's people they land within 0.03 (max; median 0.001) of 8 steps' betas,
    one step within 0.27."""
    n, k = betas.shape
    eye = torch.eye(k, dtype=betas.dtype, device=betas.device)
    current = betas.clone()
    for _ in range(steps):
        probes = torch.cat([current[:, None], current[:, None] + _STEP * eye], 1).reshape(-1, k)
        posed = landmarks(rotmats.repeat_interleave(k + 1, 0), probes)[0].reshape(n, k + 1, -1, 3)
        logs = bone_lengths(posed).clamp_min(0.02).log()  # (N, K+1, 11)
        residual = logs[:, 0] - target  # (N, 11)
        jacobian = ((logs[:, 1:] - logs[:, :1]) / _STEP).transpose(1, 2)  # (N, 11, K)
        # weighted least squares with the prior, per person: (J'WJ + P) d = -(J'W r + P (b - b_lift))
        jw = jacobian.transpose(1, 2) * weights[:, None]
        prior = eye * (BONE_LOG_STD / SHAPE_PRIOR_STD) ** 2
        lhs = jw @ jacobian + prior
        rhs = -(jw @ residual[..., None])[..., 0] - (current - betas) @ prior
        current = (current + torch.linalg.solve(lhs, rhs)).clamp(-BETA_LIMIT, BETA_LIMIT)
    enough = (weights > 0).sum(-1) >= 6
    return torch.where(enough[:, None], current, betas)
