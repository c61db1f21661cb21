"""Synthetic data sets on disk: rendered once, read by training and evaluation without re-rendering.

One .npz file (uncompressed container, images inside as JPEG and masks as PNG) holds every frame's image, camera
intrinsics and ground truth (SMPL rotation matrices in the camera frame, betas, translation, camera-frame joints,
2D joints, mask, box). Training sets are independent frames; evaluation sets are fixed-camera sequences
(sequence_id, frame_index, fps). Files live outside git (default data/cache/, ignored).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fasthmr_ros.training.synth.cache import cache_dir  # noqa: F401  (re-exported for callers)
from fasthmr_ros.training.synth.scene import SynthFrame, SynthGenerator

JPEG_QUALITY = 92
FORMAT_VERSION = 1
_ARRAYS = ("K", "global_orient", "body_pose", "betas", "translation", "joints_cam", "joints_2d", "box")


def encode_jpeg(image_rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def encode_mask_png(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", mask.astype(np.uint8) * 255, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


class _Writer:
    def __init__(self) -> None:
        self.images: list[bytes] = []
        self.masks: list[bytes] = []
        self.arrays: dict[str, list[np.ndarray]] = {name: [] for name in _ARRAYS}
        self.kinds: list[str] = []
        self.sequence_id: list[int] = []
        self.frame_index: list[int] = []

    def add(self, frame: SynthFrame, sequence_id: int = -1, frame_index: int = 0) -> None:
        self.images.append(encode_jpeg(frame.image))
        self.masks.append(encode_mask_png(frame.mask))
        for name in _ARRAYS:
            self.arrays[name].append(np.asarray(getattr(frame, name)))
        self.kinds.append(frame.kind)
        self.sequence_id.append(sequence_id)
        self.frame_index.append(frame_index)

    def save(self, path: Path, meta: dict) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, np.ndarray] = {}
        for key, blobs in (("images", self.images), ("masks", self.masks)):
            payload[key] = np.frombuffer(b"".join(blobs), dtype=np.uint8)
            payload[f"{key}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
        for name, values in self.arrays.items():
            payload[name] = np.stack(values).astype(np.float64 if name == "K" else np.float32)
        payload["kind"] = np.array(self.kinds)
        payload["sequence_id"] = np.array(self.sequence_id, dtype=np.int32)
        payload["frame_index"] = np.array(self.frame_index, dtype=np.int32)
        payload["meta"] = np.array(json.dumps({"format_version": FORMAT_VERSION, **meta}))
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as handle:
            np.savez(handle, **payload)
        partial.replace(path)  # readers never see half a file
        return path


def generate_frames(
    path: str | Path,
    count: int,
    seed: int = 0,
    chunk: int = 16,
    generator: SynthGenerator | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Render `count` training frames into `path`; returns the metadata written (incl. timing)."""
    if count <= 0:
        raise ValueError(f"count must be positive, got {count}")
    start = time.perf_counter()
    generator = generator or SynthGenerator(seed=seed)
    setup_s = time.perf_counter() - start
    writer = _Writer()
    render_start = time.perf_counter()
    for first in range(0, count, chunk):
        frames = generator.frames(range(first, min(first + chunk, count)))
        for frame in frames:
            writer.add(frame)
        if progress:
            progress(len(frames))
    render_s = time.perf_counter() - render_start
    meta = _meta(generator, "frames", count, setup_s, render_s)
    writer.save(Path(path), meta)
    return meta


def generate_sequences(
    path: str | Path,
    count: int,
    seed: int = 1000,
    seconds: float = 3.0,
    fps: float = 30.0,
    size: tuple[int, int] | None = None,
    generator: SynthGenerator | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Render `count` fixed-camera sequences into `path`; returns the metadata written."""
    start = time.perf_counter()
    generator = generator or SynthGenerator(seed=seed)
    setup_s = time.perf_counter() - start
    writer = _Writer()
    render_start = time.perf_counter()
    frames = 0
    for index in range(count):
        sequence = generator.sequence(index, seconds=seconds, fps=fps, size=size)
        for t, frame in enumerate(sequence.frames):
            writer.add(frame, sequence_id=index, frame_index=t)
        frames += len(sequence.frames)
        if progress:
            progress(1)
    render_s = time.perf_counter() - render_start
    meta = _meta(generator, "sequences", frames, setup_s, render_s)
    meta.update({"sequences": count, "seconds": seconds, "fps": fps})
    writer.save(Path(path), meta)
    return meta


def _meta(generator: SynthGenerator, kind: str, frames: int, setup_s: float, render_s: float) -> dict:
    return {
        "kind": kind,
        "seed": generator.seed,
        "frames": frames,
        "body_model": generator.body.name,
        "plates": [plate.name for plate in generator.plates],
        "setup_s": round(setup_s, 2),
        "render_s": round(render_s, 2),
        "ms_per_frame": round(1000 * render_s / max(frames, 1), 2),
    }


@dataclass
class SynthSet:
    """A generated data set, read lazily (images are decoded on access)."""

    path: Path
    data: dict[str, np.ndarray]
    meta: dict

    @classmethod
    def load(cls, path: str | Path) -> SynthSet:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"synthetic data set not found: {path}; create it with `fasthmr train` "
                                    "(training set) or bench/synth_eval.py (evaluation sequences)")  # fmt: skip
        with np.load(path, allow_pickle=False) as archive:
            data = {key: archive[key] for key in archive.files}
        meta = json.loads(str(data.pop("meta")))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: data set format {meta.get('format_version')} is not {FORMAT_VERSION}; "
                             "delete it and generate it again")  # fmt: skip
        return cls(path, data, meta)

    def __len__(self) -> int:
        return len(self.data["box"])

    def _blob(self, key: str, index: int) -> np.ndarray:
        offsets = self.data[f"{key}_offsets"]
        return self.data[key][offsets[index] : offsets[index + 1]]

    def image(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 RGB."""
        bgr = cv2.imdecode(self._blob("images", index), cv2.IMREAD_COLOR)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def mask(self, index: int) -> np.ndarray:
        return cv2.imdecode(self._blob("masks", index), cv2.IMREAD_GRAYSCALE) > 127

    def __getitem__(self, key: str) -> np.ndarray:
        return self.data[key]

    def sequences(self) -> list[np.ndarray]:
        """Frame indices of each sequence, in time order."""
        ids = self.data["sequence_id"]
        out = []
        for sequence in np.unique(ids[ids >= 0]):
            members = np.flatnonzero(ids == sequence)
            out.append(members[np.argsort(self.data["frame_index"][members])])
        return out
