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

from fasthmr_ros.model.skeleton import MIRROR
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


_MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def _entry(dataset: SynthSet, index: int, flip: bool) -> dict[str, np.ndarray]:
    """One frame's image and targets, mirrored left-right when `flip` (the camera's x axis negated: the image,
    K's principal point, the box, the 2D and 3D joints with left and right swapped, and every rotation R as
    M R M with M = diag(-1, 1, 1) on the swapped joints). The embedded body model's rest pose is up to 18 mm off
    left-right symmetry, so a mirrored label is that much off what the model can pose: small beside the ~80 mm
    error of the real set's pseudo-labels, the only set flipped."""
    keys = ("K", "global_orient", "body_pose", "betas", "translation", "joints_cam", "joints_2d", "box")
    entry = {key: np.asarray(dataset[key][index], np.float64) for key in keys}
    entry["image"] = dataset.image(index)
    if not flip:
        return entry
    width = entry["image"].shape[1]
    entry["image"] = np.ascontiguousarray(entry["image"][:, ::-1])
    entry["K"][0, 2] = width - 1 - entry["K"][0, 2]
    x0, y0, x1, y1 = entry["box"]
    entry["box"] = np.array([width - x1, y0, width - x0, y1])
    entry["joints_2d"] = entry["joints_2d"][list(MIRROR)]
    entry["joints_2d"][:, 0] = width - 1 - entry["joints_2d"][:, 0]
    entry["joints_cam"] = entry["joints_cam"][list(MIRROR)] @ _MIRROR_X
    entry["translation"] = entry["translation"] @ _MIRROR_X
    rotations = np.concatenate([entry["global_orient"][None], entry["body_pose"]])[list(MIRROR)]
    rotations = _MIRROR_X @ rotations @ _MIRROR_X
    entry["global_orient"], entry["body_pose"] = rotations[0], rotations[1:]
    return entry


def make_batch(
    dataset: SynthSet, indices: np.ndarray, rng: np.random.Generator | None, flip_prob: float = 0.0
) -> Batch:
    """Crops and targets of the given frames; rng None = exact tight boxes, no flips (evaluation). `flip_prob`:
    chance of mirroring each frame (used on the small real set, whose people mostly walk one way)."""
    images, centers, sizes, transforms, entries = [], [], [], [], []
    for index in indices:
        flip = rng is not None and flip_prob > 0 and bool(rng.random() < flip_prob)
        entry = _entry(dataset, int(index), flip)
        entries.append(entry)
        box = jitter_box(entry["box"], rng)
        crop = crop_people(entry["image"], box[None])
        images.append(crop.images[0])
        centers.append(crop.centers[0])
        sizes.append(crop.sizes[0])
        transforms.append(crop.transforms[0])

    def stacked(key: str) -> np.ndarray:
        return np.stack([entry[key] for entry in entries])

    K = stacked("K")
    translation = stacked("translation")
    cam = crop_camera_targets(translation, K[:, 0, 0], K[:, :2, 2], np.stack(centers), np.stack(sizes))
    keypoints = crop_keypoints(stacked("joints_2d"), np.stack(transforms))
    joints = stacked("joints_cam") - translation[:, None]
    as_tensor = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float32)  # noqa: E731
    return Batch(
        images=torch.stack(images),
        global_orient=as_tensor(stacked("global_orient"))[:, None],
        body_pose=as_tensor(stacked("body_pose")),
        betas=as_tensor(stacked("betas")),
        joints=as_tensor(joints),
        keypoints_2d=as_tensor(keypoints),
        crop_cam=as_tensor(cam),
        centers=as_tensor(np.stack(centers)),
        sizes=as_tensor(np.stack(sizes)),
        K=as_tensor(K),
        transforms=as_tensor(np.stack(transforms)),
    )


def concat_batches(first: Batch, second: Batch) -> Batch:
    """One batch of both (e.g. synthetic frames and real pseudo-labelled ones)."""
    fields = first.__dataclass_fields__
    return Batch(**{name: torch.cat([getattr(first, name), getattr(second, name)]) for name in fields})
