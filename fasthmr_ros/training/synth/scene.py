"""Synthetic camera frames of one person with exact ground truth: single frames for training, fixed-camera
sequences for temporal evaluation.

Everything 3D is in the camera's OpenCV optical frame (x right, y down, z forward, metres), the node's frame: the
body model output (global orientation applied) plus `translation` gives the vertices and joints there, and K
projects them to pixels (pixel centres at integer coordinates, principal point at (W/2, H/2) as HMR2.0 assumes).

Every sample draws from its own random stream numpy.random.default_rng((seed, stream, index)), so a sample does
not depend on which other samples were generated, in which order, or in which chunk.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from fasthmr_ros.model.body import BodyModel
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.training.synth import appearance, pose_sampler
from fasthmr_ros.training.synth.backgrounds import Plate, load_plates, random_background

FRAME_STREAM = 0
SEQUENCE_STREAM = 1
ASPECTS: tuple[tuple[int, int], ...] = ((4, 3), (16, 9), (1, 1), (3, 4), (9, 16))
LONG_SIDE = (320, 640)
FOV_DEG = (45.0, 75.0)  # horizontal-or-vertical field of view of the long side
HEIGHT_FRACTION = (0.4, 0.92)  # person box height / image height
FACING_SHARE = 0.5  # share of frames facing the camera within +-45 degrees; the rest face anywhere
MIN_DEPTH = 1.2


@dataclass
class Camera:
    width: int
    height: int
    K: np.ndarray  # (3, 3) float64

    @property
    def focal(self) -> float:
        return float(self.K[0, 0])


@dataclass
class SynthFrame:
    """One rendered frame and its ground truth (one person)."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    K: np.ndarray  # (3, 3) float64
    global_orient: np.ndarray  # (3, 3): body model frame -> camera frame
    body_pose: np.ndarray  # (23, 3, 3)
    betas: np.ndarray  # (10,)
    translation: np.ndarray  # (3,) camera frame: vertices = body(params) + translation
    joints_cam: np.ndarray  # (24, 3) camera frame, metres
    joints_2d: np.ndarray  # (24, 2) pixels
    mask: np.ndarray  # (H, W) bool visible person pixels
    box: np.ndarray  # (4,) float32 x0, y0, x1, y1: tight box of the mask (pixel edges)
    kind: str


@dataclass
class SynthSequence:
    frames: list[SynthFrame]
    fps: float
    kind: str


def sample_camera(rng: np.random.Generator, long_side: tuple[int, int] = LONG_SIDE) -> Camera:
    aspect = ASPECTS[rng.integers(len(ASPECTS))]
    long = int(rng.integers(long_side[0], long_side[1] + 1))
    short = round(long * min(aspect) / max(aspect))
    width, height = (long, short) if aspect[0] >= aspect[1] else (short, long)
    focal = (long / 2.0) / np.tan(np.radians(rng.uniform(*FOV_DEG)) / 2.0)
    return Camera(width, height, intrinsics(focal, width, height))


def intrinsics(focal: float, width: int, height: int) -> np.ndarray:
    return np.array([[focal, 0.0, width / 2.0], [0.0, focal, height / 2.0], [0.0, 0.0, 1.0]])


def camera_from_world(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """(3, 3) rotation taking a y-up world (SMPL's model frame) into an OpenCV camera that looks along the horizontal
    direction (sin yaw, 0, cos yaw), tilted down by `pitch` and rolled by `roll` (radians)."""
    forward = np.array([np.cos(pitch) * np.sin(yaw), -np.sin(pitch), np.cos(pitch) * np.cos(yaw)])
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    rotation = np.stack([right, down, forward])
    c, s = np.cos(roll), np.sin(roll)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ rotation


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels."""
    uvw = points @ np.asarray(K).T
    return uvw[..., :2] / uvw[..., 2:3]


def box_of_mask(mask: np.ndarray) -> np.ndarray | None:
    """Tight xyxy box of a boolean mask, pixel edges (x1 = last column + 1), or None when empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not len(rows):
        return None
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float32)


def _finish(image: np.ndarray, rng: np.random.Generator, blur: float) -> np.ndarray:
    """Camera-like degradations: a little blur and sensor noise."""
    if blur > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    noise = rng.normal(0.0, rng.uniform(0.0, 3.0), image.shape)
    return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


class SynthGenerator:
    """Renders synthetic frames and sequences; deterministic from `seed`."""

    def __init__(self, seed: int = 0, body: BodyModel | None = None, plates: list[Plate] | None = None) -> None:
        self.seed = int(seed)
        self.body = body if body is not None else load_body_model(None)
        self.plates = plates if plates is not None else load_plates()
        layer = self.body.layer
        self.regions = appearance.body_regions(
            layer.lbs_weights.numpy(), self.body.faces, layer.v_template.numpy(), self.body.rest_joints
        )

    def rng(self, stream: int, index: int) -> np.random.Generator:
        return np.random.default_rng((self.seed, stream, int(index)))

    @torch.no_grad()
    def _body(self, orient: np.ndarray, pose: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Body model: orient (B,3,3), pose (B,23,3,3), betas (B,10) -> vertices (B,V,3), joints (B,24,3)."""
        out = self.body(
            torch.as_tensor(orient, dtype=torch.float32)[:, None],
            torch.as_tensor(pose, dtype=torch.float32),
            torch.as_tensor(betas, dtype=torch.float32),
        )
        return out.vertices.double().numpy(), out.joints.double().numpy()

    # ---- single frames ---------------------------------------------------------------------------------------
    def frames(self, indices: list[int] | range) -> list[SynthFrame]:
        """Training/validation frames `indices` of this generator's frame stream."""
        plans = []
        for index in indices:
            rng = self.rng(FRAME_STREAM, index)
            camera = sample_camera(rng)
            pose = pose_sampler.sample_pose(rng)
            betas = pose_sampler.sample_betas(rng)
            facing_camera = rng.random() < FACING_SHARE
            facing = rng.uniform(-np.pi / 4, np.pi / 4) if facing_camera else rng.uniform(-np.pi, np.pi)
            # Turning the camera by -facing about the vertical turns the body by +facing in the image.
            world_to_cam = camera_from_world(
                np.pi - facing, np.radians(rng.uniform(-5, 25)), np.radians(rng.uniform(-6, 6))
            )
            orient = world_to_cam @ pose.rotmats[0]
            plans.append((rng, camera, pose, betas, orient))
        if not plans:
            return []
        out = []
        for rng, camera, pose, betas, orient in plans:
            # One body-model call per frame: a batched matrix product rounds differently with the batch's size and
            # content, and a frame must not depend on which frames were generated with it.
            vertices, joints = self._body(orient[None], pose.rotmats[None, 1:], betas[None])
            verts, joints_model = vertices[0], joints[0]
            translation = self._place(rng, camera, verts)
            background = random_background(self.plates, camera.width, camera.height, rng)
            look = appearance.sample_look(rng)
            blur = rng.uniform(0.3, 1.2) if rng.random() < 0.3 else 0.0
            frame = self._render(
                rng, camera, background, look, blur, orient, pose.rotmats[1:], betas, translation, verts, joints_model
            )
            frame.kind = pose.kind
            out.append(frame)
        return out

    def _place(self, rng: np.random.Generator, camera: Camera, vertices: np.ndarray) -> np.ndarray:
        """Translation putting the body at a random size and position in the image (mostly inside it)."""
        lo, hi = vertices.min(axis=0), vertices.max(axis=0)
        centre = (lo + hi) / 2.0
        extent = hi - lo
        box_h = rng.uniform(*HEIGHT_FRACTION) * camera.height
        depth = max(MIN_DEPTH, camera.focal * extent[1] / box_h)
        half_w = camera.focal * extent[0] / (2 * depth)
        half_h = camera.focal * extent[1] / (2 * depth)
        # Mostly inside the frame; one in six may be cut by the border (up to 12% of the box).
        slack = 0.12 if rng.random() < 1 / 6 else -0.02
        u = self._position(rng, camera.width, half_w, slack)
        v = self._position(rng, camera.height, half_h, slack)
        target = depth * np.array([(u - camera.K[0, 2]) / camera.focal, (v - camera.K[1, 2]) / camera.focal, 1.0])
        return target - centre

    @staticmethod
    def _position(rng: np.random.Generator, size: int, half: float, slack: float) -> float:
        lo, hi = half * (1 - 2 * slack), size - half * (1 - 2 * slack)
        return float(rng.uniform(lo, hi)) if lo < hi else size / 2.0

    def _render(self, rng, camera, background, look, blur, orient, body_pose, betas, translation, vertices,
                joints_model, kind: str = "") -> SynthFrame:  # fmt: skip
        vertices_cam = vertices + translation
        joints_cam = joints_model + translation
        raster = appearance.rasterize_person(vertices_cam, self.regions, camera.K, camera.width, camera.height)
        image = appearance.composite(background.copy(), raster, look, rng)
        image = _finish(image, rng, blur)
        mask = np.zeros(camera.width * camera.height, dtype=bool)
        mask[raster.pixels] = True
        mask = mask.reshape(camera.height, camera.width)
        box = box_of_mask(mask)
        if box is None:  # fully outside the image: keep the projected box so the sample stays well defined
            uv = project(vertices_cam, camera.K)
            box = np.concatenate([uv.min(0), uv.max(0)]).astype(np.float32)
        return SynthFrame(
            image=image,
            K=camera.K.copy(),
            global_orient=np.asarray(orient, np.float32),
            body_pose=np.asarray(body_pose, np.float32),
            betas=np.asarray(betas, np.float32),
            translation=translation.astype(np.float32),
            joints_cam=joints_cam.astype(np.float32),
            joints_2d=project(joints_cam, camera.K).astype(np.float32),
            mask=mask,
            box=box,
            kind=kind,
        )

    # ---- sequences -------------------------------------------------------------------------------------------
    def sequence(
        self,
        index: int,
        seconds: float = 3.0,
        fps: float = 30.0,
        size: tuple[int, int] | None = None,
        kind: str | None = None,
    ) -> SynthSequence:
        """A fixed camera watching one person move for `seconds`; size = (W, H) or random; kind cycles
        through pose_sampler.SEQUENCE_KINDS by index unless given."""
        rng = self.rng(SEQUENCE_STREAM, index)
        kind = kind or pose_sampler.SEQUENCE_KINDS[index % len(pose_sampler.SEQUENCE_KINDS)]
        clip = pose_sampler.sample_motion(rng, kind, seconds, fps)
        rotmats = pose_sampler.clip_rotmats(clip).numpy()
        betas = pose_sampler.sample_betas(rng)
        camera = sample_camera(rng)
        if size is not None:
            width, height = size
            scale = max(width, height) / max(camera.width, camera.height)
            camera = Camera(width, height, intrinsics(camera.focal * scale, width, height))
        # Look at the middle of the path from a random side, tilted a little down.
        path_mid = clip.trans.mean(axis=0).astype(np.float64)
        yaw = rng.uniform(-np.pi, np.pi)
        world_to_cam = camera_from_world(yaw, np.radians(rng.uniform(0, 20)), np.radians(rng.uniform(-4, 4)))
        orient = world_to_cam[None] @ rotmats[:, 0]
        vertices, joints = self._body(orient, rotmats[:, 1:], np.repeat(betas[None], len(rotmats), 0))
        # Body vertices in the world: R_world v + trans; in the camera: world_to_cam (R_world v + trans - eye).
        offsets = (clip.trans.astype(np.float64) - path_mid) @ world_to_cam.T
        extent_h = float(np.ptp(vertices[..., 1], axis=1).max())
        distance = camera.focal * extent_h / (rng.uniform(0.45, 0.75) * camera.height)
        lateral = np.zeros(3)
        for _ in range(40):
            translation = offsets + lateral + np.array([0.0, 0.0, distance])
            uv = project(vertices + translation[:, None], camera.K)
            depth_ok = (vertices[..., 2] + translation[:, None, 2]).min() > MIN_DEPTH + 0.3
            lo, hi = uv.reshape(-1, 2).min(0), uv.reshape(-1, 2).max(0)
            if depth_ok and (lo > 2).all() and (hi < [camera.width - 2, camera.height - 2]).all():
                break
            # Re-centre the path in the image, then step back.
            centre_px = (lo + hi) / 2 - camera.K[:2, 2]
            lateral[:2] -= centre_px * distance / camera.focal * 0.8
            distance *= 1.08
        background = random_background(self.plates, camera.width, camera.height, rng)
        look = appearance.sample_look(rng)
        blur = rng.uniform(0.3, 1.0) if rng.random() < 0.3 else 0.0
        frames = [
            self._render(
                rng,
                camera,
                background,
                look,
                blur,
                orient[t],
                rotmats[t, 1:],
                betas,
                translation[t],
                vertices[t],
                joints[t],
                kind,
            )
            for t in range(len(rotmats))
        ]
        return SynthSequence(frames=frames, fps=float(fps), kind=kind)
