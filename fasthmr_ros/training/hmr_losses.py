"""HMR2.0's training losses where they apply to synthetic data with exact ground truth.

As in HMR2.0: L1 on pelvis-aligned 3D joints, L1 on reprojected 2D joints (normalised crop coordinates), squared
error on the SMPL rotation matrices (global orientation and body pose) and on betas; each summed over its elements.
The 2D joints are projected through the true camera after cam_crop_to_full, as the node converts predictions
(targets.project_through_camera), not through HMR2.0's weak crop camera. Differences: the mean is over the batch
(HMR2.0 sums, which ties the learning rate to the batch size); no adversarial prior (the poses are sampled inside
joint limits, and there is no mocap set to train a discriminator on); a direct L1 loss on the crop camera (HMR2.0
has no true camera, we do), so the translation is right without waiting for the 2D loss to pull it there; and
heavier parameter terms (our parameters are exact, HMR2.0's are pseudo ground truth).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from fasthmr_ros.model.body import BodyModel
from fasthmr_ros.model.hmr2 import HMROutput
from fasthmr_ros.training.hmr_data import Batch
from fasthmr_ros.training.hmr_targets import project_through_camera


@dataclass(frozen=True)
class LossWeights:
    keypoints_3d: float = 0.05  # HMR2.0: 0.05
    keypoints_2d: float = 0.01  # HMR2.0: 0.01
    global_orient: float = 0.01  # HMR2.0: 0.001
    body_pose: float = 0.005  # HMR2.0: 0.001
    betas: float = 0.001  # HMR2.0: 0.0005
    crop_cam: float = 0.05  # not in HMR2.0 (no true camera there)


@dataclass
class LossTerms:
    total: torch.Tensor
    parts: dict[str, float] = field(default_factory=dict)


def hmr_losses(output: HMROutput, batch: Batch, body: BodyModel, weights: LossWeights = LossWeights()) -> LossTerms:
    pred = body(output.global_orient, output.body_pose, output.betas)
    joints = pred.joints.to(output.pred_cam.dtype)
    aligned_pred = joints - joints[:, :1]
    aligned_true = batch.joints - batch.joints[:, :1]
    projected = project_through_camera(joints, output.pred_cam, batch.centers, batch.sizes, batch.K, batch.transforms)
    terms = {
        "keypoints_3d": (aligned_pred - aligned_true).abs().sum((1, 2)),
        "keypoints_2d": (projected - batch.keypoints_2d).abs().sum((1, 2)),
        "global_orient": (output.global_orient - batch.global_orient).square().sum((1, 2, 3)),
        "body_pose": (output.body_pose - batch.body_pose).square().sum((1, 2, 3)),
        "betas": (output.betas - batch.betas).square().sum(1),
        "crop_cam": (output.pred_cam - batch.crop_cam).abs().sum(1),
    }
    total = sum(getattr(weights, name) * value.mean() for name, value in terms.items())
    parts = {name: float(value.mean().detach()) for name, value in terms.items()}
    # Figures people read: mean joint error in mm after pelvis alignment.
    parts["mpjpe_mm"] = float(1000 * (aligned_pred - aligned_true).norm(dim=-1).mean().detach())
    return LossTerms(total=total, parts=parts)
