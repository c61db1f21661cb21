"""Person crops (with token masks) from video files, for calibration (`fasthmr calibrate`), benches and tests.

Frames are sampled evenly from each video. People come from the package's person masks (perception/masks.py,
"mediapipe" backend), as in the node. A box file can replace detection; its crops then carry no token masks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from fasthmr_ros.perception.masks import create_mask_generator
from fasthmr_ros.perception.preprocess import DEFAULT_MASK_THRESHOLD, crop_people

# Masks smaller than this (pixels) are detector noise, not a person worth calibrating on.


@dataclass
class PeopleCrops:
    images: torch.Tensor  # (N, 3, 256, 192) float32 normalised crops
    token_masks: torch.Tensor | None  # (N, 16, 12) bool person tokens, None when no masks were available
    sources: list[str]  # "video#frame" per crop
    token_coverage: np.ndarray | None = None  # (N, 16, 12) person fraction of each token (masks given)

    def __len__(self) -> int:
        return int(self.images.shape[0])


People = list[tuple[np.ndarray, np.ndarray | None]]  # (box (4,) xyxy, mask (H, W) bool | None) per person


def person_detector(max_people: int = 2) -> Callable[[np.ndarray], People]:
    """image_rgb -> [(box, mask)]: the package's person masks (MediaPipe), up to max_people."""
    generator = create_mask_generator("mediapipe", max_people=max_people)
    return lambda rgb: [(np.asarray(d.box, np.float64), d.mask) for d in generator(rgb)][:max_people]


def sample_frames(video: str | Path, count: int) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, RGB frame) for `count` frames spread evenly over the video."""
    path = Path(video)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}; pass an existing video file")
    capture = cv2.VideoCapture(str(path))
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if not capture.isOpened() or total <= 0:
        capture.release()
        raise ValueError(f"OpenCV cannot read frames from {path}")
    indices = np.unique(np.linspace(0, total - 1, num=min(count, total)).round().astype(int))
    try:
        for index in indices:
            capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
            ok, bgr = capture.read()
            if ok:
                yield int(index), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def read_box_file(path: str | Path) -> dict[int, np.ndarray]:
    """JSON {"<frame index>": [[x0, y0, x1, y1], ...]} -> {frame: (K, 4) float boxes}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"box file not found: {path}")
    try:
        raw = json.loads(path.read_text())
        boxes = {int(k): np.asarray(v, np.float64).reshape(-1, 4) for k, v in raw.items()}
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(
            f'box file {path} must be JSON {{"<frame index>": [[x0, y0, x1, y1], ...]}}: {error}'
        ) from error
    return boxes


def crops_from_videos(
    videos: list[str | Path],
    frames_per_video: int,
    max_people: int = 2,
    boxes: dict[int, np.ndarray] | None = None,
    mask_threshold: float = DEFAULT_MASK_THRESHOLD,
    progress: Callable[[int], None] | None = None,
) -> PeopleCrops:
    """Crops of the people in evenly sampled frames of each video (boxes from `boxes` for a single video)."""
    if boxes is not None and len(videos) != 1:
        raise ValueError("a box file describes one video: pass exactly one video with it")
    detector = None if boxes is not None else person_detector(max_people)
    images, masks, coverage, sources = [], [], [], []
    for video in videos:
        frames = sample_frames(video, frames_per_video) if boxes is None else _listed_frames(video, boxes)
        for index, rgb in frames:
            if boxes is not None:
                people: People = [(box, None) for box in boxes[index][:max_people]]
            else:
                people = detector(rgb)[:max_people]
            if people:
                with_masks = all(mask is not None for _, mask in people)
                batch = crop_people(
                    rgb,
                    np.stack([box for box, _ in people]),
                    [mask for _, mask in people] if with_masks else None,
                    mask_threshold,
                )
                images.append(batch.images)
                masks.append(batch.token_masks)
                coverage.append(batch.token_coverage)
                sources += [f"{Path(video).name}#{index}"] * len(batch)
            if progress is not None:
                progress(1)
    if not images:
        raise ValueError(f"no person found in the sampled frames of {', '.join(map(str, videos))}")
    if all(m is not None for m in masks):
        return PeopleCrops(torch.cat(images), torch.cat(masks), sources, np.concatenate(coverage))
    return PeopleCrops(torch.cat(images), None, sources)


def _listed_frames(video: str | Path, boxes: dict[int, np.ndarray]) -> Iterator[tuple[int, np.ndarray]]:
    path = Path(video)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}; pass an existing video file")
    capture = cv2.VideoCapture(str(path))
    try:
        for index in sorted(boxes):
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = capture.read()
            if not ok:
                raise ValueError(f"box file names frame {index}, which {path} does not have")
            yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()
