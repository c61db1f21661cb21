"""The error ECLM's search needs: MPJPE (mm) of a layer-merged model on a fixed calibration set.

Joints are the body model's 24 joints from the predicted pose and shape (the head's output through
fasthmr_ros.model.body), pelvis-aligned, as in HMR evaluations. The reference is either ground truth (labelled
mode) or the unmerged model's own joints on the same crops (self-calibration: the base error is 0 by definition).

Speed: a merged window [lo, top] leaves blocks below lo untouched, so the original model's input to block lo is
cached once per crop and every evaluation runs only the blocks from lo up (the search visits each lo once, top
down). When caching every block input would exceed `cache_bytes`, only every k-th is kept and the few blocks in
between are recomputed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from fasthmr_ros.model.body import BodyModel
from fasthmr_ros.model.eclm import Run, check_runs, merged_block
from fasthmr_ros.model.hmr2 import HMR2, HMROutput


def pelvis_aligned(joints: torch.Tensor) -> torch.Tensor:
    return joints - joints[:, :1]


def mpjpe_mm(joints: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean per-joint position error in mm between (N, J, 3) joint sets in metres, both pelvis-aligned."""
    return float((pelvis_aligned(joints) - pelvis_aligned(reference)).norm(dim=-1).mean()) * 1000.0


def body_joints(body: BodyModel, output: HMROutput) -> torch.Tensor:
    """(B, 24, 3) joints in metres (model frame, camera-aligned orientation, no translation)."""
    return body(output.global_orient.float(), output.body_pose.float(), output.betas.float()).joints.float()


class MergeErrorEvaluator:
    """error(runs) = MPJPE (mm) of `model` with `runs` merged, on `images`, against the reference joints."""

    def __init__(
        self,
        model: HMR2,
        body: BodyModel,
        images: torch.Tensor,
        reference_joints: torch.Tensor | None = None,
        batch_size: int = 8,
        cache_bytes: int = 2 << 30,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.model = model.eval()
        self.body = body.eval()
        self.blocks = list(model.backbone.blocks)
        self.device = next(model.parameters()).device
        self.images = images
        self.batch_size = batch_size
        depth, count = len(self.blocks), len(images)
        config = model.config.backbone
        per_block = count * config.num_patches * config.embed_dim * 4
        self.cache_stride = max(1, math.ceil(depth * per_block / cache_bytes))
        self._cache: dict[int, list[torch.Tensor]] = {}
        joints = []
        with torch.inference_mode():
            for start in range(0, count, batch_size):
                x = model.backbone.embed(images[start : start + batch_size].to(self.device))
                for index, block in enumerate(self.blocks):
                    if index % self.cache_stride == 0:
                        self._cache.setdefault(index, []).append(x.cpu())
                    x = block(x)
                output = model.head_from_tokens(model.backbone.last_norm(x))
                joints.append(body_joints(self.body, output).cpu())
                if progress is not None:
                    progress(len(x))
        self.unmerged_joints = torch.cat(joints)
        self.reference = self.unmerged_joints if reference_joints is None else reference_joints.float().cpu()
        if self.reference.shape != self.unmerged_joints.shape:
            raise ValueError(
                f"reference joints {tuple(self.reference.shape)} do not match {tuple(self.unmerged_joints.shape)} "
                f"(one (24, 3) joint set in metres per crop)"
            )
        self.base_error = mpjpe_mm(self.unmerged_joints, self.reference)
        self._merged: dict[Run, torch.nn.Module] = {}

    def _block(self, run: Run) -> torch.nn.Module:
        if run not in self._merged:
            self._merged[run] = merged_block(self.blocks[run[0] : run[1] + 1])
        return self._merged[run]

    def joints(self, runs: Sequence[Run]) -> torch.Tensor:
        """(N, 24, 3) joints of the model with `runs` merged."""
        runs = check_runs(runs, len(self.blocks))
        if not runs:
            return self.unmerged_joints
        start = runs[0][0]
        starts = {first: last for first, last in runs}
        tail, index = [], start
        while index < len(self.blocks):
            last = starts.get(index, index)
            tail.append(self._block((index, last)) if last > index else self.blocks[index])
            index = last + 1
        cached = start - start % self.cache_stride
        joints = []
        with torch.inference_mode():
            for x in self._cache[cached]:
                x = x.to(self.device)
                for block in self.blocks[cached:start]:
                    x = block(x)
                for block in tail:
                    x = block(x)
                output = self.model.head_from_tokens(self.model.backbone.last_norm(x))
                joints.append(body_joints(self.body, output).cpu())
        return torch.cat(joints)

    def error(self, runs: Sequence[Run]) -> float:
        return mpjpe_mm(self.joints(runs), self.reference)
