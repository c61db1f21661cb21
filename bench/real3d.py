"""Real-footage 3D accuracy: Pose2Sim's 4 calibrated cameras, ground truth by triangulating MediaPipe's 2D keypoints.

    python -m bench.real3d [--views cam01 ...] [--frames 100] [--out out/real3d] [--threads 1] [--refresh]
                           [--no-pipeline]

Footage: Pose2Sim's Demo_SinglePerson (PyPI wheel `pose2sim`, BSD-3): one man, 4 synchronised-ish portrait cameras,
100 frames at 60 fps, Qualisys calibration. Nothing here trains on it.

Ground truth: MediaPipe BlazePose 2D keypoints in all 4 views (the package's mask generator), the main subject and
his left/right labelling picked per view and frame by consistency with the other views, each view's time offset
estimated, weighted DLT with reprojection-error rejection (fasthmr_ros.training.multiview), then moved into each
camera's frame. It is biased toward BlazePose's keypoint definitions (its hips sit wider apart than SMPL's).

Methods, each on one view alone: the package pipeline with its embedded defaults (decoder off / on; pose_source
variants when the setting exists), a constant pose (the embedded demo model's mean parameters), and MediaPipe's
own monocular world landmarks. Scored on the 12 limb points (shoulders, elbows, wrists, hips, knees, ankles) over
the frames where every method has an answer and the ground truth has all 12 points.

The 2D detections are cached in <out>/detections_<clip>.npz (keyed by the clip's SHA-1 and the detector settings);
the ground truth is written to <out>/ground_truth.npz; tables go to stdout, <out>/real3d.md and <out>/real3d.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch

from fasthmr_ros.footage import clip_path, fetch
from fasthmr_ros.perception.landmark_placement import solve_translation
from fasthmr_ros.training import multiview as mv
from fasthmr_ros.training.metrics import per_frame_pa_mpjpe

VIEWS = ("cam01", "cam02", "cam03", "cam04")
CALIBRATION = "pose2sim_single_calib.qca.txt"
FPS = 60.0

# The 12 limb points in one order: L/R shoulder, elbow, wrist, hip, knee, ankle (left = the person's left).
LIMB_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
LIMB_BLAZEPOSE = np.array([11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])
LIMB_SMPL = np.array([16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8])
HIPS = (6, 7)  # rows of the two hips in the 12

# Detector settings of the cached 2D keypoints: two people because a second one walks at cam01's edge.
DETECTOR = {"backend": "mediapipe", "max_people": 2}
# Pixels. MediaPipe's own 2D noise on this ~800 px tall man is ~10 px (median reprojection error of the accepted
# points); a left/right label swap or a wrong person costs 50-300 px. 25 px (~2.5x the noise, ~5 cm at the man's
# 3-4 m) rejects those and the worst detections while keeping ~95% of the views a point could use.
MAX_REPROJECTION_PX = 25.0
# Looser threshold for the reference used only to pick the subject and labelling per view.
REFERENCE_PX = 40.0
# A view's candidate must lie within this median distance of the reference's projection to count as the subject.
SUBJECT_GATE_PX = 60.0
# Keypoints below this visibility take no part in triangulation.
MIN_VISIBILITY = 0.5
# A pipeline person is the subject when its box holds at least this fraction of the GT's projected limb points.
PERSON_MIN_INSIDE = 0.75


# -- footage and calibration ---------------------------------------------------------------------------------------


def clip_name(view: str) -> str:
    return f"pose2sim_single_{view}.mp4"


def read_frames(view: str, frames: int) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(clip_path(clip_name(view))))
    out = []
    try:
        while len(out) < frames:
            ok, bgr = capture.read()
            if not ok:
                break
            out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return out


def video_size(view: str) -> tuple[int, int]:
    capture = cv2.VideoCapture(str(clip_path(clip_name(view))))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    capture.release()
    return size


def sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


# -- 2D detections (cached) ----------------------------------------------------------------------------------------


@dataclass
class Detections:
    keypoints: np.ndarray  # (T, C, 33, 3) x, y, visibility; NaN = no candidate
    world: np.ndarray  # (T, C, 33, 3) MediaPipe world landmarks, metres, hip-centred
    boxes: np.ndarray  # (T, C, 4)


def detect(view: str, frames: int, out: Path, refresh: bool) -> Detections:
    from fasthmr_ros.perception import masks_mediapipe

    path = clip_path(clip_name(view))
    # the detector's own source is in the key: a change to it re-runs the detections
    key = f"{sha1(path)}:{sha1(Path(masks_mediapipe.__file__))}:{json.dumps(DETECTOR, sort_keys=True)}"
    cache = out / f"detections_{path.stem}.npz"
    if cache.is_file() and not refresh:
        stored = np.load(cache)
        if str(stored["key"]) == key and stored["keypoints"].shape[0] >= frames:
            return Detections(stored["keypoints"][:frames], stored["world"][:frames], stored["boxes"][:frames])
    from fasthmr_ros.perception.masks import create_mask_generator

    count = DETECTOR["max_people"]
    generator = create_mask_generator(DETECTOR["backend"], max_people=count)
    images = read_frames(view, frames)
    keypoints = np.full((len(images), count, 33, 3), np.nan, np.float32)
    world = np.full_like(keypoints, np.nan)
    boxes = np.full((len(images), count, 4), np.nan, np.float32)
    started = time.perf_counter()
    for f, image in enumerate(images):
        for c, det in enumerate(generator(image)[:count]):
            boxes[f, c] = det.box
            if det.keypoints is not None:
                keypoints[f, c] = det.keypoints
            if getattr(det, "world_landmarks", None) is not None:
                world[f, c] = det.world_landmarks
    print(f"  {view}: 2D detections, {len(images)} frames in {time.perf_counter() - started:.1f} s")
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, key=key, keypoints=keypoints, world=world, boxes=boxes)
    return Detections(keypoints, world, boxes)


# -- ground truth --------------------------------------------------------------------------------------------------


def blazepose_relabellings() -> list[np.ndarray]:
    """Identity, arms-and-face swapped, legs swapped, all swapped: MediaPipe sometimes labels a side view mirrored,
    and the upper and lower body can flip independently (the package's own list, model/landmark_map.py)."""
    from fasthmr_ros.model.landmark_map import SIDE_RELABELLINGS

    return [np.array(order) for order in SIDE_RELABELLINGS]


@dataclass
class GroundTruth:
    offsets: np.ndarray  # (V,) frames: view v's frame f is world time f + offsets[v]
    choice: np.ndarray  # (V, T) relabelled candidate index (candidate * S + relabelling), -1 = none
    subject: np.ndarray  # (V, T) detection index of the subject in that view (loose gate), -1 = none
    world: dict[str, np.ndarray]  # view -> (T, 33, 3) world points at that view's frame times (NaN = rejected)
    camera: dict[str, np.ndarray]  # view -> (T, 33, 3) the same in that camera's frame
    errors: dict[str, np.ndarray]  # view -> (V, T, 33) reprojection errors px of the views used
    used: dict[str, np.ndarray]  # view -> (V, T, 33)
    mean_error_px: float = 0.0
    median_error_px: float = 0.0
    notes: dict[str, object] = field(default_factory=dict)


def tracks_of(cands: np.ndarray, choice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, T, C', 33, 3) relabelled candidates and (V, T) choices -> tracks (V, T, 33, 2), weights (V, T, 33)."""
    n_views, frames = choice.shape
    picked = np.full((n_views, frames, cands.shape[3], 3), np.nan)
    for v in range(n_views):
        ok = choice[v] >= 0
        picked[v, ok] = cands[v, np.flatnonzero(ok), choice[v, ok]]
    weights = np.nan_to_num(picked[..., 2])
    return picked[..., :2], weights


def build_ground_truth(cameras: list[mv.Camera], detections: list[Detections], log: list[str]) -> GroundTruth:
    perms = blazepose_relabellings()
    n_rel = len(perms)
    projections = np.stack([c.projection for c in cameras])
    cands = np.stack([mv.relabelled(d.keypoints.astype(np.float64), perms) for d in detections])  # (V,T,C*S,33,3)
    frames = cands.shape[1]
    times = np.arange(frames, dtype=np.float64)
    # start from the largest box, unrelabelled: right for most frames, and the robust steps below fix the rest
    area = np.stack([(d.boxes[..., 2] - d.boxes[..., 0]) * (d.boxes[..., 3] - d.boxes[..., 1]) for d in detections])
    choice = np.nanargmax(np.nan_to_num(area, nan=-1.0), axis=2) * n_rel
    choice[~np.isfinite(area).any(axis=2)] = -1
    offsets = np.zeros(len(cameras))
    for step in range(4):
        tracks, weights = tracks_of(cands, choice)
        offsets, cost = mv.estimate_offsets(
            projections, tracks[:, :, LIMB_BLAZEPOSE], weights[:, :, LIMB_BLAZEPOSE], min_weight=MIN_VISIBILITY
        )
        reference = mv.triangulate_at(projections, tracks, weights, offsets, times, REFERENCE_PX, MIN_VISIBILITY)
        limb_reference = reference.points[:, LIMB_BLAZEPOSE]
        new = np.stack(
            [
                mv.choose_candidates(
                    projections[v],
                    mv.sample_track(limb_reference, np.ones(limb_reference.shape[:2]), times + offsets[v])[0],
                    cands[v][:, :, LIMB_BLAZEPOSE],
                    SUBJECT_GATE_PX,
                    MIN_VISIBILITY,
                )
                for v in range(len(cameras))
            ]
        )
        changed = int((new != choice).sum())
        log.append(
            f"subject pass {step + 1}: offsets {np.round(offsets, 2).tolist()} frames, median DLT reprojection "
            f"{cost:.1f} px, {changed} view-frames re-picked"
        )
        choice = new
        if changed == 0:
            break
    subject = np.stack(
        [
            mv.choose_candidates(
                projections[v],
                mv.sample_track(limb_reference, np.ones(limb_reference.shape[:2]), times + offsets[v])[0],
                cands[v][:, :, LIMB_BLAZEPOSE],
                4 * SUBJECT_GATE_PX,
                MIN_VISIBILITY,
            )
            for v in range(len(cameras))
        ]
    )
    subject = np.where(subject >= 0, subject // n_rel, -1)
    tracks, weights = tracks_of(cands, choice)
    gt = GroundTruth(offsets, choice, subject, {}, {}, {}, {})
    all_errors, views_per_point, missing = [], [], []
    for v, cam in enumerate(cameras):
        result = mv.triangulate_at(projections, tracks, weights, offsets, times + offsets[v], MAX_REPROJECTION_PX,
                                   MIN_VISIBILITY)  # fmt: skip
        gt.world[cam.name] = result.points
        gt.camera[cam.name] = cam.to_camera(result.points)
        gt.errors[cam.name] = result.errors
        gt.used[cam.name] = result.used
        limb_ok = np.isfinite(result.points[:, LIMB_BLAZEPOSE, 0])
        errors = result.errors[:, :, LIMB_BLAZEPOSE]
        all_errors.append(errors[result.used[:, :, LIMB_BLAZEPOSE] & limb_ok[None]])
        views_per_point.append(result.used[:, :, LIMB_BLAZEPOSE].sum(0)[limb_ok])
        missing.append(~limb_ok)
    flat = np.concatenate(all_errors)
    gt.mean_error_px, gt.median_error_px = float(flat.mean()), float(np.median(flat))
    swaps = {name: int(((choice >= 0) & (choice % n_rel == s)).sum()) for s, name in enumerate(
        ("as labelled", "arms swapped", "legs swapped", "all swapped"))}  # fmt: skip
    gt.notes = {
        "views_per_limb_point": round(float(np.concatenate(views_per_point).mean()), 2),
        "limb_points_without_gt_percent": round(100 * float(np.concatenate(missing).mean()), 1),
        "offsets_frames": np.round(offsets, 2).tolist(),
        "view_frames_by_labelling": swaps,
        "view_frames_without_subject": {c.name: int((choice[v] < 0).sum()) for v, c in enumerate(cameras)},
    }
    return gt


BONES = {
    "shoulder width": ("left_shoulder", "right_shoulder"), "hip width": ("left_hip", "right_hip"),
    "upper arm L": ("left_shoulder", "left_elbow"), "forearm L": ("left_elbow", "left_wrist"),
    "thigh L": ("left_hip", "left_knee"), "shin L": ("left_knee", "left_ankle"),
    "thigh R": ("right_hip", "right_knee"), "shin R": ("right_knee", "right_ankle"),
}  # fmt: skip


def bone_lengths(world: np.ndarray) -> dict[str, tuple[float, float]]:
    """{bone: (median cm, std cm)} over frames: a wrong calibration reading makes rigid lengths breathe."""
    out = {}
    for name, (a, b) in BONES.items():
        i, j = LIMB_BLAZEPOSE[LIMB_NAMES.index(a)], LIMB_BLAZEPOSE[LIMB_NAMES.index(b)]
        length = np.linalg.norm(world[:, i] - world[:, j], axis=-1)
        length = length[np.isfinite(length)]
        out[name] = (round(100 * float(np.median(length)), 1), round(100 * float(length.std()), 1))
    return out


def calibration_check(cameras: list[mv.Camera], sizes: list[tuple[int, int]], detections: list[Detections],
                      gt: GroundTruth) -> dict[str, float]:  # fmt: skip
    """Median reprojection error of the GT's 2D tracks under alternative readings of the calibration: how the
    1080 px videos relate to the 1088 px calibration, and whether the lens distortion matters."""
    perms = blazepose_relabellings()
    cands = np.stack([mv.relabelled(d.keypoints.astype(np.float64), perms) for d in detections])
    tracks, weights = tracks_of(cands, gt.choice)
    tracks, weights = tracks[:, :, LIMB_BLAZEPOSE], weights[:, :, LIMB_BLAZEPOSE]
    out: dict[str, float] = {}
    for fit in ("left", "crop", "scale"):
        fitted = [c.for_image(w, h, fit) for c, (w, h) in zip(cameras, sizes, strict=True)]
        projections = np.stack([c.projection for c in fitted])
        _, cost = mv.estimate_offsets(projections, tracks, weights, min_weight=MIN_VISIBILITY)
        out[f"video = calibration window {fit}"] = cost
        if fit == "left":
            for label, scale in (("/64 as Pose2Sim", 1 / 64), ("as written", 1.0)):
                undistorted = np.stack(
                    [
                        cv2.undistortPoints(
                            np.nan_to_num(tracks[v]).reshape(-1, 1, 2), c.K, c.distortion * scale, P=c.K
                        ).reshape(tracks[v].shape)
                        for v, c in enumerate(fitted)
                    ]
                )
                undistorted[~np.isfinite(tracks)] = np.nan
                _, cost = mv.estimate_offsets(projections, undistorted, weights, min_weight=MIN_VISIBILITY)
                out[f"left, distortion {label}"] = cost
    return out


# -- methods -------------------------------------------------------------------------------------------------------


@dataclass
class Answers:
    """One method on one view: per frame points in that camera's frame (NaN = no answer), by scoring."""

    label: str
    points: dict[str, np.ndarray]  # scoring -> (T, 12, 3)
    has_root: bool = True
    note: str = ""


SMPL_SCORING = "on SMPL joints"
MESH_SCORING = "on mesh points matching the detector's keypoints"
DETECTOR_SCORING = "on the detector's own keypoints"


def pipeline_variants(checkpoints: list[Path] | None = None) -> list[tuple[str, dict[str, object]]]:
    """(row label, flat settings): the embedded defaults with the decoder off and on, then, where the pipeline
    has a `pose_source` setting, every other pose source the defaults do not already run, then pose_source hmr
    with each of `checkpoints` (e.g. an encoder fine-tuned elsewhere, beside the embedded one)."""
    from fasthmr_ros.perception.config import FLAT_NAMES, PipelineConfig

    default_source = ""
    others: list[str] = []
    if "pose_source" in FLAT_NAMES:
        from fasthmr_ros.perception import pipeline as pipeline_module

        resolve = getattr(pipeline_module, "resolve_pose_source", None)
        default_source = resolve(PipelineConfig()) if resolve is not None else "auto"
        others = [source for source in ("hmr", "landmarks") if source != default_source]
    name = f"embedded defaults = pose_source {default_source}" if default_source else "embedded defaults"
    variants: list[tuple[str, dict[str, object]]] = []
    for decoder in (False, True):
        variants.append((f"pipeline ({name}), decoder {'on' if decoder else 'off'}", {"decoder": decoder}))
    for source in others:
        for decoder in (False, True):
            variants.append(
                (f"pipeline, pose_source {source}, decoder {'on' if decoder else 'off'}",
                 {"pose_source": source, "decoder": decoder})
            )  # fmt: skip
    for path in checkpoints or []:
        from fasthmr_ros.runtime.checkpoint import infer_config_name, read_checkpoint

        config = infer_config_name(read_checkpoint(path)) or "vit_h"
        for decoder in (False, True):
            variants.append(
                (f"pipeline, pose_source hmr, weights {path.name}, decoder {'on' if decoder else 'off'}",
                 {"pose_source": "hmr", "checkpoint": str(path), "model_config": config, "decoder": decoder})
            )  # fmt: skip
    return variants


def run_pipeline(
    label: str, flat: dict[str, object], images: list[np.ndarray], k: np.ndarray, gt_camera: np.ndarray, threads: int
) -> Answers:
    from fasthmr_ros.perception.config import PipelineConfig
    from fasthmr_ros.perception.pipeline import Pipeline
    from fasthmr_ros.perception.types import Frame

    config = replace(PipelineConfig.from_flat(flat), threads=threads)
    pipeline = Pipeline(config)
    frames = len(images)
    smpl = np.full((frames, 12, 3), np.nan)
    mesh = np.full((frames, 12, 3), np.nan)
    gt_pixels = mv.project_camera_points(gt_camera[:, LIMB_BLAZEPOSE], k)  # (T, 12, 2)
    any_mesh = False
    started = time.perf_counter()
    for f, image in enumerate(images):
        people = pipeline.process(Frame(image, k, True, stamp=f / FPS)).people
        if not people:
            continue
        # the subject: the person whose box holds the most of the GT's projected limb points (not the model's own
        # joints, which a poor pose would move away from the GT); the background woman's box holds none of them
        if np.isfinite(gt_pixels[f]).all():
            inside = [box_holds(p.box, gt_pixels[f]) for p in people]
            best = int(np.argmax(inside))
            if inside[best] < PERSON_MIN_INSIDE:
                continue
        else:
            best = int(np.argmax([(p.box[2] - p.box[0]) * (p.box[3] - p.box[1]) for p in people]))
        person = people[best]
        smpl[f] = person.joints[LIMB_SMPL]
        landmarks = getattr(person, "landmarks_3d", None)
        if landmarks is not None:
            mesh[f] = np.asarray(landmarks)[LIMB_BLAZEPOSE]
            any_mesh = True
    elapsed = time.perf_counter() - started
    points = {SMPL_SCORING: smpl}
    if any_mesh:
        points[MESH_SCORING] = mesh
    return Answers(label, points, note=f"{1e3 * elapsed / max(frames, 1):.0f}")


def box_holds(box: np.ndarray, pixels: np.ndarray) -> float:
    """Fraction of pixels (N, 2) inside box (x0, y0, x1, y1)."""
    x, y = pixels[:, 0], pixels[:, 1]
    return float(((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])).mean())


def constant_pose_joints() -> np.ndarray:
    """(24, 3) joints of the embedded demo model's mean parameters (its head's init pose and betas, i.e. its answer
    with every readout zeroed) on the embedded body model, model frame (no translation)."""
    from fasthmr_ros.model.rotation import rot6d_to_rotmat
    from fasthmr_ros.runtime.body_files import load_body_model
    from fasthmr_ros.runtime.demo_model import load_demo_model

    model, _ = load_demo_model()
    head = model.smpl_head
    rotmats = rot6d_to_rotmat(head.init_body_pose.detach().float().reshape(1, 24, 6))
    body = load_body_model(None)
    with torch.no_grad():
        out = body(rotmats[:, :1], rotmats[:, 1:], head.init_betas.detach().float())
    return out.joints[0].double().numpy()


def mediapipe_world(detections: Detections, subject: np.ndarray, k: np.ndarray, keep_sides: bool = False) -> Answers:
    """MediaPipe's own 3D (its world landmarks) placed through K; keep_sides: with the package's left/right
    continuity (perception/landmark_sides.py) along the subject's frames, to show how much of the pipeline's
    lead over this baseline that alone gives."""
    from fasthmr_ros.perception.landmark_sides import SideContinuity
    from fasthmr_ros.perception.masks import PersonDetection

    sides = SideContinuity()
    frames = len(subject)
    points = np.full((frames, 12, 3), np.nan)
    for f in range(frames):
        c = subject[f]
        if c < 0 or not np.isfinite(detections.world[f, c]).all():
            sides.end([0])
            continue
        world = detections.world[f, c].astype(np.float64)
        keypoints = detections.keypoints[f, c].astype(np.float64)
        if keep_sides:
            (det,) = sides([0], [PersonDetection(detections.boxes[f, c], 1.0, None, keypoints, world)])
            world, keypoints = det.world_landmarks, det.keypoints
        ok = keypoints[:, 2] > MIN_VISIBILITY
        if ok.sum() < 4:
            continue
        # the package's own solve without its robust reweighting: MediaPipe's translation as plain least squares
        t = solve_translation(world[ok], keypoints[ok, :2], keypoints[ok, 2], k, rounds=0)
        if t is None:
            continue
        points[f] = world[LIMB_BLAZEPOSE] + t
    return Answers(
        "MediaPipe world landmarks (monocular)" + (", left/right kept along the track" if keep_sides else ""),
        {DETECTOR_SCORING: points},
        note="root: translation solved from its 2D keypoints and K (linear least squares)",
    )


# -- scoring -------------------------------------------------------------------------------------------------------


def hip_centred(points: np.ndarray) -> np.ndarray:
    return points - points[:, HIPS, :].mean(1, keepdims=True)


def accel(points: np.ndarray, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Second differences (mm/frame^2) of hip-centred points at every scored frame whose neighbours are scored."""
    scored = set(frames.tolist())
    centre = np.array([f for f in frames if f - 1 in scored and f + 1 in scored], dtype=int)
    x = hip_centred(points) * 1000.0
    if len(centre) == 0:
        return centre, np.zeros((0, points.shape[1], 3))
    return centre, x[centre + 1] - 2 * x[centre] + x[centre - 1]


def score(pred: np.ndarray, true: np.ndarray, frames: np.ndarray, has_root: bool) -> dict[str, float]:
    p, t = pred[frames], true[frames]
    out = {
        "frames": len(frames),
        "pa_mpjpe": float(per_frame_pa_mpjpe(torch.from_numpy(p), torch.from_numpy(t)).mean()),
        "mpjpe_hip": float(1000.0 * np.linalg.norm(hip_centred(p) - hip_centred(t), axis=-1).mean()),
    }
    _, acc_p = accel(pred, frames)
    _, acc_t = accel(true, frames)
    out["accel"] = float(np.linalg.norm(acc_p, axis=-1).mean())
    out["accel_gt"] = float(np.linalg.norm(acc_t, axis=-1).mean())
    out["accel_err"] = float(np.linalg.norm(acc_p - acc_t, axis=-1).mean())
    root_p, root_t = pred[:, HIPS].mean(1), true[:, HIPS].mean(1)
    pairs = np.array([f for f in frames if f - 1 in set(frames.tolist())], dtype=int)
    out["root_dz_gt"] = float(1000.0 * np.abs(root_t[pairs, 2] - root_t[pairs - 1, 2]).mean())
    if has_root:
        out["root_err"] = float(1000.0 * np.linalg.norm(root_p[frames] - root_t[frames], axis=-1).mean())
        out["root_depth_err"] = float(1000.0 * np.abs(root_p[frames, 2] - root_t[frames, 2]).mean())
        out["root_depth_bias"] = float(1000.0 * (root_p[frames, 2] - root_t[frames, 2]).mean())
        out["root_dz"] = float(1000.0 * np.abs(root_p[pairs, 2] - root_p[pairs - 1, 2]).mean())
    return out


# -- report --------------------------------------------------------------------------------------------------------

COLUMNS = (
    ("PA-MPJPE", "pa_mpjpe"),
    ("MPJPE (hip-centred)", "mpjpe_hip"),
    ("root err", "root_err"),
    ("root depth err", "root_depth_err"),
    ("root depth bias", "root_depth_bias"),
    ("Accel", "accel"),
    ("GT Accel", "accel_gt"),
    ("Accel err", "accel_err"),
    ("root dz/frame", "root_dz"),
    ("GT root dz/frame", "root_dz_gt"),
)


def table(rows: list[dict[str, object]]) -> str:
    head = "| method | scoring | frames | " + " | ".join(name for name, _ in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (3 + len(COLUMNS))]
    for row in rows:
        metrics = row["metrics"]
        assert isinstance(metrics, dict)
        cells = [f"{metrics[key]:.1f}" if key in metrics else "N/A" for _, key in COLUMNS]
        lines.append(f"| {row['method']} | {row['scoring']} | {metrics['frames']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summarise(per_view: dict[str, list[dict[str, object]]]) -> list[dict[str, object]]:
    """Frame-weighted means over views, per (method, scoring)."""
    groups: dict[tuple[str, str], list[dict[str, float]]] = {}
    for rows in per_view.values():
        for row in rows:
            groups.setdefault((str(row["method"]), str(row["scoring"])), []).append(row["metrics"])  # type: ignore[arg-type]
    out = []
    for (method, scoring), metrics in groups.items():
        total = sum(m["frames"] for m in metrics)
        merged: dict[str, float] = {"frames": total}
        for _, key in COLUMNS:
            if all(key in m for m in metrics) and total:
                merged[key] = sum(m[key] * m["frames"] for m in metrics) / total
        out.append({"method": method, "scoring": scoring, "metrics": merged})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", nargs="+", default=list(VIEWS), choices=VIEWS, help="views to score (GT uses all)")
    parser.add_argument("--frames", type=int, default=100, help="first N frames of each view")
    parser.add_argument("--out", type=Path, default=Path("out/real3d"))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the pipeline")
    parser.add_argument("--refresh", action="store_true", help="recompute the cached 2D detections")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipeline rows (GT and baselines only)")
    parser.add_argument("--checkpoint", type=Path, nargs="+", default=[],
                        help="also score pose_source hmr with these encoder weights")  # fmt: skip
    parser.add_argument("--only", default="", help="pipeline rows whose label holds this text (default: all)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    fetch([CALIBRATION, *(clip_name(v) for v in VIEWS)])
    args.out.mkdir(parents=True, exist_ok=True)

    log: list[str] = []
    sizes = [video_size(v) for v in VIEWS]
    calibrated = {c.name: c for c in mv.read_qca(clip_path(CALIBRATION))}
    # "left": the 1080 px videos are the calibrated 1088 px window cut at its right edge; it reprojects best (below)
    cameras = [calibrated[v].for_image(w, h, "left") for v, (w, h) in zip(VIEWS, sizes, strict=True)]
    print("2D detections (cached after the first run)")
    detections = [detect(v, args.frames, args.out, args.refresh) for v in VIEWS]
    gt = build_ground_truth(cameras, detections, log)
    check = calibration_check([calibrated[v] for v in VIEWS], sizes, detections, gt)
    header = (
        f"Ground truth: 4-camera triangulation of MediaPipe BlazePose 2D keypoints; mean reprojection error "
        f"{gt.mean_error_px:.1f} px (median {gt.median_error_px:.1f}, points above {MAX_REPROJECTION_PX:.0f} px "
        f"rejected); biased toward BlazePose's keypoint definitions."
    )
    print(header)
    for line in log:
        print("  " + line)
    np.savez_compressed(
        args.out / "ground_truth.npz",
        offsets=gt.offsets,
        choice=gt.choice,
        **{f"{v}_camera": gt.camera[v] for v in VIEWS},
        **{f"{v}_world": gt.world[v] for v in VIEWS},
    )

    bones = bone_lengths(gt.world[VIEWS[0]])
    constant = constant_pose_joints()[LIMB_SMPL]
    per_view: dict[str, list[dict[str, object]]] = {}
    notes: dict[str, str] = {}
    failed: dict[str, str] = {}
    speeds: dict[str, list[str]] = {}
    for view in args.views:
        v = VIEWS.index(view)
        cam = cameras[v]
        truth = gt.camera[view][:, LIMB_BLAZEPOSE]
        answers: list[Answers] = []
        if not args.no_pipeline:
            images = read_frames(view, args.frames)
            for label, flat in pipeline_variants(args.checkpoint):
                if label in failed or args.only not in label:
                    continue
                try:
                    answer = run_pipeline(label, flat, images, cam.K, gt.camera[view], args.threads)
                except (FileNotFoundError, ValueError) as error:
                    # a setting whose weights are not there yet: say so and score the rest
                    failed[label] = f"not run: {error}"
                    print(f"  {label}: {failed[label]}")
                    continue
                answers.append(answer)
                print(f"  {view}: {label}: {answer.note} ms/frame")
                speeds.setdefault(label, []).append(answer.note)
                notes[label] = f"ms/frame per view on this machine ({args.threads} torch thread(s)): " + ", ".join(
                    speeds[label]
                )
        constant_points = np.repeat(constant[None], len(truth), axis=0)
        answers.append(
            Answers("constant pose (demo model's mean parameters)", {SMPL_SCORING: constant_points}, has_root=False)
        )
        for keep_sides in (False, True):
            answers.append(mediapipe_world(detections[v], gt.subject[v], cam.K, keep_sides))
            notes[answers[-1].label] = answers[-1].note
        # common frames: GT has all 12 points and every method has an answer under every scoring
        ok = np.isfinite(truth).all((1, 2))
        for answer in answers:
            for points in answer.points.values():
                ok &= np.isfinite(points).all((1, 2))
        frames = np.flatnonzero(ok)
        rows = []
        for answer in answers:
            for scoring, points in answer.points.items():
                metrics = score(points, truth, frames, answer.has_root)
                rows.append({"method": answer.label, "scoring": scoring, "metrics": metrics})
        per_view[view] = rows

    summary = summarise(per_view)
    units = (
        "mm; Accel mm/frame^2 at 60 fps; root = mid-hip, camera frame; depth bias = mean signed (method - GT) root "
        "depth; dz = mean |frame-to-frame root depth change|"
    )
    lines = [f"# Real-footage 3D benchmark (Pose2Sim Demo_SinglePerson, {args.frames} frames)", "", header, ""]
    lines += [
        f"Views scored: {', '.join(args.views)}. Frames scored per view: those where the GT has all 12 limb points "
        "and every method below has an answer (the pipeline publishes a person only once its track is confirmed, "
        "so its first frames drop out). "
        f"Units: {units}.",
        "",
        f"Views per accepted limb point: {gt.notes['views_per_limb_point']} of 4; limb points left without GT "
        f"(fewer than 2 consistent views): {gt.notes['limb_points_without_gt_percent']}%. "
        f"View time offsets (frames, cam01 = 0): {gt.notes['offsets_frames']}; left/right labellings used: "
        f"{gt.notes['view_frames_by_labelling']}; view-frames without a consistent subject: "
        f"{gt.notes['view_frames_without_subject']}.",
        "",
        "GT limb lengths over frames (cm, median and std; rigid bones should not breathe): "
        + ", ".join(f"{k} {m} +- {sd}" for k, (m, sd) in bones.items())
        + ". The GT's own Accel is mostly triangulation jitter (the 2D noise above), so Accel err cannot go below "
        "it: a constant answer scores exactly the GT's Accel.",
        "",
        "Calibration check (median DLT reprojection px of the GT's tracks): "
        + "; ".join(f"{k} {v:.2f}" for k, v in check.items())
        + ".",
        "",
    ]
    for view, rows in per_view.items():
        lines += [f"## {view}", "", table(rows), ""]
    lines += ["## All scored views (frame-weighted mean)", "", table(summary), ""]
    lines += [f"- {label}: {note}" for label, note in {**notes, **failed}.items()]
    report = "\n".join(lines)
    print()
    print(report)
    (args.out / "real3d.md").write_text(report + "\n")
    (args.out / "real3d.json").write_text(
        json.dumps(
            {
                "ground_truth": {
                    "what": header,
                    "mean_reprojection_px": gt.mean_error_px,
                    "median_reprojection_px": gt.median_error_px,
                    "max_reprojection_px": MAX_REPROJECTION_PX,
                    **gt.notes,
                    "log": log,
                },
                "calibration_check_median_px": check,
                "gt_bone_lengths_cm_median_std": bones,
                "frames": args.frames,
                "views": per_view,
                "summary": summary,
                "notes": notes,
                "not_run": failed,
                "seconds": time.perf_counter() - started,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {args.out / 'real3d.md'} and {args.out / 'real3d.json'} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
