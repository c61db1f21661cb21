"""Motion clips from AMASS-layout .npz files (`poses`, `trans`, `mocap_framerate`, optional `betas`), resampled
to the camera frame rate.

AMASS stores SMPL-H (156 numbers per frame) or SMPL-X (165) poses in a z-up world; the first 66 numbers are the
root and 21 body joints shared with SMPL, SMPL's two hand joints (22, 23) are taken when the file has exactly 72
numbers per frame and left at identity otherwise. Files written by training.synth.motion carry `up_axis = "y"`.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from fasthmr_ros.model.rotation import axis_angle_to_rotmat, rot6d_to_rotmat, rotmat_to_axis_angle, rotmat_to_rot6d
from fasthmr_ros.model.skeleton import NUM_JOINTS
from fasthmr_ros.training.synth.motion import MotionClip

# z-up world to SMPL's y-up model frame: a -90 degree turn about x (z -> y).
_Z_UP_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def load_amass_npz(path: str | Path, fps: float) -> MotionClip:
    """One AMASS-layout file as a y-up MotionClip at `fps` (rotations interpolated on the 6D columns, then
    re-orthonormalised; accurate because mocap frames are close together)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"motion file not found: {path}")
    with np.load(path, allow_pickle=False) as data:
        missing = [key for key in ("poses", "trans", "mocap_framerate") if key not in data.files]
        if missing:
            raise ValueError(f"{path} lacks {missing}: an AMASS-layout .npz needs poses, trans and mocap_framerate")
        poses = np.asarray(data["poses"], dtype=np.float64)
        trans = np.asarray(data["trans"], dtype=np.float64)
        source_fps = float(data["mocap_framerate"])
        betas = np.asarray(data["betas"], dtype=np.float32)[:10] if "betas" in data.files else np.zeros(10, np.float32)
        up_axis = str(data["up_axis"]) if "up_axis" in data.files else "z"
        kind = str(data["kind"]) if "kind" in data.files else "amass"
    if poses.ndim != 2 or poses.shape[1] < 66 or len(trans) != len(poses):
        raise ValueError(f"{path}: poses must be (T, >=66) and trans (T,3), got {poses.shape} and {trans.shape}")
    axis_angle = np.zeros((len(poses), NUM_JOINTS, 3))
    used = 24 if poses.shape[1] == 72 else 22
    axis_angle[:, :used] = poses[:, : used * 3].reshape(len(poses), used, 3)
    rotmats = axis_angle_to_rotmat(torch.from_numpy(axis_angle))
    if up_axis == "z":
        turn = torch.from_numpy(_Z_UP_TO_Y_UP)
        rotmats[:, 0] = turn @ rotmats[:, 0]
        trans = trans @ _Z_UP_TO_Y_UP.T
    rotmats, trans = resample(rotmats, torch.from_numpy(trans), source_fps, fps)
    poses_out = rotmat_to_axis_angle(rotmats).numpy().astype(np.float32)
    return MotionClip(poses=poses_out, trans=trans.numpy().astype(np.float32), fps=float(fps), betas=betas, kind=kind)


def resample(
    rotmats: torch.Tensor, trans: torch.Tensor, source_fps: float, fps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(T,24,3,3), (T,3) at source_fps -> the same motion sampled at fps (linear in 6D / position)."""
    if source_fps <= 0 or fps <= 0:
        raise ValueError(f"frame rates must be positive, got source {source_fps} and target {fps}")
    duration = (len(rotmats) - 1) / source_fps
    times = torch.arange(0, int(np.floor(duration * fps + 1e-6)) + 1, dtype=torch.float64) / fps
    position = (times * source_fps).clamp(max=len(rotmats) - 1)
    lower = position.floor().long()
    upper = (lower + 1).clamp(max=len(rotmats) - 1)
    frac = (position - lower).to(rotmats.dtype)
    six = rotmat_to_rot6d(rotmats)
    mixed = six[lower] * (1 - frac)[:, None, None] + six[upper] * frac[:, None, None]
    moved = trans[lower] * (1 - frac)[:, None].to(trans.dtype) + trans[upper] * frac[:, None].to(trans.dtype)
    return rot6d_to_rotmat(mixed), moved


def motion_files(sources: Iterable[str | Path]) -> list[Path]:
    """Expand files, folders (recursively, *.npz) and glob patterns to a sorted list of .npz files."""
    found: set[Path] = set()
    for source in sources:
        source_path = Path(source)
        if source_path.is_dir():
            found.update(source_path.rglob("*.npz"))
        elif source_path.is_file():
            found.add(source_path)
        else:
            matches = [Path(p) for p in glob.glob(str(source), recursive=True)]
            if not matches:
                raise FileNotFoundError(f"no motion files at {source} (give AMASS .npz files, folders or globs)")
            found.update(m for m in matches if m.suffix == ".npz")
    return sorted(found)


def load_motion_files(sources: Iterable[str | Path], fps: float, min_frames: int = 1) -> list[MotionClip]:
    sources = list(sources)
    clips = []
    for path in motion_files(sources):
        with np.load(path, allow_pickle=False) as data:
            if "poses" not in data.files:  # AMASS folders hold shape-only files (e.g. shape.npz)
                continue
        clip = load_amass_npz(path, fps)
        if len(clip) >= min_frames:
            clips.append(clip)
    if not clips:
        raise FileNotFoundError(f"no usable motion clips (>= {min_frames} frames) in {list(sources)}")
    return clips
