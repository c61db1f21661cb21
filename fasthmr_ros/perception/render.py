"""CPU mesh renderer for overlays and previews: z-buffered triangles, Gouraud-shaded, perspective camera from K.

Vectorised numpy, no per-pixel Python loop: every candidate pixel inside every triangle's bounding box is
generated at once, tested with edge functions, and the nearest one per pixel wins (depth test on interpolated 1/z,
which is linear in screen space). Triangles are clipped against the near plane in camera space first, so meshes
that cross or sit behind the camera render correctly. Camera frame = OpenCV optical frame (x right, y down,
z forward, metres); pixel centres are at integer coordinates, as in OpenCV.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Mesh = tuple[np.ndarray, np.ndarray, Sequence[float]]  # (vertices_cam (V,3), faces (F,3), color_rgb)

DEFAULT_NEAR = 0.05
_AMBIENT = 0.35
_DIFFUSE = 0.65


@dataclass
class Raster:
    """What a rasterisation covers: flat pixel indices (row * width + col) and the values there."""

    width: int
    height: int
    pixels: np.ndarray  # (N,) int64 covered pixels, each once
    depth: np.ndarray  # (N,) float32 camera z of the visible surface
    mesh_id: np.ndarray  # (N,) int32 index into the meshes list
    shade: np.ndarray  # (N,) float32 Lambert intensity in [0, 1]

    def image(self, values: np.ndarray, fill: float) -> np.ndarray:
        """Scatter per-pixel values (N,) into an (H, W) image filled with `fill` elsewhere."""
        out = np.full(self.height * self.width, fill, dtype=values.dtype)
        out[self.pixels] = values
        return out.reshape(self.height, self.width)

    @property
    def depth_image(self) -> np.ndarray:
        return self.image(self.depth, np.inf)

    @property
    def mesh_id_image(self) -> np.ndarray:
        return self.image(self.mesh_id, -1)


def _color01(color: Sequence[float]) -> np.ndarray:
    rgb = np.asarray(color, dtype=np.float32).reshape(3)
    return rgb / 255.0 if rgb.max() > 1.0 else rgb


def _min3(a: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(a[:, 0], a[:, 1]), a[:, 2])


def _max3(a: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(a[:, 0], a[:, 1]), a[:, 2])


def _vertex_shade(vertices: np.ndarray, faces: np.ndarray, face_normals: np.ndarray) -> np.ndarray:
    """Headlight Lambert intensity per vertex from area-weighted vertex normals (two-sided)."""
    flat_faces = faces.ravel()
    n = [np.bincount(flat_faces, np.repeat(face_normals[:, k], 3), len(vertices)) for k in range(3)]
    x, y, z = vertices[:, 0], vertices[:, 1], vertices[:, 2]
    # cos(angle) between the normal and the ray to the camera, both unnormalised until here.
    dot = n[0] * x + n[1] * y + n[2] * z
    norm2 = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]) * (x * x + y * y + z * z)
    lambert = np.abs(dot) / np.sqrt(norm2 + 1e-30)
    return (_AMBIENT + _DIFFUSE * lambert).astype(np.float32)


def _clip_near(tri: np.ndarray, shade: np.ndarray, near: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip triangles (N,3,3) with per-corner shades (N,3) against the plane z = near.

    Triangles fully in front are kept as they are, fully behind are dropped, and crossing ones are cut: one
    corner behind leaves a quad (two triangles), two corners behind leave a smaller triangle. Winding is kept.
    Returns the clipped triangles, their shades and the index of the input triangle each came from.
    """
    behind = tri[:, :, 2] < near
    count = behind.sum(axis=1)
    source = np.arange(len(tri))
    if not count.any():
        return tri, shade, source
    whole = count == 0
    keep_tri, keep_shade, keep_source = [tri[whole]], [shade[whole]], [source[whole]]
    for n_behind in (1, 2):
        sel = count == n_behind
        if not sel.any():
            continue
        t, s, b = tri[sel], shade[sel], behind[sel]
        # Rotate corners so the odd one out (the single behind / single in front corner) comes first.
        odd = b if n_behind == 1 else ~b
        order = (np.argmax(odd, axis=1)[:, None] + np.arange(3)[None, :]) % 3
        t = np.take_along_axis(t, order[:, :, None], axis=1)
        s = np.take_along_axis(s, order, axis=1)
        p0, p1, p2 = t[:, 0], t[:, 1], t[:, 2]
        f01 = (near - p0[:, 2]) / (p1[:, 2] - p0[:, 2])
        f02 = (near - p0[:, 2]) / (p2[:, 2] - p0[:, 2])
        q01, q02 = p0 + f01[:, None] * (p1 - p0), p0 + f02[:, None] * (p2 - p0)
        s01, s02 = s[:, 0] + f01 * (s[:, 1] - s[:, 0]), s[:, 0] + f02 * (s[:, 2] - s[:, 0])
        if n_behind == 1:  # p0 behind: the quad q01, p1, p2, q02 as two triangles
            keep_tri += [np.stack([q01, p1, p2], 1), np.stack([q01, p2, q02], 1)]
            keep_shade += [np.stack([s01, s[:, 1], s[:, 2]], 1), np.stack([s01, s[:, 2], s02], 1)]
            keep_source += [source[sel], source[sel]]
        else:  # only p0 in front
            keep_tri.append(np.stack([p0, q01, q02], 1))
            keep_shade.append(np.stack([s[:, 0], s01, s02], 1))
            keep_source.append(source[sel])
    return np.concatenate(keep_tri), np.concatenate(keep_shade), np.concatenate(keep_source)


def _empty_raster(width: int, height: int) -> Raster:
    return Raster(
        width, height, np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(0, np.float32)
    )


def rasterize_meshes(
    meshes: Sequence[Mesh], K: np.ndarray, width: int, height: int, near: float = DEFAULT_NEAR, cull_back: bool = True
) -> Raster:
    """Rasterise meshes given in the camera frame: which pixels they cover, at what depth, with which shade."""
    K = np.asarray(K, dtype=np.float64)
    if K.shape != (3, 3):
        raise ValueError(f"K must be a 3x3 intrinsics matrix, got shape {K.shape}")
    tris, shades, owners = [], [], []
    for mesh_index, (vertices, faces, _) in enumerate(meshes):
        vertices = np.asarray(vertices, dtype=np.float64)
        faces = np.asarray(faces, dtype=np.int64)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"mesh {mesh_index}: expected vertices (V,3) and faces (F,3)")
        if len(faces) == 0:
            continue
        tri = vertices[faces]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        shade = _vertex_shade(vertices, faces, normal)
        if cull_back:
            # Outward CCW faces seen from the camera have normals pointing back at it (n . v0 < 0).
            front = np.einsum("ij,ij->i", normal, tri[:, 0]) < 0
            tri, faces = tri[front], faces[front]
        shade = shade[faces]
        tris.append(tri)
        shades.append(shade)
        owners.append(np.full(len(tri), mesh_index, dtype=np.int32))
    if not tris:
        return _empty_raster(width, height)
    tri, shade, source = _clip_near(np.concatenate(tris), np.concatenate(shades), near)
    owner = np.concatenate(owners)[source]

    # Project. K may carry skew; pixel = K @ (x/z, y/z, 1).
    inv_z = 1.0 / tri[:, :, 2]
    xn, yn = tri[:, :, 0] * inv_z, tri[:, :, 1] * inv_z
    u = K[0, 0] * xn + K[0, 1] * yn + K[0, 2]
    v = K[1, 1] * yn + K[1, 2]

    # Integer pixel centres inside each triangle's bounding box, clipped to the image.
    x0 = np.clip(np.ceil(_min3(u)), 0, width).astype(np.int64)
    x1 = np.clip(np.floor(_max3(u)), -1, width - 1).astype(np.int64)
    y0 = np.clip(np.ceil(_min3(v)), 0, height).astype(np.int64)
    y1 = np.clip(np.floor(_max3(v)), -1, height - 1).astype(np.int64)
    nx, ny = np.maximum(x1 - x0 + 1, 0), np.maximum(y1 - y0 + 1, 0)
    du1, dv1 = u[:, 1] - u[:, 0], v[:, 1] - v[:, 0]
    du2, dv2 = u[:, 2] - u[:, 0], v[:, 2] - v[:, 0]
    area = du1 * dv2 - du2 * dv1
    live = np.flatnonzero((nx * ny > 0) & (np.abs(area) > 1e-12))
    if len(live) == 0:
        return _empty_raster(width, height)
    inv_area = 1.0 / area[live]
    du1, dv1, du2, dv2 = du1[live], dv1[live], du2[live], dv2[live]
    x0, y0, nx, ny = x0[live], y0[live], nx[live], ny[live]
    # Everything interpolated in screen space is a plane a*x + b*y + c per triangle: the barycentric weights of
    # corners 1 and 2, 1/z (for the depth test) and the shade. planes[t, k] = (a, b, c), with (x, y) counted
    # from the bounding box corner (x0, y0) so that float32 keeps the precision.
    planes = np.empty((len(live), 4, 3), dtype=np.float64)
    planes[:, 0, 0], planes[:, 0, 1] = dv2 * inv_area, -du2 * inv_area
    planes[:, 1, 0], planes[:, 1, 1] = -dv1 * inv_area, du1 * inv_area
    for k, value in ((2, inv_z[live]), (3, shade[live])):
        planes[:, k, :2] = (value[:, 1:2] - value[:, 0:1]) * planes[:, 0, :2]
        planes[:, k, :2] += (value[:, 2:3] - value[:, 0:1]) * planes[:, 1, :2]
    ox, oy = x0 - u[live, 0], y0 - v[live, 0]
    planes[:, :, 2] = planes[:, :, 0] * ox[:, None] + planes[:, :, 1] * oy[:, None]
    planes[:, 2, 2] += inv_z[live, 0]
    planes[:, 3, 2] += shade[live, 0]
    planes = planes.astype(np.float32)

    counts = nx * ny
    starts = np.cumsum(counts) - counts
    tri_of = np.repeat(np.arange(len(counts), dtype=np.int32), counts)
    local = (np.arange(int(counts.sum()), dtype=np.int64) - starts[tri_of]).astype(np.int32)
    nx_of = nx.astype(np.int32)[tri_of]
    ly, lx = np.divmod(local, nx_of)
    lxf, lyf = lx.astype(np.float32), ly.astype(np.float32)
    coef = planes[tri_of, :2]
    w1 = coef[:, 0, 0] * lxf + coef[:, 0, 1] * lyf + coef[:, 0, 2]
    w2 = coef[:, 1, 0] * lxf + coef[:, 1, 1] * lyf + coef[:, 1, 2]
    # A small tolerance closes hairline cracks along shared edges.
    inside = np.flatnonzero((w1 >= -1e-6) & (w2 >= -1e-6) & (w1 + w2 <= 1.0 + 1e-6))
    tri_of, lxf, lyf = tri_of[inside], lxf[inside], lyf[inside]
    pixel = (y0[tri_of] + ly[inside]) * width + (x0[tri_of] + lx[inside])
    coef = planes[tri_of, 2:]
    cand_inv_z = coef[:, 0, 0] * lxf + coef[:, 0, 1] * lyf + coef[:, 0, 2]

    # Depth test: nearest surface = largest 1/z per pixel.
    best = np.zeros(height * width, dtype=np.float32)
    np.maximum.at(best, pixel, cand_inv_z)
    win = np.flatnonzero(cand_inv_z >= best[pixel])
    # Ties (shared edges at equal depth) leave duplicates: keep one per pixel.
    pixel, first = np.unique(pixel[win], return_index=True)
    win = win[first]
    tri_of, coef = tri_of[win], coef[win]
    cand_shade = coef[:, 1, 0] * lxf[win] + coef[:, 1, 1] * lyf[win] + coef[:, 1, 2]
    return Raster(
        width=width,
        height=height,
        pixels=pixel,
        depth=(1.0 / cand_inv_z[win]).astype(np.float32),
        mesh_id=owner[live][tri_of],
        shade=np.clip(cand_shade, 0.0, 1.0).astype(np.float32),
    )


def render_meshes(
    image_rgb: np.ndarray,
    meshes: Sequence[Mesh],
    K: np.ndarray,
    alpha: float = 0.85,
    near: float = DEFAULT_NEAR,
) -> np.ndarray:
    """Draw shaded meshes (camera-frame vertices) over an RGB uint8 image; returns a new uint8 image.

    meshes: [(vertices_cam (V,3), faces (F,3), color_rgb)], colour as three floats in [0,1] or ints in [0,255].
    alpha: opacity of the meshes over the image.
    """
    image = np.asarray(image_rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image_rgb must be an (H,W,3) uint8 array, got {image.shape} {image.dtype}")
    height, width = image.shape[:2]
    raster = rasterize_meshes(meshes, K, width, height, near=near)
    out = image.copy()
    if len(raster.pixels):
        palette = np.stack([_color01(color) for _, _, color in meshes]) * (alpha * 255.0)
        flat = out.reshape(-1, 3)
        below = flat[raster.pixels].astype(np.float32) * (1.0 - alpha)
        flat[raster.pixels] = (palette[raster.mesh_id] * raster.shade[:, None] + below + 0.5).astype(np.uint8)
    return out


def track_colour(track_id: int) -> tuple[float, float, float]:
    """A stable, well-separated colour per track (golden-ratio hue steps)."""
    hue = (track_id * 0.618033988749895) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.65, 0.95)
