"""What flows through the pipeline: a frame in, people out. Plain data, no ROS, no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass
class Frame:
    rgb: np.ndarray  # (H, W, 3) uint8 RGB, possibly a read-only strided view of the message buffer
    camera_matrix: np.ndarray  # (3, 3) intrinsics K
    intrinsics_known: bool  # False while K is the documented default, not from CameraInfo
    # capture time, seconds (any origin, e.g. the image header's stamp): the translation filter's time step. None =
    # unknown: processed frames are then taken as evenly spaced at perception.track_state.NOMINAL_FPS
    stamp: float | None = None


@dataclass
class Person:
    track_id: int
    score: float
    box: np.ndarray  # (4,) x0, y0, x1, y1 pixels
    global_orient: np.ndarray  # (3,) axis-angle, body model frame -> camera optical frame
    body_pose: np.ndarray  # (69,) axis-angle of SMPL joints 1..23
    betas: np.ndarray  # (K,)
    translation: np.ndarray  # (3,) camera frame, metres
    joints: np.ndarray  # (24, 3) camera frame, metres
    keypoints_2d: np.ndarray  # (24, 2) pixels
    vertices: np.ndarray | None = None  # (V, 3) camera frame, metres
    landmarks_3d: np.ndarray | None = None  # (33, 3) camera frame: the mesh's points at BlazePose's 33 landmarks


@dataclass
class FrameResult:
    people: list[Person] = field(default_factory=list)
    ended_track_ids: list[int] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # per-frame facts for diagnostics (e.g. tokens kept)
    delay_frames: int = 0  # the people belong to the frame this many processed frames ago (decoder look-ahead)


class FrameProcessor(Protocol):
    """Anything that turns a Frame into people: the full pipeline, or a stand-in while models load."""

    weights: str  # which encoder weights: "embedded demo model (synthetic data)" / "user checkpoint <path>"
    body_model: str  # "smpl" or "fasthmr-embedded"
    faces: np.ndarray | None  # (F, 3) triangles of the body model
    num_vertices: int
    settings: dict[str, str]  # what diagnostics reports about the configuration

    def process(self, frame: Frame) -> FrameResult: ...

    # process() in two stages that may run in two threads (perception/staged.py): detect() touches only the
    # person masks, finish() everything else; frames reach finish() in the order they left detect()
    def detect(self, frame: Frame) -> object: ...

    def finish(self, detected) -> FrameResult: ...


class NoModelProcessor:
    """Publishes honest empty results: used when the node runs without any model (``models: false``)."""

    weights = "none (no model loaded)"
    body_model = "none"
    faces = None
    num_vertices = 0

    def __init__(self) -> None:
        self.settings: dict[str, str] = {"models": "off"}

    def process(self, frame: Frame) -> FrameResult:
        return FrameResult()

    def detect(self, frame: Frame) -> Frame:
        return frame

    def finish(self, detected: Frame) -> FrameResult:
        return FrameResult()
