"""Pictures for docs/synth.md: synthetic training samples with their ground truth, and the demo model's
meshes over held-out frames next to the true meshes.

    python scripts/render_synth_docs.py              # docs/synth_samples.png, docs/synth_overlays.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fasthmr_ros.model.skeleton import BONES
from fasthmr_ros.perception.render import render_meshes
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.demo_model import load_demo_model
from fasthmr_ros.training.hmr_eval import PerFramePredictor, SequenceFrame
from fasthmr_ros.training.synth.scene import SynthGenerator

TILE = 150


def fit(image: np.ndarray, size: int = TILE) -> np.ndarray:
    scale = size / max(image.shape[:2])
    small = cv2.resize(
        image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA
    )
    tile = np.full((size, size, 3), 255, np.uint8)
    y0, x0 = (size - small.shape[0]) // 2, (size - small.shape[1]) // 2
    tile[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small
    return tile


def around(image: np.ndarray, box: np.ndarray, margin: float = 1.5) -> np.ndarray:
    """The square region around a box (grown by `margin`), clipped to the image: small people become visible."""
    centre = (box[:2] + box[2:]) / 2
    half = margin * max(box[2] - box[0], box[3] - box[1]) / 2
    x0, y0 = np.maximum(np.floor(centre - half), 0).astype(int)
    x1 = min(int(np.ceil(centre[0] + half)), image.shape[1])
    y1 = min(int(np.ceil(centre[1] + half)), image.shape[0])
    return image[y0:y1, x0:x1]


def draw_skeleton(image: np.ndarray, joints_2d: np.ndarray, box: np.ndarray) -> np.ndarray:
    out = image.copy()
    for child, parent in BONES:
        a, b = joints_2d[child].round().astype(int), joints_2d[parent].round().astype(int)
        cv2.line(out, tuple(a), tuple(b), (255, 255, 0), 1, cv2.LINE_AA)
    for point in joints_2d.round().astype(int):
        cv2.circle(out, tuple(point), 2, (255, 0, 0), -1)
    x0, y0, x1, y1 = box.round().astype(int)
    cv2.rectangle(out, (x0, y0), (x1, y1), (0, 255, 0), 1)
    return out


def grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parents[1] / "docs"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    out_dir = Path(args.out_dir)
    body = load_body_model(None)

    generator = SynthGenerator(seed=0, body=body)
    samples = [draw_skeleton(f.image, f.joints_2d, f.box) for f in generator.frames(range(12))]
    cv2.imwrite(str(out_dir / "synth_samples.png"), cv2.cvtColor(grid([fit(s) for s in samples], 6), cv2.COLOR_RGB2BGR))

    model, _ = load_demo_model()
    predictor = PerFramePredictor(model, body)
    held_out = SynthGenerator(seed=1000, body=body)
    tiles = []
    for index in range(3):
        sequence = held_out.sequence(index, seconds=2.0)
        chosen = [sequence.frames[t] for t in (10, 40)]
        frames = [SequenceFrame(f.image, f.K, f.box) for f in chosen]
        with torch.inference_mode():
            for frame, truth in zip(frames, chosen, strict=True):
                pred_vertices = _predicted_vertices(predictor, frame)
                true_vertices = _true_vertices(body, truth)
                true_image = render_meshes(frame.image, [(true_vertices, body.faces, (0.3, 0.9, 0.3))], frame.K)
                pred_image = render_meshes(frame.image, [(pred_vertices, body.faces, (0.95, 0.55, 0.2))], frame.K)
                tiles += [fit(around(image, frame.box)) for image in (frame.image, true_image, pred_image)]
    cv2.imwrite(str(out_dir / "synth_overlays.png"), cv2.cvtColor(grid(tiles, 6), cv2.COLOR_RGB2BGR))
    print(f"wrote {out_dir / 'synth_samples.png'} and {out_dir / 'synth_overlays.png'}")
    return 0


def _true_vertices(body, frame) -> np.ndarray:
    out = body(
        torch.from_numpy(frame.global_orient)[None, None],
        torch.from_numpy(frame.body_pose)[None],
        torch.from_numpy(frame.betas)[None],
    )
    return out.vertices[0].double().numpy() + frame.translation


def _predicted_vertices(predictor: PerFramePredictor, frame: SequenceFrame) -> np.ndarray:
    from fasthmr_ros.perception.camera import cam_crop_to_full
    from fasthmr_ros.perception.preprocess import crop_people

    crop = crop_people(frame.image, frame.box[None].astype(np.float64))
    out = predictor.model(crop.images)
    translation = cam_crop_to_full(
        out.pred_cam.double().numpy(), crop.centers, crop.sizes, crop.image_wh, focal=float(frame.K[0, 0])
    )
    vertices = predictor.body(out.global_orient, out.body_pose, out.betas).vertices[0].double().numpy()
    return vertices + translation[0]


if __name__ == "__main__":
    raise SystemExit(main())
