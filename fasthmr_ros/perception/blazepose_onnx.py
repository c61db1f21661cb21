"""Image-side maths of the BlazePose detector and landmarker when they run outside MediaPipe's graphs (ONNX Runtime
or PyTorch, runtime/blazepose_models.py): the model inputs cut from the frame, and the raw outputs decoded into
frame pixels, the way MediaPipe's own calculators do it, so results match the graphs (checked in
test/test_blazepose_onnx.py against MediaPipe on real footage).

Detector (pose_detection.tflite, 224x224, RGB in [-1, 1]): the tile is letterboxed into a square (zero border),
2254 SSD anchors (strides 8, 16, 32, 32, 32; fixed unit size; offset 0.5), box and 4 keypoints relative to the
anchor in input pixels, sigmoid score (raw clipped to +-100) >= the threshold, then weighted non-maximum suppression
at IoU 0.3 (each kept detection is the score-weighted mean of its cluster). Keypoint 0 = hip centre, 1 = the
full-body scale point.

Landmarker (pose_landmark_full.tflite, 256x256, RGB in [0, 1]): the rotated square ROI is warped onto the input
(its corners onto the input's corners, bilinear, edge pixels repeated); 39 landmarks x (x, y, z, visibility,
presence) in input pixels, refined by the 64x64 heatmaps (7x7 sigmoid-weighted window where its peak is >= 0.5),
visibility and presence through a sigmoid; world landmarks (metres) turned by the ROI rotation; the segmentation
logits through a sigmoid and warped back into the frame (bilinear, zero outside the ROI).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

DETECTOR_SIZE = 224
LANDMARKER_SIZE = 256
HEATMAP_KERNEL = 7
HEATMAP_MIN_CONFIDENCE = 0.5
NMS_IOU = 0.3
NUM_LANDMARKS = 39  # 33 body + 6 auxiliary (33, 34: the ROI's hip centre and scale point)


def ssd_anchors(size: int = DETECTOR_SIZE) -> np.ndarray:
    """(2254, 2) anchor centres in [0, 1], in the detector's output order."""
    centres = []
    # strides 8, 16, 32 x3; each layer gives 2 anchors per cell (aspect ratio 1 + the interpolated scale), and
    # layers of equal stride share their cells
    for stride, per_cell in ((8, 2), (16, 2), (32, 6)):
        cells = math.ceil(size / stride)
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(grid, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


_ANCHORS = ssd_anchors()


def detector_input(image: np.ndarray, tile: tuple[int, int, int, int]) -> tuple[np.ndarray, tuple[float, float, float]]:
    """The tile (x, y, w, h) letterboxed into the detector input; (origin x, origin y, side) of the input square in
    frame px."""
    x0, y0, w, h = tile
    side = float(max(w, h))
    ox, oy = x0 + 0.5 * w - 0.5 * side, y0 + 0.5 * h - 0.5 * side
    scale = DETECTOR_SIZE / side
    view = image[y0 : y0 + h, x0 : x0 + w]
    matrix = np.array([[scale, 0.0, (x0 - ox) * scale], [0.0, scale, (y0 - oy) * scale]], dtype=np.float64)
    out = cv2.warpAffine(view, matrix, (DETECTOR_SIZE, DETECTOR_SIZE), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
    return out, (ox, oy, side)


def decode_detections(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, origin: tuple[float, float, float], min_score: float
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """One input's raw outputs ((2254, 12), (2254, 1)) -> [(score, hip px (2,), scale point px (2,))], best first."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1).astype(np.float64), -100.0, 100.0)))
    keep = np.flatnonzero(scores >= min_score)
    if keep.size == 0:
        return []
    raw = raw_boxes[keep].astype(np.float64) / DETECTOR_SIZE
    anchors = _ANCHORS[keep].astype(np.float64)
    centre = raw[:, 0:2] + anchors
    half = 0.5 * raw[:, 2:4]
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    points = raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None, :]
    scores = scores[keep]
    ox, oy, side = origin
    out = []
    remaining = np.argsort(-scores, kind="stable")
    while remaining.size:
        top = remaining[0]
        member = _iou(boxes[top], boxes[remaining]) > NMS_IOU
        member[0] = True  # a degenerate (zero-area) box still stands for itself
        cluster = remaining[member]
        weights = scores[cluster][:, None]
        mean_points = (points[cluster] * weights[:, :, None]).sum(0) / weights.sum()
        px = mean_points * side + np.array([ox, oy])
        out.append((float(scores[top]), px[0], px[1]))
        remaining = remaining[~member]
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def roi_matrix(cx: float, cy: float, size: float, rotation: float) -> np.ndarray:
    """(2, 3) affine from landmarker input px to image px: the input's corners onto the rotated ROI's corners."""
    c, s = math.cos(rotation), math.sin(rotation)
    k = size / LANDMARKER_SIZE
    linear = np.array([[c * k, -s * k], [s * k, c * k]])
    offset = np.array([cx, cy]) - linear @ np.array([0.5 * LANDMARKER_SIZE, 0.5 * LANDMARKER_SIZE])
    return np.concatenate([linear, offset[:, None]], axis=1)


def landmarker_input(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The ROI (given by its input->image affine) as the (256, 256, 3) landmarker input. Outside the image the edge
    pixels repeat: against MediaPipe's landmarks on real crops, a zero border put some landmarks near the frame
    edge up to 15 px (at 256) away, edge replication within 2.5 px (median 0.10 px)."""
    return cv2.warpAffine(image, matrix, (LANDMARKER_SIZE, LANDMARKER_SIZE),
                          flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)  # fmt: skip


def decode_landmarks(raw: np.ndarray, heatmap: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """(195,) raw landmarks + (64, 64, 39) heatmap logits -> (39, 4) x px, y px (image of `matrix`), visibility,
    presence."""
    values = raw.reshape(NUM_LANDMARKS, 5).astype(np.float64)
    xy = values[:, :2] / LANDMARKER_SIZE  # normalised input coordinates
    xy = _refine(xy, heatmap)
    pixels = xy * LANDMARKER_SIZE
    image_xy = pixels @ matrix[:, :2].T + matrix[:, 2]
    sigmoid = _sigmoid(values[:, 3:5])
    return np.concatenate([image_xy, sigmoid], axis=1).astype(np.float32)


def _refine(xy: np.ndarray, heatmap: np.ndarray) -> np.ndarray:
    rows, cols, channels = heatmap.shape
    n = min(channels, len(xy))
    offset = (HEATMAP_KERNEL - 1) // 2
    # truncation toward zero, like the calculator's int conversion
    col = np.trunc(xy[:n, 0] * cols).astype(int)
    row = np.trunc(xy[:n, 1] * rows).astype(int)
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows)
    steps = np.arange(-offset, offset + 1)
    rr, cc = row[:, None] + steps, col[:, None] + steps  # (n, k)
    valid = ((rr >= 0) & (rr < rows))[:, :, None] & ((cc >= 0) & (cc < cols))[:, None, :]
    window = heatmap[rr.clip(0, rows - 1)[:, :, None], cc.clip(0, cols - 1)[:, None, :], np.arange(n)[:, None, None]]
    weight = np.where(valid, _sigmoid(window.astype(np.float64)), 0.0)
    total = weight.sum(axis=(1, 2))
    refine = inside & (weight.max(axis=(1, 2)) >= HEATMAP_MIN_CONFIDENCE) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    out = xy.copy()
    out[:n, 0] = np.where(refine, (weight * cc[:, None, :]).sum(axis=(1, 2)) / cols / safe, xy[:n, 0])
    out[:n, 1] = np.where(refine, (weight * rr[:, :, None]).sum(axis=(1, 2)) / rows / safe, xy[:n, 1])
    return out


def world_landmarks(raw: np.ndarray, rotation: float) -> np.ndarray:
    """(117,) raw world landmarks -> (33, 3) metres, turned by the ROI rotation like MediaPipe's projection."""
    points = raw.reshape(NUM_LANDMARKS, 3)[:33].astype(np.float64)
    c, s = math.cos(rotation), math.sin(rotation)
    x, y = points[:, 0].copy(), points[:, 1].copy()
    points[:, 0] = c * x - s * y
    points[:, 1] = s * x + c * y
    return points.astype(np.float32)


def segmentation_to_box(logits: np.ndarray, matrix: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """(256, 256) logits -> person probability over the image box (x0, y0, x1, y1), (y1-y0, x1-x0) float32."""
    x0, y0, x1, y1 = box
    probability = _sigmoid(logits.astype(np.float32))
    to_box = matrix.copy()
    to_box[:, 2] -= (x0, y0)
    return cv2.warpAffine(probability, to_box, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)  # fmt: skip
