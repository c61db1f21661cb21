"""The input checks behind the node's bad-input handling, on their own: CameraInfo validation and scaling, the
per-reason log limiter, bad-image error keys, and the /dev/shm check of the Fast DDS profile."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ROOT
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from fasthmr_ros.ros import images as ros_io
from fasthmr_ros.ros.dds import shared_memory_problem, shm_segment_size
from fasthmr_ros.ros.node import capture_seconds
from fasthmr_ros.ros.stats import ProblemLog

K = np.array([[500.0, 0.0, 320.0], [0.0, 510.0, 240.0], [0.0, 0.0, 1.0]])


def info(k: np.ndarray = K, width: int = 640, height: int = 480) -> CameraInfo:
    return ros_io.camera_info_msg(k, width, height, Header())


def with_k(**entries: float) -> np.ndarray:
    k = K.copy()
    for name, value in entries.items():
        k[int(name[1]), int(name[2])] = value
    return k


@pytest.mark.parametrize(
    ("msg", "kind"),
    [
        (info(height=0), "size"),
        (info(width=0), "size"),
        (info(width=0, height=0), "size"),
        (info(with_k(k00=np.nan)), "k-finite"),
        (info(with_k(k12=np.inf)), "k-finite"),
        (info(np.zeros((3, 3))), "k-unset"),
        (info(with_k(k00=0.0)), "k-focal"),
        (info(with_k(k11=-510.0)), "k-focal"),
        (info(with_k(k22=0.0)), "k-form"),
        (info(with_k(k20=1.0)), "k-form"),
        (info(with_k(k10=3.0)), "k-form"),
        (info(with_k(k02=-1.0)), "k-principal-point"),
        (info(with_k(k12=481.0)), "k-principal-point"),
    ],
)
def test_unusable_camera_info_says_which_field(msg, kind):
    with pytest.raises(ros_io.CameraInfoError) as err:
        ros_io.camera_intrinsics(msg)
    assert err.value.kind == kind
    assert ros_io.camera_matrix(msg) is None


def test_valid_camera_info_and_its_scaling():
    intrinsics = ros_io.camera_intrinsics(info())
    assert intrinsics.size == (640, 480)
    np.testing.assert_array_equal(intrinsics.for_image(640, 480), K)
    half = intrinsics.for_image(320, 240)  # a downscaled stream of the calibrated camera
    np.testing.assert_allclose(half[:2], K[:2] / 2)
    np.testing.assert_array_equal(half[2], [0, 0, 1])
    skewed = with_k(k01=1.5)  # skew is a valid pinhole parameter
    np.testing.assert_array_equal(ros_io.camera_intrinsics(info(skewed)).k, skewed)


@pytest.mark.parametrize(("width", "height"), [(640, 360), (480, 640), (1280, 720)])
def test_frames_of_another_aspect_ratio_are_refused(width, height):
    with pytest.raises(ros_io.CameraInfoError, match=f"{width}x{height}") as err:
        ros_io.camera_intrinsics(info()).for_image(width, height)
    assert err.value.kind == "size-mismatch"


def test_resize_rounding_is_not_a_mismatch():
    # 1768x994 footage resized to width 854 has a height of 480.1: rounding, not another aspect ratio
    k = np.array([[1500.0, 0, 884], [0, 1500.0, 497], [0, 0, 1]])
    scaled = ros_io.camera_intrinsics(info(k, 1768, 994)).for_image(854, 480)
    assert scaled[0, 0] == pytest.approx(1500 * 854 / 1768)


def test_roi_and_binning_give_the_k_of_the_published_images():
    msg = info()
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = 100, 40, 400, 300
    msg.binning_x = msg.binning_y = 2
    intrinsics = ros_io.camera_intrinsics(msg)
    assert intrinsics.size == (200, 150)
    np.testing.assert_allclose(intrinsics.k, [[250.0, 0, 110.0], [0, 255.0, 100.0], [0, 0, 1]])
    msg.roi.width = 600  # 100 + 600 > 640
    with pytest.raises(ros_io.CameraInfoError, match="ROI"):
        ros_io.camera_intrinsics(msg)


def test_image_error_keys_are_kind_and_encoding():
    def key(msg) -> str:
        with pytest.raises(ros_io.ImageError) as err:
            ros_io.image_to_rgb(msg)
        return err.value.key

    keys = {
        key(Image(height=2, width=2, encoding="32FC1", step=8, data=bytes(16))),
        key(Image(height=2, width=2, encoding="", step=6, data=bytes(12))),
        key(Image(height=2, width=2, encoding="rgb8", step=6, data=bytes(3))),
        key(Image(height=2, width=2, encoding="bgr8", step=6, data=bytes(3))),
    }
    assert keys == {"encoding:32FC1", "no-encoding:", "short-data:rgb8", "short-data:bgr8"}
    garbage = key(Image(height=2, width=2, encoding="x" * 10_000, step=6, data=bytes(12)))
    assert len(garbage) < 64  # wire garbage never becomes a huge key or log line


def test_problem_log_limits_each_reason_on_its_own():
    log = ProblemLog(period_s=5.0, max_keys=3)
    assert log.should_log("encoding:32FC1", now=0.0)
    assert not log.should_log("encoding:32FC1", now=1.0)
    assert log.should_log("no-encoding:", now=1.0)  # a new reason is never hidden by another one
    assert log.should_log("encoding:32FC1", now=5.0)  # then at most once per period
    for i in range(10):  # wire-made keys: only the 3 most recent are remembered, so memory stays bounded ...
        assert log.should_log(f"encoding:junk{i}", now=6.0)
    assert not log.should_log("encoding:junk9", now=6.5)
    assert log.should_log("encoding:32FC1", now=6.5)  # ... and a forgotten key is simply new again


def test_shipped_profile_fits_the_largest_expected_frame():
    # two whole 4K rgb8 frames: a camera that publishes in bursts lost frames with room for one only
    assert shm_segment_size(ROOT / "config" / "fastdds_localhost.xml") >= 2 * 3840 * 2160 * 3


def test_shared_memory_shortfall_is_named(tmp_path):
    shipped = (ROOT / "config" / "fastdds_localhost.xml").read_text()
    segment = str(shm_segment_size(ROOT / "config" / "fastdds_localhost.xml"))
    huge = tmp_path / "huge.xml"
    huge.write_text(shipped.replace(f"<segment_size>{segment}<", f"<segment_size>{2**50}<"))  # 1 PiB
    problem = shared_memory_problem(huge)
    assert problem is not None and "/dev/shm" in problem and "--shm-size" in problem, problem
    assert shared_memory_problem(huge, shm_dir=tmp_path / "absent") is None  # no /dev/shm: nothing to say


def test_header_stamps_become_capture_times() -> None:
    """The translation filter's time step comes from the image header; an unset stamp carries no time."""
    header = Header()
    assert capture_seconds(header.stamp) is None
    header.stamp.sec, header.stamp.nanosec = 12, 500_000_000
    assert capture_seconds(header.stamp) == pytest.approx(12.5)
