"""The CPU renderer against an independent ray caster: coverage, depth, depth order, near-plane clipping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fasthmr_ros.model.poses import standard_pose_rotmats
from fasthmr_ros.perception import render
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
    with pytest.raises(ValueError, match=r"faces \(F,3\)"):  # an empty face list is still checked
        render_meshes(image, [(np.zeros((3, 3)), np.zeros(0, int), (1.0, 0.0, 0.0))], K)


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


def posed_body() -> tuple[np.ndarray, np.ndarray]:
    model = load_body_model(None)
    rot = torch.from_numpy(standard_pose_rotmats("walking"))[None]
    vertices = model(rot[:, :1], rot[:, 1:], torch.zeros(1, 10)).vertices[0].numpy().astype(np.float64)
    return vertices * np.array([1.0, -1.0, -1.0]), np.asarray(model.faces)  # camera frame, facing the camera


def per_triangle_reference(meshes) -> dict[str, np.ndarray]:
    """Slow and plain: one triangle at a time, float64 edge functions over its box, nearest 1/z wins (the first
    triangle on a tie), shade linear in screen space from headlight Lambert vertex shades (ambient 0.35).

    Also returns, per pixel, the largest smallest-barycentric over all front triangles: >= 0 inside one, and how
    far from any triangle's edge the centre is, so the comparison can tell edge pixels (either way is right) from
    pixels a rasteriser must get right. Meshes must lie in front of the near plane (clipping is tested above).
    """
    inv_depth = np.zeros((H, W))
    owner = np.full((H, W), -1)
    shade = np.zeros((H, W))
    margin = np.full((H, W), -np.inf)
    for index, (vertices, faces, _) in enumerate(meshes):
        corners = vertices[faces]
        face_normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        vertex_normal = np.zeros_like(vertices)
        for k in range(3):
            np.add.at(vertex_normal, faces[:, k], face_normal)
        cos = np.abs(np.sum(vertex_normal * vertices, 1)) / (
            np.linalg.norm(vertex_normal, axis=1) * np.linalg.norm(vertices, axis=1) + 1e-300
        )
        vertex_shade = 0.35 + 0.65 * cos
        assert np.all(corners[:, :, 2] > 0.05)
        front = np.einsum("ij,ij->i", face_normal, corners[:, 0]) < 0
        projected = corners @ K.T
        screen = projected[:, :, :2] / projected[:, :, 2:]
        for face, tri, (u, v) in zip(faces[front], corners[front], screen[front].transpose(0, 2, 1), strict=True):
            area = (u[1] - u[0]) * (v[2] - v[0]) - (u[2] - u[0]) * (v[1] - v[0])
            xs = np.arange(max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 2, W))
            ys = np.arange(max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 2, H))
            if abs(area) < 1e-12 or len(xs) == 0 or len(ys) == 0:
                continue
            px, py = np.meshgrid(xs, ys)
            b1 = ((px - u[0]) * (v[2] - v[0]) - (u[2] - u[0]) * (py - v[0])) / area
            b2 = ((u[1] - u[0]) * (py - v[0]) - (px - u[0]) * (v[1] - v[0])) / area
            bary = np.stack([1 - b1 - b2, b1, b2])
            region = np.s_[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
            smallest = bary.min(0)
            margin[region] = np.maximum(margin[region], smallest)
            inverse = np.tensordot(1 / tri[:, 2], bary, 1)
            wins = (smallest >= 0) & (inverse > inv_depth[region])
            inv_depth[region][wins] = inverse[wins]
            owner[region][wins] = index
            shade[region][wins] = np.tensordot(vertex_shade[face], bary, 1)[wins]
    with np.errstate(divide="ignore"):
        depth = 1 / inv_depth
    return {"depth": depth, "owner": owner, "shade": shade, "margin": margin}


def assert_matches_per_triangle_reference(meshes, ref: dict[str, np.ndarray]) -> None:
    raster = rasterize_meshes(meshes, K, W, H)
    ids, depth = raster.mesh_id_image, raster.depth_image
    shade = raster.image(raster.shade, np.float32(np.nan))
    inside = ref["margin"] > 1e-3  # the centre is clearly inside some front triangle
    assert inside.sum() > 800
    # coverage: every clear inside pixel drawn, nothing drawn that is clearly outside every triangle
    assert np.all(ids[inside] >= 0), f"{(ids[inside] < 0).sum()} holes"
    assert np.all(ref["margin"][ids >= 0] > -1e-3), "pixels drawn outside every triangle"
    # depth order: the nearest mesh wins, at its depth and with its shade
    np.testing.assert_array_equal(ids[inside], ref["owner"][inside])
    np.testing.assert_allclose(depth[inside], ref["depth"][inside], rtol=1e-4)
    np.testing.assert_allclose(shade[inside], ref["shade"][inside], atol=1e-3)


def test_overlapping_bodies_match_a_per_triangle_reference():
    vertices, faces = posed_body()
    far = (vertices + np.array([0.3, 0.3, 6.0]), faces, (1.0, 1.0, 1.0))
    near = (vertices + np.array([-0.2, 0.3, 4.0]), faces, (1.0, 1.0, 1.0))
    ref = per_triangle_reference([far, near])
    assert (ref["owner"] == 0).sum() > 100 and (ref["owner"] == 1).sum() > 500
    assert_matches_per_triangle_reference([far, near], ref)
    # listed the other way round, the same surfaces win
    swapped = dict(ref, owner=np.where(ref["owner"] >= 0, 1 - ref["owner"], -1))
    assert_matches_per_triangle_reference([near, far], swapped)


def test_close_body_matches_a_per_triangle_reference():
    vertices, faces = posed_body()
    # larger triangles (boxes up to ~10 px), and the body cut by the image border
    meshes = [(vertices + np.array([0.1, 0.5, 1.6]), faces, (1.0, 1.0, 1.0))]
    assert_matches_per_triangle_reference(meshes, per_triangle_reference(meshes))


@pytest.mark.parametrize("chunk", [None, 97])
def test_equal_depths_go_to_the_first_mesh(chunk, monkeypatch):
    if chunk:  # candidates in many passes: the two copies' triangles land in different ones
        monkeypatch.setattr(render, "_CHUNK", chunk)
    vertices, faces = posed_body()
    body = vertices + np.array([0.0, 0.3, 3.0])
    raster = rasterize_meshes([(body, faces, (1, 0, 0)), (body.copy(), faces, (0, 1, 0))], K, W, H)
    assert len(raster.pixels) > 500 and np.all(raster.mesh_id == 0)
    assert np.all(np.diff(raster.pixels) > 0)  # each pixel once, in order


def test_the_result_does_not_depend_on_the_pass_size(monkeypatch):
    vertices, faces = posed_body()
    meshes = [(vertices + np.array(offset), faces, (1, 1, 1)) for offset in ((0.3, 0.3, 6.0), (-0.2, 0.3, 2.0))]
    whole = rasterize_meshes(meshes, K, W, H)
    monkeypatch.setattr(render, "_CHUNK", 101)
    passes = rasterize_meshes(meshes, K, W, H)
    for field in ("pixels", "depth", "mesh_id", "shade"):
        np.testing.assert_array_equal(getattr(passes, field), getattr(whole, field))
