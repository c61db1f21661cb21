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
                yield self._resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            return
        capture = cv2.VideoCapture(str(self.path))
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                yield self._resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        finally:
            capture.release()

    def _resize(self, rgb: np.ndarray) -> np.ndarray:
        if not self.width or rgb.shape[1] == self.width:
            return rgb
        height = round(rgb.shape[0] * self.width / rgb.shape[1])
        return cv2.resize(rgb, (self.width, height), interpolation=cv2.INTER_AREA)
