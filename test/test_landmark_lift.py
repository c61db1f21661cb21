"""The landmark pose source on the body model itself: poses turned into BlazePose-style landmarks (the way the
lift was trained, but from held-out seeds) come back as joints within a measured bound; the translation solve
recovers a known camera-frame position; the fast body-point evaluation equals the full body model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fasthmr_ros.model.body_points import BodyLandmarks, BodyPoints
from fasthmr_ros.model.landmark_map import HIP_LANDMARKS, LIMB_LANDMARKS, NUM_LANDMARKS, vertex_indices
from fasthmr_ros.model.point_kinematics import LandmarkPoints, PointKinematics
from fasthmr_ros.model.rotation import axis_angle_to_rotmat
from fasthmr_ros.perception.landmark_lift import LandmarkLift
from fasthmr_ros.perception.landmark_placement import solve_laterals, solve_translation, solve_translations
from fasthmr_ros.perception.landmark_shape import BoneMemory, ShapeFit, bone_lengths, bone_weights
from fasthmr_ros.perception.masks import PersonDetection
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.lift_files import load_lift
from fasthmr_ros.training.lift_data import corrupt, make_samples
from fasthmr_ros.training.metrics import per_frame_pa_mpjpe


@pytest.fixture(scope="module")
def body():
    return load_body_model(None)


@pytest.fixture(scope="module")
def points(body) -> BodyPoints:
    return BodyPoints(body, vertex_indices(body.vertex_ids))


@pytest.fixture(scope="module")
def landmarks(body) -> BodyLandmarks:
    return BodyLandmarks(body)


def test_body_points_equal_the_full_body_model(body, points) -> None:
    torch.manual_seed(0)
    rotmats = axis_angle_to_rotmat(torch.randn(6, 24, 3) * 0.6)
    betas = torch.randn(6, 5)
    full = body(rotmats[:, :1], rotmats[:, 1:], betas)
    joints, surface = points(rotmats, betas)
    assert torch.allclose(joints, full.joints, atol=1e-5)
    assert torch.allclose(surface, full.vertices[:, vertex_indices(body.vertex_ids)], atol=1e-5)


@pytest.mark.parametrize("correctives", [False, True])
def test_numpy_kinematics_equal_the_full_body_model(body, correctives) -> None:
    """model/point_kinematics.py (the 2D fit's and the placement's numpy copy of the skinning) against the smplx
    body model, on the embedded model and on one given random pose correctives (as a user's SMPL has)."""
    if correctives:
        from fasthmr_ros.model.body import BodyModel
        from fasthmr_ros.runtime.body_files import embedded_model_path
        from fasthmr_ros.runtime.smpl_io import load_smpl_arrays

        arrays = dict(load_smpl_arrays(embedded_model_path()))
        arrays["posedirs"] = 0.01 * np.random.default_rng(0).standard_normal(np.asarray(arrays["posedirs"]).shape)
        body = BodyModel(arrays, "with-correctives")
        assert body.pose_correctives
    torch.manual_seed(2)
    rotmats = axis_angle_to_rotmat(torch.randn(5, 24, 3) * 0.6)
    betas = torch.randn(5, 10)
    with torch.no_grad():
        full = body(rotmats[:, :1], rotmats[:, 1:], betas)
    rows = vertex_indices(body.vertex_ids)
    kinematics = PointKinematics(BodyPoints(body, rows), list(range(len(rows))))
    joints, vertices, _ = kinematics.pose(rotmats.double().numpy(), *kinematics.rest(betas.double().numpy()))
    assert np.abs(joints - full.joints.double().numpy()).max() < 1e-5
    assert np.abs(vertices - full.vertices[:, rows].double().numpy()).max() < 1e-5
    # the landmarks through them equal BodyLandmarks' (torch)
    landmarks = BodyLandmarks(body)
    picked = list(LIMB_LANDMARKS)
    ours = LandmarkPoints(landmarks, picked)(rotmats.double().numpy(), betas.double().numpy())
    with torch.no_grad():
        theirs = landmarks(rotmats, betas)[0][:, picked].double().numpy()
        world = landmarks(rotmats, betas)[0]
    assert np.abs(ours - theirs).max() < 1e-5
    # the shape refit (joints only) on the same model gives back the betas whose bones it was handed
    start = torch.zeros_like(betas)
    fitted = ShapeFit(landmarks, steps=6)(rotmats, start, bone_lengths(world).log(), torch.ones(5, 11))
    with torch.no_grad():
        after = (bone_lengths(landmarks(rotmats, fitted)[0]) / bone_lengths(world)).log().abs().mean()
        before = (bone_lengths(landmarks(rotmats, start)[0]) / bone_lengths(world)).log().abs().mean()
    assert float(after) < 0.5 * float(before), (after, before)


def test_lift_recovers_held_out_body_model_poses(landmarks) -> None:
    net, meta = load_lift(None)
    data = make_samples(landmarks, 2000, seed=1234)  # the trainer draws seeds 0 (train) and 1 (held out)
    generator = torch.Generator().manual_seed(7)
    noisy, visibility = corrupt(data.landmarks, generator)
    with torch.no_grad():
        clean_rot, clean_betas = net(data.landmarks, torch.ones(len(data), NUM_LANDMARKS))
        noisy_rot, noisy_betas = net(noisy, visibility)
        shuffled_rot, shuffled_betas = net(data.landmarks[torch.randperm(len(data))], torch.ones(len(data), 33))

    def joint_error(rotmats, betas) -> tuple[float, float]:
        lm, joints = landmarks(rotmats, betas)
        centre = lm[:, list(HIP_LANDMARKS)].mean(1, keepdim=True)
        pa = float(per_frame_pa_mpjpe(joints - centre, data.joints).median())
        limb = list(LIMB_LANDMARKS)
        direct = float(((lm - centre)[:, limb] - data.landmarks[:, limb]).norm(dim=-1).mean() * 1000)
        return pa, direct

    clean_pa, clean_limbs = joint_error(clean_rot, clean_betas)
    noisy_pa, _ = joint_error(noisy_rot, noisy_betas)
    shuffled_pa, _ = joint_error(shuffled_rot, shuffled_betas)
    # measured with the embedded lift: clean PA-MPJPE median 14.5 mm, limb landmarks 26.6 mm; noisy 24.1 mm;
    # someone else's landmarks 176 mm. Bounds ~1.7x the measurements.
    assert clean_pa < 25.0 and clean_limbs < 45.0, (clean_pa, clean_limbs)
    assert noisy_pa < 40.0, noisy_pa
    assert shuffled_pa > 3 * noisy_pa  # someone else's landmarks give someone else's pose: the test can fail
    assert meta["body_model"] == "fasthmr-embedded"


def test_translation_solve_recovers_a_known_position() -> None:
    rng = np.random.default_rng(0)
    k = np.array([[900.0, 0, 640], [0, 900.0, 360], [0, 0, 1]])
    model = rng.normal(0, 0.3, (16, 3))
    truth = np.array([0.4, -0.2, 3.5])
    camera = model + truth
    pixels = (camera[:, :2] / camera[:, 2:]) * 900.0 + np.array([640, 360])
    weights = np.ones(16)
    assert np.allclose(solve_translation(model, pixels, weights, k), truth, atol=1e-6)
    wrong = pixels.copy()
    wrong[3] += (400.0, -250.0)  # one landmark on another person
    assert np.abs(solve_translation(model, wrong, weights, k) - truth).max() < 0.02
    plain = solve_translation(model, wrong, weights, k, rounds=0)
    assert np.abs(plain - truth).max() > 0.05  # without reweighting it would be pulled
    assert solve_translation(model, pixels, np.r_[np.ones(3), np.zeros(13)], k) is None


def test_batched_solves_place_each_person_alone() -> None:
    """solve_translations / solve_laterals over people at once: each person's answer is their own (same as solving
    them one by one), a wrong landmark does not pull, and people who cannot be placed are said so."""
    rng = np.random.default_rng(4)
    n = 4
    ks = np.stack([np.array([[f, 0, 640], [0, f, 360], [0, 0, 1]]) for f in rng.uniform(600, 1400, n)])
    model = rng.normal(0, 0.3, (n, 16, 3))
    truth = np.stack([rng.uniform(-1, 1, n), rng.uniform(-0.4, 0.4, n), rng.uniform(2.5, 7.0, n)], 1)
    camera = model + truth[:, None]
    pixels = camera[..., :2] / camera[..., 2:] * ks[:, None, [0, 1], [0, 1]] + ks[:, None, [0, 1], 2]
    pixels[:, 5] += (300.0, -200.0)  # one landmark on someone else, in everyone
    weights = np.ones((n, 16))
    weights[2, 4:] = 0.0  # this one shows only 4 points: still placeable
    weights[3, 3:] = 0.0  # and this one 3: not
    t, placed = solve_translations(model, pixels, weights, ks)
    assert placed.tolist() == [True, True, True, False] and np.all(t[3] == 0)
    assert np.abs(t[:2] - truth[:2]).max() < 0.02, t - truth
    for i in range(3):
        alone = solve_translation(model[i], pixels[i], weights[i], ks[i])
        assert alone is not None and np.allclose(alone, t[i], atol=1e-9)
    depth = truth[:, 2] + np.array([0.0, 0.3, 0.0, 0.0])  # a wrong held depth moves x, y only a little
    lateral, placed = solve_laterals(model, pixels, weights, ks, depth)
    assert placed.tolist() == [True, True, True, False]
    assert np.abs(lateral[0, :2] - truth[0, :2]).max() < 0.005 and np.all(lateral[:3, 2] == depth[:3])
    assert np.abs(lateral[1, :2] - truth[1, :2]).max() < 0.1
    behind = solve_laterals(model, pixels, weights, ks, np.full(n, -1.0))[1]  # body behind the camera
    nan_depth = solve_laterals(model, pixels, weights, ks, np.full(n, np.nan))[1]
    assert not behind.any() and not nan_depth.any()


def test_lift_places_a_posed_body_in_the_camera(body, landmarks) -> None:
    """A body-model person at a known place: its landmarks, projected with K, come back at that place."""
    net, _ = load_lift(None)
    lift = LandmarkLift(net, body, "fasthmr-embedded", torch.device("cpu"))
    data = make_samples(landmarks, 8, seed=99)
    k = np.array([[1000.0, 0, 480], [0, 1000.0, 640], [0, 0, 1]])
    with torch.no_grad():
        model_lm = landmarks(data.rotmats, data.betas)[0].numpy()
    truths, detections = [], []
    for i in range(len(data)):
        truth = np.array([0.3 * i - 1.0, 0.2, 4.0 + 0.5 * i])
        camera = model_lm[i] + truth
        pixels = (camera[:, :2] / camera[:, 2:]) * 1000.0 + np.array([480, 640])
        keypoints = np.concatenate([pixels, np.ones((NUM_LANDMARKS, 1))], 1).astype(np.float32)
        world = (model_lm[i] - model_lm[i][list(HIP_LANDMARKS)].mean(0)).astype(np.float32)
        detections.append(PersonDetection(np.zeros(4, np.float32), 1.0, keypoints=keypoints, world_landmarks=world))
        truths.append(truth)
    lifted = lift(detections, k)
    assert lifted.usable.all()
    depth_error = np.abs(lifted.translation[:, 2] - np.array(truths)[:, 2]) / np.array(truths)[:, 2]
    # measured: median 1.5%, worst 4.5% of the depth (the lifted shape and pose are not exact)
    assert np.median(depth_error) < 0.04 and depth_error.max() < 0.10, depth_error
    missing = PersonDetection(np.zeros(4, np.float32), 1.0, keypoints=detections[0].keypoints)
    assert not lift([missing], k).usable[0]  # no world landmarks (another mask backend): not placed


def test_shape_follows_mediapipes_bone_lengths(landmarks) -> None:
    """The shape refit (perception/landmark_shape.py) gives the body the bone lengths of the world landmarks it is
    handed: body-model people from a mean-shape start, and the same people made 10% smaller."""
    data = make_samples(landmarks, 200, seed=321)
    start = torch.zeros_like(data.betas)  # a lift that ignored the input's size
    visible = torch.ones(len(data), NUM_LANDMARKS)
    with torch.no_grad():
        truth = bone_lengths(data.landmarks)

        def misfit(world: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
            return (bone_lengths(landmarks(data.rotmats, betas)[0]) / bone_lengths(world)).log().abs().mean(-1)

        def fit(world: torch.Tensor, visibility: torch.Tensor) -> torch.Tensor:
            weights = bone_weights(visibility, 0.5)
            return ShapeFit(landmarks)(data.rotmats, start, bone_lengths(world).log(), weights)

        before = misfit(data.landmarks, start)
        fitted = fit(data.landmarks, visible)
        smaller = fit(0.9 * data.landmarks, visible)
        size = bone_lengths(landmarks(data.rotmats, smaller)[0]).sum(-1) / truth.sum(-1)
        hidden = fit(data.landmarks, torch.zeros_like(visible))
    # measured: median log-length misfit 4.0% from the mean shape -> 1.6% fitted; the 10% smaller people come out
    # 0.923 of the size (median; the prior holds back a little); with nothing visible the prior is kept
    assert float(misfit(data.landmarks, fitted).median()) < 0.025 < float(before.median()), before.median()
    assert 0.88 < float(size.median()) < 0.945, size.median()
    assert torch.equal(hidden, start)


def test_bone_memory_averages_a_followed_person_and_restarts_for_a_new_one() -> None:
    generator = torch.Generator().manual_seed(3)
    truth = torch.linspace(-1.5, -0.5, 11)
    memory = BoneMemory()
    ones = torch.ones(1, 11)
    for frame in range(40):
        noisy = truth + 0.1 * torch.randn(1, 11, generator=generator)
        averaged, weights = memory([None if frame == 0 else 7], noisy, ones)
    assert float((averaged - truth).abs().mean()) < 0.04 < float((noisy - truth).abs().mean())  # ~0.1/sqrt(40)
    assert torch.allclose(weights, ones)
    fresh, fresh_weights = memory([None], noisy, ones)  # found afresh: this frame alone, a third of the pull
    assert torch.equal(fresh, noisy) and torch.allclose(fresh_weights, ones / 3)
    hidden, hidden_weights = memory([8], noisy, torch.zeros(1, 11))
    assert torch.equal(hidden, noisy) and float(hidden_weights.abs().max()) == 0.0
