"""Accuracy of any frames -> joints method on held-out synthetic sequences, in the camera frame.

A method is a callable taking one sequence (a list of SequenceFrame: image, intrinsics and, for methods that
want it, the true tight box and mask) and returning (T, 24, 3) camera-frame joints in metres, NaN where it found
nobody. Per-frame models, models with a temporal decoder and the whole ROS node (joints read back from its
messages) are all measured by the same function.

Metrics (fasthmr_ros.training.metrics, 3DPW conventions): MPJPE (pelvis-aligned), PA-MPJPE (similarity-aligned
per frame), Accel (second differences of pelvis-aligned joints, mm/frame^2, frames whose neighbours are found),
plus what catches crop and camera mistakes that alignment hides: the camera-frame joint error with no alignment
and the root (pelvis) position error, both in mm, and the share of frames with a person found.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from fasthmr_ros.model.body import BodyModel
from fasthmr_ros.model.hmr2 import HMR2, HMROutput
from fasthmr_ros.perception.camera import cam_crop_to_full
from fasthmr_ros.perception.preprocess import crop_people
from fasthmr_ros.training.metrics import per_frame_accel_error, per_frame_mpjpe, per_frame_pa_mpjpe
from fasthmr_ros.training.synth.dataset import SynthSet


@dataclass
class SequenceFrame:
    image: np.ndarray  # (H, W, 3) uint8 RGB
    K: np.ndarray  # (3, 3)
    box: np.ndarray  # (4,) true tight box (methods with their own detector ignore it)
    mask: np.ndarray | None = None


SequenceMethod = Callable[[list[SequenceFrame]], np.ndarray]


@dataclass
class EvalResult:
    mpjpe: float
    pa_mpjpe: float
    accel: float
    camera_error: float  # mean joint error in the camera frame, no alignment (mm)
    root_error: float  # pelvis position error (mm)
    found: float  # share of frames with a person
    frames: int
    ms_per_frame: float
    per_sequence: list[dict] = field(default_factory=list)

    def row(self) -> dict[str, float]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in vars(self).items() if k != "per_sequence"}


def sequence_frames(dataset: SynthSet, indices: Sequence[int]) -> list[SequenceFrame]:
    return [
        SequenceFrame(dataset.image(int(i)), dataset["K"][int(i)], dataset["box"][int(i)], dataset.mask(int(i)))
        for i in indices
    ]


def sequence_metrics(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """pred, true (T, 24, 3) metres, pred NaN where nothing was found; sums and counts for pooling."""
    found = ~np.isnan(pred).any(axis=(1, 2))
    p = torch.from_numpy(np.nan_to_num(pred).astype(np.float64))
    t = torch.from_numpy(true.astype(np.float64))
    mpjpe = per_frame_mpjpe(p, t).numpy()
    pa = per_frame_pa_mpjpe(p, t).numpy()
    accel = per_frame_accel_error(p, t).numpy()
    accel_ok = found[2:] & found[1:-1] & found[:-2]
    camera = 1000 * np.linalg.norm(np.nan_to_num(pred) - true, axis=-1).mean(-1)
    root = 1000 * np.linalg.norm(np.nan_to_num(pred[:, 0]) - true[:, 0], axis=-1)
    return {
        "frames": len(true),
        "found": int(found.sum()),
        "mpjpe_sum": float(mpjpe[found].sum()),
        "pa_mpjpe_sum": float(pa[found].sum()),
        "camera_sum": float(camera[found].sum()),
        "root_sum": float(root[found].sum()),
        "accel_sum": float(accel[accel_ok].sum()),
        "accel_count": int(accel_ok.sum()),
    }


def evaluate_sequences(dataset: SynthSet, method: SequenceMethod, limit: int | None = None) -> EvalResult:
    """Run `method` on every sequence of `dataset` (the first `limit`) and pool the metrics over frames."""
    rows = []
    elapsed = 0.0
    for sequence in dataset.sequences()[:limit]:
        frames = sequence_frames(dataset, sequence)
        start = time.perf_counter()
        pred = np.asarray(method(frames), dtype=np.float64)
        elapsed += time.perf_counter() - start
        if pred.shape != (len(frames), 24, 3):
            raise ValueError(f"a method must return (T, 24, 3) joints, got {pred.shape} for T = {len(frames)}")
        row = sequence_metrics(pred, dataset["joints_cam"][sequence])
        row["kind"] = str(dataset["kind"][sequence[0]])
        rows.append(row)
    if not rows:
        raise ValueError(f"{dataset.path} holds no sequences")
    found = sum(r["found"] for r in rows)
    frames = sum(r["frames"] for r in rows)
    safe = max(found, 1)
    accel_count = max(sum(r["accel_count"] for r in rows), 1)
    return EvalResult(
        mpjpe=sum(r["mpjpe_sum"] for r in rows) / safe,
        pa_mpjpe=sum(r["pa_mpjpe_sum"] for r in rows) / safe,
        accel=sum(r["accel_sum"] for r in rows) / accel_count,
        camera_error=sum(r["camera_sum"] for r in rows) / safe,
        root_error=sum(r["root_sum"] for r in rows) / safe,
        found=found / frames,
        frames=frames,
        ms_per_frame=1000 * elapsed / frames,
        per_sequence=rows,
    )


@dataclass
class FrameParameters:
    rotmats: torch.Tensor  # (T, 24, 3, 3) global orientation then body pose
    betas: torch.Tensor  # (T, 10)
    translation: np.ndarray  # (T, 3) camera frame
    tokens: torch.Tensor  # (T, head dim)


class PerFramePredictor:
    """The pipeline's per-frame steps on a given box: crop_people -> model -> cam_crop_to_full (true focal and
    principal point) -> body model joints + translation. A SequenceMethod (true tight boxes by default).

    `model` is an HMR2 or any encoder callable (images, token_masks | None) -> HMROutput such as the package's
    HmrRuntime (merged blocks, Mask-ToMe); with use_masks the true person masks become token masks."""

    def __init__(
        self,
        model: HMR2 | Callable[[torch.Tensor, torch.Tensor | None], HMROutput],
        body: BodyModel,
        batch_size: int = 16,
        box_source: Callable[[SequenceFrame], np.ndarray] | None = None,
        use_masks: bool = False,
    ) -> None:
        if isinstance(model, HMR2):
            model.eval()
            self.encoder = lambda images, token_masks: model(images)
        else:
            self.encoder = model
        self.model = model
        self.body = body
        self.batch_size = batch_size
        self.box_source = box_source or (lambda frame: frame.box)
        self.use_masks = use_masks

    @torch.inference_mode()
    def parameters(self, frames: list[SequenceFrame]) -> FrameParameters:
        """Per-frame model outputs with the camera-frame translation, for methods that post-process them."""
        rotmats, betas, translations, tokens = [], [], [], []
        for first in range(0, len(frames), self.batch_size):
            chunk = frames[first : first + self.batch_size]
            crops = [
                crop_people(
                    f.image,
                    np.asarray(self.box_source(f), np.float64)[None],
                    masks=[f.mask] if self.use_masks else None,
                )
                for f in chunk
            ]
            images = torch.cat([c.images for c in crops])
            token_masks = torch.cat([c.token_masks for c in crops]) if self.use_masks else None
            result = self.encoder(images, token_masks)
            for n, (frame, crop) in enumerate(zip(chunk, crops, strict=True)):
                translation = cam_crop_to_full(
                    result.pred_cam[n : n + 1].double().numpy(), crop.centers, crop.sizes, crop.image_wh,
                    focal=float(frame.K[0, 0]), principal_point=(float(frame.K[0, 2]), float(frame.K[1, 2])),
                )  # fmt: skip
                translations.append(translation[0])
            rotmats.append(result.rotmats.float())
            betas.append(result.betas.float())
            tokens.append(result.token.float())
        return FrameParameters(torch.cat(rotmats), torch.cat(betas), np.stack(translations), torch.cat(tokens))

    @torch.inference_mode()
    def joints(self, rotmats: torch.Tensor, betas: torch.Tensor, translation: np.ndarray) -> np.ndarray:
        """(T, 24, 3) camera-frame joints from rotations (T, 24, 3, 3), betas and translations (T, 3)."""
        out = self.body(rotmats[:, :1], rotmats[:, 1:], betas).joints.double().numpy()
        return out + translation[:, None]

    def predict(self, frames: list[SequenceFrame]) -> np.ndarray:
        params = self.parameters(frames)
        return self.joints(params.rotmats, params.betas, params.translation)

    __call__ = predict


class DecodedPredictor:
    """Per-frame predictions refined online by a temporal pose decoder (anything with reset() and
    update(track_ids, rotmats (N,24,3,3), tokens | None) -> (N,24,3,3), e.g. StreamingDecoder), one
    track per sequence. With look-ahead k the answer at frame t is for frame t - k; the last k frames of a sequence
    get no answer (NaN), as online."""

    def __init__(self, per_frame: PerFramePredictor, decoder, lookahead: int = 0, use_tokens: bool = False) -> None:
        self.per_frame = per_frame
        self.decoder = decoder
        self.lookahead = lookahead
        self.use_tokens = use_tokens

    @torch.inference_mode()
    def __call__(self, frames: list[SequenceFrame]) -> np.ndarray:
        params = self.per_frame.parameters(frames)
        self.decoder.reset()
        refined = params.rotmats.clone()
        answered = np.zeros(len(frames), dtype=bool)
        for t in range(len(frames)):
            tokens = params.tokens[t : t + 1] if self.use_tokens else None
            out = self.decoder.update([0], params.rotmats[t : t + 1], tokens)
            if t >= self.lookahead:
                refined[t - self.lookahead] = out[0].to(refined.dtype)
                answered[t - self.lookahead] = True
        joints = self.per_frame.joints(refined, params.betas, params.translation)
        joints[~answered] = np.nan
        return joints
