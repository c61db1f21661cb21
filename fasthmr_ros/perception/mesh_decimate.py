"""A coarse copy of the body mesh for RViz markers.

rclpy builds and serialises geometry_msgs/Point objects one by one (about 7 us each): a full 13,776-triangle
TRIANGLE_LIST costs ~300 ms per person. Vertex clustering in the rest pose, done once, gives a mesh of a chosen
size whose vertices are original vertices, so a posed mesh is decimated per frame by plain indexing.
"""

from __future__ import annotations

import numpy as np


def _cluster(vertices: np.ndarray, faces: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray]:
    keys = np.floor((vertices - vertices.min(axis=0)) / cell).astype(np.int64)
    _, cluster_of, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    cluster_of = cluster_of.reshape(-1)
    centroids = np.zeros((counts.size, 3))
    np.add.at(centroids, cluster_of, vertices)
    centroids /= counts[:, None]
    # representative = the member vertex nearest its cluster's centroid
    dist = np.linalg.norm(vertices - centroids[cluster_of], axis=1)
    order = np.lexsort((dist, cluster_of))
    first = np.ones(order.size, bool)
    first[1:] = cluster_of[order][1:] != cluster_of[order][:-1]
    representative = np.empty(counts.size, np.int64)
    representative[cluster_of[order][first]] = order[first]
    clustered = cluster_of[faces]
    keep = (
        (clustered[:, 0] != clustered[:, 1])
        & (clustered[:, 1] != clustered[:, 2])
        & (clustered[:, 0] != clustered[:, 2])
    )
    clustered = clustered[keep]
    # drop duplicate triangles (same three clusters, any order)
    _, unique_rows = np.unique(np.sort(clustered, axis=1), axis=0, return_index=True)
    return representative[clustered[np.sort(unique_rows)]], representative


def decimate(vertices: np.ndarray, faces: np.ndarray, target_triangles: int) -> np.ndarray:
    """Faces (M, 3) over ORIGINAL vertex indices with M close to (at most) target_triangles."""
    faces = np.asarray(faces, np.int64)
    if target_triangles <= 0 or len(faces) <= target_triangles:
        return faces
    vertices = np.asarray(vertices, np.float64)
    extent = float(np.max(vertices.max(axis=0) - vertices.min(axis=0)))
    lo, hi = extent * 1e-4, extent
    best = faces[:0]
    for _ in range(30):  # bisection on the cell size
        mid = (lo + hi) / 2
        reduced, _ = _cluster(vertices, faces, mid)
        if len(reduced) > target_triangles:
            lo = mid
        else:
            best, hi = reduced, mid
    return best
