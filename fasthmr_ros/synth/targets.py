"""Ground truth in HMR2.0's crop-camera convention, and the crop camera's projection.

HMR2.0 predicts a crop camera (s, tx, ty): the body (global orientation applied) seen from translation
(tx, ty, 2 f / (256 s)) by a camera of focal f = 5000 px looking at the 256 px crop. fasthmr_ros.camera.
cam_crop_to_full turns it into the full image's translation; `crop_camera_targets` is its exact inverse, so a
perfect prediction converts back to the true translation. 2D keypoints are in normalised crop coordinates
(crop pixel / 256 - 0.5, as in HMR2.0 training), the crop pixel coming from the same affine transform as the
image crop (fasthmr_ros.preprocess.crop_people).
"""

from __future__ import annotations

import numpy as np
import torch

from fasthmr_ros.camera import CROP_FOCAL_LENGTH, CROP_SIZE


def crop_camera_targets(
    translation: np.ndarray, focal: np.ndarray, principal: np.ndarray, centers: np.ndarray, sizes: np.ndarray
) -> np.ndarray:
    """(N, 3) true translations -> (N, 3) crop cameras (s, tx, ty) that cam_crop_to_full maps back onto them.

    focal (N,) and principal (N, 2): the full image's intrinsics; centers (N, 2), sizes (N,): CropBatch boxes.
    """
    translation = np.asarray(translation, np.float64)
    focal = np.asarray(focal, np.float64)
    tz = translation[:, 2]
    scale = 2.0 * focal / (np.asarray(sizes, np.float64) * tz)
    offset = (np.asarray(centers, np.float64) - np.asarray(principal, np.float64)) * (tz / focal)[:, None]
    return np.stack([scale, translation[:, 0] - offset[:, 0], translation[:, 1] - offset[:, 1]], axis=-1)


def crop_keypoints(points_2d: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """(N, J, 2) full-image pixels -> (N, J, 2) normalised crop coordinates through (N, 2, 3) crop transforms."""
    points = np.asarray(points_2d, np.float64)
    homogeneous = np.concatenate([points, np.ones((*points.shape[:-1], 1))], axis=-1)
    crop_px = np.einsum("nij,nkj->nki", np.asarray(transforms, np.float64), homogeneous)
    return crop_px / CROP_SIZE - 0.5


def crop_translation(pred_cam: torch.Tensor) -> torch.Tensor:
    """(N, 3) crop cameras -> (N, 3) translations of the crop camera (HMR2.0's pred_cam_t)."""
    depth = 2.0 * CROP_FOCAL_LENGTH / (CROP_SIZE * pred_cam[:, 0] + 1e-9)
    return torch.stack([pred_cam[:, 1], pred_cam[:, 2], depth], dim=-1)


def project_to_crop(joints: torch.Tensor, pred_cam: torch.Tensor) -> torch.Tensor:
    """(N, J, 3) body-model joints (global orientation applied) -> (N, J, 2) normalised crop coordinates."""
    points = joints + crop_translation(pred_cam)[:, None]
    return (CROP_FOCAL_LENGTH / CROP_SIZE) * points[..., :2] / points[..., 2:3]
