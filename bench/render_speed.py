#!/usr/bin/env python3
"""Render time of fasthmr_ros.perception.render vs image size and number of people (CPU, medians over repeats).

Meshes: the embedded body model (6819 vertices) and, for the SMPL-sized reference point, the same mesh with a
few vertices added so it has exactly 6890 (SMPL's count). People stand side by side 4 m from the camera, filling
a similar share of the image at every size (the focal length scales with the width).

    python bench/render_speed.py [--repeats 15] [--threads 1]
    python bench/render_speed.py --against 021692d [--repeats 31]   # old vs new, side by side

--against REV loads render.py as it was at git revision REV (021692d: the last one before the faster rasteriser)
and times it interleaved with the installed one, repeat by repeat, so that load on a shared machine hits both
alike; it also says whether the two overlays are pixel-identical.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from fasthmr_ros.model.poses import standard_pose_rotmats
from fasthmr_ros.perception.render import rasterize_meshes, render_meshes
from fasthmr_ros.runtime.body_files import load_body_model

SIZES = ((320, 240), (640, 480), (1280, 720), (1920, 1080))
PEOPLE = (1, 2, 4, 8)
COMPARE_ROWS = ((854, 480, 1), (854, 480, 2), (854, 480, 4), (1280, 720, 1), (1280, 720, 2), (1280, 720, 4))


def people_in_camera(vertices: np.ndarray, count: int) -> list[np.ndarray]:
    cam = vertices.astype(np.float64) * np.array([1.0, -1.0, -1.0])  # SMPL frame -> facing an OpenCV camera
    return [cam + np.array([(k - (count - 1) / 2) * 0.7, 0.3, 4.0 + 0.5 * (k % 2)]) for k in range(count)]


def median_ms(fn, repeats: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds (CPU time is what a shared, busy machine distorts least)."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return 1000.0 * statistics.median(wall), 1000.0 * statistics.median(cpu)


def render_at_revision(revision: str) -> ModuleType:
    """fasthmr_ros/perception/render.py as committed at `revision`, imported as a standalone module."""
    root = Path(__file__).resolve().parents[1]
    text = subprocess.run(
        ["git", "show", f"{revision}:fasthmr_ros/perception/render.py"], cwd=root, check=True, capture_output=True
    ).stdout
    spec = importlib.util.spec_from_loader(f"render_at_{revision}", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    exec(compile(text, f"{revision}:render.py", "exec"), module.__dict__)
    return module


def compare(revision: str, rows: list[tuple[str, int, int, int, np.ndarray, np.ndarray]], repeats: int) -> None:
    """Old (git revision) vs installed render_meshes, interleaved; CPU-time medians and their ratio.

    rows: (mesh label, width, height, people, vertices, faces).
    """
    old = render_at_revision(revision)
    print(f"render_meshes CPU ms, median of {repeats}, {revision} vs installed, interleaved:")
    print("| mesh | image | people | old | new | old / new | overlay identical |")
    print("|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for label, width, height, count, vertices, faces in rows:
        focal = 1.2 * width
        K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        meshes = [(v, faces, (0.7, 0.8, 1.0)) for v in people_in_camera(vertices, count)]
        same = np.array_equal(old.render_meshes(image, meshes, K), render_meshes(image, meshes, K))
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(repeats):
            for name, fn in (("old", old.render_meshes), ("new", render_meshes)):
                start = time.process_time()
                fn(image, meshes, K)
                times[name].append(time.process_time() - start)
        a, b = (1000.0 * statistics.median(times[name]) for name in ("old", "new"))
        cells = f"{a:.1f} | {b:.1f} | {a / b:.2f} | {'yes' if same else 'NO'}"
        print(f"| {label} | {width}x{height} | {count} | {cells} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--against", metavar="REV", default="", help="git revision of render.py to compare with")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_body_model(None)
    rot = torch.from_numpy(standard_pose_rotmats("walking"))[None]
    with torch.no_grad():
        vertices = model(rot[:, :1], rot[:, 1:], torch.zeros(1, 10)).vertices[0].numpy()
    faces = model.faces
    # SMPL-sized stand-in: pad to 6890 vertices by splitting edges of the first faces (same surface).
    extra = 6890 - len(vertices)
    split = faces[:extra]
    midpoints = 0.5 * (vertices[split[:, 0]] + vertices[split[:, 1]])
    new = np.arange(len(vertices), len(vertices) + extra)
    smpl_vertices = np.concatenate([vertices, midpoints])
    smpl_faces = np.concatenate(
        [faces[extra:], np.stack([split[:, 0], new, split[:, 2]], 1), np.stack([new, split[:, 1], split[:, 2]], 1)]
    )
    if args.against:
        rows = [("embedded", w, h, n, vertices, faces) for w, h, n in COMPARE_ROWS]
        compare(args.against, [*rows, ("SMPL-sized", 640, 480, 1, smpl_vertices, smpl_faces)], args.repeats)
        return 0

    print(f"mesh: {len(vertices)} vertices / {len(faces)} faces (SMPL-sized: 6890 / {len(smpl_faces)})")
    print("| image | people | render_meshes wall / CPU (ms) | rasterize only wall / CPU (ms) | covered px |")
    print("|---|---|---|---|---|")
    for width, height in SIZES:
        focal = 1.2 * width
        K = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1.0]])
        image = np.full((height, width, 3), 90, dtype=np.uint8)
        for count in PEOPLE:
            meshes = [(v, faces, (0.7, 0.8, 1.0)) for v in people_in_camera(vertices, count)]
            total = median_ms(lambda meshes=meshes, K=K, image=image: render_meshes(image, meshes, K), args.repeats)
            raster_ms = median_ms(
                lambda meshes=meshes, K=K, w=width, h=height: rasterize_meshes(meshes, K, w, h), args.repeats
            )
            covered = len(rasterize_meshes(meshes, K, width, height).pixels)
            row = f"{total[0]:.1f} / {total[1]:.1f} | {raster_ms[0]:.1f} / {raster_ms[1]:.1f}"
            print(f"| {width}x{height} | {count} | {row} | {covered} |")
    K = np.array([[768.0, 0, 320], [0, 768.0, 240], [0, 0, 1.0]])
    image = np.full((480, 640, 3), 90, dtype=np.uint8)
    smpl_mesh = [(people_in_camera(smpl_vertices, 1)[0], smpl_faces, (0.7, 0.8, 1.0))]
    wall, cpu = median_ms(lambda: render_meshes(image, smpl_mesh, K), args.repeats)
    print(f"SMPL-sized mesh (6890 vertices), 640x480, 1 person: {wall:.1f} ms wall, {cpu:.1f} ms CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
