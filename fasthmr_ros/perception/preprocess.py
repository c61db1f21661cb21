"""Person crops for the HMR2.0 encoder, computed exactly as the public 4D-Humans demo (ViTDetDataset) does.

For each box (x0, y0, x1, y1):
1. centre = (p0 + p1) / 2, (w, h) = p1 - p0, in float32 (the reference stores w, h as (p1 - p0) / 200 and
   multiplies back by 200; the round trip is kept for bit parity);
2. expand to aspect 192:256 (w:h): h = 4w/3 if h/w < 4/3 else w = 3h/4; square side S = max(w, h), which is also
   the box size of the camera conversion;
3. if the downsampling factor S/256/2 exceeds 1.1, Gaussian-blur the image (sigma = (factor - 1)/2, per channel,
   edge-replicating, truncate 4, i.e. skimage.filters.gaussian(preserve_range=True)) and keep it float64;
4. cv2.getAffineTransform(centre, centre + (0, S/2), centre + (S/2, 0) -> (128,128), (128,256), (256,128)) and
   cv2.warpAffine to 256x256, INTER_LINEAR, constant 0 border (uint8 when not blurred, float64 when blurred);
5. RGB, (x - 255 mean) / (255 std) with ImageNet mean/std, then columns 32:224 -> (3, 256, 192).
The input here is RGB (the reference reads BGR and flips after the crop; warp and blur are per channel, so the
order does not change any number).

Two things are not bit-identical to the reference, both far below anything visible: the normalisation is done in
float64 then rounded to float32 (what the reference does under numpy 2; under numpy 1 it ran in float32, <= 1 ulp
apart), and only the part of the image a crop reads is blurred (gaussian_filter is local, so the values read are
bit-identical to blurring the whole image; a test checks this).

Person masks go through the same affine warp and are pooled onto the ViT token grid: token (i, j) of the patch
conv (kernel 16, stride 16, padding 2) sees rows 16i-2 .. 16i+13 and columns 16j-2 .. 16j+13 of the 256x192 view,
so its coverage is the person fraction of that receptive field (padding counts as background), and it is a
person token when coverage >= mask_threshold. This is the one place where masks meet the ViT patch grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy.ndimage import gaussian_filter

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
CROP_SIZE = 256
VIEW_COLUMNS = slice(32, 224)  # the ViT sees the centre 256x192 of the 256x256 crop
BOX_ASPECT_WH = (192, 256)
BLUR_FACTOR_THRESHOLD = 1.1
BLUR_TRUNCATE = 4.0  # skimage/scipy default: kernel radius = int(4 sigma + 0.5)
PATCH_SIZE = 16
PATCH_PADDING = 2
TOKEN_GRID = (16, 12)
# A token is a person token when at least this fraction of its receptive field is person. See docs/model.md.
DEFAULT_MASK_THRESHOLD = 0.25


@dataclass
class CropBatch:
    images: torch.Tensor  # (N, 3, 256, 192) float32, normalised
    centers: np.ndarray  # (N, 2) float32 box centres, full-image pixels
    sizes: np.ndarray  # (N,) float32 square box side S, full-image pixels
    transforms: np.ndarray  # (N, 2, 3) float64 affine: full-image pixel -> 256x256 crop pixel
    image_wh: tuple[int, int]  # (W, H) of the full image
    token_masks: torch.Tensor | None = None  # (N, 16, 12) bool person tokens
    token_coverage: np.ndarray | None = None  # (N, 16, 12) float32 person fraction of each token's receptive field

    def __len__(self) -> int:
        return int(self.images.shape[0])


def expand_boxes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, 4) xyxy boxes -> centres (N, 2) float32 and square sides S (N,) float32, HMR2.0's rules."""
    boxes = _check_boxes(boxes)
    corners = boxes.astype(np.float32)
    centers = (corners[:, 2:4] + corners[:, 0:2]) / 2.0
    wh = (corners[:, 2:4] - corners[:, 0:2]) / 200.0 * 200  # float32 round trip of the reference's "scale"
    w, h = wh[:, 0], wh[:, 1]
    aspect_w, aspect_h = BOX_ASPECT_WH
    too_wide = h / w < aspect_h / aspect_w
    new_h = np.where(too_wide, np.maximum(w * aspect_h / aspect_w, h), h)
    new_w = np.where(too_wide, w, np.maximum(h * aspect_w / aspect_h, w))
    return centers, np.maximum(new_w, new_h).astype(np.float32)


def crop_transform(center: np.ndarray, size: float) -> np.ndarray:
    """(2, 3) float64 affine taking the square box (centre, side `size`) to the 256x256 crop."""
    cx, cy = float(center[0]), float(center[1])
    half = float(size) * 0.5
    # Same three points, same order and float32 rounding as the reference: getAffineTransform solves a linear
    # system, so another choice of points would differ in the last bits.
    src = np.array([[cx, cy], [cx, cy + half], [cx + half, cy]], dtype=np.float32)
    mid = CROP_SIZE * 0.5
    dst = np.array([[mid, mid], [mid, CROP_SIZE], [CROP_SIZE, mid]], dtype=np.float32)
    return cv2.getAffineTransform(src, dst)


def blur_sigma(size: float) -> float | None:
    """Anti-alias sigma for a box of side `size`, or None when the reference does not blur."""
    factor = np.float32(size) / np.float32(CROP_SIZE) / np.float32(2.0)
    if factor > BLUR_FACTOR_THRESHOLD:
        return float((factor - np.float32(1.0)) / np.float32(2.0))
    return None


def crop_people(
    image_rgb: np.ndarray,
    boxes: np.ndarray,
    masks: list[np.ndarray] | None = None,
    mask_threshold: float = DEFAULT_MASK_THRESHOLD,
) -> CropBatch:
    """Crops for every box of one frame, plus token masks when person masks are given.

    image_rgb: (H, W, 3) uint8 RGB; boxes: (N, 4) float xyxy pixels; masks: None or N (H, W) bool person masks.
    """
    image = _check_image(image_rgb)
    centers, sizes = expand_boxes(np.asarray(boxes))
    count = len(sizes)
    if masks is not None:
        masks = _check_masks(masks, count, image.shape[:2])
        if not 0.0 < mask_threshold <= 1.0:
            raise ValueError(f"mask_threshold must be in (0, 1], got {mask_threshold}")
    transforms = np.stack([crop_transform(centers[i], sizes[i]) for i in range(count)]) if count else None
    crops = np.zeros((count, CROP_SIZE, CROP_SIZE, 3), dtype=np.float32)
    blur_buffer: np.ndarray | None = None
    for i in range(count):
        sigma = blur_sigma(sizes[i])
        source: np.ndarray = image
        if sigma is not None:
            if blur_buffer is None:
                blur_buffer = np.zeros(image.shape, dtype=np.float64)
            source = _blur_read_region(image, centers[i], sizes[i], sigma, blur_buffer)
        crops[i] = _warp(source, transforms[i], cv2.INTER_LINEAR)
    images = _normalise(crops[:, :, VIEW_COLUMNS])
    height, width = image.shape[:2]
    batch = CropBatch(
        images=torch.from_numpy(images),
        centers=centers,
        sizes=sizes,
        transforms=transforms if count else np.zeros((0, 2, 3)),
        image_wh=(width, height),
    )
    if masks is not None:
        coverage = np.zeros((count, *TOKEN_GRID), dtype=np.float32)
        for i in range(count):
            coverage[i] = token_coverage(masks[i], transforms[i])
        batch.token_coverage = coverage
        batch.token_masks = torch.from_numpy(coverage >= mask_threshold)
    return batch


def token_coverage(mask: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """(H, W) bool person mask -> (16, 12) person fraction of each ViT token's receptive field."""
    # Bilinear warp of a 0/255 mask gives per-crop-pixel coverage to 1/255, ample for a fraction of 256 pixels.
    warped = _warp(mask.astype(np.uint8) * np.uint8(255), transform, cv2.INTER_LINEAR).astype(np.float32) / 255.0
    view = warped[:, VIEW_COLUMNS]
    rows, cols = TOKEN_GRID
    padded = np.pad(view, PATCH_PADDING)[: rows * PATCH_SIZE, : cols * PATCH_SIZE]
    return padded.reshape(rows, PATCH_SIZE, cols, PATCH_SIZE).mean(axis=(1, 3))


def _warp(source: np.ndarray, transform: np.ndarray, interpolation: int) -> np.ndarray:
    return cv2.warpAffine(
        source,
        transform,
        (CROP_SIZE, CROP_SIZE),
        flags=interpolation,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def _blur_read_region(
    image: np.ndarray, center: np.ndarray, size: float, sigma: float, buffer: np.ndarray
) -> np.ndarray:
    """Fill `buffer` (float64, image-sized) with the blurred image wherever the crop's warp can read.

    The warp reads the box plus at most one pixel; gaussian_filter output at a pixel depends only on the pixels
    within its kernel radius (edge-replicated at the true image border), so blurring that region grown by the
    radius gives exactly the values a whole-image blur would. Pixels outside the region are never read.
    """
    height, width = image.shape[:2]
    radius = int(BLUR_TRUNCATE * sigma + 0.5)
    margin = 2 + radius
    half = float(size) / 2.0
    x0 = max(0, int(np.floor(center[0] - half)) - margin)
    y0 = max(0, int(np.floor(center[1] - half)) - margin)
    x1 = min(width, int(np.ceil(center[0] + half)) + margin + 1)
    y1 = min(height, int(np.ceil(center[1] + half)) + margin + 1)
    if x0 < x1 and y0 < y1:
        region = image[y0:y1, x0:x1].astype(np.float64)
        buffer[y0:y1, x0:x1] = gaussian_filter(
            region, sigma=(sigma, sigma, 0.0), mode="nearest", truncate=BLUR_TRUNCATE
        )
    return buffer


def _normalise(crops: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) RGB on 0-255 -> (N, 3, H, W) float32 ImageNet-normalised."""
    mean = 255.0 * np.asarray(IMAGE_MEAN)
    std = 255.0 * np.asarray(IMAGE_STD)
    normalised = (crops.astype(np.float64) - mean) / std
    return np.ascontiguousarray(normalised.transpose(0, 3, 1, 2), dtype=np.float32)


def _check_image(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        described = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"crop_people expects an RGB image as uint8 (H, W, 3), got {described}")
    return image


def _check_boxes(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"boxes must be (N, 4) xyxy pixels, got shape {boxes.shape}")
    if not np.isfinite(boxes).all():
        raise ValueError("boxes contain NaN or infinite values")
    degenerate = (boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])
    if degenerate.any():
        raise ValueError(f"boxes need x1 > x0 and y1 > y0; box {int(np.argmax(degenerate))} is {boxes[degenerate][0]}")
    return boxes


def _check_masks(masks: list[np.ndarray], count: int, image_hw: tuple[int, ...]) -> list[np.ndarray]:
    if len(masks) != count:
        raise ValueError(f"got {len(masks)} masks for {count} boxes: give one (H, W) mask per box")
    checked = []
    for i, mask in enumerate(masks):
        mask = np.asarray(mask)
        if mask.shape != tuple(image_hw):
            raise ValueError(f"mask {i} has shape {mask.shape}, the image is {tuple(image_hw)}")
        checked.append(mask.astype(bool, copy=False))
    return checked
