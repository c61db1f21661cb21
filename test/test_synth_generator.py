"""Synthetic people: deterministic from the seed, ground truth consistent with the image and with the body model,
crop-camera targets that the node's camera conversion maps back onto the truth, data sets that round-trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fasthmr_ros.perception.camera import cam_crop_to_full
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.training.hmr_data import make_batch
from fasthmr_ros.training.hmr_targets import crop_camera_targets, crop_keypoints, project_through_camera
from fasthmr_ros.training.synth.backgrounds import load_plates
from fasthmr_ros.training.synth.dataset import SynthSet, generate_frames, generate_sequences
from fasthmr_ros.training.synth.scene import SynthGenerator, project


@pytest.fixture(scope="module")
def body():
    return load_body_model(None)


@pytest.fixture(scope="module")
def plates():
    return load_plates()


@pytest.fixture(scope="module")
def frames(body, plates):
    return SynthGenerator(seed=5, body=body, plates=plates).frames(range(6))


def test_same_seed_same_frames_in_any_order_and_chunking(body, plates, frames):
    again = SynthGenerator(seed=5, body=body, plates=plates)
    reordered = again.frames([4, 1]) + again.frames([3])
    for frame, index in zip(reordered, (4, 1, 3), strict=True):
        reference = frames[index]
        assert np.array_equal(frame.image, reference.image)
        assert np.array_equal(frame.mask, reference.mask)
        for name in ("global_orient", "body_pose", "betas", "translation", "joints_cam", "box"):
            np.testing.assert_array_equal(getattr(frame, name), getattr(reference, name))
    other = SynthGenerator(seed=6, body=body, plates=plates).frames([1])[0]
    assert not np.array_equal(other.image.shape, frames[1].image.shape) or not np.array_equal(
        other.image, frames[1].image
    )
    assert not np.allclose(other.body_pose, frames[1].body_pose)


def test_ground_truth_matches_body_model_projection_and_mask(body, frames):
    for frame in frames:
        out = body(
            torch.from_numpy(frame.global_orient)[None, None],
            torch.from_numpy(frame.body_pose)[None],
            torch.from_numpy(frame.betas)[None],
        )
        np.testing.assert_allclose(out.joints[0].numpy() + frame.translation, frame.joints_cam, atol=1e-4)
        np.testing.assert_allclose(project(frame.joints_cam.astype(np.float64), frame.K), frame.joints_2d, atol=1e-2)
        # Rotations are rotations.
        for rot in np.concatenate([frame.global_orient[None], frame.body_pose]):
            np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-5)
        assert frame.mask.sum() > 500
        x0, y0, x1, y1 = frame.box
        rows, cols = np.nonzero(frame.mask)
        assert (x0, y0, x1, y1) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
        # Joints inside the image lie inside (or within a few pixels of) the mask's box.
        height, width = frame.mask.shape
        uv = frame.joints_2d
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < width) & (uv[:, 1] >= 0) & (uv[:, 1] < height)
        near = (uv[:, 0] > x0 - 6) & (uv[:, 0] < x1 + 6) & (uv[:, 1] > y0 - 6) & (uv[:, 1] < y1 + 6)
        assert near[inside].all()
        assert frame.joints_cam[:, 2].min() > 0.5


def test_crop_targets_invert_the_camera_conversion(body, plates, frames, tmp_path):
    path = tmp_path / "set.npz"
    # A data set from the same frames: round trip of every ground-truth array, images through JPEG.
    generator_frames = frames
    generate_frames(path, 6, seed=5, chunk=4, generator=SynthGenerator(seed=5, body=body, plates=plates))
    dataset = SynthSet.load(path)
    assert len(dataset) == 6 and dataset.meta["frames"] == 6
    for i, frame in enumerate(generator_frames):
        np.testing.assert_array_equal(dataset["joints_cam"][i], frame.joints_cam)
        np.testing.assert_array_equal(dataset.mask(i), frame.mask)
        assert np.abs(dataset.image(i).astype(int) - frame.image.astype(int)).mean() < 4.0
    batch = make_batch(dataset, np.arange(6), None)
    K = dataset["K"]
    from fasthmr_ros.perception.preprocess import expand_boxes

    centers, sizes = expand_boxes(dataset["box"])
    cams = crop_camera_targets(dataset["translation"], K[:, 0, 0], K[:, :2, 2], centers, sizes)
    for i in range(6):
        back = cam_crop_to_full(cams[i : i + 1], centers[i : i + 1], sizes[i : i + 1], (1, 1), focal=K[i, 0, 0],
                                principal_point=K[i, :2, 2])  # fmt: skip
        np.testing.assert_allclose(back[0], dataset["translation"][i], atol=1e-5)
    np.testing.assert_allclose(batch.crop_cam.numpy(), cams, rtol=1e-5, atol=1e-6)
    # The true crop camera, through the run-time camera conversion and the true intrinsics, projects the true
    # joints exactly onto the true 2D joints in the crop; a wrong camera does not.
    args = (batch.centers, batch.sizes, batch.K, batch.transforms)
    projected = project_through_camera(batch.joints, batch.crop_cam, *args)
    np.testing.assert_allclose(projected.numpy(), batch.keypoints_2d.numpy(), atol=2e-4)
    shifted = batch.crop_cam * torch.tensor([1.1, 1.0, 1.0])
    assert (project_through_camera(batch.joints, shifted, *args) - batch.keypoints_2d).abs().max() > 0.01
    # 2D targets and the image crop come from the same transform: the pelvis target matches the tight box centre
    # roughly, and every target is inside the crop for joints inside the box.
    assert (batch.keypoints_2d.abs() < 0.6).all()


def test_crop_keypoints_follow_the_affine_transform():
    transforms = np.array([[[2.0, 0.0, -10.0], [0.0, 2.0, 4.0]]])
    points = np.array([[[5.0, 3.0], [69.0, 62.0]]])
    out = crop_keypoints(points, transforms)
    np.testing.assert_allclose(out[0, 0], [0.0 / 256 - 0.5, 10.0 / 256 - 0.5])
    np.testing.assert_allclose(out[0, 1], [128.0 / 256 - 0.5, 128.0 / 256 - 0.5])


def test_sequences_have_a_fixed_camera_and_smooth_motion(body, plates, tmp_path):
    generator = SynthGenerator(seed=9, body=body, plates=plates)
    sequence = generator.sequence(0, seconds=0.5, fps=30.0, size=(240, 180))
    frames = sequence.frames
    assert len(frames) == 15
    assert all(np.array_equal(f.K, frames[0].K) for f in frames)
    assert frames[0].image.shape == (180, 240, 3)
    joints = np.stack([f.joints_cam for f in frames])
    step = np.linalg.norm(np.diff(joints, axis=0), axis=-1).max()
    assert 0.0 < step < 0.15  # moves, and by less than 15 cm per joint per frame at 30 fps
    assert all(f.mask.sum() > 100 for f in frames)
    again = SynthGenerator(seed=9, body=body, plates=plates).sequence(0, seconds=0.5, fps=30.0, size=(240, 180))
    assert all(np.array_equal(a.image, b.image) for a, b in zip(frames, again.frames, strict=True))
    path = tmp_path / "seq.npz"
    generate_sequences(path, 2, seed=9, seconds=0.3, fps=30.0, size=(160, 120), generator=generator)
    dataset = SynthSet.load(path)
    sequences = dataset.sequences()
    assert [len(s) for s in sequences] == [9, 9]
    assert list(dataset["frame_index"][sequences[1]]) == list(range(9))
