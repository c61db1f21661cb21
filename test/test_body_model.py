"""The embedded body model: SMPL format through smplx, SMPL's skeleton, sane posing and shape directions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import smplx
import torch

from fasthmr_ros.model.poses import STANDARD_POSES, standard_pose_rotmats
from fasthmr_ros.model.skeleton import JOINT_NAMES, PARENTS, REST_JOINTS
from fasthmr_ros.runtime.body_files import embedded_model_path, load_body_model
from fasthmr_ros.runtime.smpl_io import load_smpl_arrays


@pytest.fixture(scope="module")
def model():
    return load_body_model(None)


def _pose(model, name: str, betas: torch.Tensor | None = None):
    rot = torch.from_numpy(standard_pose_rotmats(name))[None]
    betas = torch.zeros(1, 10) if betas is None else betas
    return model(rot[:, :1], rot[:, 1:], betas)


def _edges(faces: np.ndarray) -> np.ndarray:
    return np.unique(np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1), axis=0)


def test_embedded_model_says_it_is_not_smpl(model):
    assert model.name == "fasthmr-embedded" and not model.is_smpl
    arrays = load_smpl_arrays(embedded_model_path())
    assert "NOT SMPL" in str(arrays["notice"])
    assert model.num_vertices <= 6890 and model.faces.shape[1] == 3 and model.faces.dtype == np.int64
    assert embedded_model_path().stat().st_size < 3_000_000


def test_loads_through_smplx_exactly_like_smpl_neutral(tmp_path, model):
    """Write the embedded arrays as SMPL_NEUTRAL.pkl and let smplx.create find and drive it."""
    arrays = load_smpl_arrays(embedded_model_path())
    (tmp_path / "smpl").mkdir()
    with open(tmp_path / "smpl" / "SMPL_NEUTRAL.pkl", "wb") as f:  # smplx's layout: <dir>/smpl/SMPL_NEUTRAL.pkl
        pickle.dump(arrays, f)
    ids = dict(zip(arrays["vertex_id_names"].tolist(), arrays["vertex_id_indices"].tolist(), strict=True))
    layer = smplx.create(str(tmp_path), model_type="smpl", gender="neutral", vertex_ids=ids, batch_size=1)
    torch.manual_seed(0)
    body_pose = 0.3 * torch.randn(1, 69)
    global_orient = 0.5 * torch.randn(1, 3)
    betas = torch.randn(1, 10)
    ref = layer(betas=betas, body_pose=body_pose, global_orient=global_orient)
    rotmats = smplx.lbs.batch_rodrigues(torch.cat([global_orient, body_pose], 1).view(-1, 3)).view(1, 24, 3, 3)
    ours = model(rotmats[:, :1], rotmats[:, 1:], betas)
    torch.testing.assert_close(ours.vertices, ref.vertices, atol=1e-5, rtol=0)
    torch.testing.assert_close(ours.joints, ref.joints[:, :24], atol=1e-5, rtol=0)
    # smplx's extra joints (nose, eyes, ears, toes, heels, finger tips) come from our own vertex ids
    extra = ref.joints[0, 24:].detach().numpy()
    nose, reye, leye = extra[0], extra[1], extra[2]
    head = ref.joints[0, 15].detach().numpy()
    assert np.linalg.norm(nose - head) < 0.25 and leye[0] > reye[0]


def test_joint_order_parents_and_rest_joints_are_smpls(model):
    arrays = load_smpl_arrays(embedded_model_path())
    parents = [int(p) for p in arrays["kintree_table"][0]]
    parents[0] = -1
    assert tuple(parents) == PARENTS and len(JOINT_NAMES) == 24
    assert tuple(model.layer.parents.tolist()) == PARENTS
    rest = _pose(model, "t_pose").joints[0].numpy()
    np.testing.assert_allclose(rest, REST_JOINTS, atol=2e-4)
    np.testing.assert_allclose(model.rest_joints, REST_JOINTS, atol=2e-4)
    # each joint sits inside the body, near the vertices its regressor reads
    regressor = arrays["J_regressor"]
    assert np.all(np.abs(regressor.sum(axis=1) - 1.0) < 1e-3)
    # joints are averages of surrounding vertices, not extrapolations that would swing wildly with betas
    assert regressor.min() > -0.2 and regressor.max() < 0.5


@pytest.mark.parametrize("name", STANDARD_POSES)
def test_standard_poses_keep_the_mesh_together(model, name):
    rest = _pose(model, "t_pose").vertices[0].numpy()
    posed = _pose(model, name).vertices[0].numpy()
    edges = _edges(model.faces)
    ratio = np.linalg.norm(posed[edges[:, 0]] - posed[edges[:, 1]], axis=1) / np.linalg.norm(
        rest[edges[:, 0]] - rest[edges[:, 1]], axis=1
    )
    assert np.all(np.isfinite(posed))
    assert ratio.max() < 4.0, f"{name}: an edge stretched {ratio.max():.1f}x"
    assert np.percentile(ratio, 99) < 1.8
    # the pose moved the body (a no-op forward would pass the stretch check trivially)
    if name != "t_pose":
        assert np.abs(posed - rest).max() > 0.2


def test_pose_semantics_match_smpl_frame(model):
    """Arms up raise the hands above the head; sitting brings the knees forward of the hips."""
    up = _pose(model, "arms_up").joints[0].numpy()
    assert up[JOINT_NAMES.index("left_wrist"), 1] > up[JOINT_NAMES.index("head"), 1]
    sit = _pose(model, "sitting").joints[0].numpy()
    knee, hip = sit[JOINT_NAMES.index("left_knee")], sit[JOINT_NAMES.index("left_hip")]
    assert knee[2] - hip[2] > 0.3 and abs(knee[1] - hip[1]) < 0.15


def test_shape_directions_mean_something(model):
    def stats(beta_index: int, value: float) -> tuple[float, float]:
        betas = torch.zeros(1, 10)
        betas[0, beta_index] = value
        v = _pose(model, "t_pose", betas).vertices[0].numpy()
        waist = v[np.abs(v[:, 1] + 0.1) < 0.03]
        return float(np.ptp(v[:, 1])), float(np.ptp(waist[:, 2]))

    heights = [stats(0, b)[0] for b in (-2.0, 0.0, 2.0)]
    assert heights[0] + 0.08 < heights[1] < heights[2] - 0.08  # beta 0: taller
    assert 1.6 < heights[1] < 1.9
    depths = [stats(1, b)[1] for b in (-2.0, 2.0)]
    assert depths[1] > depths[0] + 0.02  # beta 1: heavier
    assert abs(stats(1, 2.0)[0] - heights[1]) < 0.03  # ... at about the same height


def test_batches_and_bad_shapes(model):
    rot = torch.from_numpy(np.stack([standard_pose_rotmats(n) for n in ("t_pose", "sitting")]))
    out = model(rot[:, :1], rot[:, 1:], torch.zeros(2, 10))
    assert out.vertices.shape == (2, model.num_vertices, 3) and out.joints.shape == (2, 24, 3)
    single = _pose(model, "sitting")
    torch.testing.assert_close(out.vertices[1:], single.vertices)
    short = model(rot[:, :1], rot[:, 1:], torch.zeros(2, 4))  # fewer betas are zero-padded
    torch.testing.assert_close(short.vertices, out.vertices)
    with pytest.raises(ValueError, match="body_pose"):
        model(rot[:, :1], rot[:, 2:], torch.zeros(2, 10))
    with pytest.raises(ValueError, match="betas"):
        model(rot[:, :1], rot[:, 1:], torch.zeros(2, 11))


def test_a_model_without_pose_correctives_skips_them_and_matches_smplx_to_the_bit(model):
    # the embedded model's posedirs are all zero: its forward leaves that product out, with the very same result
    assert not model.pose_correctives
    torch.manual_seed(1)
    for batch in (1, 3):
        rotmats = smplx.lbs.batch_rodrigues(0.5 * torch.randn(batch * 24, 3)).view(batch, 24, 3, 3)
        betas = torch.randn(batch, 10)
        ours = model(rotmats[:, :1], rotmats[:, 1:], betas)
        ref = model.layer(betas=betas, body_pose=rotmats[:, 1:], global_orient=rotmats[:, :1])
        assert torch.equal(ours.vertices, ref.vertices) and torch.equal(ours.joints, ref.joints[:, :24])


def test_a_model_with_pose_correctives_applies_them():
    from fasthmr_ros.model.body import BodyModel

    arrays = dict(load_smpl_arrays(embedded_model_path()))
    rng = np.random.default_rng(0)
    arrays["posedirs"] = 0.01 * rng.standard_normal(np.asarray(arrays["posedirs"]).shape)
    corrected, plain = BodyModel(arrays, "with-correctives"), load_body_model(None)
    assert corrected.pose_correctives
    rotmats = smplx.lbs.batch_rodrigues(0.5 * torch.randn(2 * 24, 3)).view(2, 24, 3, 3)
    betas = torch.randn(2, 10)
    ours = corrected(rotmats[:, :1], rotmats[:, 1:], betas)
    ref = corrected.layer(betas=betas, body_pose=rotmats[:, 1:], global_orient=rotmats[:, :1])
    assert torch.equal(ours.vertices, ref.vertices)
    moved = (ours.vertices - plain(rotmats[:, :1], rotmats[:, 1:], betas).vertices).norm(dim=-1)
    assert float(moved.max()) > 1e-3  # the correctives really changed the surface
