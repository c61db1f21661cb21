"""HMR2.0 crops: expected values are derived from the published rules, not by re-running the crop code."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from fasthmr_ros.footage import fetch
from fasthmr_ros.paths import footage_dir
from fasthmr_ros.perception.preprocess import (
    CropBatch,
    blur_sigma,
    crop_people,
    crop_transform,
    expand_boxes,
)

MEAN = 255.0 * np.array([0.485, 0.456, 0.406])
STD = 255.0 * np.array([0.229, 0.224, 0.225])


def unnormalise(batch: CropBatch, index: int) -> np.ndarray:
    """(256, 192, 3) crop on the 0-255 scale."""
    return batch.images[index].numpy().astype(np.float64).transpose(1, 2, 0) * STD + MEAN


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_box_expansion_to_192_by_256_then_square() -> None:
    boxes = np.array([[10, 20, 310, 220], [0, 0, 100, 400], [5, 5, 197, 261]], dtype=np.float64)
    centers, sizes = expand_boxes(boxes)
    # wide 300x200: h -> 4/3 * 300 = 400; tall 100x400: w -> 300, side 400; exactly 192x256: side 256
    assert np.allclose(sizes, [400.0, 400.0, 256.0])
    assert np.allclose(centers, [[160, 120], [50, 200], [101, 133]])
    assert centers.dtype == np.float32 and sizes.dtype == np.float32


def test_affine_maps_square_box_corners_to_crop_corners() -> None:
    center, size = np.array([321.7, 180.2], dtype=np.float32), np.float32(417.3)
    transform = crop_transform(center, size)
    half = float(size) / 2
    for corner, target in (((-1, -1), (0, 0)), ((1, 1), (256, 256)), ((1, -1), (256, 0)), ((0, 0), (128, 128))):
        point = np.array([center[0] + corner[0] * half, center[1] + corner[1] * half, 1.0])
        assert np.allclose(transform @ point, target, atol=1e-3)


def test_unit_scale_crop_is_the_box_pixels_with_black_outside() -> None:
    image = random_image(300, 400)
    # a 192x256 box with integer corners: the ViT view is exactly those pixels; the second box hangs off the left
    boxes = np.array([[50, 20, 242, 276], [-40, 10, 152, 266]], dtype=np.float64)
    batch = crop_people(image, boxes)
    assert batch.images.shape == (2, 3, 256, 192)
    assert np.allclose(unnormalise(batch, 0), image[20:276, 50:242], atol=1e-3)
    second = unnormalise(batch, 1)
    assert np.allclose(second[:, 40:], image[10:266, 0:152], atol=1e-3)
    assert np.allclose(second[:, :40], 0.0, atol=1e-3)  # black border before normalisation


def test_half_scale_crop_samples_every_other_pixel_without_blur() -> None:
    image = random_image(600, 500, seed=1)
    box = np.array([[40.0, 30.0, 424.0, 542.0]])  # 384x512 -> side 512, factor 1.0: no blur
    assert blur_sigma(512.0) is None
    view = unnormalise(crop_people(image, box), 0)
    # crop pixel (x, y) samples source (2x + cx - 256, 2y + cy - 256), here integer positions
    assert np.allclose(view, image[30:542:2, 40:424:2], atol=1e-3)


def gaussian_blur_reference(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian with edge replication, radius int(4 sigma + 0.5), written out with numpy."""
    radius = int(4.0 * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    out = image.astype(np.float64)
    for axis in (0, 1):
        padded = np.pad(out, [(radius, radius) if a == axis else (0, 0) for a in range(3)], mode="edge")
        length = out.shape[axis]
        taps = zip(kernel, offsets, strict=True)
        out = sum(w * np.take(padded, np.arange(length) + radius + o, axis=axis) for w, o in taps)
    return out


def test_quarter_scale_crop_blurs_the_whole_image_first() -> None:
    image = random_image(700, 900, seed=2)
    # 768x1024 box -> side 1024, factor 2.0 > 1.1 -> sigma 0.5; crop pixel (x, y) samples (4x + cx - 512, ...)
    cx, cy = 450, 520
    box = np.array([[cx - 384.0, cy - 512.0, cx + 384.0, cy + 512.0]])
    assert blur_sigma(1024.0) == pytest.approx(0.5)
    view = unnormalise(crop_people(image, box), 0)
    blurred = gaussian_blur_reference(image, 0.5)
    ys = 4 * np.arange(256) + cy - 512
    xs = 4 * (np.arange(192) + 32) + cx - 512
    inside_y, inside_x = (ys >= 0) & (ys < 700), (xs >= 0) & (xs < 900)
    expected = np.zeros((256, 192, 3))
    expected[np.ix_(inside_y, inside_x)] = blurred[np.ix_(ys[inside_y], xs[inside_x])]
    assert inside_y.sum() < 256  # part of the box is off the image: black there, edge-replicated blur inside
    assert np.allclose(view, expected, atol=1e-3)
    unblurred = np.zeros_like(expected)
    unblurred[np.ix_(inside_y, inside_x)] = image[np.ix_(ys[inside_y], xs[inside_x])]
    assert np.abs(view - unblurred).max() > 10  # the blur is really there


def test_blur_threshold_and_sigma() -> None:
    threshold_side = 2 * 256 * 1.1
    assert blur_sigma(threshold_side - 1) is None
    side = threshold_side + 1
    assert blur_sigma(side) == pytest.approx((side / 512 - 1) / 2, rel=1e-6)


def test_sub_pixel_positions_follow_opencv_pixel_centres() -> None:
    """A horizontal ramp I(x) = x is reproduced exactly by bilinear sampling: a crop pixel's value is the source x
    it samples, so a half-pixel convention error would show as an offset of ~1.2 here."""
    ramp = np.tile(np.arange(256, dtype=np.uint8)[None, :, None], (700, 1, 3))
    box = np.array([[127.3 - 225.0, 10.0, 127.3 + 225.0, 610.0]])  # side 600, non-integer centre
    batch = crop_people(ramp, box)
    view = unnormalise(batch, 0)
    cx = float(batch.centers[0, 0])
    source_x = (np.arange(192) + 32 - 128) * 600.0 / 256.0 + cx
    valid = (source_x > 1) & (source_x < 254)
    # OpenCV 4 rounds sample positions to 1/32 pixel
    assert np.abs(view[100, valid, 0] - source_x[valid]).max() < 1.0 / 32 + 1e-6


def test_region_blur_is_identical_to_whole_image_blur() -> None:
    image = random_image(500, 800, seed=3)
    boxes = np.array([[100, 40, 700, 480], [-100, -50, 500, 700], [600, 300, 900, 900]], dtype=np.float64)
    batch = crop_people(image, boxes)
    for i in range(len(boxes)):
        sigma = blur_sigma(batch.sizes[i])
        assert sigma is not None
        whole = gaussian_filter(image.astype(np.float64), (sigma, sigma, 0.0), mode="nearest", truncate=4.0)
        crop = cv2.warpAffine(whole, batch.transforms[i], (256, 256), flags=cv2.INTER_LINEAR, borderValue=0)
        expected = ((crop[:, 32:224].astype(np.float32).astype(np.float64) - MEAN) / STD).astype(np.float32)
        assert np.array_equal(batch.images[i].numpy(), expected.transpose(2, 0, 1))


def test_batch_equals_people_cropped_one_by_one() -> None:
    image = random_image(480, 640, seed=4)
    boxes = np.array([[10, 10, 200, 470], [300, 100, 350, 180], [100, 50, 630, 470]], dtype=np.float64)
    batch = crop_people(image, boxes)
    for i, box in enumerate(boxes):
        single = crop_people(image, box[None])
        assert np.array_equal(batch.images[i].numpy(), single.images[0].numpy())
        assert np.array_equal(batch.transforms[i], single.transforms[0])


def receptive_field_overlap(start: int, stop: int, token: int) -> int:
    """Pixels of [start, stop) inside token `token`'s receptive field [16 t - 2, 16 t + 14)."""
    return max(0, min(stop, 16 * token + 14) - max(start, 16 * token - 2))


def test_masks_pool_onto_the_token_receptive_fields() -> None:
    image = random_image(300, 400, seed=5)
    box = np.array([[50.0, 20.0, 242.0, 276.0]])  # unit scale: view pixel (x, y) = image pixel (50 + x, 20 + y)
    mask = np.zeros((300, 400), dtype=bool)
    top, bottom, left, right = 37, 205, 61, 150  # view rows 37..204, columns 61..149
    mask[20 + top : 20 + bottom, 50 + left : 50 + right] = True
    batch = crop_people(image, box, masks=[mask], mask_threshold=0.25)
    expected = np.array(
        [
            [receptive_field_overlap(top, bottom, i) * receptive_field_overlap(left, right, j) / 256 for j in range(12)]
            for i in range(16)
        ]
    )
    assert batch.token_coverage.shape == (1, 16, 12)
    assert np.allclose(batch.token_coverage[0], expected, atol=1e-6)
    assert np.array_equal(batch.token_masks[0].numpy(), expected >= 0.25)
    assert 0 < batch.token_masks.sum() < 192


def test_masks_follow_scaled_crops() -> None:
    image = random_image(900, 900, seed=6)
    mask = np.zeros((900, 900), dtype=bool)
    mask[200:700, 300:600] = True  # the person fills the middle of a 1024 px box
    box = np.array([[450 - 384.0, 450 - 512.0, 450 + 384.0, 450 + 512.0]])
    batch = crop_people(image, box, masks=[mask])
    # view pixel = (image - 450) / 4 + 128, minus 32 for columns: rows 65.5 .. 190.5, columns 58.5 .. 133.5
    coverage = batch.token_coverage[0]
    rows_in = [i for i in range(16) if 16 * i - 2 >= 66 and 16 * i + 14 <= 190]
    cols_in = [j for j in range(12) if 16 * j - 2 >= 59 and 16 * j + 14 <= 133]
    assert len(rows_in) > 5 and len(cols_in) > 1
    assert np.allclose(coverage[np.ix_(rows_in, cols_in)], 1.0)
    assert np.allclose(coverage[:, 9:], 0.0) and np.allclose(coverage[:, :3], 0.0) and np.allclose(coverage[:4], 0)
    assert math.isclose(coverage.sum(), 125 * 75 / 256, rel_tol=0.02)


def test_real_footage_frame_crops_two_walkers() -> None:
    fetch(["sports2d_demo.mp4"])
    capture = cv2.VideoCapture(str(footage_dir() / "sports2d_demo.mp4"))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    boxes = np.array([[580, 70, 725, 465], [0, 0, 1768, 994]], dtype=np.float64)
    batch = crop_people(rgb, boxes)
    assert batch.image_wh == (1768, 994)
    assert batch.images.dtype.is_floating_point and batch.images.shape == (2, 3, 256, 192)
    # the person box fills the view: no black border; the whole-frame box (side 2357) leaves bands above/below
    assert (unnormalise(batch, 0).max(axis=2) > 1).mean() > 0.99
    band = unnormalise(batch, 1)[:10]
    assert np.abs(band).max() < 1e-3


def test_bad_inputs_raise_clear_errors() -> None:
    image = random_image(100, 100)
    with pytest.raises(ValueError, match=r"uint8 \(H, W, 3\)"):
        crop_people(image.astype(np.float32), np.array([[0, 0, 10, 10]]))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        crop_people(image, np.array([0, 0, 10, 10]))
    with pytest.raises(ValueError, match="x1 > x0"):
        crop_people(image, np.array([[10, 0, 10, 10]]))
    with pytest.raises(ValueError, match="one \\(H, W\\) mask per box"):
        crop_people(image, np.array([[0, 0, 10, 10]]), masks=[])
    with pytest.raises(ValueError, match="mask_threshold"):
        crop_people(image, np.array([[0, 0, 10, 10]]), masks=[np.ones((100, 100), bool)], mask_threshold=0.0)
    empty = crop_people(image, np.zeros((0, 4)))
    assert empty.images.shape == (0, 3, 256, 192)
