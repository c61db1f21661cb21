"""Training data for the landmark lift, from the body model alone: sampled poses and shapes seen from sampled
camera angles, turned into BlazePose-style world landmarks (model/landmark_map.py) with MediaPipe-like errors.

Poses: frames of the synthetic motion set (random, walk, run, reach), sitting and crouching variants of them, and
left/right mirrors; 10% fall or lie at any orientation. Views: any heading, camera pitch -20..45 deg, small roll.
Errors added to the landmark input (never to the targets): per-point noise larger in depth than across, a global
scale error (MediaPipe's metres assume a typical body size), a depth error that grows along each limb, low
visibility on random points and on whole limbs or the legs (out of frame, occluded), whose positions then carry
much larger errors, as MediaPipe's guesses do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from fasthmr_ros.model.body_points import BodyLandmarks
from fasthmr_ros.model.landmark_map import HIP_LANDMARKS, LANDMARK_NAMES, NUM_LANDMARKS
from fasthmr_ros.model.rotation import axis_angle_to_rotmat
from fasthmr_ros.model.skeleton import JOINT_NAMES
from fasthmr_ros.training.synth import motion
from fasthmr_ros.training.synth.pose_sampler import BETA_LIMIT, BETA_STD, BETAS_USED

_LIMBS = {  # landmark chains whose far ends MediaPipe gets wrong in depth together
    "left_arm": ("left_elbow", "left_wrist", "left_pinky", "left_index", "left_thumb"),
    "right_arm": ("right_elbow", "right_wrist", "right_pinky", "right_index", "right_thumb"),
    "left_leg": ("left_knee", "left_ankle", "left_heel", "left_foot_index"),
    "right_leg": ("right_knee", "right_ankle", "right_heel", "right_foot_index"),
}
_LIMB_INDEX = {name: [LANDMARK_NAMES.index(p) for p in parts] for name, parts in _LIMBS.items()}
_LEGS = _LIMB_INDEX["left_leg"] + _LIMB_INDEX["right_leg"]


@dataclass
class LiftSamples:
    """Clean targets: rotmats (N,24,3,3) with joint 0 in the camera frame, betas (N,5), landmarks (N,33,3)
    hip-centred in the camera frame, joints (N,24,3) centred the same way."""

    rotmats: torch.Tensor
    betas: torch.Tensor
    landmarks: torch.Tensor
    joints: torch.Tensor

    def __len__(self) -> int:
        return int(self.rotmats.shape[0])


def _pose_pool(rng: np.random.Generator, seconds: float) -> torch.Tensor:
    """(N,24,3,3) world-frame (y-up) poses from the synthetic motion set, every 3rd frame at 30 fps."""
    frames = []
    per_kind = max(1, int(seconds / 8.0))
    for kind in motion.KINDS:
        for _ in range(per_kind):
            clip = motion.synthesize_clip(kind, 8.0, 30.0, rng)
            frames.append(clip.rotmats()[::3].float())
    return torch.cat(frames)


def _flex(rotmats: torch.Tensor, rng: np.random.Generator, crouch: bool) -> torch.Tensor:
    """Sitting (hips ~90 deg, knees ~90) or crouching (hips and knees deeply bent, torso leaning) variants."""
    out = rotmats.clone()
    n = out.shape[0]
    hip = rng.uniform(-130, -95, n) if crouch else rng.uniform(-110, -65, n)
    knee = rng.uniform(110, 150, n) if crouch else rng.uniform(60, 115, n)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        h = np.stack([hip + rng.uniform(-12, 12, n), rng.uniform(-10, 10, n), sign * rng.uniform(-5, 25, n)], -1)
        k = np.stack([knee + rng.uniform(-8, 8, n), np.zeros(n), np.zeros(n)], -1)
        for name, angles in ((f"{side}_hip", h), (f"{side}_knee", k)):
            j = JOINT_NAMES.index(name)
            limited = np.clip(np.radians(angles), motion.JOINT_LOWER[j], motion.JOINT_UPPER[j])
            out[:, j] = motion.angles_to_rotmats(limited).float()
    if crouch:
        lean = np.radians(rng.uniform(10, 45, n))
        zeros = np.zeros(n)
        r = axis_angle_to_rotmat(torch.from_numpy(np.stack([lean, zeros, zeros], -1)).float())
        out[:, 0] = out[:, 0] @ r
    return out


def sample_views(rotmats: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """World-frame poses -> camera frame (joint 0), any heading, pitch -20..45 deg, roll +-8 deg; 10% any way."""
    n = rotmats.shape[0]
    yaw = torch.from_numpy(rng.uniform(-np.pi, np.pi, n)).float()
    pitch = torch.from_numpy(np.radians(rng.uniform(-20, 45, n))).float()
    out = motion.camera_view(rotmats[:, None], yaw, pitch)[:, 0]
    roll = np.radians(rng.uniform(-8, 8, n))
    zeros = np.zeros(n)
    r_roll = axis_angle_to_rotmat(torch.from_numpy(np.stack([zeros, zeros, roll], -1)).float())
    out[:, 0] = r_roll @ out[:, 0]
    fall = rng.random(n) < 0.10
    if fall.any():
        axis = rng.normal(size=(int(fall.sum()), 3))
        axis *= (rng.uniform(0, np.pi, len(axis)) / np.linalg.norm(axis, axis=1))[:, None]
        out[torch.from_numpy(fall), 0] = axis_angle_to_rotmat(torch.from_numpy(axis).float())
    return out


def make_samples(body_landmarks: BodyLandmarks, count: int, seed: int) -> LiftSamples:
    rng = np.random.default_rng(seed)
    pool = _pose_pool(rng, seconds=max(8.0, count / 10.0 * 0.4))
    pick = torch.from_numpy(rng.integers(0, len(pool), count))
    rotmats = pool[pick]
    kind = rng.random(count)
    sit, crouch = kind < 0.12, (kind >= 0.12) & (kind < 0.22)
    if sit.any():
        rotmats[torch.from_numpy(sit)] = _flex(rotmats[torch.from_numpy(sit)], rng, crouch=False)
    if crouch.any():
        rotmats[torch.from_numpy(crouch)] = _flex(rotmats[torch.from_numpy(crouch)], rng, crouch=True)
    mirror = torch.from_numpy(rng.random(count) < 0.5)
    rotmats[mirror] = motion.mirror_pose(rotmats[mirror])
    rotmats = sample_views(rotmats, rng)
    betas = np.zeros((count, BETAS_USED), np.float32)
    betas[:] = np.clip(rng.normal(0.0, BETA_STD, betas.shape), -BETA_LIMIT, BETA_LIMIT)
    betas_t = torch.from_numpy(betas)
    landmarks, joints = [], []
    with torch.no_grad():
        for start in range(0, count, 4096):
            lm, j = body_landmarks(rotmats[start : start + 4096], betas_t[start : start + 4096])
            centre = lm[:, list(HIP_LANDMARKS)].mean(1, keepdim=True)
            landmarks.append(lm - centre)
            joints.append(j - centre)
    return LiftSamples(rotmats, betas_t, torch.cat(landmarks), torch.cat(joints))


def corrupt(landmarks: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean hip-centred landmarks (B,33,3) -> (noisy landmarks, visibility (B,33)) as MediaPipe would give."""
    b = landmarks.shape[0]

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator)

    def randn(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    sigma = torch.tensor([0.012, 0.012, 0.03]) * (0.5 + rand(b, 1, 1) * 1.5)
    noisy = landmarks + randn(b, NUM_LANDMARKS, 3) * sigma
    noisy = noisy * (0.88 + 0.24 * rand(b, 1, 1))  # MediaPipe's metres come from a typical body size
    for index in _LIMB_INDEX.values():
        # depth of a limb's far end is MediaPipe's least certain number: a shared error growing along the limb
        ramp = torch.linspace(0.5, 1.0, len(index))
        noisy[:, index, 2] += randn(b, 1) * 0.06 * ramp
    visibility = 0.6 + 0.4 * rand(b, NUM_LANDMARKS)
    hidden = rand(b, NUM_LANDMARKS) < 0.06
    for index in _LIMB_INDEX.values():
        hidden[:, index] |= (rand(b, 1) < 0.05).expand(-1, len(index))
    hidden[:, _LEGS] |= (rand(b, 1) < 0.08).expand(-1, len(_LEGS))
    visibility = torch.where(hidden, 0.3 * rand(b, NUM_LANDMARKS), visibility)
    noisy = noisy + hidden[..., None] * randn(b, NUM_LANDMARKS, 3) * 0.12
    return noisy, visibility
