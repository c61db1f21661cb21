"""sensor_msgs images and camera info <-> numpy, without cv_bridge.

Raw images are read zero-copy where the encoding allows (rgb8 with any row padding gives a strided view of the
message buffer); every other encoding costs one OpenCV conversion. Anything malformed raises ImageError with a
sentence saying what is wrong, so the node can log it and go on with the next frame; a CameraInfo that cannot be
used raises CameraInfoError naming the field at fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np


class ImageError(ValueError):
    """A camera message that cannot be turned into an RGB frame.

    `key` names the kind of problem and the encoding ("encoding:32FC1", "short-data:rgb8"): callers rate-limit
    their logs per key, so one bad stream that repeats never hides a different problem behind it.
    """

    def __init__(self, text: str, kind: str = "image", encoding: str = "") -> None:
        super().__init__(text)
        self.kind = kind
        self.encoding = _shown(encoding)

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.encoding}"


def _shown(text: str, limit: int = 32) -> str:
    # encodings and formats come off the wire: a garbage header must not put kilobytes into every log line
    return text if len(text) <= limit else text[:limit] + "..."


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
    if not encoding:
        raise ImageError(
            "image has an empty encoding field (the camera driver did not say what the bytes are)", "no-encoding"
        )
    if encoding not in ENCODINGS:
        raise ImageError(
            f"unsupported image encoding '{_shown(msg.encoding)}' (supported: {', '.join(ENCODINGS)})",
            "encoding",
            encoding,
        )
    channels, itemsize, convert = ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageError(f"zero-size image ({width}x{height})", "zero-size", encoding)
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageError(f"image of {width}x{height} is larger than {MAX_SIDE} px a side", "too-large", encoding)
    row_bytes = width * channels * itemsize
    if encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv") and width % 2:
        raise ImageError(f"{encoding} needs an even width, got {width}", "odd-width", encoding)
    if step < row_bytes:
        raise ImageError(
            f"step {step} is smaller than width*bytes_per_pixel = {row_bytes} for {encoding}", "step", encoding
        )
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < height * step:
        raise ImageError(
            f"image data has {data.size} bytes, expected height*step = {height * step} for {encoding}",
            "short-data",
            encoding,
        )
    rows = data[: height * step].reshape(height, step)[:, :row_bytes]
    if itemsize == 2:
        rows = rows.view(">u2" if msg.is_bigendian else "<u2")
    return convert(rows.reshape(height, width, channels))


def compressed_to_rgb(msg) -> np.ndarray:
    """sensor_msgs/CompressedImage (jpeg/png/...) -> (H, W, 3) uint8 RGB."""
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageError(f"empty compressed image (format '{_shown(msg.format)}')", "compressed-empty", msg.format)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0:
        raise ImageError(
            f"corrupt compressed image: {data.size} bytes of format '{_shown(msg.format)}' do not decode",
            "compressed-corrupt",
            msg.format,
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class CameraInfoError(ValueError):
    """A CameraInfo the node cannot use; `kind` names the field at fault, so logs are limited per reason."""

    def __init__(self, text: str, kind: str) -> None:
        super().__init__(text)
        self.kind = kind


# A stream resized from the calibrated size keeps its aspect ratio up to rounding each side to whole pixels.
_ASPECT_TOLERANCE = 0.01


@dataclass(frozen=True, eq=False)
class Intrinsics:
    """Validated pinhole intrinsics: K for images of `size` = (width, height), the CameraInfo's ROI and binning
    already applied."""

    k: np.ndarray
    size: tuple[int, int]

    def for_image(self, width: int, height: int) -> np.ndarray:
        """K for a width x height frame: as calibrated, or scaled when the stream is a resized copy of that view.

        A frame of another aspect ratio (cropped, rotated, or the CameraInfo of another camera) raises
        CameraInfoError: scaling x and y by different factors would silently skew every depth.
        """
        if (width, height) == self.size:
            return self.k
        cal_w, cal_h = self.size
        expected_h = cal_h * width / cal_w
        if abs(height - expected_h) > 1.0 + _ASPECT_TOLERANCE * height:
            raise CameraInfoError(
                f"it describes {cal_w}x{cal_h} images but the frames are {width}x{height}, another aspect ratio "
                "(cropped or from another camera?)",
                "size-mismatch",
            )
        k = self.k.copy()
        k[0] *= width / cal_w
        k[1] *= height / cal_h
        return k


def camera_intrinsics(msg) -> Intrinsics:
    """sensor_msgs/CameraInfo -> Intrinsics, or CameraInfoError saying which field is unusable.

    Checks everything the node relies on: the calibrated size (K is scaled by it), K's finiteness, pinhole form,
    positive focal lengths and a principal point inside the image, and a ROI/binning that fit that image.
    """
    width, height = int(msg.width), int(msg.height)
    if width == 0 or height == 0:
        raise CameraInfoError(f"its image size is {width}x{height} (width and height must both be > 0)", "size")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise CameraInfoError(f"its image size {width}x{height} is larger than {MAX_SIDE} px a side", "size")
    k = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not np.all(np.isfinite(k)):
        raise CameraInfoError("K has non-finite entries (NaN or inf)", "k-finite")
    if not np.any(k):
        raise CameraInfoError("K is all zeros (an uncalibrated camera)", "k-unset")
    fx, fy, cx, cy = k[0, 0], k[1, 1], k[0, 2], k[1, 2]
    if fx <= 0 or fy <= 0:
        raise CameraInfoError(f"its focal lengths fx={fx:g}, fy={fy:g} must both be > 0", "k-focal")
    if k[1, 0] != 0 or k[2, 0] != 0 or k[2, 1] != 0 or abs(k[2, 2] - 1.0) > 1e-6:
        raise CameraInfoError(
            f"K is not a pinhole matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]]: {np.round(k, 3).tolist()}", "k-form"
        )
    if not (0.0 <= cx <= width and 0.0 <= cy <= height):
        raise CameraInfoError(
            f"its principal point ({cx:.1f}, {cy:.1f}) lies outside its {width}x{height} image", "k-principal-point"
        )
    # ROI and binning say which part of the calibrated view the images show and how decimated (REP-104)
    roi = msg.roi
    x0, y0, roi_w, roi_h = int(roi.x_offset), int(roi.y_offset), int(roi.width), int(roi.height)
    if roi_w == 0 and roi_h == 0 and x0 == 0 and y0 == 0:
        roi_w, roi_h = width, height
    if roi_w == 0 or roi_h == 0 or x0 + roi_w > width or y0 + roi_h > height:
        raise CameraInfoError(f"its ROI {roi_w}x{roi_h} at ({x0}, {y0}) does not fit its {width}x{height} image", "roi")
    bin_x, bin_y = max(int(msg.binning_x), 1), max(int(msg.binning_y), 1)
    if roi_w < bin_x or roi_h < bin_y:
        raise CameraInfoError(f"its binning {bin_x}x{bin_y} leaves no pixel of a {roi_w}x{roi_h} ROI", "binning")
    k = k.copy()
    k[0, 2] -= x0
    k[1, 2] -= y0
    k[0] /= bin_x
    k[1] /= bin_y
    return Intrinsics(k=k, size=(roi_w // bin_x, roi_h // bin_y))


def camera_matrix(msg) -> np.ndarray | None:
    """CameraInfo -> the 3x3 K of the images it describes, or None when it is unset or not usable."""
    try:
        return camera_intrinsics(msg).k
    except CameraInfoError:
        return None


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
