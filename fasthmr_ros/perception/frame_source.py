"""Frames of a video file, an image folder or one image, as RGB uint8: what `fasthmr replay` publishes and
`fasthmr video` processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


class FrameSource:
    """Frames of a video file, an image folder or a single image, as RGB uint8, optionally resized."""

    def __init__(self, path: str, width: int = 0) -> None:
        self.path = Path(path)
        self.width = width
        if not self.path.exists():
            raise FileNotFoundError(f"no such video, image or folder: {path}")
        if self.path.is_dir():
            self.images = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.images:
                raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {path}")
            self.fps = 10.0
        elif self.path.suffix.lower() in IMAGE_SUFFIXES:
            self.images = [self.path]
            self.fps = 10.0
        else:
            self.images = []
            capture = cv2.VideoCapture(str(self.path))
            if not capture.isOpened():
                raise ValueError(f"cannot open video {path}")
            fps = capture.get(cv2.CAP_PROP_FPS)
            capture.release()
            self.fps = fps if fps and np.isfinite(fps) and fps > 0 else 30.0

    def __iter__(self) -> Iterator[np.ndarray]:
        if self.images:
            for image_path in self.images:
                bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
                if bgr is None:
                    print(f"[replay] skipping unreadable image {image_path}", file=sys.stderr)
                    continue
                yield cv2.cvtColor(resize_to_width(bgr, self.width), cv2.COLOR_BGR2RGB)
            return
        capture = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                # resized first: the colour swap then touches the small image (same pixels either way)
                yield cv2.cvtColor(resize_to_width(bgr, self.width), cv2.COLOR_BGR2RGB)
        finally:
            capture.release()


def resize_to_width(image: np.ndarray, width: int) -> np.ndarray:
    """image resized to `width` (0 = unchanged), aspect kept, antialiased when shrinking.

    OpenCV's area filter is fast only for integer factors (a box average) and costs ~16 ms a frame from 1768 to
    854 px at a non-integer one, most of `make demo`'s player. So a shrink by s >= 2 averages boxes of floor(s)
    pixels first (the image cropped by under floor(s) pixels to a multiple of it) and covers the remaining factor,
    under 2, bilinearly (1.5 ms), as mipmapping does; smaller shrinks keep the area filter."""
    if not width or image.shape[1] == width:
        return image
    height = round(image.shape[0] * width / image.shape[1])
    factor = int(image.shape[1] / width)
    if factor >= 2 and image.shape[0] >= 2 * factor:
        rows, cols = image.shape[0] // factor, image.shape[1] // factor
        boxed = cv2.resize(image[: rows * factor, : cols * factor], (cols, rows), interpolation=cv2.INTER_AREA)
        return cv2.resize(boxed, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
