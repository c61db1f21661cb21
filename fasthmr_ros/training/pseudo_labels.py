"""`fasthmr label-footage`: pseudo-labelled person crops from real videos, for fine-tuning the HMR model on real
people (HMR2.0's recipe for in-the-wild images: a fit to 2D evidence stands in for ground truth).

The labeller is the package's own landmark pose source with the decoder on (pose_source landmarks, the embedded
defaults): the 24 rotations, shape and camera-frame translation of every published person are the 3D targets.
The 2D targets of the joints BlazePose marks itself (shoulders, elbows, wrists, knees, ankles) are its detected
image landmarks, the real image evidence; the other joints' 2D targets are the label's own joints projected
through K. Left out: people whose limb landmarks are mostly hidden, whose box leaves the frame, who are shorter than
MIN_HEIGHT_PX (on vtest's 70-110 px pedestrians the landmarks often sat off the body: looked at, not counted), or
whose detected limb landmarks fall outside their own person mask, or whose label does not project onto those
landmarks (MAX_LABEL_2D_ERROR).

The output is a data set in the synthetic sets' format (training/synth/dataset.py), so training reads both the
same way. Each entry stores the region of the frame around the person (the crop the model sees, jittered, always
lies inside it) with K and the box moved into that region, instead of the whole frame.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from fasthmr_ros.model.landmark_map import LIMB_JOINTS, LIMB_LANDMARKS
from fasthmr_ros.model.rotation import axis_angle_to_rotmat

# The 10 limb joints that are BlazePose landmarks themselves (the hips are not: BlazePose's sit wider).
DETECTED_JOINTS = tuple(j for j, lm in zip(LIMB_JOINTS, LIMB_LANDMARKS, strict=True) if lm not in (23, 24))
DETECTED_LANDMARKS = tuple(lm for lm in LIMB_LANDMARKS if lm not in (23, 24))
MIN_VISIBILITY = 0.5  # a landmark counts as seen above this
MIN_SEEN_LIMBS = 10  # of the 12 limb landmarks
# Region kept around the box, as a multiple of its longer side: the crop is the box grown to 1.2x its longer side
# at 3:4 (perception/preprocess.py) after a training jitter of at most 1.15x + 5% shift, so 1.6x holds it.
REGION_SCALE = 1.6
EDGE_MARGIN_PX = 2.0
# BlazePose's landmarker sees the person at 256 px; far below that its limbs were often off the body.
MIN_HEIGHT_PX = 160.0
MIN_INSIDE_MASK = 0.9  # share of the detected limb landmarks on the (slightly grown) person mask
MASK_GROW_PX = 3
# The label's own detected-limb joints, projected, must land near the detections (median, share of the person's
# height): on Sports2D 10% of the published people missed by more than 0.2 of their height (mostly the
# translation: 0.08 once the mean 2D offset is removed), which would teach the crop camera wrong distances.
MAX_LABEL_2D_ERROR = 0.1


@dataclass
class LabelledPerson:
    """One entry, in the synthetic frame's field names (training/synth/dataset.py _Writer)."""

    image: np.ndarray
    mask: np.ndarray
    K: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    betas: np.ndarray
    translation: np.ndarray
    joints_cam: np.ndarray
    joints_2d: np.ndarray
    box: np.ndarray
    kind: str


def region_of(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """x0, y0, x1, y1 of the frame region kept for a person box (clipped to the frame)."""
    centre = (box[:2] + box[2:]) / 2
    half = REGION_SCALE * float(max(box[2] - box[0], box[3] - box[1])) / 2
    x0, y0 = np.floor(centre - half).astype(int)
    x1, y1 = np.ceil(centre + half).astype(int)
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def on_mask(mask: np.ndarray, points: np.ndarray) -> float:
    """Share of (N, 2) pixel points on the person mask grown by MASK_GROW_PX."""
    size = 2 * MASK_GROW_PX + 1
    grown = cv2.dilate(np.asarray(mask, np.uint8), np.ones((size, size), np.uint8)) > 0
    pixels = np.round(points).astype(int)
    inside = (
        (pixels[:, 0] >= 0) & (pixels[:, 1] >= 0) & (pixels[:, 0] < grown.shape[1]) & (pixels[:, 1] < grown.shape[0])
    )
    hits = np.zeros(len(pixels), bool)
    hits[inside] = grown[pixels[inside, 1], pixels[inside, 0]]
    return float(hits.mean())


def person_entry(rgb: np.ndarray, k: np.ndarray, person, detection, clip: str, num_betas: int) -> LabelledPerson | None:
    """The entry of one published person, or None when it is not worth training on."""
    height, width = rgb.shape[:2]
    box = np.asarray(person.box, np.float64)
    if box[0] < EDGE_MARGIN_PX or box[1] < EDGE_MARGIN_PX or box[2] > width - EDGE_MARGIN_PX:
        return None  # cut by the frame's edge: the label's limbs outside it are guesses
    if box[3] - box[1] < MIN_HEIGHT_PX:
        return None
    keypoints = detection.keypoints if detection is not None else None
    if keypoints is None or (keypoints[list(LIMB_LANDMARKS), 2] > MIN_VISIBILITY).sum() < MIN_SEEN_LIMBS:
        return None
    if (
        detection.mask is not None
        and on_mask(detection.mask, keypoints[list(DETECTED_LANDMARKS), :2]) < MIN_INSIDE_MASK
    ):
        return None
    x0, y0, x1, y1 = region_of(box, width, height)
    offset = np.array([x0, y0], np.float64)
    region_k = np.asarray(k, np.float64).copy()
    region_k[:2, 2] -= offset
    joints_2d = np.asarray(person.keypoints_2d, np.float64).copy()
    seen = keypoints[list(DETECTED_LANDMARKS), 2] > MIN_VISIBILITY
    detected = keypoints[list(DETECTED_LANDMARKS), :2].astype(np.float64)
    rows = np.asarray(DETECTED_JOINTS)[seen]
    miss = np.linalg.norm(joints_2d[rows] - detected[seen], axis=1)
    if np.median(miss) > MAX_LABEL_2D_ERROR * (box[3] - box[1]):
        return None
    joints_2d[rows] = detected[seen]
    mask = detection.mask[y0:y1, x0:x1] if detection.mask is not None else np.ones((y1 - y0, x1 - x0), bool)
    rotmats = axis_angle_to_rotmat(
        torch.as_tensor(np.concatenate([person.global_orient, person.body_pose]).reshape(24, 3), dtype=torch.float64)
    ).numpy()
    betas = np.zeros(num_betas, np.float32)
    betas[: min(num_betas, len(person.betas))] = np.asarray(person.betas)[:num_betas]
    return LabelledPerson(
        image=np.ascontiguousarray(rgb[y0:y1, x0:x1]), mask=np.asarray(mask, bool), K=region_k,
        global_orient=rotmats[0], body_pose=rotmats[1:], betas=betas, translation=np.asarray(person.translation),
        joints_cam=np.asarray(person.joints), joints_2d=joints_2d - offset, box=box - np.tile(offset, 2),
        kind=f"real:{clip}",
    )  # fmt: skip


def read_frames(path: Path, every: int, max_frames: int | None = None) -> Iterable[tuple[int, np.ndarray]]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise FileNotFoundError(f"cannot open video {path}")
    index = 0
    try:
        while True:
            ok, bgr = capture.read()
            if not ok or (max_frames is not None and index >= max_frames):
                return
            if index % every == 0:
                yield index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


def label_video(path: Path, every: int = 1, max_people: int = 6, progress: Callable[[], None] | None = None,
                max_frames: int | None = None) -> tuple[list[LabelledPerson], dict[str, int]]:  # fmt: skip
    """Every kept person of a video, labelled by a fresh pipeline (its tracks start with the clip)."""
    from fasthmr_ros.perception.camera import default_camera_matrix
    from fasthmr_ros.perception.config import PipelineConfig
    from fasthmr_ros.perception.pipeline import Pipeline
    from fasthmr_ros.perception.types import Frame

    config = PipelineConfig.from_flat({"pose_source": "landmarks", "max_people": max_people})
    pipeline = Pipeline(config)
    num_betas = int(pipeline.body.num_betas)
    entries: list[LabelledPerson] = []
    counts = {"frames": 0, "people_published": 0, "people_kept": 0}
    for _, rgb in read_frames(path, every, max_frames):
        k = default_camera_matrix(rgb.shape[1], rgb.shape[0])
        detected = pipeline.detect(Frame(rgb=rgb, camera_matrix=k, intrinsics_known=False))
        result = pipeline.finish(detected)
        by_box = {tuple(np.asarray(d.box, np.float32).tolist()): d for d in detected.detections}
        for person in result.people:
            entry = person_entry(rgb, k, person, by_box.get(tuple(person.box.tolist())), path.stem, num_betas)
            counts["people_published"] += 1
            if entry is not None:
                entries.append(entry)
                counts["people_kept"] += 1
        counts["frames"] += 1
        if progress:
            progress()
    return entries, counts


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clips", nargs="+", default=["sports2d_demo.mp4", "vtest.avi"],
                        help="footage names (fasthmr fetch-footage) or video paths; never the Pose2Sim clips, "
                        "which are the real-footage benchmark")  # fmt: skip
    parser.add_argument("--every", type=int, default=1, help="label every n-th frame (default 1)")
    parser.add_argument("--out", default=None, help="output .npz (default <cache>/real_labels.npz)")
    parser.add_argument("--max-frames", type=int, default=None, help="only the first N frames of each clip")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def build(clips: list[str], out: Path, every: int = 1, max_frames: int | None = None) -> dict:
    from tqdm import tqdm

    from fasthmr_ros.footage import CLIPS, clip_path, fetch
    from fasthmr_ros.training.synth.dataset import _Writer

    writer = _Writer()
    per_clip: dict[str, dict[str, int]] = {}
    start = time.perf_counter()
    for clip in clips:
        if "pose2sim" in clip.lower():
            raise ValueError(f"{clip}: the Pose2Sim clips are the real-footage benchmark; never train on them")
        path = Path(clip) if Path(clip).is_file() else clip_path(clip)
        if not path.is_file() and clip in CLIPS:
            (path,) = fetch([clip])  # a registry clip not fetched yet (fasthmr fetch-footage does the same)
        if not path.is_file():
            raise FileNotFoundError(f"{clip}: no such video (give a path, or a footage name: fasthmr fetch-footage)")
        with tqdm(unit="frame", desc=path.name, mininterval=5) as bar:
            entries, counts = label_video(path, every, progress=lambda: bar.update(1), max_frames=max_frames)
        for entry in entries:
            writer.add(entry)  # type: ignore[arg-type]  # the same fields as a synthetic frame
        per_clip[path.name] = counts
    meta = {"kind": "real pseudo-labels", "labeller": "pose_source landmarks, decoder on (embedded defaults)",
            "clips": per_clip, "every": every, "frames": len(writer.kinds),
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    if not writer.kinds:
        raise ValueError(f"no person kept in {clips}")
    writer.save(out, meta)
    return meta


def run(args: argparse.Namespace) -> int:
    from fasthmr_ros.training.synth.dataset import cache_dir

    torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else cache_dir() / "real_labels.npz"
    try:
        meta = build(args.clips, out, args.every, args.max_frames)
    except (ValueError, FileNotFoundError) as error:
        print(f"fasthmr label-footage: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {meta['frames']} labelled people to {out}: {meta['clips']}")
    return 0
