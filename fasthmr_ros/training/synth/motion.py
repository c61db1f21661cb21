"""A synthetic human motion set made by the package itself, in the AMASS .npz layout.

AMASS is licensed and absent from CI, so the decoder's tests, its embedded default weights and its evaluation use
motions generated here: smooth random joint-angle trajectories inside approximate joint limits, walking and running
cycles, and reaching movements, with a global orientation and translation. Poses are SMPL axis-angle (24 joints),
world frame y-up like SMPL's model frame (x = body left, z = forward at zero orientation).

Each joint's local rotation is built from three angles as R = Rx(a) @ Ry(b) @ Rz(c) in the parent's frame. For a
leg hanging down that is c = ab/adduction, b = twist, a = flexion (negative = forward); for an arm it is c = raise
(positive for the left arm), b = swing in the horizontal plane, a = forward swing once the arm hangs down. Right-side
limits are the mirror of the left side (b and c negated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fasthmr_ros.model.rotation import axis_angle_to_rotmat, rotmat_to_axis_angle
from fasthmr_ros.model.skeleton import JOINT_NAMES, MIRROR, NUM_JOINTS, PARENTS, REST_JOINTS

KINDS: tuple[str, ...] = ("random", "walk", "run", "reach")

# Approximate limits in degrees (a: about x, b: about y, c: about z) for the root-relative joints of the left side
# and the centre line; "neutral" is a relaxed standing pose (arms hanging). Index 0 (pelvis) is the global orientation
# and is synthesised separately.
_LIMITS_DEG: dict[str, tuple[tuple[float, float], tuple[float, float], tuple[float, float]]] = {
    "left_hip": ((-110, 25), (-35, 35), (-15, 45)),
    "spine1": ((-15, 35), (-15, 15), (-12, 12)),
    "left_knee": ((0, 140), (-8, 8), (-5, 5)),
    "spine2": ((-10, 25), (-12, 12), (-10, 10)),
    "left_ankle": ((-35, 40), (-15, 15), (-20, 20)),
    "spine3": ((-10, 20), (-12, 12), (-10, 10)),
    "left_foot": ((-25, 30), (-5, 5), (-5, 5)),
    "neck": ((-30, 40), (-35, 35), (-20, 20)),
    "left_collar": ((-10, 10), (-15, 15), (-10, 20)),
    "head": ((-30, 30), (-40, 40), (-20, 20)),
    "left_shoulder": ((-120, 50), (-40, 40), (-85, 60)),
    "left_elbow": ((-25, 25), (-145, 0), (-5, 5)),
    "left_wrist": ((-40, 40), (-30, 30), (-60, 60)),
    "left_hand": ((-15, 15), (-10, 10), (-20, 20)),
}
_NEUTRAL_DEG: dict[str, tuple[float, float, float]] = {
    "left_shoulder": (0.0, 0.0, -75.0),
    "left_elbow": (0.0, -15.0, 0.0),
    "left_knee": (5.0, 0.0, 0.0),
}


def _joint_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(24,3) lower and upper limits and neutral angles in radians; the right side mirrors the left."""
    lower = np.zeros((NUM_JOINTS, 3))
    upper = np.zeros((NUM_JOINTS, 3))
    neutral = np.zeros((NUM_JOINTS, 3))
    for j, name in enumerate(JOINT_NAMES):
        if j == 0:
            continue
        source = name.replace("right_", "left_")
        limits = np.radians(np.array(_LIMITS_DEG[source], dtype=np.float64))
        rest = np.radians(np.array(_NEUTRAL_DEG.get(source, (0.0, 0.0, 0.0))))
        if name.startswith("right_"):
            # Mirror through the sagittal plane: the y and z angles change sign, so their ranges swap ends.
            limits[1:] = -limits[1:, ::-1]
            rest[1:] = -rest[1:]
        lower[j], upper[j] = limits[:, 0], limits[:, 1]
        neutral[j] = rest
    return lower, upper, neutral


JOINT_LOWER, JOINT_UPPER, JOINT_NEUTRAL = _joint_tables()
_LEFT = {name: JOINT_NAMES.index(name) for name in JOINT_NAMES}


def _idx(name: str) -> int:
    return _LEFT[name]


@dataclass
class MotionClip:
    """One motion: SMPL axis-angle poses (T,24,3) and root translation (T,3) in a y-up world, at `fps`."""

    poses: np.ndarray
    trans: np.ndarray
    fps: float
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10, dtype=np.float32))
    kind: str = "amass"

    def __post_init__(self) -> None:
        if self.poses.ndim != 3 or self.poses.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"MotionClip poses must be (T,24,3) axis-angle, got {self.poses.shape}")
        if self.trans.shape != (len(self.poses), 3):
            raise ValueError(f"MotionClip trans must be (T,3) with T={len(self.poses)}, got {self.trans.shape}")

    def __len__(self) -> int:
        return len(self.poses)

    def rotmats(self) -> torch.Tensor:
        """(T,24,3,3) float32 local joint rotations (joint 0 = global orientation)."""
        return axis_angle_to_rotmat(torch.from_numpy(self.poses.astype(np.float64))).float()

    def to_npz(self, path: str | Path) -> Path:
        """Write the AMASS layout: poses (T,72), trans (T,3), betas (10,), mocap_framerate, gender."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            path,
            poses=self.poses.reshape(len(self), -1).astype(np.float32),
            trans=self.trans.astype(np.float32),
            betas=self.betas.astype(np.float32),
            mocap_framerate=np.float64(self.fps),
            gender=np.array("neutral"),
            kind=np.array(self.kind),
            up_axis=np.array("y"),
        )
        return path


def angles_to_rotmats(angles: np.ndarray) -> torch.Tensor:
    """(...,3) angles (a,b,c) in radians -> (...,3,3) rotation Rx(a) @ Ry(b) @ Rz(c), float64."""
    angles_t = torch.from_numpy(np.asarray(angles, dtype=np.float64))
    zeros = torch.zeros_like(angles_t[..., 0])
    rx = axis_angle_to_rotmat(torch.stack((angles_t[..., 0], zeros, zeros), -1))
    ry = axis_angle_to_rotmat(torch.stack((zeros, angles_t[..., 1], zeros), -1))
    rz = axis_angle_to_rotmat(torch.stack((zeros, zeros, angles_t[..., 2]), -1))
    return rx @ ry @ rz


def smooth_noise(
    rng: np.random.Generator,
    num_frames: int,
    fps: float,
    shape: tuple[int, ...],
    max_hz: float,
    min_hz: float = 0.05,
    components: int = 4,
) -> np.ndarray:
    """(T, *shape) sums of random sinusoids (log-uniform frequencies in [min_hz, max_hz]) with unit std."""
    t = np.arange(num_frames) / fps
    freq = np.exp(rng.uniform(np.log(min_hz), np.log(max(max_hz, min_hz * 1.01)), (components, *shape)))
    phase = rng.uniform(0, 2 * np.pi, (components, *shape))
    weight = rng.uniform(0.3, 1.0, (components, *shape))
    weight /= np.sqrt((weight**2).sum(0) / 2.0)  # a sinusoid of amplitude w has variance w^2/2
    waves = weight[None] * np.sin(2 * np.pi * freq[None] * t.reshape(-1, *([1] * (len(shape) + 1))) + phase[None])
    return waves.sum(1)


def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk profile 0 -> 1 for tau in [0, 1] (clipped outside)."""
    tau = np.clip(tau, 0.0, 1.0)
    return tau**3 * (10 - 15 * tau + 6 * tau**2)


def _soft_limits(center: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Map center + signal into the joint limits smoothly (a logistic squash), so limits are never crossed."""
    span = JOINT_UPPER - JOINT_LOWER
    span = np.where(span > 0, span, 1.0)
    frac = np.clip((center - JOINT_LOWER) / span, 0.03, 0.97)
    logit = np.log(frac / (1 - frac))
    return JOINT_LOWER + span / (1 + np.exp(-(logit + signal)))


def _random_pose_motion(rng: np.random.Generator, num_frames: int, fps: float, max_hz: float) -> np.ndarray:
    """(T,24,3) joint angles: neutral plus smooth random excursions inside the limits, per-joint activity."""
    center = JOINT_NEUTRAL + rng.normal(0, 0.25, JOINT_NEUTRAL.shape) * (JOINT_UPPER - JOINT_LOWER)
    activity = rng.uniform(0.2, 1.8, (NUM_JOINTS, 1)) * (rng.random((NUM_JOINTS, 1)) < 0.8)
    signal = 1.2 * activity * smooth_noise(rng, num_frames, fps, (NUM_JOINTS, 3), max_hz)
    return _soft_limits(center, signal)


def _small_variation(rng: np.random.Generator, num_frames: int, fps: float, degrees: float) -> np.ndarray:
    return np.radians(degrees) * smooth_noise(rng, num_frames, fps, (NUM_JOINTS, 3), 1.0)


def _gait_angles(rng: np.random.Generator, num_frames: int, fps: float, run: bool) -> tuple[np.ndarray, np.ndarray]:
    """(T,24,3) joint angles of a walking/running cycle and the gait phase (T,)."""
    hz = rng.uniform(1.3, 1.6) if run else rng.uniform(0.8, 1.05)
    hz_t = hz * (1 + 0.08 * smooth_noise(rng, num_frames, fps, (), 0.2))
    phase = 2 * np.pi * np.cumsum(hz_t) / fps + rng.uniform(0, 2 * np.pi)
    scale = rng.uniform(0.8, 1.2)
    deg = np.zeros((num_frames, NUM_JOINTS, 3))
    for side, offset in (("left", 0.0), ("right", np.pi)):
        p = phase + offset
        sign = 1.0 if side == "left" else -1.0  # mirrored joints flip b and c
        hip_amp, hip_mean = (40, -25) if run else (24, -8)
        deg[:, _idx(f"{side}_hip"), 0] = hip_mean - scale * hip_amp * np.sin(p)
        swing = np.maximum(0, np.sin(p + np.pi / 4)) ** 1.5
        stance = np.maximum(0, np.sin(2 * p + np.pi)) * (np.cos(p) < 0)
        knee_peak = 100 if run else 58
        deg[:, _idx(f"{side}_knee"), 0] = 5 + scale * knee_peak * swing + 12 * stance
        deg[:, _idx(f"{side}_ankle"), 0] = 12 * np.sin(p + np.pi / 2)
        deg[:, _idx(f"{side}_foot"), 0] = 10 * np.maximum(0, np.sin(p - np.pi / 3))
        arm_amp = 45 if run else 22
        deg[:, _idx(f"{side}_shoulder"), 0] = scale * arm_amp * np.sin(p)
        deg[:, _idx(f"{side}_shoulder"), 2] = sign * (-65 if run else -75)
        elbow = (85 if run else 18) + (15 if run else 10) * np.sin(p + np.pi)
        deg[:, _idx(f"{side}_elbow"), 1] = -sign * elbow
    deg[:, _idx("spine2"), 1] = (8 if run else 5) * np.sin(phase)
    deg[:, _idx("spine1"), 0] = 12 if run else 3
    angles = np.radians(deg) + _small_variation(rng, num_frames, fps, 3.0)
    return np.clip(angles, JOINT_LOWER, JOINT_UPPER), phase


def _reach_angles(rng: np.random.Generator, num_frames: int, fps: float) -> np.ndarray:
    """(T,24,3) standing with repeated reaches (min-jerk out, hold, back) of one or both arms."""
    angles = np.broadcast_to(JOINT_NEUTRAL, (num_frames, NUM_JOINTS, 3)).copy()
    angles += _small_variation(rng, num_frames, fps, 4.0)
    t = np.arange(num_frames) / fps
    start = rng.uniform(0.0, 0.8)
    while start < t[-1]:
        move = rng.uniform(0.3, 1.0)  # seconds out (fast reaches are 0.3 s)
        hold = rng.uniform(0.1, 0.8)
        back = rng.uniform(0.3, 1.0)
        profile = min_jerk((t - start) / move) - min_jerk((t - start - move - hold) / back)
        sides = [("left", 1.0), ("right", -1.0)]
        arms = sides if rng.random() < 0.25 else [sides[rng.integers(2)]]
        for side, sign in arms:
            target = np.radians([rng.uniform(-115, -35), rng.uniform(-30, 30), sign * rng.uniform(-55, 10)])
            shoulder = _idx(f"{side}_shoulder")
            angles[:, shoulder] += profile[:, None] * (target - JOINT_NEUTRAL[shoulder])
            elbow = _idx(f"{side}_elbow")
            angles[:, elbow, 1] += profile * sign * np.radians(rng.uniform(-30, 15))
            wrist = _idx(f"{side}_wrist")
            angles[:, wrist] += profile[:, None] * np.radians(rng.uniform(-25, 25, 3))
        lean = np.radians(rng.uniform(0, 25))
        for spine in ("spine1", "spine2", "spine3"):
            angles[:, _idx(spine), 0] += profile * lean / 3
        angles[:, _idx("neck"), 0] += profile * np.radians(rng.uniform(-10, 20))
        start += move + hold + back + rng.uniform(0.0, 1.2)
    return np.clip(angles, JOINT_LOWER, JOINT_UPPER)


def synthesize_clip(kind: str, seconds: float, fps: float, rng: np.random.Generator) -> MotionClip:
    """One synthetic motion of `kind` (one of KINDS) lasting `seconds` at `fps`."""
    if kind not in KINDS:
        raise ValueError(f"unknown synthetic motion kind {kind!r}; choose one of {KINDS}")
    num_frames = max(2, round(seconds * fps))
    heading = rng.uniform(-np.pi, np.pi) + np.radians(rng.uniform(5, 30)) * smooth_noise(rng, num_frames, fps, (), 0.2)
    tilt = np.radians(3.0) * smooth_noise(rng, num_frames, fps, (2,), 0.5)
    trans = np.zeros((num_frames, 3))
    trans[:, 1] = 0.93 + 0.01 * smooth_noise(rng, num_frames, fps, (), 0.3)
    if kind in ("walk", "run"):
        angles, phase = _gait_angles(rng, num_frames, fps, run=kind == "run")
        if rng.random() < 0.3:  # turning on the spot or along a curve
            heading = heading + np.cumsum(np.radians(rng.uniform(-40, 40)) * np.ones(num_frames)) / fps
        speed = rng.uniform(2.5, 3.5) if kind == "run" else rng.uniform(1.1, 1.5)
        forward = np.stack((np.sin(heading), np.zeros(num_frames), np.cos(heading)), -1)
        trans += np.cumsum(forward * speed / fps, 0)
        trans[:, 1] += (0.04 if kind == "run" else 0.02) * np.cos(2 * phase)
        tilt[:, 0] += np.radians(10 if kind == "run" else 3)
    elif kind == "reach":
        angles = _reach_angles(rng, num_frames, fps)
    else:
        angles = _random_pose_motion(rng, num_frames, fps, max_hz=rng.uniform(0.3, 1.6))
        heading = heading + np.radians(rng.uniform(20, 90)) * smooth_noise(rng, num_frames, fps, (), 0.5)
        tilt = tilt + np.radians(rng.uniform(0, 12)) * smooth_noise(rng, num_frames, fps, (2,), 0.6)
        trans[:, [0, 2]] += 0.3 * smooth_noise(rng, num_frames, fps, (2,), 0.2)
    rotmats = angles_to_rotmats(angles)
    # Global orientation: heading about the world vertical, then the body's own lean (x) and sway (z).
    zeros = np.zeros(num_frames)
    yaw = axis_angle_to_rotmat(torch.from_numpy(np.stack((zeros, heading, zeros), -1)))
    rotmats[:, 0] = yaw @ angles_to_rotmats(np.stack((tilt[:, 0], zeros, tilt[:, 1]), -1))
    poses = rotmat_to_axis_angle(rotmats).numpy().astype(np.float32)
    return MotionClip(
        poses=poses,
        trans=trans.astype(np.float32),
        fps=float(fps),
        kind=kind,
        betas=rng.normal(0, 0.5, 10).astype(np.float32),
    )


def synthetic_motion_set(
    num_clips: int, seconds: float = 10.0, fps: float = 30.0, seed: int = 0, kinds: Sequence[str] = KINDS
) -> list[MotionClip]:
    """`num_clips` clips cycling through `kinds`, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return [synthesize_clip(kinds[i % len(kinds)], seconds, fps, rng) for i in range(num_clips)]


def forward_kinematics(rotmats: torch.Tensor, rest_joints: np.ndarray | torch.Tensor | None = None) -> torch.Tensor:
    """(...,24,3,3) local rotations -> (...,24,3) joint positions, pelvis at the rest pelvis position (no translation).

    rest_joints: (24,3) rest-pose joints; None = skeleton.REST_JOINTS. Pass a body model's `rest_joints` to match it.
    """
    rest = torch.as_tensor(
        REST_JOINTS if rest_joints is None else rest_joints, dtype=rotmats.dtype, device=rotmats.device
    )
    if rotmats.shape[-3:] != (NUM_JOINTS, 3, 3) or rest.shape != (NUM_JOINTS, 3):
        raise ValueError(
            f"forward_kinematics needs (...,24,3,3) rotations and (24,3) rest joints, got "
            f"{tuple(rotmats.shape)} and {tuple(rest.shape)}"
        )
    parents = torch.tensor(PARENTS[1:])
    offsets = rest[1:] - rest[parents]
    world_rot = [rotmats[..., 0, :, :]]
    positions = [rest[0].expand(*rotmats.shape[:-3], 3)]
    for j in range(1, NUM_JOINTS):
        parent = PARENTS[j]
        world_rot.append(world_rot[parent] @ rotmats[..., j, :, :])
        positions.append(positions[parent] + (world_rot[parent] @ offsets[j - 1, :, None])[..., 0])
    return torch.stack(positions, dim=-2)


def camera_view(rotmats: torch.Tensor, yaw: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
    """World y-up motions (...,T,24,3,3) seen by an OpenCV camera (x right, y down, z forward).

    The camera looks along the world's horizontal, rotated by `yaw` about the vertical and tilted by `pitch`
    (both (...,) radians), so only the global orientation (joint 0) changes. At yaw = pitch = 0 a person with zero
    global orientation faces the camera upright, as HMR2.0 outputs it.
    """
    zeros = torch.zeros_like(yaw)
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0], dtype=rotmats.dtype, device=rotmats.device))
    r_pitch = axis_angle_to_rotmat(torch.stack((pitch, zeros, zeros), -1)).to(rotmats.dtype)
    r_yaw = axis_angle_to_rotmat(torch.stack((zeros, yaw, zeros), -1)).to(rotmats.dtype)
    camera_from_world = (r_pitch @ flip @ r_yaw)[..., None, :, :]
    out = rotmats.clone()
    out[..., 0, :, :] = camera_from_world @ rotmats[..., 0, :, :]
    return out


def mirror_pose(rotmats: torch.Tensor) -> torch.Tensor:
    """Left/right mirror of local rotations (...,24,3,3): joint j takes M R_mirror(j) M, M = diag(-1,1,1)."""
    m = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=rotmats.dtype, device=rotmats.device))
    return m @ rotmats[..., list(MIRROR), :, :] @ m


def save_motion_set(clips: Sequence[MotionClip], folder: str | Path) -> list[Path]:
    """Write clips as AMASS-layout .npz files clip_0000.npz, ... into `folder`."""
    return [clip.to_npz(Path(folder) / f"clip_{i:04d}.npz") for i, clip in enumerate(clips)]
