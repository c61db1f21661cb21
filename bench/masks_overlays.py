"""Write the small overlay PNGs in docs/ (masks, full-body boxes, landmarks, track ids) from real footage.

python -m bench.masks_overlays [--out docs]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
from PIL import Image

from bench.masks_footage import draw
from fasthmr_ros.footage import clip_path, fetch
from fasthmr_ros.perception.masks import create_mask_generator
from fasthmr_ros.perception.tracking import Tracker

# clip -> frames to save (the clip is run from its start so the tracker has its history)
SHOTS = {"sports2d_demo.mp4": [100, 195], "pose2sim_multi_cam01.mp4": [60], "vtest.avi": [120]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    fetch(list(SHOTS))
    for clip, wanted in SHOTS.items():
        generator = create_mask_generator("mediapipe")
        tracker = Tracker()
        cap = cv2.VideoCapture(str(clip_path(clip)))
        for index in range(max(wanted) + 1):
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            people = generator(rgb)
            update = tracker.update(people)
            if index in wanted:
                ids = {id(det): tid for tid, det in update.tracks}
                image = draw(rgb, [(ids.get(id(d)), d) for d in people], f"{Path(clip).stem} #{index}")
                scale = args.width / max(image.shape[:2])
                small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                # 128-colour palette keeps each PNG near 150 kB.
                target = args.out / f"masks_{Path(clip).stem}_{index}.png"
                Image.fromarray(small).quantize(colors=128, dither=Image.Dither.NONE).save(target, optimize=True)
                print(target, target.stat().st_size // 1024, "kB")


if __name__ == "__main__":
    main()
