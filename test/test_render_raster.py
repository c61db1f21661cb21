"""The CPU renderer against an independent ray caster: coverage, depth, depth order, near-plane clipping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fasthmr_ros.model.poses import standard_pose_rotmats
from fasthmr_ros.perception.render import rasterize_meshes, render_meshes
from fasthmr_ros.runtime.body_files import load_body_model

W, H = 160, 120
K = np.array([[150.0, 0.0, 80.0], [0.0, 150.0, 60.0], [0.0, 0.0, 1.0]])


@np.errstate(divide="ignore", invalid="ignore")
def ray_cast(triangles: list[np.ndarray], near: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reference: nearest hit (camera z) and triangle index per pixel centre, Möller-Trumbore, hits with z >= near."""
    ys, xs = np.mgrid[0:H, 0:W]
    rays = np.stack([(xs - K[0, 2]) / K[0, 0], (ys - K[1, 2]) / K[1, 1], np.ones_like(xs, dtype=float)], -1)
    depth = np.full((H, W), np.inf)
    owner = np.full((H, W), -1)
    margin = np.zeros((H, W))  # how far inside the triangle (in barycentric units) the hit is
    for index, (a, b, c) in enumerate(triangles):
        e1, e2 = b - a, c - a
        p = np.cross(rays, e2)
        det = p @ e1
        u = np.einsum("hwk,k->hw", p, -a) / det
        q = np.cross(-a, e1)
        v = (rays @ q) / det
        t = (q @ e2) / det
        hit = (u >= 0) & (v >= 0) & (u + v <= 1) & (t >= near) & np.isfinite(t)
        closer = hit & (t < depth)
        depth[closer], owner[closer] = t[closer], index
        margin[closer] = np.minimum(np.minimum(u, v), 1 - u - v)[closer]
    return depth, owner, margin


def camera_points(pixels_and_depths: list[tuple[float, float, float]]) -> np.ndarray:
    return np.array([((x - K[0, 2]) * z / K[0, 0], (y - K[1, 2]) * z / K[1, 1], z) for x, y, z in pixels_and_depths])


def front_facing(tri: np.ndarray) -> np.ndarray:
    """Order corners so the triangle faces the camera (the renderer culls back faces)."""
    normal = np.cross(tri[1] - tri[0], tri[2] - tri[0])
    return tri if normal @ tri[0] < 0 else tri[[0, 2, 1]]


def raster_of(triangles: list[np.ndarray], near: float = 0.05):
    meshes = [(tri, np.array([[0, 1, 2]]), (1.0, 1.0, 1.0)) for tri in triangles]
    raster = rasterize_meshes(meshes, K, W, H, near=near)
    return raster.depth_image, raster.mesh_id_image


def assert_matches_reference(triangles: list[np.ndarray], near: float = 0.05) -> int:
    """Owner and depth per pixel agree with the ray caster; returns how many clearly covered pixels were checked."""
    depth, owner = raster_of(triangles, near)
    ref_depth, ref_owner, margin = ray_cast(triangles, near)
    interior = (ref_owner >= 0) & (margin > 1e-3)  # centres on an edge may go either way
    wrong = interior & (owner != ref_owner)
    # where two surfaces cross, depths are equal to rounding: allow a hairline of disagreement there
    assert wrong.sum() <= 0.005 * interior.sum(), f"{wrong.sum()} of {interior.sum()} pixels differ"
    # nothing drawn where the reference is empty, beyond one pixel of its outline
    covered = np.pad(ref_owner >= 0, 1)
    grown = np.zeros_like(ref_owner, dtype=bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            grown |= covered[dy : dy + H, dx : dx + W]
    stray = (owner >= 0) & ~grown
    assert stray.sum() == 0, f"{stray.sum()} stray pixels"
    right = interior & ~wrong
    np.testing.assert_allclose(depth[right], ref_depth[right], rtol=2e-4)
    return int(interior.sum())


def test_known_triangle_covers_exactly_its_pixels():
    tri = front_facing(camera_points([(20.3, 15.7, 2.0), (140.6, 30.2, 2.0), (60.1, 110.4, 2.0)]))
    covered = assert_matches_reference([tri])
    assert covered > 3000
    depth, owner = raster_of([tri])
    assert np.allclose(depth[owner >= 0], 2.0, atol=1e-4)
    # the same triangle seen from behind is culled
    _, owner_back = raster_of([tri[[0, 2, 1]]])
    assert (owner_back >= 0).sum() == 0


def test_tilted_triangle_depth_is_perspective_correct():
    tri = front_facing(camera_points([(10.0, 10.0, 1.0), (150.0, 20.0, 4.0), (40.0, 115.0, 2.5)]))
    assert assert_matches_reference([tri]) > 2000


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_nearer_triangle_wins_whatever_the_order(order):
    far = front_facing(camera_points([(10.0, 10.0, 3.0), (150.0, 15.0, 3.0), (80.0, 115.0, 3.0)]))
    near = front_facing(camera_points([(30.0, 40.0, 2.0), (130.0, 40.0, 2.0), (80.0, 100.0, 2.0)]))
    triangles = [far, near] if order == (0, 1) else [near, far]
    assert_matches_reference(triangles)
    _, owner = raster_of(triangles)
    assert owner[70, 80] == (1 if triangles[1] is near else 0)


def test_interpenetrating_triangles_split_where_they_cross():
    a = front_facing(camera_points([(5.0, 10.0, 1.5), (155.0, 10.0, 3.5), (80.0, 115.0, 2.5)]))
    b = front_facing(camera_points([(5.0, 20.0, 3.5), (155.0, 20.0, 1.5), (80.0, 110.0, 2.5)]))
    assert_matches_reference([a, b])
    _, owner = raster_of([a, b])
    assert {owner[40, 40], owner[40, 120]} == {0, 1}


@pytest.mark.parametrize(
    "corners",
    [
        [(0.4, -0.2, 2.0), (-0.5, 0.3, 1.5), (0.1, 0.4, -1.0)],  # one corner behind the camera
        [(0.3, 0.1, 2.0), (-0.6, 0.5, -0.5), (0.6, 0.6, -2.0)],  # two corners behind
        [(0.2, 0.3, 0.02), (-0.3, 0.35, 3.0), (0.5, 0.4, 3.0)],  # one corner just inside the near plane
    ],
)
def test_triangles_crossing_the_near_plane_are_clipped(corners):
    tri = front_facing(np.array(corners, dtype=float))
    assert assert_matches_reference([tri], near=0.05) > 50


def test_triangle_behind_the_camera_draws_nothing():
    tri = front_facing(camera_points([(20.0, 20.0, -2.0), (140.0, 30.0, -2.0), (60.0, 100.0, -2.0)]))
    depth, owner = raster_of([tri])
    assert (owner >= 0).sum() == 0 and np.isinf(depth).all()


def test_overlay_blends_and_keeps_the_background():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    tri = front_facing(camera_points([(20.0, 15.0, 2.0), (140.0, 30.0, 2.0), (60.0, 110.0, 2.0)]))
    out = render_meshes(image, [(tri, np.array([[0, 1, 2]]), (255, 0, 0))], K, alpha=0.5)
    _, owner = raster_of([tri])
    covered = owner >= 0
    assert np.array_equal(out[~covered], image[~covered])
    red = out[covered].astype(int)
    base = image[covered].astype(int)
    assert np.all(np.abs(red[:, 1] - base[:, 1] // 2) <= 1)  # green halves (mesh colour has none)
    assert np.all(red[:, 0] >= base[:, 0] // 2 + 0.5 * 255 * 0.3)  # red gains at least ambient light
    with pytest.raises(ValueError, match="uint8"):
        render_meshes(image.astype(np.float32), [], K)
    with pytest.raises(ValueError, match="3x3"):
        render_meshes(image, [], np.eye(4))


def test_two_bodies_render_in_front_of_each_other():
    model = load_body_model(None)
    rot = torch.from_numpy(standard_pose_rotmats("walking"))[None]
    vertices = model(rot[:, :1], rot[:, 1:], torch.zeros(1, 10)).vertices[0].numpy().astype(np.float64)
    # SMPL frame (y up, z forward) -> camera frame (y down, z away), facing the camera
    cam = vertices * np.array([1.0, -1.0, -1.0])
    near_body = cam + np.array([-0.2, 0.3, 4.0])
    far_body = cam + np.array([0.3, 0.3, 6.0])
    raster = rasterize_meshes([(far_body, model.faces, (0, 1, 0)), (near_body, model.faces, (1, 0, 0))], K, W, H)
    ids = raster.mesh_id_image
    assert (ids == 1).sum() > (ids == 0).sum() > 50
    depth = raster.depth_image
    assert np.all(depth[ids == 1] < 4.6) and np.all(depth[ids == 0] > 5.4)
