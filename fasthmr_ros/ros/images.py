"""sensor_msgs images and camera info <-> numpy, without cv_bridge.

Raw images are read zero-copy where the encoding allows (rgb8 with any row padding gives a strided view of the
message buffer); every other encoding costs one OpenCV conversion. Anything malformed raises ImageError with a
sentence saying what is wrong, so the node can log it and go on with the next frame.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np


class ImageError(ValueError):
    """A camera message that cannot be turned into an RGB frame."""


def _same(view: np.ndarray) -> np.ndarray:
    return view


def _drop_alpha(view: np.ndarray) -> np.ndarray:
    return view[:, :, :3]


def _reverse3(view: np.ndarray) -> np.ndarray:
    return view[:, :, 2::-1]


def _gray(view: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(view[:, :, 0]), cv2.COLOR_GRAY2RGB)


def _cv(code: int) -> Callable[[np.ndarray], np.ndarray]:
    def convert(view: np.ndarray) -> np.ndarray:
        src = np.ascontiguousarray(view if view.shape[2] > 1 else view[:, :, 0])
        return cv2.cvtColor(src, code)

    return convert


def _to8(convert: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    # 16-bit colour/mono: keep the top 8 bits (full-scale 16-bit data maps to full-scale 8-bit)
    def convert16(view: np.ndarray) -> np.ndarray:
        return convert((view >> 8).astype(np.uint8))

    return convert16


# encoding -> (channels, bytes per channel, converter from the (H, W, C) view to RGB uint8)
ENCODINGS: dict[str, tuple[int, int, Callable[[np.ndarray], np.ndarray]]] = {
    "rgb8": (3, 1, _same),
    "bgr8": (3, 1, _reverse3),
    "8UC3": (3, 1, _reverse3),  # OpenCV's default channel order
    "rgba8": (4, 1, _drop_alpha),
    "bgra8": (4, 1, lambda v: v[:, :, 2::-1]),
    "8UC4": (4, 1, lambda v: v[:, :, 2::-1]),
    "mono8": (1, 1, _gray),
    "8UC1": (1, 1, _gray),
    "mono16": (1, 2, _to8(_gray)),
    "16UC1": (1, 2, _to8(_gray)),
    "rgb16": (3, 2, _to8(_same)),
    "bgr16": (3, 2, _to8(_reverse3)),
    "rgba16": (4, 2, _to8(_drop_alpha)),
    "bgra16": (4, 2, _to8(lambda v: v[:, :, 2::-1])),
    "yuv422": (2, 1, _cv(cv2.COLOR_YUV2RGB_UYVY)),  # ROS "yuv422" is UYVY byte order
    "uyvy": (2, 1, _cv(cv2.COLOR_YUV2RGB_UYVY)),
    "yuv422_yuy2": (2, 1, _cv(cv2.COLOR_YUV2RGB_YUY2)),
    "yuyv": (2, 1, _cv(cv2.COLOR_YUV2RGB_YUY2)),
    # ROS names the 2x2 pattern from the top-left pixel; OpenCV names it from the second row/column.
    "bayer_rggb8": (1, 1, _cv(cv2.COLOR_BayerBG2RGB)),
    "bayer_bggr8": (1, 1, _cv(cv2.COLOR_BayerRG2RGB)),
    "bayer_gbrg8": (1, 1, _cv(cv2.COLOR_BayerGR2RGB)),
    "bayer_grbg8": (1, 1, _cv(cv2.COLOR_BayerGB2RGB)),
}

MAX_SIDE = 16384  # larger than any camera; guards against garbage headers allocating gigabytes


def image_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/Image -> (H, W, 3) uint8 RGB. Zero-copy for rgb8 (a possibly strided, read-only view)."""
    encoding = msg.encoding.strip()
    if encoding not in ENCODINGS:
        raise ImageError(f"unsupported image encoding '{msg.encoding}' (supported: {', '.join(ENCODINGS)})")
    channels, itemsize, convert = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageError(f"zero-size image ({width}x{height})")
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageError(f"image of {width}x{height} is larger than {MAX_SIDE} px a side")
    row_bytes = width * channels * itemsize
    if encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv") and width % 2:
        raise ImageError(f"{encoding} needs an even width, got {width}")
    if step < row_bytes:
        raise ImageError(f"step {step} is smaller than width*bytes_per_pixel = {row_bytes} for {encoding}")
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < height * step:
        raise ImageError(f"image data has {data.size} bytes, expected height*step = {height * step}")
    rows = data[: height * step].reshape(height, step)[:, :row_bytes]
    if itemsize == 2:
        rows = rows.view(">u2" if msg.is_bigendian else "<u2")
    return convert(rows.reshape(height, width, channels))


def compressed_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png/...) -> (H, W, 3) uint8 RGB."""
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageError(f"empty compressed image (format '{msg.format}')")
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageError(f"corrupt compressed image: {data.size} bytes of format '{msg.format}' do not decode")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def camera_matrix(msg) -> np.ndarray | None:
    """CameraInfo -> 3x3 intrinsics K, or None when K is unset (all zeros) or not usable."""
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(k)) or k[0, 0] <= 0 or k[1, 1] <= 0:
        return None
    return k


def rgb_to_image_msg(rgb: np.ndarray, header, encoding: str = "rgb8"):
    """(H, W, 3) uint8 RGB -> sensor_msgs/Image in rgb8 or bgr8."""
    from sensor_msgs.msg import Image

    if encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"rgb_to_image_msg writes rgb8 or bgr8, not {encoding}")
    pixels = rgb if encoding == "rgb8" else rgb[:, :, ::-1]
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()
    return msg


def camera_info_msg(k: np.ndarray, width: int, height: int, header):
    """A pinhole sensor_msgs/CameraInfo with no distortion."""
    from sensor_msgs.msg import CameraInfo

    msg = CameraInfo()
    msg.header = header
    msg.width, msg.height = int(width), int(height)
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    msg.k = [float(v) for v in np.asarray(k, dtype=np.float64).reshape(9)]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    p = np.zeros((3, 4))
    p[:, :3] = np.asarray(k).reshape(3, 3)
    msg.p = [float(v) for v in p.reshape(12)]
    return msg
