"""Multi-camera maths behind the real-footage 3D ground truth (fasthmr_ros.training.multiview): weighted DLT on a
synthetic 4-camera scene with known points, its noise bound, outlier-view rejection, time offsets, subject choice,
and the Qualisys calibration reader on a file written here from known camera poses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fasthmr_ros.training import multiview as mv

WIDTH, HEIGHT = 1080, 1920
FOCAL = 1680.0
K = np.array([[FOCAL, 0.0, 540.0], [0.0, FOCAL, 960.0], [0.0, 0.0, 1.0]])


def look_at(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """World -> OpenCV camera rotation (rows: right, down, forward) of a camera at centre looking at target, z up."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack((right, down, forward))


def scene_cameras() -> list[mv.Camera]:
    """Four portrait cameras on a 3.5 m circle at 1.5-2.1 m height around a person-sized volume, as in Pose2Sim's."""
    cameras = []
    target = np.array([0.0, 0.0, 1.0])
    for i, (angle, height) in enumerate(((20, 1.9), (110, 1.7), (200, 2.1), (290, 1.5))):
        a = np.radians(angle)
        centre = np.array([3.5 * np.cos(a), 3.5 * np.sin(a), height])
        rotation = look_at(centre, target)
        cameras.append(
            mv.Camera(f"cam{i + 1:02d}", K.copy(), rotation, -rotation @ centre, (WIDTH, HEIGHT), np.zeros(4))
        )
    return cameras


def scene_points(count: int = 60, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform([-0.4, -0.4, 0.0], [0.4, 0.4, 1.9], size=(count, 3))


def observe(cameras: list[mv.Camera], points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    projections = np.stack([c.projection for c in cameras])
    pixels = np.stack([c.project(points) for c in cameras])
    return projections, pixels


def test_noise_free_points_are_recovered_exactly() -> None:
    cameras = scene_cameras()
    points = scene_points()
    projections, pixels = observe(cameras, points)
    # every synthetic point is in view, so the scene tests what it means to
    assert ((pixels >= 0) & (pixels <= [WIDTH, HEIGHT])).all()
    weights = np.random.default_rng(1).uniform(0.2, 1.0, size=pixels.shape[:2])
    world = mv.triangulate(projections, pixels, weights)
    assert np.abs(world - points).max() < 1e-9
    assert mv.reprojection_errors(projections, world, pixels).max() < 1e-6
    # any two views suffice; one view alone or a zero-weight second view does not
    assert np.abs(mv.triangulate(projections[[1, 3]], pixels[[1, 3]], weights[[1, 3]]) - points).max() < 1e-9
    single = weights.copy()
    single[1:] = 0.0
    assert np.isnan(mv.triangulate(projections, pixels, single)).all()


def test_zero_weight_view_is_ignored_and_small_weights_barely_count() -> None:
    cameras = scene_cameras()
    points = scene_points()
    projections, pixels = observe(cameras, points)
    wrong = pixels.copy()
    wrong[2] += 150.0
    weights = np.ones(pixels.shape[:2])
    weights[2] = 0.0
    assert np.abs(mv.triangulate(projections, wrong, weights) - points).max() < 1e-9
    weights[2] = 1e-4
    assert np.abs(mv.triangulate(projections, wrong, weights) - points).max() < 1e-3
    weights[2] = 1.0
    assert np.abs(mv.triangulate(projections, wrong, weights) - points).max() > 0.02


def first_order_gain(cameras: list[mv.Camera], point: np.ndarray, weights: np.ndarray) -> float:
    """||G||_2 for dX = G d, the first-order response of weighted DLT to pixel noise d (2V,) at this point.

    DLT's rows are w (x P3 - P1) and w (y P3 - P2) with P3 = [R3 | t3] (unit-norm R3), so P3 X~ is the depth z and
    each row equals w z (x - x_hat(X)): DLT is least squares on pixel residuals weighted by (w z)^2. Linearising
    x_hat about the true point with Jacobian J (2V, 3): dX = (J^T W J)^-1 J^T W d, W = diag((w z)^2) per
    coordinate. (DLT's unit-norm constraint on the homogeneous vector changes this only at second order.)
    """
    rows, scale = [], []
    for camera, w in zip(cameras, weights, strict=True):
        p_cam = camera.to_camera(point)
        z = p_cam[2]
        d_proj = np.array([[FOCAL / z, 0.0, -FOCAL * p_cam[0] / z**2], [0.0, FOCAL / z, -FOCAL * p_cam[1] / z**2]])
        rows.append(d_proj @ camera.R)
        scale += [(w * z) ** 2] * 2
    jac, weight = np.concatenate(rows), np.diag(scale)
    gain = np.linalg.solve(jac.T @ weight @ jac, jac.T @ weight)
    return float(np.linalg.norm(gain, 2))


def test_pixel_noise_moves_points_by_at_most_the_derived_bound() -> None:
    cameras = scene_cameras()
    points = scene_points(40, seed=2)
    projections, pixels = observe(cameras, points)
    rng = np.random.default_rng(3)
    noise_px = 2.0
    noise = rng.uniform(-noise_px, noise_px, size=pixels.shape)
    weights = rng.uniform(0.3, 1.0, size=pixels.shape[:2])
    world = mv.triangulate(projections, pixels + noise, weights)
    ratios = []
    for n, point in enumerate(points):
        bound = first_order_gain(cameras, point, weights[:, n]) * np.linalg.norm(noise[:, n])
        error = np.linalg.norm(world[n] - point)
        # 2% over first order covers the second-order terms at 2 px on a ~1700 px focal length
        assert error <= 1.02 * bound + 1e-9, (n, error, bound)
        ratios.append(error / bound)
    # the bound is not vacuous: 2 px at 3.5 m is millimetres, and some points come close to it
    assert max(first_order_gain(cameras, p, weights[:, n]) for n, p in enumerate(points)) * 2 * noise_px < 0.01
    assert max(ratios) > 0.5


def test_outlier_view_is_rejected() -> None:
    cameras = scene_cameras()
    points = scene_points()
    projections, pixels = observe(cameras, points)
    noisy = pixels + np.random.default_rng(4).uniform(-1.0, 1.0, size=pixels.shape)
    noisy[1, :30] += [60.0, -40.0]  # view 2 has the wrong point for half the points (a swapped or wrong person)
    weights = np.ones(pixels.shape[:2])
    plain = mv.triangulate(projections, noisy, weights)
    assert np.linalg.norm(plain[:30] - points[:30], axis=-1).min() > 0.01
    result = mv.triangulate_robust(projections, noisy, weights, max_error_px=8.0)
    assert not result.used[1, :30].any()
    assert result.used[:, 30:].all() and result.used[[0, 2, 3]].all()
    assert np.linalg.norm(result.points - points, axis=-1).max() < 0.005
    assert np.nanmax(result.errors) <= 8.0
    assert result.mean_error < 2.0


def test_two_disagreeing_views_are_rejected_not_guessed() -> None:
    cameras = scene_cameras()[:2]
    points = scene_points(10)
    projections, pixels = observe(cameras, points)
    pixels[1, :5] += 50.0
    result = mv.triangulate_robust(projections, pixels, np.ones(pixels.shape[:2]), max_error_px=8.0)
    assert np.isnan(result.points[:5]).all()
    assert np.abs(result.points[5:] - points[5:]).max() < 1e-9


def test_time_offsets_of_unsynchronised_views_are_found() -> None:
    cameras = scene_cameras()
    projections = np.stack([c.projection for c in cameras])
    frames, rest = 80, scene_points(12, seed=5)
    true_offsets = np.array([0.0, 0.0, -2.5, 1.0])  # view v's frame f shows world time f + offset

    def moving(time: np.ndarray) -> np.ndarray:  # (T, N, 3): the points sway and bob, fast enough to matter
        shift = np.stack((0.3 * np.sin(0.15 * time), 0.2 * np.cos(0.11 * time), 0.1 * np.sin(0.3 * time)), -1)
        return rest[None] + shift[:, None]

    tracks = np.stack([c.project(moving(np.arange(frames) + o)) for c, o in zip(cameras, true_offsets, strict=True)])
    weights = np.ones(tracks.shape[:3])
    offsets, cost = mv.estimate_offsets(projections, tracks, weights, search=4.0, step=0.25)
    assert np.allclose(offsets, true_offsets)
    assert cost < 0.5
    assert mv.offset_cost(projections, tracks, weights, np.zeros(4), 0.5) > 5.0
    result = mv.triangulate_at(projections, tracks, weights, offsets, np.arange(10.0, 20.0), 5.0)
    assert np.abs(result.points - moving(np.arange(10.0, 20.0))).max() < 2e-3  # interpolation error only


def test_subject_and_labelling_are_chosen_by_consistency() -> None:
    camera = scene_cameras()[0]
    points = scene_points(6)
    truth = camera.project(points)
    swap = np.array([1, 0, 3, 2, 5, 4])
    frames = 3
    candidates = np.full((frames, 2, 6, 3), np.nan)
    candidates[:, 0, :, :2] = truth[None] + 300.0  # somebody else
    candidates[:, 1, :, :2] = truth[swap][None]  # the subject, labelled mirrored
    candidates[..., 2] = 1.0
    candidates[2, 1] = np.nan  # the subject unseen in the last frame
    perms = [np.arange(6), swap]
    expanded = mv.relabelled(candidates, perms)
    assert expanded.shape == (frames, 4, 6, 3)
    chosen = mv.choose_candidates(camera.projection, np.repeat(points[None], frames, 0), expanded, gate_px=20.0)
    assert chosen.tolist() == [1 * 2 + 1, 1 * 2 + 1, -1]  # candidate 1 under the swap; nobody in frame 2


def write_qca(path: Path, cameras: list[dict[str, object]]) -> None:
    """A Qualisys .qca.txt with the given values, in its units: 1/64 px, millimetres, the camera's own axes."""
    blocks = []
    for cam in cameras:
        m = cam["m"]
        assert isinstance(m, np.ndarray)
        x, y, z = (float(v) for v in np.asarray(cam["centre_m"]) * 1000.0)
        left, top, width, height = cam["window"]  # type: ignore[misc]
        fx, fy, cx, cy = cam["fx"], cam["fy"], cam["cx"], cam["cy"]  # type: ignore[index]
        rotation = " ".join(f'r{i + 1}{j + 1}="{float(m[i, j])!r}"' for i in range(3) for j in range(3))
        window = f'left="{left}" top="{top}" right="{left + width - 1}" bottom="{top + height - 1}"'
        blocks.append(
            f'<camera active="1" avg-residual="0.4" model="none" serial="{cam["serial"]}" viewrotation="0">'
            f"<fov_marker {window}/><fov_video {window}/>"
            f'<transform x="{x!r}" y="{y!r}" z="{z!r}" {rotation}/>'
            f'<intrinsic focalLengthU="{fx * 64}" focalLengthV="{fy * 64}" centerPointU="{(cx + left) * 64}" '  # type: ignore[operator]
            f'centerPointV="{(cy + top) * 64}" skew="0" radialDistortion1="-0.05" radialDistortion2="0.1" '  # type: ignore[operator]
            f'radialDistortion3="0" tangentalDistortion1="0.001" tangentalDistortion2="0.002" '
            f'sensorMinU="0" sensorMaxU="{(left + width - 1) * 64}" '
            f'sensorMinV="0" sensorMaxV="{(top + height - 1) * 64}"/>'
            "</camera>"
        )
    path.write_text(
        "<?xml version='1.0' encoding='ASCII'?>\n<calibration type=\"regular\"><cameras>"
        + "".join(blocks)
        + "</cameras></calibration>\n"
    )


def qualisys_axes(centre: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rows: the Qualisys camera's x (image right), y (image up) and z (backwards, away from what it sees) axes in
    world coordinates, i.e. its world -> camera rotation, for a camera at centre looking at target, world z up."""
    forward = (target - centre) / np.linalg.norm(target - centre)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return np.stack((right, up, -forward))


def test_qualisys_reader_round_trips_known_cameras(tmp_path: Path) -> None:
    target = np.array([0.2, -0.1, 1.0])
    specs = [
        {"serial": "camB", "centre_m": np.array([3.0, 0.5, 1.8]), "window": (0, 0, 1088, 1920),
         "fx": 1681.25, "fy": 1680.5, "cx": 533.0, "cy": 948.0},
        {"serial": "camA", "centre_m": np.array([-2.0, -2.5, 2.2]), "window": (8, 16, 1072, 1904),
         "fx": 1500.0, "fy": 1501.0, "cx": 520.0, "cy": 940.0},
    ]  # fmt: skip
    for spec in specs:
        spec["m"] = qualisys_axes(np.asarray(spec["centre_m"]), target)
    path = tmp_path / "calib.qca.txt"
    write_qca(path, specs)
    cameras = mv.read_qca(path)
    assert [c.name for c in cameras] == ["camB", "camA"]
    for camera, spec in zip(cameras, specs, strict=True):
        assert camera.size == spec["window"][2:]  # type: ignore[index]
        expected_k = np.array([[spec["fx"], 0, spec["cx"]], [0, spec["fy"], spec["cy"]], [0, 0, 1]], dtype=float)
        assert np.allclose(camera.K, expected_k, atol=1e-9)
        assert np.allclose(camera.centre, spec["centre_m"], atol=1e-9)
        assert np.allclose(camera.R @ camera.R.T, np.eye(3)) and np.linalg.det(camera.R) == pytest.approx(1.0)
        assert np.allclose(camera.distortion, [-0.05, 0.1, 0.001, 0.002])
        # what the camera looks at is in front of it, at the principal point; up in the world is up in the image;
        # the camera's right is to the right in the image
        depth = camera.to_camera(target)[2]
        assert depth == pytest.approx(np.linalg.norm(target - spec["centre_m"]))
        assert np.allclose(camera.project(target), [spec["cx"], spec["cy"]], atol=1e-6)
        above = camera.project(target + np.array([0.0, 0.0, 0.3]))
        assert above[1] < spec["cy"] - 50 and abs(above[0] - spec["cx"]) < 60  # type: ignore[operator]
        right = camera.project(target + 0.3 * spec["m"][0])  # type: ignore[index]
        assert right[0] > spec["cx"] + 50  # type: ignore[operator]


def test_camera_for_other_video_sizes() -> None:
    camera = scene_cameras()[0]
    camera = mv.Camera(camera.name, camera.K, camera.R, camera.t, (1088, 1920), camera.distortion)
    assert np.allclose(camera.for_image(1080, 1920, "left").K, camera.K)
    assert camera.for_image(1080, 1920, "crop").K[0, 2] == pytest.approx(camera.K[0, 2] - 4.0)
    scaled = camera.for_image(544, 960, "scale").K
    assert np.allclose(scaled[:2], camera.K[:2] / 2)
    with pytest.raises(ValueError, match="fit"):
        camera.for_image(1080, 1920, "stretch")


def test_pose2sim_calibration_reads_as_cameras_around_the_capture_volume() -> None:
    from fasthmr_ros.footage import clip_path, fetch

    fetch(["pose2sim_single_calib.qca.txt"])
    cameras = mv.read_qca(clip_path("pose2sim_single_calib.qca.txt"))
    assert [c.name for c in cameras] == ["cam01", "cam02", "cam03", "cam04"]
    for camera in cameras:
        assert camera.size == (1088, 1920)
        assert 1600 < camera.K[0, 0] < 1750 and abs(camera.K[0, 2] - 544) < 40 and abs(camera.K[1, 2] - 960) < 40
        # the world origin (on the floor, mid-volume) and a point 1 m above it are in front of every camera, inside
        # its portrait image, the higher point higher up; with the rotation transposed or the pi turn left out
        # this fails
        floor, chest = camera.to_camera(np.zeros(3)), camera.to_camera(np.array([0.0, 0.0, 1.0]))
        assert floor[2] > 1.5 and chest[2] > 1.5
        for pixel in (camera.project(np.zeros(3)), camera.project(np.array([0.0, 0.0, 1.0]))):
            assert 0 <= pixel[0] < 1088 and 0 <= pixel[1] < 1920
        assert camera.project(np.array([0.0, 0.0, 1.0]))[1] < camera.project(np.zeros(3))[1]
