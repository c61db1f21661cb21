"""Where synthetic humans get their poses: the one module to swap for another motion source.

Single poses and sequences both come from the decoder's synthetic motion set (fasthmr_ros.training.synth.motion: joint
angles inside approximate joint limits, walking/running cycles, reaches, smooth random movement), plus sitting-like
poses made here from the same joint limits. Everything is returned as SMPL rotation matrices in SMPL's y-up model
frame with the heading removed from the root: the scene decides where the body faces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fasthmr_ros.model.rotation import axis_angle_to_rotmat
from fasthmr_ros.model.skeleton import JOINT_NAMES, NUM_JOINTS
from fasthmr_ros.training.synth import motion

# Mixture for single frames: (kind, weight). "stand" = a reach clip (standing, arms moving), "sit" = hips and knees
# flexed on top of another pose's upper body.
FRAME_KINDS: tuple[tuple[str, float], ...] = (("walk", 0.25), ("run", 0.05), ("reach", 0.2), ("stand", 0.1),
                                              ("sit", 0.15), ("random", 0.25))  # fmt: skip
SEQUENCE_KINDS: tuple[str, ...] = ("walk", "reach", "random")
BETAS_USED = 5  # the embedded model's shape directions 0-4; 5-9 are zero there
BETA_STD = 0.8
BETA_LIMIT = 2.0

_CLIP_SECONDS = 1.2  # one short clip per sampled frame: long enough for the clip's own variety
_CLIP_FPS = 10.0
_SIT_DEG = {"hip": (-110.0, -65.0), "knee": (60.0, 115.0), "hip_abduct": (-5.0, 20.0)}


@dataclass
class PoseSample:
    rotmats: np.ndarray  # (24, 3, 3) float32: [0] = root tilt (heading removed), [1:] = body pose
    kind: str


def remove_heading(root: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) root rotations in a y-up world -> the same with the rotation about the vertical removed, so the
    body faces +z (up to its own lean)."""
    forward = root[..., :, 2]
    heading = torch.atan2(forward[..., 0], forward[..., 2])
    zeros = torch.zeros_like(heading)
    unyaw = axis_angle_to_rotmat(torch.stack((zeros, -heading, zeros), -1).to(root.dtype))
    return unyaw @ root


def sample_betas(rng: np.random.Generator, count: int | None = None) -> np.ndarray:
    """(10,) or (count, 10) float32 shapes: directions 0-4 ~ N(0, 0.8) clipped to +-2, the rest zero."""
    shape = (BETAS_USED,) if count is None else (count, BETAS_USED)
    used = np.clip(rng.normal(0.0, BETA_STD, shape), -BETA_LIMIT, BETA_LIMIT)
    pad = [(0, 0)] * (used.ndim - 1) + [(0, 10 - BETAS_USED)]
    return np.pad(used, pad).astype(np.float32)


def _sit(rng: np.random.Generator, rotmats: torch.Tensor) -> torch.Tensor:
    """Replace hips and knees (both sides) with a sitting-like flexion, keeping the rest of the pose."""
    angles = np.zeros((4, 3))
    lo, hi = _SIT_DEG["hip"]
    hip = rng.uniform(lo, hi)
    knee_lo, knee_hi = _SIT_DEG["knee"]
    for row, side in enumerate((1.0, -1.0)):
        # Each side varies a little around a shared flexion; the abduction (c) mirrors for the right side.
        angles[row] = np.radians(
            [hip + rng.uniform(-12, 12), rng.uniform(-10, 10), side * rng.uniform(*_SIT_DEG["hip_abduct"])]
        )
        angles[2 + row] = np.radians([rng.uniform(knee_lo, knee_hi), 0.0, 0.0])
    names = ("left_hip", "right_hip", "left_knee", "right_knee")
    index = [JOINT_NAMES.index(n) for n in names]
    limited = np.clip(angles, motion.JOINT_LOWER[index], motion.JOINT_UPPER[index])
    out = rotmats.clone()
    out[index] = motion.angles_to_rotmats(limited).to(out.dtype)
    return out


def sample_pose(rng: np.random.Generator, kind: str | None = None) -> PoseSample:
    """One plausible body pose; `kind` None draws one from FRAME_KINDS."""
    if kind is None:
        names = [k for k, _ in FRAME_KINDS]
        weights = np.array([w for _, w in FRAME_KINDS])
        kind = names[rng.choice(len(names), p=weights / weights.sum())]
    source = {"stand": "reach", "sit": rng.choice(["reach", "random"])}.get(kind, kind)
    clip = motion.synthesize_clip(str(source), _CLIP_SECONDS, _CLIP_FPS, rng)
    frames = clip_rotmats(clip)
    rotmats = frames[0] if kind == "stand" else frames[rng.integers(len(clip))]
    if kind == "sit":
        rotmats = _sit(rng, rotmats)
    rotmats[0] = remove_heading(rotmats[0])
    return PoseSample(rotmats.numpy().astype(np.float32), kind)


def sample_motion(rng: np.random.Generator, kind: str, seconds: float, fps: float) -> motion.MotionClip:
    """A motion clip (y-up world, root translation in metres) of one of SEQUENCE_KINDS."""
    if kind not in SEQUENCE_KINDS:
        raise ValueError(f"unknown sequence kind {kind!r}; choose one of {', '.join(SEQUENCE_KINDS)}")
    return motion.synthesize_clip(kind, seconds, fps, rng)


def clip_rotmats(clip: motion.MotionClip) -> torch.Tensor:
    """(T, 24, 3, 3) float64 rotations of a clip, through the package's rotation maths."""
    poses = torch.from_numpy(clip.poses.astype(np.float64)).reshape(-1, NUM_JOINTS, 3)
    return axis_angle_to_rotmat(poses)
