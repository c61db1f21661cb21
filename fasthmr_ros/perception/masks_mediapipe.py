"""Multi-person masks from the MediaPipe pose models that ship inside the `mediapipe` wheel (no download).

BlazePose finds one person per call and misses people that are small in the frame, so this backend drives the two
halves of the pose pipeline itself, through the legacy solution graph runner:
- the pose *detector* (224x224 SSD) runs on the full frame and on overlapping tiles, a few calls per frame in
  round-robin, so small people are found within a few frames without paying for every tile on every frame;
- each person then gets the pose *landmarker* (33 landmarks + segmentation) on a crop around a rotated square ROI,
  built the way MediaPipe builds it (hip centre -> "full body" keypoint, x2 radius, x1.25);
- a person found once is followed with the ROI from its own landmarks (MediaPipe's tracking mode), carried on by
  its last frame-to-frame motion (retried in place if that fails), so the detector is only needed for people who
  are not followed yet. A landmarker call whose pose-presence score falls below `min_presence` returns nothing and
  the person is dropped;
- new people must be near upright (objects lying on the ground are the detector's usual false positives); people
  already followed, or re-found where someone was just lost, may be at any angle (falls, flips).

Where the models run (`runtime`): "tflite" = MediaPipe's own graphs (TFLite + XNNPACK, one image per call);
"onnxruntime" / "torch" = the same .tflite weights converted (runtime/blazepose_models.py), decoded here
(perception/blazepose_onnx.py), batched: all followed people in one landmarker call, all of a frame's detector
inputs in one detector call, on "cpu", "cuda[:N]" or "tensorrt[:N]" (`device`); on the CPU the landmarker batch is
run one image at a time (measured faster there, see BlazePoseRunner).

When the detector runs (`detector_schedule`): "on_demand" runs it only when someone may be missing:
- nobody followed: the full frame every frame plus enough tiles that the whole schedule is covered within
  `search_frames` frames (so anyone the detector can see is found within that many processed frames);
- a followed person lost, or a detection the landmarker did not confirm, in the last `_SEARCH_AFTER_LOSS` frames:
  the full frame plus up to `_NEAR_TILES` tiles over that place;
- everyone followed: one call every `idle_interval` frames, alternating the full frame and the next tile, so a
  newcomer is still found within a bounded number of frames (`detection_bound`).
"every_frame" is the earlier schedule: `detector_calls_per_frame` calls of the round-robin over the full frame and
tiles on every frame.

The mask is the landmarker's segmentation above `mask_threshold`, restricted to the connected components that hold
the person's own visible landmarks (so a second person inside the same crop is not merged in). The box is the union
of that mask and the visible landmarks, i.e. the full body, not the detector's face-anchored box.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from fasthmr_ros.model.landmark_map import LANDMARK_NAMES
from fasthmr_ros.perception.masks import PersonDetection, check_image
from fasthmr_ros.runtime.os_threads import name_os_thread

# The two subgraphs are registered inside mediapipe's framework bindings; these configs only wire them up.
_DETECTOR_GRAPH = """
input_stream: "IMAGE:image"
output_stream: "DETECTIONS:detections"
node { calculator: "PoseDetectionCpu" input_stream: "IMAGE:image" output_stream: "DETECTIONS:detections" }
"""
_LANDMARK_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
output_stream: "LANDMARKS:landmarks"
output_stream: "AUXILIARY_LANDMARKS:aux"
output_stream: "WORLD_LANDMARKS:world"
output_stream: "SEGMENTATION_MASK:mask"
input_side_packet: "MODEL_COMPLEXITY:model_complexity"
input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
node {
  calculator: "PoseLandmarkByRoiCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  output_stream: "LANDMARKS:landmarks"
  output_stream: "AUXILIARY_LANDMARKS:aux"
  output_stream: "WORLD_LANDMARKS:world"
  output_stream: "SEGMENTATION_MASK:mask_image"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  input_side_packet: "ENABLE_SEGMENTATION:enable_segmentation"
}
node { calculator: "FromImageCalculator" input_stream: "IMAGE:mask_image" output_stream: "IMAGE_CPU:mask" }
"""
_DETECTOR_SCORE_PARAM = "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh"
_PRESENCE_PARAM = "poselandmarkbyroicpu__tensorstoposelandmarksandsegmentation__ThresholdingCalculator.threshold"

# PersonDetection.keypoints rows, in BlazePose's landmark order.
KEYPOINT_NAMES = LANDMARK_NAMES  # BlazePose order, named once in model/landmark_map.py
# Shoulders and hips: the landmarks used to tell whether two results are the same person.
_TORSO = (11, 12, 23, 24)
# MediaPipe's ROI rule: radius = |hip centre - body-scale point|, square side = 2 radius x 1.25.
_ROI_SCALE = 1.25
# The landmarker's input is 256x256; crops are shrunk so the ROI is at most this many pixels before the copy
# into the graph, which keeps the per-person cost flat for people who fill a 1080p frame.
_MAX_ROI_PX = 512
# Frames a lost person's box is remembered for re-detection at any tilt.
_LOST_MEMORY = 15
# Two detector hip centres closer than this fraction of the body scale are one person.
_SAME_HIP = 0.25
# Two results whose masks share more than this fraction of the smaller mask are one person.
_DUPLICATE_MASK_OVERLAP = 0.5
# Frames after a followed person is lost during which the detector keeps searching (full frame every frame).
_SEARCH_AFTER_LOSS = 2
# Tiles searched per lost or unconfirmed place on those frames.
_NEAR_TILES = 4
RUNTIMES = ("tflite", "onnxruntime", "torch")
SCHEDULES = ("on_demand", "every_frame")


@dataclass
class Roi:
    """A rotated square in full-frame pixels (MediaPipe's NormalizedRect, before normalisation)."""

    cx: float
    cy: float
    size: float
    rotation: float  # radians, 0 = upright

    @classmethod
    def from_points(cls, centre: np.ndarray, scale_point: np.ndarray) -> Roi:
        dx, dy = float(scale_point[0] - centre[0]), float(scale_point[1] - centre[1])
        rotation = math.pi / 2 - math.atan2(-dy, dx)
        rotation = (rotation + math.pi) % (2 * math.pi) - math.pi
        return cls(float(centre[0]), float(centre[1]), 2 * math.hypot(dx, dy) * _ROI_SCALE, rotation)

    def extrapolated(self, previous: Roi, gain: float) -> Roi:
        """This ROI moved on by `gain` times the change from `previous` (constant velocity for fast motion)."""
        turn = (self.rotation - previous.rotation + math.pi) % (2 * math.pi) - math.pi
        rotation = (self.rotation + gain * turn + math.pi) % (2 * math.pi) - math.pi
        growth = (self.size / max(previous.size, 1e-6)) ** gain
        return Roi(
            self.cx + gain * (self.cx - previous.cx),
            self.cy + gain * (self.cy - previous.cy),
            self.size * growth,
            rotation,
        )

    def half_extent(self) -> float:
        """Half side of the axis-aligned square that holds the rotated ROI."""
        return 0.5 * self.size * (abs(math.cos(self.rotation)) + abs(math.sin(self.rotation)))


@dataclass
class _Person:
    detection: PersonDetection
    roi: Roi  # for the next frame, from this frame's landmarks
    hip: np.ndarray  # (2,) px
    body_scale: float  # px, |hip centre - body-scale point|
    local_mask: np.ndarray  # (y1-y0, x1-x0) bool, the mask over the crop box
    crop: tuple[int, int, int, int]  # x0, y0, x1, y1 of the crop box in the frame
    previous_roi: Roi | None = None  # the landmark ROI one frame earlier, for motion extrapolation
    follow_id: int = 0

    def covers(self, point: np.ndarray, radius: float) -> bool:
        """Whether the person's mask has a pixel within `radius` px (square window) of `point`."""
        x0, y0 = self.crop[:2]
        cx, cy = int(point[0]) - x0, int(point[1]) - y0
        r = max(int(radius), 0)
        window = self.local_mask[max(cy - r, 0) : max(cy + r + 1, 0), max(cx - r, 0) : max(cx + r + 1, 0)]
        return bool(window.any())

    def mask_overlap(self, other: _Person) -> float:
        """Shared mask pixels over the smaller of the two masks (1 = one mask lies inside the other)."""
        ax0, ay0, ax1, ay1 = self.crop
        bx0, by0, bx1, by1 = other.crop
        x0, y0, x1, y1 = max(ax0, bx0), max(ay0, by0), min(ax1, bx1), min(ay1, by1)
        smaller = min(int(self.local_mask.sum()), int(other.local_mask.sum()))
        if x1 <= x0 or y1 <= y0 or smaller == 0:
            return 0.0
        mine = self.local_mask[y0 - ay0 : y1 - ay0, x0 - ax0 : x1 - ax0]
        theirs = other.local_mask[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0]
        return float(np.count_nonzero(mine & theirs)) / smaller


def detection_tiles(height: int, width: int, tile_fraction: float) -> list[tuple[int, int, int, int]]:
    """The detector schedule: the full frame, then squares of side tile_fraction*min(H,W), overlapping >= 25%."""
    tiles = [(0, 0, width, height)]
    if tile_fraction <= 0 or tile_fraction >= 1:
        return tiles
    side = max(round(tile_fraction * min(height, width)), 1)
    step = 0.75 * side

    def starts(extent: int) -> np.ndarray:
        count = 1 if extent <= side else math.ceil((extent - side) / step) + 1
        return np.linspace(0, max(extent - side, 0), count).round().astype(int)

    for y in starts(height):
        for x in starts(width):
            tiles.append((int(x), int(y), min(side, width), min(side, height)))
    return tiles


class MediaPipePeople:
    """Multi-person MediaPipe mask generator; one instance per video stream (it keeps per-person ROIs).

    max_people: at most this many people per frame (each costs one landmarker call).
    detector_calls_per_frame: detector runs per frame, walking the schedule full frame -> tiles -> full frame...
    tile_fraction: tile side as a fraction of min(H, W); 0 disables tiles (full frame only).
    min_detection_score: detector score threshold. min_presence: landmarker pose-presence threshold.
    mask_threshold: segmentation probability threshold.
    max_birth_tilt_deg: a person not followed yet is only accepted if its body axis is within this angle of
    upright (None = any angle). Followed people may then tilt freely (falls, flips). This removes most detector
    false positives, which come from objects lying on the ground.
    track_rois: follow people with the ROI from their previous landmarks (off = detector only, like static images).
    roi_motion_gain: carry a followed ROI on by this fraction of its last frame-to-frame change (position, size,
    rotation) so fast motion (running, jumps, flips) stays inside it; 0 = MediaPipe's plain previous-frame ROI.
    runtime: "tflite" (MediaPipe's graphs), "onnxruntime" or "torch" (converted models, batched); device: "cpu",
    "cuda[:N]", "tensorrt[:N]" (not for tflite); threads: onnxruntime/torch intra-op threads (0 = 1).
    detector_schedule: "on_demand" (search_frames, idle_interval) or "every_frame" (detector_calls_per_frame).
    eager_masks: build every person's full-frame mask at once (the earlier behaviour) instead of on first read.
    landmark_threads: tflite only: followed people's landmarker runs spread over this many graphs in as many
    threads (MediaPipe's graphs release the GIL; each runs one image at a time).
    """

    def __init__(
        self,
        max_people: int = 8,
        detector_calls_per_frame: int = 2,
        tile_fraction: float = 0.5,
        min_detection_score: float = 0.5,
        min_presence: float = 0.5,
        mask_threshold: float = 0.5,
        track_rois: bool = True,
        max_birth_tilt_deg: float | None = 60.0,
        roi_motion_gain: float = 0.8,
        runtime: str = "tflite",
        device: str = "cpu",
        threads: int = 0,
        detector_schedule: str = "on_demand",
        search_frames: int = 2,
        idle_interval: int = 3,
        eager_masks: bool = False,
        landmark_threads: int = 1,
    ) -> None:
        if max_people < 1 or detector_calls_per_frame < 1 or search_frames < 1 or idle_interval < 1:
            raise ValueError("max_people, detector_calls_per_frame, search_frames and idle_interval must be >= 1")
        if runtime not in RUNTIMES:
            raise ValueError(f"mask runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
        if detector_schedule not in SCHEDULES:
            raise ValueError(f"detector_schedule {detector_schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if landmark_threads < 1:
            raise ValueError("landmark_threads must be >= 1")
        if runtime == "tflite" and device != "cpu":
            raise ValueError(f"mask runtime tflite runs on the CPU only; for device {device!r} use onnxruntime")

        self.max_people = max_people
        self.detector_calls_per_frame = detector_calls_per_frame
        self.tile_fraction = tile_fraction
        self.mask_threshold = mask_threshold
        self.track_rois = track_rois
        self.roi_motion_gain = roi_motion_gain
        self.max_birth_tilt = None if max_birth_tilt_deg is None else math.radians(max_birth_tilt_deg)
        self.runtime = runtime
        self.detector_schedule = detector_schedule
        self.search_frames = search_frames
        self.idle_interval = idle_interval
        self.eager_masks = eager_masks
        self.min_detection_score = min_detection_score
        self.min_presence = min_presence
        # Model calls so far, for benchmarks (load-independent cost figures): images through each model, and
        # model invocations ("*_batches"; equal to the images for tflite, which takes one image per call).
        self.calls = {"frames": 0, "detector": 0, "landmarker": 0, "detector_batches": 0, "landmarker_batches": 0}
        self._calls_lock = threading.Lock()  # landmarker threads count their calls too
        self._pool: ThreadPoolExecutor | None = None
        if runtime == "tflite" and landmark_threads > 1:
            self._pool = ThreadPoolExecutor(landmark_threads - 1, thread_name_prefix="fasthmr-lm",
                                            initializer=name_os_thread)  # fmt: skip
        if runtime == "tflite":
            from mediapipe.python.solution_base import SolutionBase

            self._detector = SolutionBase(
                graph_config=_DETECTOR_GRAPH, calculator_params={_DETECTOR_SCORE_PARAM: min_detection_score}
            )
            self._landmarkers = [
                SolutionBase(
                    graph_config=_LANDMARK_GRAPH,
                    side_inputs={"model_complexity": 1, "enable_segmentation": True},
                    calculator_params={_PRESENCE_PARAM: min_presence},
                )
                for _ in range(landmark_threads)
            ]
            self._landmarker = self._landmarkers[0]
        else:
            from fasthmr_ros.runtime.blazepose_models import DETECTOR, LANDMARKER, BlazePoseRunner

            self._detector = BlazePoseRunner(DETECTOR, runtime, device, threads)
            self._landmarker = BlazePoseRunner(LANDMARKER, runtime, device, threads)
        self._next_follow_id = 1
        self._last_idle_call = -(10**9)
        self._idle_full_next = True
        self._tracked: list[_Person] = []
        # Boxes of people lost in the last _LOST_MEMORY frames: (frame number, box). A re-detection there may be
        # tilted (a person lost mid-fall or mid-flip) and is exempt from the upright-birth rule.
        self._lost: list[tuple[int, np.ndarray]] = []
        # Places where a detection was not confirmed: (frame number, box), searched again for a few frames.
        self._doubtful: list[tuple[int, np.ndarray]] = []
        self._schedule: list[tuple[int, int, int, int]] = []
        self._next_tile = 0
        self._frame_shape: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget followed people (e.g. after a scene cut)."""
        self._tracked = []
        self._lost = []
        self._doubtful = []
        self._next_tile = 0
        self._idle_full_next = True

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
        if self.runtime == "tflite":
            self._detector.close()
            for graph in self._landmarkers:
                graph.close()

    def detection_bound(self, height: int, width: int) -> dict[str, int]:
        """Worst-case processed frames from a person's first frame in view to a detector call that covers them,
        inclusive (1 = that same frame), under the on_demand schedule: "nobody_followed"; "followed_full" /
        "followed_tiles" while everyone else is followed, for a person the full-frame call finds / one only a tile
        finds. The tracker confirms one frame later (min_hits=2). Under every_frame all are the round-robin period."""
        tiles = max(len(detection_tiles(height, width, self.tile_fraction)) - 1, 0)
        if self.detector_schedule == "every_frame":
            period = math.ceil((tiles + 1) / min(self.detector_calls_per_frame, tiles + 1))
            return dict.fromkeys(("nobody_followed", "followed_full", "followed_tiles"), period)
        followed_full = 2 * self.idle_interval if tiles else self.idle_interval
        return {"nobody_followed": min(self.search_frames, tiles + 1), "followed_full": followed_full,
                "followed_tiles": 2 * tiles * self.idle_interval if tiles else followed_full}  # fmt: skip

    def __call__(self, image_rgb: np.ndarray) -> list[PersonDetection]:
        image = check_image(image_rgb)
        height, width = image.shape[:2]
        if self._frame_shape != (height, width):
            self._frame_shape = (height, width)
            self._schedule = detection_tiles(height, width, self.tile_fraction)
            self.reset()

        self.calls["frames"] += 1
        frame = self.calls["frames"]
        people: list[_Person] = []
        if self.track_rois and self._tracked:
            followed = sorted(self._tracked, key=lambda p: -p.detection.score)
            first = [
                p.roi.extrapolated(p.previous_roi, self.roi_motion_gain)
                if self.roi_motion_gain > 0 and p.previous_roi is not None
                else p.roi
                for p in followed
            ]
            found = self._landmarks_batch(image, first)
            # Small or still people have jittery ROIs that extrapolation can throw off: retry in place.
            retry = [i for i, person in enumerate(found) if person is None and first[i] is not followed[i].roi]
            for i, person in zip(retry, self._landmarks_batch(image, [followed[i].roi for i in retry]), strict=True):
                found[i] = person
            for previous, person in zip(followed, found, strict=True):
                if person is not None and not self._duplicate(person, people):
                    person.previous_roi = previous.roi
                    person.follow_id = previous.follow_id
                    people.append(person)
                if len(people) >= self.max_people:
                    break

        self._lost = [(f, box) for f, box in self._lost if frame - f <= _LOST_MEMORY]
        for previous in self._tracked if self.track_rois else []:
            if not any(p.previous_roi is previous.roi for p in people):
                self._lost.append((frame, previous.detection.box))

        if len(people) < self.max_people:
            candidates = self._detect(image, self._detector_entries(frame, bool(people)))

            # A detection whose hip centre sits on a followed person's mask, or next to their hip, is that person
            # (or a piece of them, from a tile that cuts through them): skip it rather than spend a landmarker
            # call. Kept tight so that the second of two people walking side by side is still tried.
            def on_someone(hip: np.ndarray, scale: float) -> bool:
                return any(
                    p.covers(hip, 0) or np.hypot(*(hip - p.hip)) < _SAME_HIP * max(p.body_scale, scale) for p in people
                )

            todo = [c for c in candidates if not on_someone(c[2], c[3])]
            # batched runtimes run every remaining candidate in one call; tflite goes one by one and can skip a
            # candidate that lies on someone found a moment earlier in this loop
            batch = self._landmarks_batch(image, [c[1] for c in todo]) if self.runtime != "tflite" else None
            for index, (_score, roi, hip, scale) in enumerate(todo):
                if batch is None:
                    if on_someone(hip, scale):
                        continue
                    person = self._landmarks(image, roi)
                else:
                    person = batch[index]
                if person is not None and self._duplicate(person, people):
                    continue
                if person is None or (
                    self.max_birth_tilt is not None
                    and abs(person.roi.rotation) > self.max_birth_tilt
                    and not self._near_lost(hip)
                ):
                    self._doubt(frame, roi)
                    continue
                person.follow_id = self._next_follow_id
                self._next_follow_id += 1
                people.append(person)
                if len(people) >= self.max_people:
                    break

        self._tracked = people
        for p in people:
            p.detection.follow_id = p.follow_id if p.previous_roi is not None else None
            if self.eager_masks:
                _ = p.detection.mask
        return [p.detection for p in people]

    def _detector_entries(self, frame: int, anyone_followed: bool) -> list[tuple[int, int, int, int]]:
        """This frame's share of the detector schedule (full frame and/or tiles)."""
        full, tiles = self._schedule[0], self._schedule[1:]
        if self.detector_schedule == "every_frame":
            entries = []
            for _ in range(min(self.detector_calls_per_frame, len(self._schedule))):
                entries.append(self._schedule[self._next_tile % len(self._schedule)])
                self._next_tile = (self._next_tile + 1) % len(self._schedule)
            return entries
        if not anyone_followed:
            entries = [full]
            for _ in range(min(math.ceil(len(self._schedule) / self.search_frames) - 1, len(tiles))):
                entries.append(tiles[self._next_tile % len(tiles)])
                self._next_tile = (self._next_tile + 1) % len(tiles)
            return entries
        recent = [box for f, box in self._lost if frame - f <= _SEARCH_AFTER_LOSS]
        recent += [box for f, box in self._doubtful if frame - f <= _SEARCH_AFTER_LOSS]
        if recent:
            # a lost person is most likely still near where they were: per place, the _NEAR_TILES tiles over it
            # closest to its centre, not all tiles (a large person is the full frame's job anyway)
            near: list[tuple[int, int, int, int]] = []
            for box in recent:
                centre = 0.5 * (box[:2] + box[2:])
                over = [t for t in tiles if _overlaps(t, box) and t not in near]
                over.sort(key=lambda t: np.hypot(t[0] + 0.5 * t[2] - centre[0], t[1] + 0.5 * t[3] - centre[1]))
                near.extend(over[:_NEAR_TILES])
            return [full, *near]
        if frame - self._last_idle_call < self.idle_interval:
            return []
        self._last_idle_call = frame
        if self._idle_full_next or not tiles:
            self._idle_full_next = False
            return [full]
        self._idle_full_next = True
        entry = tiles[self._next_tile % len(tiles)]
        self._next_tile = (self._next_tile + 1) % len(tiles)
        return [entry]

    def _doubt(self, frame: int, roi: Roi) -> None:
        """A detection the landmarker did not confirm (no pose, or tilted at birth) may still be someone the next
        view gets right (a cut-off or turning person): search around it for a few frames. Once per place per
        _LOST_MEMORY frames, so a persistent false detection (an object on the floor) does not keep the detector on
        every frame."""
        self._doubtful = [(f, box) for f, box in self._doubtful if frame - f <= _LOST_MEMORY]
        half = roi.half_extent()
        box = np.array([roi.cx - half, roi.cy - half, roi.cx + half, roi.cy + half])
        centre = np.array([roi.cx, roi.cy])
        if not any(b[0] <= centre[0] <= b[2] and b[1] <= centre[1] <= b[3] for _, b in self._doubtful):
            self._doubtful.append((frame, box))

    def _near_lost(self, point: np.ndarray) -> bool:
        for _, box in self._lost:
            margin = 0.25 * max(box[2] - box[0], box[3] - box[1])
            if box[0] - margin <= point[0] <= box[2] + margin and box[1] - margin <= point[1] <= box[3] + margin:
                return True
        return False

    # -- detector ---------------------------------------------------------------------------------------------
    def _detect(
        self, image: np.ndarray, entries: list[tuple[int, int, int, int]]
    ) -> list[tuple[float, Roi, np.ndarray, float]]:
        """Candidates from the given schedule entries, best first, near-duplicates merged."""
        found: list[tuple[float, np.ndarray, np.ndarray]] = []
        if entries and self.runtime == "tflite":
            for x0, y0, w, h in entries:
                tile = (
                    image
                    if (w, h) == (image.shape[1], image.shape[0])
                    else np.ascontiguousarray(image[y0 : y0 + h, x0 : x0 + w])
                )
                detections = self._detector.process({"image": tile}).detections or []
                self.calls["detector"] += 1
                self.calls["detector_batches"] += 1
                for det in detections:
                    keypoints = det.location_data.relative_keypoints
                    hip = np.array([x0 + keypoints[0].x * w, y0 + keypoints[0].y * h])
                    top = np.array([x0 + keypoints[1].x * w, y0 + keypoints[1].y * h])
                    found.append((float(det.score[0]), hip, top))
        elif entries:
            from fasthmr_ros.perception.blazepose_onnx import decode_detections, detector_input

            prepared = [detector_input(image, entry) for entry in entries]
            runs = self._detector.runs
            raw_boxes, raw_scores = self._detector(np.stack([p[0] for p in prepared]))
            self.calls["detector"] += len(entries)
            self.calls["detector_batches"] += self._detector.runs - runs
            for n, (_, origin) in enumerate(prepared):
                found.extend(decode_detections(raw_boxes[n], raw_scores[n], origin, self.min_detection_score))
        candidates = [
            (score, Roi.from_points(hip, top), hip, float(np.hypot(*(top - hip)))) for score, hip, top in found
        ]
        candidates.sort(key=lambda c: -c[0])
        merged: list[tuple[float, Roi, np.ndarray, float]] = []
        for cand in candidates:
            if all(np.hypot(*(cand[2] - m[2])) >= _SAME_HIP * max(cand[3], m[3]) for m in merged):
                merged.append(cand)
        return merged

    # -- landmarker -------------------------------------------------------------------------------------------
    @staticmethod
    def _crop_box(image: np.ndarray, roi: Roi) -> tuple[int, int, int, int] | None:
        """The ROI's axis-aligned bounding box in the frame, clipped; None when the ROI is degenerate or off-frame."""
        height, width = image.shape[:2]
        if roi.size < 4:
            return None
        half = roi.half_extent()
        x0, y0 = max(math.floor(roi.cx - half), 0), max(math.floor(roi.cy - half), 0)
        x1, y1 = min(math.ceil(roi.cx + half), width), min(math.ceil(roi.cy + half), height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        return x0, y0, x1, y1

    def _landmarks_batch(self, image: np.ndarray, rois: list[Roi]) -> list[_Person | None]:
        if self.runtime == "tflite":
            if self._pool is None or len(rois) < 2:
                return [self._landmarks(image, roi) for roi in rois]
            # graph g takes people g, g + G, ...: each graph runs one image at a time; this thread takes graph 0
            count = min(len(self._landmarkers), len(rois))

            def share(g: int) -> list[_Person | None]:
                return [self._landmarks(image, roi, self._landmarkers[g]) for roi in rois[g::count]]

            others = [self._pool.submit(share, g) for g in range(1, count)]
            shares = [share(0), *(future.result() for future in others)]
            merged: list[_Person | None] = [None] * len(rois)
            for g, found in enumerate(shares):
                merged[g::count] = found
            return merged
        from fasthmr_ros.perception.blazepose_onnx import landmarker_input, roi_matrix

        results: list[_Person | None] = [None] * len(rois)
        jobs = []
        for n, roi in enumerate(rois):
            box = self._crop_box(image, roi)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            to_frame = roi_matrix(roi.cx, roi.cy, roi.size, roi.rotation)
            shrink = min(1.0, _MAX_ROI_PX / roi.size)
            if shrink < 1.0:
                # like the tflite path: a very large ROI is area-averaged to <= _MAX_ROI_PX first, so the
                # 256 px input is not sampled from a 4x larger image without a low-pass
                size = (max(round((x1 - x0) * shrink), 1), max(round((y1 - y0) * shrink), 1))
                crop = cv2.resize(image[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
                sx, sy = size[0] / (x1 - x0), size[1] / (y1 - y0)
                to_crop = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]]) @ np.vstack([to_frame, [0, 0, 1]])
                pixels = landmarker_input(crop, to_crop)
            else:
                pixels = landmarker_input(image, to_frame)
            jobs.append((n, roi, box, to_frame, pixels))
        if not jobs:
            return results
        runs = self._landmarker.runs
        raw, presence, segmentation, heatmap, world = self._landmarker(np.stack([j[4] for j in jobs]))
        self.calls["landmarker"] += len(jobs)
        self.calls["landmarker_batches"] += self._landmarker.runs - runs
        from fasthmr_ros.perception.blazepose_onnx import decode_landmarks, segmentation_to_box, world_landmarks

        for k, (n, roi, box, to_frame, _) in enumerate(jobs):
            if float(presence[k].reshape(-1)[0]) <= self.min_presence:
                continue
            points = decode_landmarks(raw[k], heatmap[k], to_frame)
            probability = segmentation_to_box(segmentation[k, :, :, 0], to_frame, box)
            results[n] = self._person(image, points, world_landmarks(world[k], roi.rotation), probability, box)
        return results

    def _landmarks(self, image: np.ndarray, roi: Roi, graph=None) -> _Person | None:
        from mediapipe.framework.formats import rect_pb2

        box = self._crop_box(image, roi)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        crop = image[y0:y1, x0:x1]
        shrink = min(1.0, _MAX_ROI_PX / roi.size)
        if shrink < 1.0:
            size = (max(round((x1 - x0) * shrink), 1), max(round((y1 - y0) * shrink), 1))
            crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        else:
            crop = np.ascontiguousarray(crop)
        ch, cw = crop.shape[:2]
        sx, sy = cw / (x1 - x0), ch / (y1 - y0)  # crop px per frame px
        rect = rect_pb2.NormalizedRect(
            x_center=(roi.cx - x0) * sx / cw,
            y_center=(roi.cy - y0) * sy / ch,
            width=roi.size * sx / cw,
            height=roi.size * sy / ch,
            rotation=roi.rotation,
        )
        out = (graph or self._landmarker).process({"image": crop, "roi": rect})
        with self._calls_lock:
            self.calls["landmarker"] += 1
            self.calls["landmarker_batches"] += 1
        if out.landmarks is None or out.aux is None:
            return None
        landmarks = [*out.landmarks.landmark, *out.aux.landmark]
        points = np.array([(lm.x, lm.y, lm.visibility, lm.presence) for lm in landmarks], dtype=np.float32)
        points[:, 0] = x0 + points[:, 0] * (x1 - x0)
        points[:, 1] = y0 + points[:, 1] * (y1 - y0)
        world = None
        if out.world is not None:
            # metres, origin between the hips, axes of the landmarker's ROI (the graph rotates them back upright)
            world = np.array([(lm.x, lm.y, lm.z) for lm in out.world.landmark], dtype=np.float32)
        return self._person(image, points, world, out.mask, box)

    def _person(
        self,
        image: np.ndarray,
        points: np.ndarray,
        world: np.ndarray | None,
        probability: np.ndarray | None,
        box: tuple[int, int, int, int],
    ) -> _Person | None:
        """A landmarker result -> _Person. points: (35+, 4) frame px, visibility, presence: 33 landmarks, then the
        2 auxiliary ones (hip centre, scale point); probability: segmentation over the crop box (any size)."""
        height, width = image.shape[:2]
        keypoints, aux = points[:33], points[33:35]
        local = self._person_mask(probability, keypoints, box)
        person_box = _person_box(local, box[:2], keypoints, (height, width))
        if person_box is None:
            return None
        score = float(np.median(keypoints[:, 3]))
        detection = PersonDetection(
            box=person_box, score=score, keypoints=keypoints[:, :3].copy(), world_landmarks=world,
            crop_mask=local, crop_box=box, frame_shape=(height, width),
        )  # fmt: skip
        scale = float(np.hypot(*(aux[1, :2] - aux[0, :2])))
        roi_next = Roi.from_points(aux[0, :2], aux[1, :2])
        return _Person(detection, roi_next, aux[0, :2].astype(np.float64), scale, local, box)

    def _person_mask(
        self,
        probability: np.ndarray | None,
        keypoints: np.ndarray,
        crop_box: tuple[int, int, int, int],
    ) -> np.ndarray:
        """The person's mask over the crop box: thresholded, keeping the components under its own landmarks."""
        x0, y0, x1, y1 = crop_box
        if probability is None:
            return np.zeros((y1 - y0, x1 - x0), dtype=bool)
        probability = np.asarray(probability, dtype=np.float32).reshape(probability.shape[:2])
        if probability.shape != (y1 - y0, x1 - x0):
            probability = cv2.resize(probability, (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        local = (probability > self.mask_threshold).astype(np.uint8)
        count, labels = cv2.connectedComponents(local, connectivity=8)
        if count > 2:
            inside = (
                (keypoints[:, 2] > 0.5)
                & (keypoints[:, 0] >= x0)
                & (keypoints[:, 0] < x1)
                & (keypoints[:, 1] >= y0)
                & (keypoints[:, 1] < y1)
            )
            cols = keypoints[inside, 0].astype(int) - x0
            rows = keypoints[inside, 1].astype(int) - y0
            own = np.unique(labels[rows, cols])
            own = own[own > 0]
            if own.size == 0:
                own = np.array([1 + int(np.argmax(np.bincount(labels.ravel())[1:]))])
            return np.isin(labels, own)
        return local.astype(bool)

    @staticmethod
    def _duplicate(person: _Person, people: list[_Person]) -> bool:
        """Same person as one already kept: shoulders and hips within a fifth of the body scale of each other, or
        most of one mask inside the other (a second landmarker run on part of the same body)."""
        mine = person.detection.keypoints[_TORSO, :2]
        for other in people:
            theirs = other.detection.keypoints[_TORSO, :2]
            scale = max(person.body_scale, other.body_scale, 1.0)
            if float(np.mean(np.hypot(*(mine - theirs).T))) < 0.2 * scale:
                return True
            if person.mask_overlap(other) > _DUPLICATE_MASK_OVERLAP:
                return True
        return False


def _overlaps(tile: tuple[int, int, int, int], box: np.ndarray) -> bool:
    x, y, w, h = tile
    return bool(box[0] < x + w and box[2] > x and box[1] < y + h and box[3] > y)


def _person_box(
    mask: np.ndarray, offset: tuple[int, int], keypoints: np.ndarray, frame_shape: tuple[int, int]
) -> np.ndarray | None:
    """Full-body box: union of the (crop-local) mask's extent and the visible in-frame landmarks, clipped."""
    height, width = frame_shape
    visible = keypoints[(keypoints[:, 2] > 0.5)]
    visible = visible[(visible[:, 0] >= 0) & (visible[:, 0] < width) & (visible[:, 1] >= 0) & (visible[:, 1] < height)]
    boxes = []
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size:
        cols = np.flatnonzero(mask.any(axis=0))
        x0, y0 = offset
        boxes.append((x0 + cols[0], y0 + rows[0], x0 + cols[-1] + 1, y0 + rows[-1] + 1))
    if len(visible) >= 2:
        boxes.append((visible[:, 0].min(), visible[:, 1].min(), visible[:, 0].max() + 1, visible[:, 1].max() + 1))
    if not boxes:
        return None
    stacked = np.array(boxes, dtype=np.float32)
    box = np.array([*stacked[:, :2].min(axis=0), *stacked[:, 2:].max(axis=0)], dtype=np.float32)
    box[[0, 2]] = box[[0, 2]].clip(0, width)
    box[[1, 3]] = box[[1, 3]].clip(0, height)
    if box[2] - box[0] < 1 or box[3] - box[1] < 1:
        return None
    return box
