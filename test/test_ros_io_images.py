"""Image message -> RGB conversion for every supported encoding, odd row padding, and malformed messages."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from fasthmr_ros.perception.camera import default_camera_matrix
from fasthmr_ros.ros import images as ros_io

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)


def make_image(pixels: np.ndarray, encoding: str, pad: int = 0, bigendian: bool = False) -> Image:
    """Pack (H, W[, C]) pixels into an Image with `pad` junk bytes at the end of every row."""
    height, width = pixels.shape[:2]
    if pixels.dtype == np.uint16:
        pixels = pixels.astype(">u2" if bigendian else "<u2")
    rows = pixels.reshape(height, -1).view(np.uint8)
    junk = RNG.integers(0, 256, size=(height, pad), dtype=np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    msg = Image()
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian = int(bigendian)
    msg.step = data.shape[1]
    msg.data = data.tobytes()
    return msg


@pytest.mark.parametrize("pad", [0, 5])
@pytest.mark.parametrize(
    ("encoding", "pack"),
    [
        ("rgb8", lambda im: im),
        ("bgr8", lambda im: im[:, :, ::-1]),
        ("8UC3", lambda im: im[:, :, ::-1]),
        ("rgba8", lambda im: np.dstack([im, np.full(im.shape[:2], 9, np.uint8)])),
        ("bgra8", lambda im: np.dstack([im[:, :, ::-1], np.full(im.shape[:2], 9, np.uint8)])),
        ("rgb16", lambda im: im.astype(np.uint16) * 257),
        ("bgra16", lambda im: np.dstack([im[:, :, ::-1], np.zeros(im.shape[:2], np.uint8)]).astype(np.uint16) * 257),
    ],
)
def test_colour_encodings_round_trip(encoding, pack, pad):
    rgb = ros_io.image_to_rgb(make_image(np.ascontiguousarray(pack(RGB)), encoding, pad))
    assert rgb.shape == RGB.shape and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, RGB)


def test_rgb8_is_zero_copy_even_with_padding():
    msg = make_image(RGB, "rgb8", pad=3)
    rgb = ros_io.image_to_rgb(msg)
    assert np.shares_memory(rgb, np.frombuffer(msg.data, np.uint8))


@pytest.mark.parametrize("bigendian", [False, True])
@pytest.mark.parametrize("encoding", ["mono16", "16UC1"])
def test_mono16_uses_the_high_byte(encoding, bigendian):
    gray = RNG.integers(0, 65536, size=(4, 6), dtype=np.uint16)
    rgb = ros_io.image_to_rgb(make_image(gray, encoding, pad=2, bigendian=bigendian))
    expected = (gray >> 8).astype(np.uint8)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], expected)


@pytest.mark.parametrize("encoding", ["mono8", "8UC1"])
def test_mono8(encoding):
    gray = RNG.integers(0, 256, size=(5, 7), dtype=np.uint8)
    rgb = ros_io.image_to_rgb(make_image(gray, encoding, pad=1))
    assert all(np.array_equal(rgb[:, :, c], gray) for c in range(3))


def _uyvy(rgb: np.ndarray, yuyv: bool) -> np.ndarray:
    """Pack RGB into 4:2:2 with BT.601 maths written out here, independent of the decoder under test."""
    r, g, b = (rgb[:, :, i].astype(np.float64) for i in range(3))
    y = 16 + 0.257 * r + 0.504 * g + 0.098 * b
    u = 128 - 0.148 * r - 0.291 * g + 0.439 * b
    v = 128 + 0.439 * r - 0.368 * g - 0.071 * b
    u2 = (u[:, 0::2] + u[:, 1::2]) / 2
    v2 = (v[:, 0::2] + v[:, 1::2]) / 2
    out = np.zeros((rgb.shape[0], rgb.shape[1] * 2), np.float64)
    if yuyv:
        out[:, 0::4], out[:, 1::4], out[:, 2::4], out[:, 3::4] = y[:, 0::2], u2, y[:, 1::2], v2
    else:
        out[:, 0::4], out[:, 1::4], out[:, 2::4], out[:, 3::4] = u2, y[:, 0::2], v2, y[:, 1::2]
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("encoding", "yuyv"), [("yuv422", False), ("uyvy", False), ("yuyv", True), ("yuv422_yuy2", True)]
)
def test_yuv422_family(encoding, yuyv):
    # flat 2-pixel-wide colour blocks, so chroma subsampling loses nothing
    blocks = RNG.integers(30, 220, size=(6, 4, 3), dtype=np.uint8)
    rgb_in = np.repeat(blocks, 2, axis=1)
    packed = _uyvy(rgb_in, yuyv)
    msg = make_image(packed, encoding, pad=4)
    msg.width = rgb_in.shape[1]
    rgb = ros_io.image_to_rgb(msg)
    assert np.abs(rgb.astype(int) - rgb_in.astype(int)).max() <= 3


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_bayer_patterns_recover_a_flat_colour(pattern):
    colour = np.array([200, 120, 40])  # distinct R, G, B
    index = {"r": 0, "g": 1, "b": 2}
    mosaic = np.zeros((8, 8), np.uint8)
    for dy in range(2):
        for dx in range(2):
            mosaic[dy::2, dx::2] = colour[index[pattern[dy * 2 + dx]]]
    rgb = ros_io.image_to_rgb(make_image(mosaic, f"bayer_{pattern}8"))
    np.testing.assert_allclose(rgb[3:5, 3:5].reshape(-1, 3).mean(axis=0), colour, atol=2)


def test_unknown_encoding_is_named():
    msg = make_image(RGB, "rgb8")
    msg.encoding = "32FC1x"
    with pytest.raises(ros_io.ImageError, match="unsupported image encoding '32FC1x'"):
        ros_io.image_to_rgb(msg)


def test_data_shorter_than_height_times_step():
    msg = make_image(RGB, "rgb8")
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ros_io.ImageError, match="expected height\\*step"):
        ros_io.image_to_rgb(msg)


def test_step_smaller_than_a_row():
    msg = make_image(RGB, "rgb8")
    msg.step = RGB.shape[1] * 3 - 1
    with pytest.raises(ros_io.ImageError, match="step"):
        ros_io.image_to_rgb(msg)


@pytest.mark.parametrize(("height", "width"), [(0, 8), (6, 0), (0, 0)])
def test_zero_size(height, width):
    msg = Image(height=height, width=width, encoding="rgb8", step=width * 3)
    with pytest.raises(ros_io.ImageError, match="zero-size"):
        ros_io.image_to_rgb(msg)


def test_odd_width_yuv_is_rejected():
    msg = make_image(np.zeros((2, 6), np.uint8), "uyvy")
    msg.width = 3
    with pytest.raises(ros_io.ImageError, match="even width"):
        ros_io.image_to_rgb(msg)


def test_compressed_jpeg_and_png_decode():
    for ext in (".jpg", ".png"):
        ok, data = cv2.imencode(ext, cv2.cvtColor(np.repeat(np.repeat(RGB, 8, 0), 8, 1), cv2.COLOR_RGB2BGR))
        assert ok
        rgb = ros_io.compressed_to_rgb(CompressedImage(format=ext[1:], data=data.tobytes()))
        assert rgb.shape == (48, 64, 3)
        tolerance = 40 if ext == ".jpg" else 0
        assert np.abs(rgb[4::8, 4::8].astype(int) - RGB.astype(int)).max() <= tolerance


@pytest.mark.parametrize("payload", [b"", b"\xff\xd8\xff\xe0 this is not a jpeg", bytes(range(256)) * 4])
def test_corrupt_compressed_image(payload):
    with pytest.raises(ros_io.ImageError, match="compressed image"):
        ros_io.compressed_to_rgb(CompressedImage(format="jpeg", data=payload))


def test_truncated_jpeg_is_an_error_or_a_full_frame():
    _ok, data = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))
    truncated = data.tobytes()[: len(data) // 3]
    try:
        rgb = ros_io.compressed_to_rgb(CompressedImage(format="jpeg", data=truncated))
    except ros_io.ImageError:
        return
    assert rgb.shape == (64, 64, 3)  # libjpeg may pad a truncated scan; it must still be a whole frame


def test_camera_matrix_unset_and_set():
    from sensor_msgs.msg import CameraInfo

    assert ros_io.camera_matrix(CameraInfo()) is None
    k = np.array([[500.0, 0, 320], [0, 510, 240], [0, 0, 1]])
    info = ros_io.camera_info_msg(k, 640, 480, CameraInfo().header)
    np.testing.assert_array_equal(ros_io.camera_matrix(info), k)


def test_default_camera_matrix_is_hmr2_convention():
    k = default_camera_matrix(640, 480)
    assert k[0, 0] == k[1, 1] == pytest.approx(5000 / 256 * 640)
    assert (k[0, 2], k[1, 2]) == (320, 240)
