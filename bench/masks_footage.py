"""Run the mask generator + tracker over the real footage clips and record per-frame people, ids and timings.

    python bench/masks_footage.py [--clips sports2d_demo.mp4 ...] [--out /tmp/masks_footage] [--every 5]

Writes <out>/<clip>.json (per frame: mask ms, track ms, people [id or null, box, score]) and contact sheets of every
`--every`-th frame (masks, boxes, ids) for checking by eye; prints a summary line per clip.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from fasthmr_ros.footage import CLIPS, clip_path, fetch
from fasthmr_ros.perception.masks import create_mask_generator
from fasthmr_ros.perception.tracking import Tracker

COLORS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)]


def draw(image_rgb: np.ndarray, people: list[tuple[int | None, object]], label: str) -> np.ndarray:
    out = image_rgb.copy()
    for track_id, det in people:
        color = np.array(COLORS[(track_id or 0) % len(COLORS)] if track_id else (200, 200, 200), dtype=np.float32)
        if det.mask is not None:
            out[det.mask] = (0.5 * out[det.mask] + 0.5 * color).astype(np.uint8)
        x1, y1, x2, y2 = det.box.astype(int)
        thick = max(2, image_rgb.shape[0] // 300)
        cv2.rectangle(out, (x1, y1), (x2, y2), color.tolist(), thick)
        if det.keypoints is not None:
            for x, y, v in det.keypoints:
                if v > 0.5:
                    cv2.circle(out, (int(x), int(y)), thick + 1, (255, 255, 255), -1)
        text = f"id {track_id}" if track_id else "new"
        cv2.putText(out, text, (x1, max(y1 - 6, 20)), cv2.FONT_HERSHEY_SIMPLEX, thick * 0.5, color.tolist(), thick)
    cv2.putText(out, label, (10, 40), cv2.FONT_HERSHEY_SIMPLEX, image_rgb.shape[0] / 700, (255, 0, 0), 3)
    return out


def sheet(tiles: list[np.ndarray], cols: int = 4, tile_px: int = 400) -> np.ndarray:
    small = []
    for tile in tiles:
        s = tile_px / max(tile.shape[:2])
        small.append(cv2.resize(tile, (int(tile.shape[1] * s), int(tile.shape[0] * s)), interpolation=cv2.INTER_AREA))
    h = max(t.shape[0] for t in small)
    w = max(t.shape[1] for t in small)
    rows = (len(small) + cols - 1) // cols
    canvas = np.zeros((rows * h, cols * w, 3), np.uint8)
    for k, t in enumerate(small):
        r, c = divmod(k, cols)
        canvas[r * h : r * h + t.shape[0], c * w : c * w + t.shape[1]] = t
    return canvas


def run_clip(
    name: str, out: Path, every: int, max_frames: int | None, backend_opts: dict, tracker_opts: dict, cols: int = 4
) -> dict:
    generator = create_mask_generator("mediapipe", **backend_opts)
    tracker = Tracker(**tracker_opts)
    cap = cv2.VideoCapture(str(clip_path(name)))
    frames, tiles = [], []
    index = 0
    while max_frames is None or index < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        t0 = time.perf_counter()
        detections = generator(rgb)
        t1 = time.perf_counter()
        update = tracker.update(detections)
        t2 = time.perf_counter()
        ids = {id(det): track_id for track_id, det in update.tracks}
        people = [(ids.get(id(det)), det) for det in detections]
        frames.append(
            {
                "frame": index,
                "mask_ms": 1e3 * (t1 - t0),
                "track_ms": 1e3 * (t2 - t1),
                "people": [
                    {"id": tid, "box": [round(float(v), 1) for v in det.box], "score": round(det.score, 3)}
                    for tid, det in people
                ],
                "ended": update.ended,
            }
        )
        if every and index % every == 0:
            tiles.append(draw(rgb, people, str(index)))
            if len(tiles) == cols * cols:
                cv2.imwrite(
                    str(out / f"{Path(name).stem}_{index:04d}.png"), sheet(tiles, cols, 1600 // cols)[:, :, ::-1]
                )
                tiles = []
        index += 1
    if tiles:
        cv2.imwrite(str(out / f"{Path(name).stem}_{index:04d}.png"), sheet(tiles, cols, 1600 // cols)[:, :, ::-1])
    (out / f"{Path(name).stem}.json").write_text(json.dumps(frames))
    mask_ms = np.array([f["mask_ms"] for f in frames])
    ids = sorted({p["id"] for f in frames for p in f["people"] if p["id"]})
    summary = {
        "clip": name,
        "frames": len(frames),
        "mask_ms_median": float(np.median(mask_ms)),
        "mask_ms_p90": float(np.percentile(mask_ms, 90)),
        "track_ms_median": float(np.median([f["track_ms"] for f in frames])),
        "ids": ids,
        "people_per_frame": np.bincount([len(f["people"]) for f in frames]).tolist(),
        "calls_per_frame": {k: v / max(len(frames), 1) for k, v in getattr(generator, "calls", {}).items()},
    }
    print(json.dumps(summary))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", nargs="*", default=list(CLIPS))
    parser.add_argument("--out", type=Path, default=Path("/tmp/masks_footage"))
    parser.add_argument("--every", type=int, default=5, help="contact-sheet stride in frames (0 = none)")
    parser.add_argument("--max-frames", type=int, default=None)
    parser.add_argument("--cols", type=int, default=4, help="contact-sheet columns (and rows)")
    parser.add_argument("--backend-opts", type=json.loads, default={}, help='JSON, e.g. {"tile_fraction": 0.5}')
    parser.add_argument("--tracker-opts", type=json.loads, default={}, help='JSON, e.g. {"min_hits": 3}')
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    fetch(args.clips)
    for name in args.clips:
        run_clip(name, args.out, args.every, args.max_frames, args.backend_opts, args.tracker_opts, args.cols)


if __name__ == "__main__":
    main()
