"""Real person crops with MediaPipe token masks (Sports2D and Pose2Sim footage), shared by the merged-encoder tests."""

from __future__ import annotations

from functools import lru_cache

import torch

from fasthmr_ros.footage import fetch
from fasthmr_ros.paths import footage_dir
from fasthmr_ros.perception.footage_crops import PeopleCrops, crops_from_videos

CLIPS = ("sports2d_demo.mp4", "pose2sim_single_cam01.mp4")


@lru_cache(maxsize=1)
def real_crops() -> PeopleCrops:
    fetch(list(CLIPS))
    crops = crops_from_videos([footage_dir() / clip for clip in CLIPS], frames_per_video=4, max_people=1)
    assert crops.token_masks is not None and len(crops) >= 4
    return crops


def random_model(config: str, seed: int = 0):
    from fasthmr_ros.model.hmr2 import HMR2

    torch.manual_seed(seed)
    return HMR2(config).eval()
