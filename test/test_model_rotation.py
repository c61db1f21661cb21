from __future__ import annotations

import math

import pytest
import torch

from fasthmr_ros.model.rotation import (
    axis_angle_to_rotmat,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_rot6d,
)


def rot_z(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)


def rot_x(angle: float) -> torch.Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]], dtype=torch.float64)


def test_6d_layout_is_column_wise() -> None:
    identity = rot6d_to_rotmat(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=torch.float64))
    assert torch.equal(identity, torch.eye(3, dtype=torch.float64))
    # Rz(90 deg) has columns (0, 1, 0) and (-1, 0, 0); SPIN's interleaved reading would give another matrix.
    rz = rot6d_to_rotmat(torch.tensor([0.0, 1.0, 0.0, -1.0, 0.0, 0.0], dtype=torch.float64))
    assert torch.allclose(rz, rot_z(math.pi / 2), atol=1e-12)


def test_6d_gram_schmidt_on_unnormalised_input() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(5, 24, 6, generator=gen, dtype=torch.float64) * 3.0
    rot = rot6d_to_rotmat(x)
    assert rot.shape == (5, 24, 3, 3)
    eye = torch.eye(3, dtype=torch.float64).expand_as(rot)
    assert torch.allclose(rot.transpose(-1, -2) @ rot, eye, atol=1e-12)
    assert torch.allclose(torch.linalg.det(rot), torch.ones(5, 24, dtype=torch.float64), atol=1e-12)
    a1, a2 = x[..., :3], x[..., 3:]
    # first column = a1 direction; a2 lies in the plane of the first two columns, on the positive side of col 2
    assert torch.allclose(rot[..., :, 0], a1 / a1.norm(dim=-1, keepdim=True), atol=1e-12)
    assert torch.allclose((a2 * rot[..., :, 2]).sum(-1), torch.zeros(5, 24, dtype=torch.float64), atol=1e-10)
    assert ((a2 * rot[..., :, 1]).sum(-1) > 0).all()
    assert torch.allclose(rot6d_to_rotmat(rotmat_to_rot6d(rot)), rot, atol=1e-12)


def test_axis_angle_matches_known_rotations() -> None:
    for angle in (1e-7, 1e-3, 0.5, 2.0, math.pi - 1e-6):
        aa = torch.tensor([0.0, 0.0, angle], dtype=torch.float64)
        assert torch.allclose(axis_angle_to_rotmat(aa), rot_z(angle), atol=1e-12)
        assert torch.allclose(axis_angle_to_rotmat(torch.tensor([angle, 0, 0], dtype=torch.float64)), rot_x(angle))
    assert torch.equal(axis_angle_to_rotmat(torch.zeros(3, dtype=torch.float64)), torch.eye(3, dtype=torch.float64))


def test_axis_angle_round_trip_including_near_zero_and_pi() -> None:
    gen = torch.Generator().manual_seed(1)
    axes = torch.nn.functional.normalize(torch.randn(400, 3, generator=gen, dtype=torch.float64), dim=-1)
    angles = torch.cat(
        (
            torch.rand(394, generator=gen, dtype=torch.float64) * (math.pi - 1e-3),
            torch.tensor([0.0, 1e-9, 1e-5, math.pi - 1e-7, math.pi - 1e-4, 2e-4], dtype=torch.float64),
        )
    )
    aa = axes * angles[:, None]
    rot = axis_angle_to_rotmat(aa)
    back = rotmat_to_axis_angle(rot)
    assert torch.allclose(axis_angle_to_rotmat(back), rot, atol=1e-9)
    far_from_pi = angles < math.pi - 1e-3
    assert torch.allclose(back[far_from_pi], aa[far_from_pi], atol=1e-9)


def test_rotation_functions_reject_wrong_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 6\)"):
        rot6d_to_rotmat(torch.zeros(4, 9))
    with pytest.raises(ValueError, match=r"3, 3"):
        rotmat_to_axis_angle(torch.zeros(4, 3, 4))
