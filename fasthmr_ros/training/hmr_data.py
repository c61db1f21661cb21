"""Training batches from a synthetic data set: the node's own crop code on jittered boxes, targets in the crop
camera convention.

Boxes are the tight mask boxes, randomly grown, shifted and stretched a little, because the node's boxes come from
a person detector/segmenter, never from ground truth. The crops are made by perception.preprocess.crop_people,
exactly as at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fasthmr_ros.perception.preprocess import crop_people
from fasthmr_ros.training.hmr_targets import crop_camera_targets, crop_keypoints
from fasthmr_ros.training.synth.dataset import SynthSet

BOX_GROW = (0.98, 1.15)  # per-side growth factor range (width and height separately)
BOX_SHIFT = 0.05  # fraction of the box size


@dataclass
class Batch:
    images: torch.Tensor  # (B, 3, 256, 192)
    global_orient: torch.Tensor  # (B, 1, 3, 3)
    body_pose: torch.Tensor  # (B, 23, 3, 3)
    betas: torch.Tensor  # (B, 10)
    joints: torch.Tensor  # (B, 24, 3) camera frame minus translation (body-model output frame)
    keypoints_2d: torch.Tensor  # (B, 24, 2) normalised crop coordinates
    crop_cam: torch.Tensor  # (B, 3) true crop camera (s, tx, ty)
    centers: torch.Tensor  # (B, 2) crop box centres, full-image pixels
    sizes: torch.Tensor  # (B,) crop box sides
    K: torch.Tensor  # (B, 3, 3)
    transforms: torch.Tensor  # (B, 2, 3) full image -> 256 px crop


def jitter_box(box: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """A detector-like box around the tight box (no change when rng is None)."""
    box = np.asarray(box, np.float64)
    if rng is None:
        return box
    centre = (box[:2] + box[2:]) / 2
    size = np.maximum(box[2:] - box[:2], 1.0)
    size = size * rng.uniform(*BOX_GROW, 2)
    centre = centre + rng.uniform(-BOX_SHIFT, BOX_SHIFT, 2) * size
    return np.concatenate([centre - size / 2, centre + size / 2])


def make_batch(dataset: SynthSet, indices: np.ndarray, rng: np.random.Generator | None) -> Batch:
    """Crops and targets of the given frames; rng None = exact tight boxes (evaluation)."""
    images, centers, sizes, transforms = [], [], [], []
    for index in indices:
        box = jitter_box(dataset["box"][index], rng)
        crop = crop_people(dataset.image(int(index)), box[None])
        images.append(crop.images[0])
        centers.append(crop.centers[0])
        sizes.append(crop.sizes[0])
        transforms.append(crop.transforms[0])
    K = dataset["K"][indices]
    translation = dataset["translation"][indices]
    cam = crop_camera_targets(translation, K[:, 0, 0], K[:, :2, 2], np.stack(centers), np.stack(sizes))
    keypoints = crop_keypoints(dataset["joints_2d"][indices], np.stack(transforms))
    joints = dataset["joints_cam"][indices] - translation[:, None]
    as_tensor = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
    return Batch(
        images=torch.stack(images),
        global_orient=as_tensor(dataset["global_orient"][indices])[:, None],
        body_pose=as_tensor(dataset["body_pose"][indices]),
        betas=as_tensor(dataset["betas"][indices]),
        joints=as_tensor(joints),
        keypoints_2d=as_tensor(keypoints),
        crop_cam=as_tensor(cam),
        centers=as_tensor(np.stack(centers)),
        sizes=as_tensor(np.stack(sizes)),
        K=as_tensor(K),
        transforms=as_tensor(np.stack(transforms)),
    )
