"""Backgrounds for synthetic people: real scenes from the registry footage, with the real people removed.

Each plate is the per-pixel temporal median of evenly spaced frames of a fixed-camera clip: people who walk through
the scene vanish (a pixel is background in most frames), the static scene stays. Only clips whose walkers keep
moving qualify: Sports2D's demo (two walkers crossing a park) and OpenCV's vtest (pedestrians seen from above); in
the Pose2Sim clips the subject stays in place and survives the median. Every background is a random crop of a plate
(random scale, position, mirror, colour and contrast), or, for a share of samples, a procedural image (gradients,
blobs, rectangles) so the model does not learn two scenes by heart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fasthmr_ros import footage
from fasthmr_ros.training.synth.cache import cache_dir

PLATE_CLIPS: tuple[str, ...] = ("sports2d_demo.mp4", "vtest.avi")
PLATE_FRAMES = 40
PROCEDURAL_SHARE = 0.2


@dataclass
class Plate:
    name: str
    rgb: np.ndarray  # (H, W, 3) uint8


def median_plate(path: str, frames: int = PLATE_FRAMES) -> np.ndarray:
    """(H, W, 3) uint8 RGB temporal median of `frames` evenly spaced frames of a video."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ValueError(f"cannot open video {path} for a background plate")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    wanted = set(np.linspace(0, max(count - 1, 0), frames).astype(int).tolist())
    kept, index = [], 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        if index in wanted:
            kept.append(bgr)
        index += 1
    capture.release()
    if len(kept) < 3:
        raise ValueError(f"video {path} has too few frames ({len(kept)}) for a median background plate")
    median = np.median(np.stack(kept), axis=0).astype(np.uint8)
    return cv2.cvtColor(median, cv2.COLOR_BGR2RGB)


def load_plates(clips: tuple[str, ...] = PLATE_CLIPS) -> list[Plate]:
    """Median plates of the registry clips (fetched if missing: a no-op when they are there), kept as PNG in the
    cache after the first computation (the median is deterministic)."""
    plates = []
    for name in clips:
        stored = cache_dir() / "plates" / f"{Path(name).stem}_median{PLATE_FRAMES}.png"
        if stored.is_file():
            plates.append(Plate(name, cv2.cvtColor(cv2.imread(str(stored)), cv2.COLOR_BGR2RGB)))
            continue
        rgb = median_plate(str(footage.fetch([name])[0]))
        stored.parent.mkdir(parents=True, exist_ok=True)
        partial = stored.with_name(stored.stem + ".partial.png")
        cv2.imwrite(str(partial), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        partial.replace(stored)
        plates.append(Plate(name, rgb))
    return plates


def _jitter_colors(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = image.astype(np.float32)
    gain = rng.uniform(0.6, 1.3) * rng.uniform(0.9, 1.1, 3)
    out = out * gain + rng.uniform(-25, 25)
    gray = out.mean(axis=2, keepdims=True)
    out = gray + (out - gray) * rng.uniform(0.5, 1.3)
    return np.clip(out, 0, 255).astype(np.uint8)


def plate_crop(plate: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A random crop of the plate with the aspect of (width, height), resized to it, mirrored half the time."""
    plate_h, plate_w = plate.shape[:2]
    aspect = width / height
    max_w = min(plate_w, plate_h * aspect)
    crop_w = max_w * rng.uniform(0.3, 1.0)
    crop_h = crop_w / aspect
    x0 = rng.uniform(0, plate_w - crop_w)
    y0 = rng.uniform(0, plate_h - crop_h)
    # Affine resample of the chosen window (sub-pixel origin keeps crops distinct).
    sx, sy = width / crop_w, height / crop_h
    transform = np.array([[sx, 0, -x0 * sx], [0, sy, -y0 * sy]], dtype=np.float64)
    out = cv2.warpAffine(plate, transform, (width, height), flags=cv2.INTER_AREA if sx < 1 else cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT)  # fmt: skip
    if rng.random() < 0.5:
        out = out[:, ::-1]
    return _jitter_colors(np.ascontiguousarray(out), rng)


def procedural(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Gradient + soft blobs + a few rectangles: clutter with no people in it."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (xx * np.cos(angle) + yy * np.sin(angle)) / max(width, height)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    image = c0 + ramp[..., None] * (c1 - c0)
    for _ in range(rng.integers(2, 7)):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.05, 0.4) * max(width, height)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
        image += blob[..., None] * rng.uniform(-90, 90, 3)
    image = np.clip(image, 0, 255).astype(np.uint8)
    for _ in range(rng.integers(0, 6)):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        x1, y1 = x0 + rng.integers(8, max(9, width // 3)), y0 + rng.integers(8, max(9, height // 3))
        cv2.rectangle(image, (int(x0), int(y0)), (int(x1), int(y1)), rng.uniform(0, 255, 3).tolist(), -1)
    return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 2.0))


def random_background(plates: list[Plate], width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """(height, width, 3) uint8 RGB background."""
    if not plates or rng.random() < PROCEDURAL_SHARE:
        return procedural(width, height, rng)
    plate = plates[rng.integers(len(plates))]
    return plate_crop(plate.rgb, width, height, rng)
