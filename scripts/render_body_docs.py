#!/usr/bin/env python3
"""Render the body model in the standard poses, front and side, into docs/ (the pictures in docs/body.md).

python scripts/render_body_docs.py [--model SMPL_NEUTRAL.pkl] [--out docs/body_poses.png] [--beta I V ...]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from fasthmr_ros.model.poses import STANDARD_POSES, standard_pose_rotmats
from fasthmr_ros.model.skeleton import BONES
from fasthmr_ros.perception.render import render_meshes
from fasthmr_ros.runtime.body_files import load_body_model

TILE_W, TILE_H, FOCAL, DISTANCE = 240, 330, 420.0, 3.4


def smpl_to_camera(points: np.ndarray, yaw: float) -> np.ndarray:
    """SMPL frame (x left, y up, z forward), turned by `yaw` about the vertical, seen by a camera in front of it."""
    c, s = np.cos(yaw), np.sin(yaw)
    turned = points @ np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]).T
    # a half turn about x: facing the camera, without mirroring (which would also flip the faces' winding)
    return turned * np.array([1.0, -1.0, -1.0]) + np.array([0.0, -0.32, DISTANCE])


def tile(vertices: np.ndarray, joints: np.ndarray, faces: np.ndarray, yaw: float, label: str) -> np.ndarray:
    K = np.array([[FOCAL, 0.0, TILE_W / 2], [0.0, FOCAL, TILE_H / 2], [0.0, 0.0, 1.0]])
    image = np.full((TILE_H, TILE_W, 3), 38, dtype=np.uint8)
    image = render_meshes(image, [(smpl_to_camera(vertices, yaw), faces, (0.72, 0.78, 0.95))], K, alpha=1.0)
    cam = smpl_to_camera(joints, yaw)
    uv = cam[:, :2] / cam[:, 2:] * FOCAL + np.array([TILE_W / 2, TILE_H / 2])
    for child, parent in BONES:
        a, b = (tuple(int(x + 0.5) for x in uv[i]) for i in (child, parent))
        cv2.line(image, a, b, (90, 230, 90), 1, cv2.LINE_AA)
    cv2.putText(image, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (235, 235, 235), 1, cv2.LINE_AA)
    return image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="SMPL file; default: the embedded model")
    parser.add_argument("--out", type=Path, default=Path("docs/body_poses.png"))
    parser.add_argument("--beta", nargs=2, action="append", default=[], metavar=("INDEX", "VALUE"))
    args = parser.parse_args()
    model = load_body_model(args.model)
    betas = torch.zeros(1, model.num_betas)
    for index, value in args.beta:
        betas[0, int(index)] = float(value)
    columns = []
    for name in STANDARD_POSES:
        rot = torch.from_numpy(standard_pose_rotmats(name))[None]
        with torch.no_grad():
            out = model(rot[:, :1], rot[:, 1:], betas)
        vertices, joints = out.vertices[0].double().numpy(), out.joints[0].double().numpy()
        front = tile(vertices, joints, model.faces, 0.0, f"{name} front")
        side = tile(vertices, joints, model.faces, np.pi / 2, f"{name} side")
        columns.append(np.concatenate([front, side], axis=0))
    sheet = np.concatenate(columns, axis=1)
    caption = f"{model.name}: {model.num_vertices} vertices, green = joints"
    cv2.putText(sheet, caption, (6, sheet.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (235, 235, 235), 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
