"""How many ViT tokens are "person" at each mask threshold, on real footage (choice of DEFAULT_MASK_THRESHOLD).

    python -m bench.mask_tokens --frames 40

For every n-th frame, MediaPipe Pose (the wheel's full model, segmentation on) gives one person mask; its bounding
box is the person box. crop_people pools the mask onto the 16x12 token grid and each threshold is scored by:
- person tokens: how many of the 192 tokens Mask-ToMe must keep (the paper's budget keeps 90 tokens in total);
- person area kept: the share of the person's pixels (in the ViT view) that lie in person tokens;
- background in person tokens: the share of the person tokens' area that is background.
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np

from fasthmr_ros.footage import fetch
from fasthmr_ros.paths import footage_dir
from fasthmr_ros.perception.preprocess import crop_people

CLIPS = ("sports2d_demo.mp4", "pose2sim_single_cam01.mp4", "pose2sim_multi_cam01.mp4")
THRESHOLDS = (0.05, 0.1, 0.25, 0.5, 0.75)
TOKEN_BUDGET = 90


def person_masks(clip: str, frames: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(RGB frame, bool mask) pairs where MediaPipe found a person."""
    import mediapipe as mp

    capture = cv2.VideoCapture(str(footage_dir() / clip))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    step = max(1, total // frames)
    found = []
    with mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True) as pose:
        for index in range(0, total, step):
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            result = pose.process(rgb)
            if result.segmentation_mask is not None:
                mask = result.segmentation_mask > 0.5
                if mask.sum() > 500:
                    found.append((rgb, mask))
    capture.release()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=40, help="frames sampled per clip")
    args = parser.parse_args()
    fetch(list(CLIPS))
    coverages = []
    for clip in CLIPS:
        pairs = person_masks(clip, args.frames)
        print(f"{clip}: person found in {len(pairs)} sampled frames")
        for rgb, mask in pairs:
            ys, xs = np.nonzero(mask)
            box = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], dtype=np.float64)
            coverages.append(crop_people(rgb, box, masks=[mask]).token_coverage[0])
    coverage = np.stack(coverages)  # (F, 16, 12)
    area = coverage.sum(axis=(1, 2))
    print(f"\n{len(coverage)} person crops; person area = {np.median(area):.0f} token-areas of 192 (median)\n")
    print("| threshold | person tokens median (min-max) | frames over the 90-token budget | person area kept | "
          "background in person tokens |")  # fmt: skip
    print("|---|---|---|---|---|")
    for threshold in THRESHOLDS:
        person = coverage >= threshold
        count = person.sum(axis=(1, 2))
        kept = (coverage * person).sum(axis=(1, 2)) / area
        background = ((1 - coverage) * person).sum(axis=(1, 2)) / np.maximum(count, 1)
        print(
            f"| {threshold} | {np.median(count):.0f} ({count.min()}-{count.max()}) | "
            f"{(count > TOKEN_BUDGET).mean():.0%} | {np.median(kept):.1%} | {np.median(background):.1%} |"
        )


if __name__ == "__main__":
    main()
