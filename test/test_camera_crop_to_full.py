"""cam_crop_to_full: the full-image camera must see the person where and as large as the crop camera does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fasthmr_ros.perception.camera import cam_crop_to_full, default_focal
from fasthmr_ros.perception.preprocess import crop_people


def project(points: np.ndarray, translation: np.ndarray, focal: float, principal: np.ndarray) -> np.ndarray:
    shifted = points + translation
    return focal * shifted[:, :2] / shifted[:, 2:3] + principal


def test_default_focal_is_hmr2_scaling() -> None:
    assert default_focal(1768, 994) == pytest.approx(5000 / 256 * 1768)
    assert default_focal(1080, 1920) == pytest.approx(5000 / 256 * 1920)


@pytest.mark.parametrize("focal", [None, 1450.0])
def test_full_camera_reproduces_the_crop_projection(focal: float | None) -> None:
    """Crop camera: focal 5000 on the 256 px crop, t = (tx, ty, 2*5000/(256 s)). Mapping its projection back
    through the crop's affine must give the full-image projection of the body's fronto-parallel plane (z = 0 in
    the body frame) exactly: same place, same magnification. (Depth offsets project differently off-axis: the
    crop camera looks straight at the person, the full camera does not.)"""
    image = np.zeros((994, 1768, 3), dtype=np.uint8)
    boxes = np.array([[580, 70, 725, 465], [1200.5, 300.25, 1500.0, 600.0]])
    batch = crop_people(image, boxes)
    pred_cam = np.array([[0.8, 0.05, -0.1], [1.3, -0.2, 0.3]])
    width, height = batch.image_wh
    full_t = cam_crop_to_full(pred_cam, batch.centers, batch.sizes, batch.image_wh, focal)
    used_focal = default_focal(width, height) if focal is None else focal
    body = np.random.default_rng(0).normal(scale=0.5, size=(50, 3))
    body[:, 2] = 0.0
    for i in range(2):
        s, tx, ty = pred_cam[i]
        crop_t = np.array([tx, ty, 2 * 5000 / (256 * s)])
        crop_pixels = project(body, crop_t, 5000.0, np.array([128.0, 128.0]))
        affine = np.vstack((batch.transforms[i], [0, 0, 1]))
        via_crop = (np.linalg.inv(affine) @ np.c_[crop_pixels, np.ones(len(body))].T).T[:, :2]
        direct = project(body, full_t[i], used_focal, np.array([width / 2, height / 2]))
        assert np.allclose(direct, via_crop, atol=1e-6)
        # depth scales with the focal length: metric depth needs the real one
        assert full_t[i, 2] == pytest.approx(2 * used_focal / (batch.sizes[i] * s), rel=1e-6)


def test_principal_point_moves_the_translation() -> None:
    pred_cam = np.array([[1.0, 0.0, 0.0]])
    centers, sizes = np.array([[700.0, 400.0]]), np.array([300.0])
    centred = cam_crop_to_full(pred_cam, centers, sizes, (1280, 720), 1000.0)
    shifted = cam_crop_to_full(pred_cam, centers, sizes, (1280, 720), 1000.0, principal_point=(700.0, 400.0))
    # a box centred on the principal point puts the person on the optical axis
    assert np.allclose(shifted[0, :2], 0.0)
    assert centred[0, 0] > 0 and centred[0, 1] > 0  # right of and below the image centre
    assert centred[0, 2] == shifted[0, 2]


def test_torch_and_numpy_agree_and_keep_type() -> None:
    pred_cam = np.array([[0.9, 0.1, -0.05], [1.1, 0.0, 0.2]])
    centers, sizes = np.array([[100.0, 200.0], [800.0, 50.0]]), np.array([250.0, 90.0])
    as_numpy = cam_crop_to_full(pred_cam, centers, sizes, (1024, 768))
    as_torch = cam_crop_to_full(torch.tensor(pred_cam), centers, sizes, (1024, 768))
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.float64
    assert np.allclose(as_torch.numpy(), as_numpy)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        cam_crop_to_full(pred_cam[:, :2], centers, sizes, (1024, 768))
    with pytest.raises(ValueError, match="centers must be"):
        cam_crop_to_full(pred_cam, centers[:1], sizes, (1024, 768))
