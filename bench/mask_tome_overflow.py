"""How often the person leaves too little background for the fixed budget, per split rule and mask threshold.

    python -m bench.mask_tome_overflow --frames 25

Real crops (Sports2D, Pose2Sim single and multi; MediaPipe masks), the `tiny` config with random weights (the
count of person merges depends on the masks and, for the grid alternation, on which tokens merged first). For
each mask threshold and split rule: crops where some person token had to merge, and how many merges that was.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch

from fasthmr_ros.footage import fetch
from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.model.tome import TokenMergingConfig, forward_merged
from fasthmr_ros.paths import footage_dir
from fasthmr_ros.perception.footage_crops import crops_from_videos

CLIPS = ("sports2d_demo.mp4", "pose2sim_single_cam01.mp4", "pose2sim_multi_cam01.mp4")
THRESHOLDS = (0.1, 0.25, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--budget", type=int, default=90)
    args = parser.parse_args()
    torch.set_num_threads(1)
    fetch(list(CLIPS))
    crops = crops_from_videos([footage_dir() / clip for clip in CLIPS], args.frames, max_people=2)
    torch.manual_seed(0)
    model = HMR2("tiny").eval()
    print(f"{len(crops)} crops, budget {args.budget}")
    print("| mask threshold | person tokens median (max) | split | crops with person merges | "
          "person merges per such crop, median (max) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for threshold in THRESHOLDS:
        masks = torch.from_numpy(crops.token_coverage >= threshold)
        person = masks.reshape(len(masks), -1).sum(dim=1)
        for split in ("background_first", "alternate"):
            config = replace(TokenMergingConfig(budget=args.budget), split=split)
            with torch.inference_mode():
                merges = forward_merged(model, crops.images, masks, config).state.person_merges.numpy()
            hit = merges[merges > 0]
            detail = f"{np.median(hit):.0f} ({hit.max()})" if len(hit) else "-"
            cells = [threshold, f"{int(person.median())} ({int(person.max())})", split,
                     f"{len(hit)} of {len(merges)} ({len(hit) / len(merges):.0%})", detail]  # fmt: skip
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)


if __name__ == "__main__":
    main()
