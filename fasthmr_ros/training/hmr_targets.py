"""Ground truth in HMR2.0's crop-camera convention, and the crop camera's projection.

HMR2.0 predicts a crop camera (s, tx, ty); fasthmr_ros.perception.camera.cam_crop_to_full turns it into the full image's
translation with the camera's focal length, and `crop_camera_targets` is its exact inverse, so a perfect prediction
converts back to the true translation. 2D keypoints are in normalised crop coordinates
(crop pixel / 256 - 0.5, as in HMR2.0 training), the crop pixel coming from the same affine transform as the
image crop (fasthmr_ros.perception.preprocess.crop_people).
"""

from __future__ import annotations

import numpy as np
import torch

from fasthmr_ros.perception.camera import CROP_SIZE, cam_crop_to_full


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


def project_through_camera(
    joints: torch.Tensor,
    pred_cam: torch.Tensor,
    centers: torch.Tensor,
    sizes: torch.Tensor,
    K: torch.Tensor,
    transforms: torch.Tensor,
) -> torch.Tensor:
    """(N, J, 3) body-model joints + (N, 3) crop cameras -> (N, J, 2) normalised crop coordinates, through the
    full image's true camera: the crop camera goes through cam_crop_to_full (true focal length and principal point)
    as at run time, the joints are projected with K, and the crop transform maps the pixels into the crop.

    HMR2.0 projects with its weak crop camera instead (no intrinsics in its data); with people 1.5-4 m from wide
    cameras that differs from the real image by up to ~20% of the crop, which would fight the other losses."""
    # Per-frame principal points: express the box centres relative to them and the conversion sees px = py = 0.
    relative = centers - K[:, :2, 2]
    translation = cam_crop_to_full(pred_cam, relative, sizes, (0.0, 0.0), focal=K[:, 0, 0])
    points = joints + translation[:, None]
    pixels = points[..., :2] / points[..., 2:3] * K[:, None, [0, 1], [0, 1]] + K[:, None, :2, 2]
    crop_px = torch.einsum("nij,nkj->nki", transforms[:, :, :2], pixels) + transforms[:, None, :, 2]
    return crop_px / CROP_SIZE - 0.5
