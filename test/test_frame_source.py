"""Frame resizing for the player and `fasthmr video`: sizes, closeness to OpenCV's area filter, no aliasing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fasthmr_ros import footage
from fasthmr_ros.perception.frame_source import FrameSource, resize_to_width


@pytest.mark.parametrize("shape", [(994, 1768), (995, 1767), (480, 640), (1080, 1920), (7, 4000)])
def test_size_follows_the_width_and_keeps_the_aspect(shape):
    image = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    for width in (320, 640, 854, shape[1]):
        out = resize_to_width(image, width)
        assert out.shape == (round(shape[0] * width / shape[1]), width, 3) and out.dtype == np.uint8
    assert resize_to_width(image, 0) is image


def test_fine_stripes_average_out_instead_of_aliasing():
    """1-px black/white columns shrunk 2.3x must come out even grey; plain bilinear sampling makes stripes."""
    stripes = np.zeros((400, 1840, 3), np.uint8)
    stripes[:, ::2] = 255
    out = resize_to_width(stripes, 800).astype(float)
    assert abs(out.mean() - 127.5) < 4 and out.std() < 8, (out.mean(), out.std())
    aliased = cv2.resize(stripes, (800, 174), interpolation=cv2.INTER_LINEAR).astype(float)
    assert aliased.std() > 30  # the check can tell


def test_real_frames_stay_close_to_the_area_filter():
    source = FrameSource(str(footage.fetch(["sports2d_demo.mp4"])[0]), 854)
    capture = cv2.VideoCapture(str(source.path))
    for frame, rgb in zip(range(5), source, strict=False):
        ok, bgr = capture.read()
        assert ok and frame >= 0
        reference = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), (854, rgb.shape[0]), interpolation=cv2.INTER_AREA)
        difference = np.abs(rgb.astype(int) - reference.astype(int))
        assert difference.mean() < 3.0 and np.percentile(difference, 99) < 40, (difference.mean(),)
    capture.release()
