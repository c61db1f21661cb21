"""Synthetic motion, forward kinematics, the simulated HMR error model, AMASS-layout loading and the metrics."""

import math

import numpy as np
import pytest
import torch

from fasthmr_ros.model.rotation import axis_angle_to_rotmat
from fasthmr_ros.model.skeleton import NUM_JOINTS, PARENTS, REST_JOINTS
from fasthmr_ros.training.metrics import accel_error, mpjpe, pa_mpjpe, procrustes_align
from fasthmr_ros.training.one_euro import OneEuroPoseFilter
from fasthmr_ros.training.synth.amass import load_amass_npz
from fasthmr_ros.training.synth.hmr_errors import HMRErrorModel
from fasthmr_ros.training.synth.motion import (
    JOINT_LOWER,
    JOINT_UPPER,
    KINDS,
    camera_view,
    forward_kinematics,
    mirror_pose,
    synthetic_motion_set,
)


@pytest.fixture(scope="module")
def clips():
    return synthetic_motion_set(8, 3.0, 30.0, seed=0)


def test_motion_set_is_reproducible_and_covers_all_kinds(clips):
    again = synthetic_motion_set(8, 3.0, 30.0, seed=0)
    other = synthetic_motion_set(8, 3.0, 30.0, seed=1)
    assert [c.kind for c in clips] == list(KINDS) * 2
    assert all(np.array_equal(a.poses, b.poses) for a, b in zip(clips, again, strict=True))
    assert not np.allclose(clips[0].poses, other[0].poses)
    for clip in clips:
        assert clip.poses.shape == (90, NUM_JOINTS, 3) and clip.trans.shape == (90, 3)
        assert np.isfinite(clip.poses).all()


def test_motions_are_smooth_and_walkers_move(clips):
    for clip in clips:
        joints = forward_kinematics(clip.rotmats())
        step = (joints[1:] - joints[:-1]).norm(dim=-1)
        assert float(step.max()) < 0.45  # no joint moves faster than ~13 m/s (30 fps)
        if clip.kind in ("walk", "run"):
            speed = np.linalg.norm(clip.trans[-1, [0, 2]] - clip.trans[0, [0, 2]]) / 3.0
            assert 0.7 < speed < 4.0


def test_limits_table_mirrors_and_contains_neutral():
    assert bool((JOINT_LOWER[1:] <= JOINT_UPPER[1:]).all())
    # left_hip (1) and right_hip (2): same x range, mirrored y and z ranges
    assert np.allclose(JOINT_LOWER[1, 0], JOINT_LOWER[2, 0])
    assert np.allclose(JOINT_LOWER[1, 1:], -JOINT_UPPER[2, 1:])


def test_forward_kinematics_rest_pose_and_bone_lengths(clips):
    identity = torch.eye(3).expand(NUM_JOINTS, 3, 3)
    assert torch.allclose(forward_kinematics(identity), torch.from_numpy(REST_JOINTS), atol=1e-6)
    joints = forward_kinematics(clips[1].rotmats())
    rest = torch.from_numpy(REST_JOINTS)
    for j in range(1, NUM_JOINTS):
        bone = (joints[:, j] - joints[:, PARENTS[j]]).norm(dim=-1)
        assert torch.allclose(bone, (rest[j] - rest[PARENTS[j]]).norm().expand_as(bone), atol=1e-5)
    # A body model's rest joints are honoured.
    scaled = forward_kinematics(identity, REST_JOINTS * 2)
    assert torch.allclose(scaled, torch.from_numpy(REST_JOINTS) * 2, atol=1e-6)


def test_camera_view_faces_camera_upright():
    identity = torch.eye(3).expand(1, 1, NUM_JOINTS, 3, 3)
    seen = camera_view(identity, torch.zeros(1), torch.zeros(1))
    joints = forward_kinematics(seen)[0, 0]
    assert float(joints[15, 1] - joints[0, 1]) < -0.4  # head above the pelvis means smaller y (y down)
    assert float(joints[16, 0] - joints[17, 0]) > 0.2  # facing the camera: the left shoulder is on the image right


def test_mirror_is_an_involution_and_swaps_sides(clips):
    rotmats = clips[0].rotmats()
    assert torch.allclose(mirror_pose(mirror_pose(rotmats)), rotmats, atol=1e-6)
    joints, mirrored = forward_kinematics(rotmats), forward_kinematics(mirror_pose(rotmats))
    flip = torch.tensor([-1.0, 1.0, 1.0])
    # Mirroring the pose mirrors the skeleton up to the rest pose's own slight asymmetry.
    assert float((mirrored[:, 16] - joints[:, 17] * flip).norm(dim=-1).max()) < 0.05


def test_error_model_terms(clips):
    true = camera_view(torch.stack([c.rotmats() for c in clips]), torch.zeros(8), torch.zeros(8))
    quiet = HMRErrorModel(
        bias_deg=0, root_bias_deg=0, drift_deg=0, root_drift_deg=0, flip_rate=0, orient_flip_rate=0, drop_rate=0
    )
    jitter_only = quiet.apply(true, 30.0, torch.Generator().manual_seed(0))
    angle = torch.acos(((true.transpose(-1, -2) @ jitter_only).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2)
    # Rotation angle of 3D Gaussian noise with per-axis std s has mean s * sqrt(8 / pi).
    expected = math.radians(quiet.jitter_deg) * math.sqrt(8 / math.pi)
    assert abs(float(angle[..., 3].mean()) - expected) / expected < 0.1
    # Per-sequence error levels: zero scale leaves a sequence exact, the others keep their noise.
    levels = quiet.apply(true, 30.0, torch.Generator().manual_seed(0), scale=torch.tensor([0.0, 1.0] * 4))
    assert torch.allclose(levels[0], true[0], atol=1e-6) and not torch.allclose(levels[1], true[1], atol=1e-4)
    full = HMRErrorModel().apply(true, 30.0, torch.Generator().manual_seed(0))
    joints, est = forward_kinematics(true), forward_kinematics(full)
    assert 40 < mpjpe(est, joints) < 120 and 10 < accel_error(est, joints) < 50
    drops = HMRErrorModel(**{**quiet.as_dict(), "jitter_deg": 1.0, "drop_rate": 0.2}).apply(
        true, 30.0, torch.Generator().manual_seed(1)
    )
    repeated = (drops[:, 1:] == drops[:, :-1]).flatten(2).all(-1)
    assert 0.1 < float(repeated.float().mean()) < 0.6  # held frames repeat the previous estimate exactly


def test_amass_loader_resamples_and_turns_z_up(tmp_path, clips):
    clip = synthetic_motion_set(1, 2.0, 60.0, seed=9)[0]
    path = clip.to_npz(tmp_path / "a.npz")
    loaded = load_amass_npz(path, 30.0)
    assert len(loaded) == 60 and loaded.fps == 30.0
    assert torch.allclose(loaded.rotmats(), clip.rotmats()[::2], atol=1e-4)
    # An AMASS file (z-up, SMPL-H 156 numbers per frame, 120 fps) comes out y-up at 30 fps.
    poses = np.zeros((121, 156), np.float32)
    poses[:, 0] = np.pi / 2  # root turned +90 degrees about x: the body's up (y) points along world +z
    np.savez(tmp_path / "b.npz", poses=poses, trans=np.zeros((121, 3)), mocap_framerate=120.0)
    amass = load_amass_npz(tmp_path / "b.npz", 30.0)
    assert len(amass) == 31
    assert torch.allclose(amass.rotmats()[:, 0], torch.eye(3).expand(31, 3, 3), atol=1e-5)  # upright in y-up
    with pytest.raises(ValueError, match="mocap_framerate"):
        np.savez(tmp_path / "c.npz", poses=poses, trans=np.zeros((121, 3)))
        load_amass_npz(tmp_path / "c.npz", 30.0)


def test_metrics_known_cases():
    generator = torch.Generator().manual_seed(0)
    true = torch.randn(2, 10, NUM_JOINTS, 3, generator=generator)
    assert mpjpe(true + 0.01 * torch.tensor([1.0, 0, 0]), true) == pytest.approx(0.0, abs=1e-4)  # pelvis-aligned
    turn = axis_angle_to_rotmat(torch.tensor([0.3, -0.2, 0.5]))
    moved = 1.7 * true @ turn.T + torch.tensor([0.5, 0.1, 2.0])
    assert float((procrustes_align(moved, true) - true).abs().max()) < 1e-6
    assert pa_mpjpe(moved, true) < 1e-3 and mpjpe(moved, true) > 100
    shaky = true.clone()
    shaky[:, 5, 3] += torch.tensor([0.01, 0.0, 0.0])  # one joint 10 mm off in one frame
    # Second differences at frames 4, 5, 6 see +10, -20, +10 mm on 1 of 24 joints, over 8 interior frames.
    assert accel_error(shaky, true) == pytest.approx((10 + 20 + 10) / 24 / 8, rel=1e-3)


def test_one_euro_filter_smooths_and_tracks_constant_pose(clips):
    rotmats = clips[0].rotmats()
    noisy = HMRErrorModel(
        bias_deg=0,
        root_bias_deg=0,
        drift_deg=0,
        root_drift_deg=0,
        flip_rate=0,
        orient_flip_rate=0,
        drop_rate=0,
        jitter_deg=2.0,
    ).apply(rotmats[None], 30.0, torch.Generator().manual_seed(0))[0]
    filt = OneEuroPoseFilter(min_cutoff=1.0, beta=0.0)
    smoothed = torch.stack([filt.update([0], noisy[t : t + 1])[0] for t in range(len(noisy))])
    joints = forward_kinematics(rotmats)
    assert accel_error(forward_kinematics(smoothed), joints) < 0.5 * accel_error(forward_kinematics(noisy), joints)
    still = OneEuroPoseFilter()
    outs = [still.update([1], rotmats[:1])[0] for _ in range(5)]
    assert torch.allclose(outs[-1], rotmats[0], atol=1e-5)
