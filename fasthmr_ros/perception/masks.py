"""Person masks, boxes and keypoints per frame: the interface shared by the segmentation backends.

A mask generator is a callable `image_rgb (H,W,3) uint8 -> list[PersonDetection]`, one entry per person, masks at
full frame resolution. Backends:
- "mediapipe" (default, embedded): MediaPipe BlazePose detector + pose landmarker with segmentation, whose models
  ship inside the `mediapipe` wheel (fasthmr_ros/perception/masks_mediapipe.py).
- "onnx": a user-supplied YOLOv8/YOLO11-seg ONNX export run with onnxruntime (fasthmr_ros/perception/masks_onnx.py).

The masks here are full-frame; reducing them to the ViT patch grid of each crop happens in perception/preprocess.py.
A backend may hand over only the part of the mask inside a box (`crop_mask`, `crop_box`, `frame_shape`): the
full-frame `mask` is then built on first read, so a consumer that never reads it (the landmark pose source, the
tracker without mask overlap) never pays for an (H, W) array per person per frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


class _FullFrameMask:
    """PersonDetection.mask: the array given, or (when only the crop-box part was given) the full-frame mask made
    from it on first read and kept."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_" + name

    def __get__(self, obj: PersonDetection | None, objtype: type | None = None) -> np.ndarray | None:
        if obj is None:
            return None  # the dataclass default
        value = obj.__dict__.get(self.slot)
        if value is None and obj.crop_mask is not None and obj.crop_box is not None and obj.frame_shape is not None:
            x0, y0, x1, y1 = obj.crop_box
            value = np.zeros(obj.frame_shape, dtype=bool)
            value[y0:y1, x0:x1] = obj.crop_mask
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj: PersonDetection, value: np.ndarray | None) -> None:
        obj.__dict__[self.slot] = value


@dataclass
class PersonDetection:
    """One person in one frame. Boxes are xyxy pixels of the full frame (x1, y1 exclusive-ish float edges)."""

    box: np.ndarray  # (4,) float32 x1, y1, x2, y2
    score: float
    mask: np.ndarray | None = _FullFrameMask()  # type: ignore[assignment]  # (H, W) bool, full frame
    keypoints: np.ndarray | None = None  # (K, 3) float32: x px, y px, visibility in [0, 1]
    world_landmarks: np.ndarray | None = None  # (K, 3) float32 metres, origin between the hips (BlazePose only)
    crop_mask: np.ndarray | None = None  # (y1-y0, x1-x0) bool: the mask inside crop_box (None: see `mask`)
    crop_box: tuple[int, int, int, int] | None = None  # x0, y0, x1, y1 px of crop_mask in the frame
    frame_shape: tuple[int, int] | None = None  # (H, W) of the frame, for building `mask` from crop_mask
    # The backend's own identity for a person it followed from the previous frame (None: found afresh this frame);
    # the tracker trusts it over box overlap, which large moves between processed frames (dropped frames) break.
    follow_id: int | None = None


MaskGenerator = Callable[[np.ndarray], list[PersonDetection]]

BACKENDS = ("mediapipe", "onnx")


def create_mask_generator(backend: str = "mediapipe", **opts) -> MaskGenerator:
    """Build a mask generator. Options are passed to the backend's constructor:
    - mediapipe: see masks_mediapipe.MediaPipePeople (max_people, runtime, device, detector_schedule, ...).
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
