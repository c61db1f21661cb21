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
from fasthmr_ros.model.point_kinematics import PointKinematics, frames, posed_joints
from fasthmr_ros.model.skeleton import NUM_JOINTS

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
MIN_BONE = 0.02  # metres: a bone seen end-on is not measured


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


class ShapeFit:
    """Betas (N, K) whose posed landmarks' log bone lengths match a target (N, 11) with weights (N, 11) (from
    bone_lengths(world).log() and bone_weights); the lift's betas (N, K) are the prior and the answer where too few
    bones are seen.

    Every bone end is a blend of joints, and for a fixed pose the posed joints are linear in the betas
    (model/point_kinematics.posed_joints), so one forward kinematics pass over the mean shape and the K shape
    directions gives each bone as an exact linear function of the betas; the Gauss-Newton steps on the log lengths
    then need no further pass. Two steps: on Sports2D's people they land within 0.03 (max; median 0.001) of 8
    steps' betas, one step within 0.27. In numpy: a few tiny arrays per frame, where torch's per-op overhead
    would be most of the cost."""

    def __init__(self, landmarks: BodyLandmarks, steps: int = 2) -> None:
        self.steps = steps
        self.kinematics = PointKinematics(landmarks.points, [])
        blend = landmarks.blend.detach().double().cpu().numpy()  # (33, 24 joints + named vertices)
        # each bone as a difference of landmarks: (11, 33) rows of +1/-1 (the torso: midpoint minus midpoint)
        ends = np.zeros((len(BONE_ENDS) + 1, blend.shape[0]))
        ends[np.arange(len(BONE_ENDS)), BONE_ENDS[:, 0]] += 1.0
        ends[np.arange(len(BONE_ENDS)), BONE_ENDS[:, 1]] -= 1.0
        ends[-1, list(TORSO[0])] += 0.5
        ends[-1, list(TORSO[1])] -= 0.5
        bone_blend = ends @ blend
        if np.abs(bone_blend[:, NUM_JOINTS:]).max() > 0:
            raise ValueError("the bones' landmarks must be made of joints only for the linear shape fit")
        self.bone_blend = bone_blend[:, :NUM_JOINTS]  # (11, 24): bone vectors from posed joints
        kin = self.kinematics
        # the mean shape's rest joints, then each shape direction's change of them: (1 + K, 24, 3)
        self.rest = np.concatenate([kin.joint_template[None], kin.joint_shapedirs.transpose(2, 0, 1)], 0)

    def __call__(
        self, rotmats: torch.Tensor, betas: torch.Tensor, target: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        n, k = betas.shape
        prior_betas = betas.detach().double().cpu().numpy()
        target_np = target.detach().double().cpu().numpy()
        weights_np = weights.detach().double().cpu().numpy()
        rot = frames(rotmats.detach().double().cpu().numpy())
        joints = posed_joints(rot, np.broadcast_to(self.rest[: k + 1], (n, k + 1, NUM_JOINTS, 3)))
        bones = self.bone_blend @ joints  # (n, 1 + k, 11, 3): the mean shape's bones, then per shape direction
        mean_bones, bone_dirs = bones[:, 0], bones[:, 1:]
        prior = np.eye(k) * (BONE_LOG_STD / SHAPE_PRIOR_STD) ** 2
        current = prior_betas.copy()
        for _ in range(self.steps):
            vectors = mean_bones + np.einsum("nk,nkbc->nbc", current, bone_dirs)  # (n, 11, 3)
            lengths = np.linalg.norm(vectors, axis=-1)
            clamped = lengths < MIN_BONE
            residual = np.log(np.maximum(lengths, MIN_BONE)) - target_np  # (n, 11)
            # d log|v| / d beta_k = v . dv_k / |v|^2 (zero where the length is clamped)
            jacobian = np.einsum("nbc,nkbc->nbk", vectors, bone_dirs) / np.maximum(lengths, MIN_BONE)[..., None] ** 2
            jacobian[clamped] = 0.0
            # weighted least squares with the prior, per person: (J'WJ + P) d = -(J'W r + P (b - b_lift))
            jw = jacobian.transpose(0, 2, 1) * weights_np[:, None]
            lhs = jw @ jacobian + prior
            rhs = -(jw @ residual[..., None])[..., 0] - (current - prior_betas) @ prior
            current = np.clip(current + np.linalg.solve(lhs, rhs[..., None])[..., 0], -BETA_LIMIT, BETA_LIMIT)
        enough = (weights_np > 0).sum(-1) >= 6
        fitted = np.where(enough[:, None], current, prior_betas)
        return torch.from_numpy(fitted).to(betas)
