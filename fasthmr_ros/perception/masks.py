"""Person masks, boxes and keypoints per frame: the interface shared by the segmentation backends.

A mask generator is a callable `image_rgb (H,W,3) uint8 -> list[PersonDetection]`, one entry per person, masks at
full frame resolution. Backends:
- "mediapipe" (default, embedded): MediaPipe BlazePose detector + pose landmarker with segmentation, whose models
  ship inside the `mediapipe` wheel (fasthmr_ros/perception/masks_mediapipe.py).
- "onnx": a user-supplied YOLOv8/YOLO11-seg ONNX export run with onnxruntime (fasthmr_ros/perception/masks_onnx.py).

The masks here are full-frame; reducing them to the ViT patch grid of each crop happens in perception/preprocess.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class PersonDetection:
    """One person in one frame. Boxes are xyxy pixels of the full frame (x1, y1 exclusive-ish float edges)."""

    box: np.ndarray  # (4,) float32 x1, y1, x2, y2
    score: float
    mask: np.ndarray | None = None  # (H, W) bool, full frame
    keypoints: np.ndarray | None = None  # (K, 3) float32: x px, y px, visibility in [0, 1]
    world_landmarks: np.ndarray | None = None  # (K, 3) float32 metres, origin between the hips (BlazePose only)


MaskGenerator = Callable[[np.ndarray], list[PersonDetection]]

BACKENDS = ("mediapipe", "onnx")


def create_mask_generator(backend: str = "mediapipe", **opts) -> MaskGenerator:
    """Build a mask generator. Options are passed to the backend's constructor:
    - mediapipe: see masks_mediapipe.MediaPipePeople (max_people, detector_calls_per_frame, ...).
    - onnx: model_path (required), score_threshold, iou_threshold, max_people, person_class, mask_threshold.
    """
    if backend == "mediapipe":
        from fasthmr_ros.perception.masks_mediapipe import MediaPipePeople

        return MediaPipePeople(**opts)
    if backend == "onnx":
        from fasthmr_ros.perception.masks_onnx import YoloSegOnnx

        return YoloSegOnnx(**opts)
    raise ValueError(f"unknown mask backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def check_image(image_rgb: np.ndarray) -> np.ndarray:
    """The frame as a C-contiguous (H,W,3) uint8 array, or a one-line ValueError saying what to pass."""
    if not isinstance(image_rgb, np.ndarray) or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        shape = getattr(image_rgb, "shape", type(image_rgb).__name__)
        raise ValueError(f"mask generator needs an RGB image of shape (H, W, 3), got {shape}")
    if image_rgb.dtype != np.uint8:
        raise ValueError(f"mask generator needs a uint8 RGB image, got dtype {image_rgb.dtype}")
    if image_rgb.shape[0] == 0 or image_rgb.shape[1] == 0:
        raise ValueError(f"mask generator got an empty image of shape {image_rgb.shape}")
    return np.ascontiguousarray(image_rgb)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between box sets a (N,4) and b (M,4), xyxy -> (N,M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]).clip(0) * (a[:, 3] - a[:, 1]).clip(0)
    area_b = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
