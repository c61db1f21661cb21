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
The mask is the landmarker's segmentation above `mask_threshold`, restricted to the connected components that hold
the person's own visible landmarks (so a second person inside the same crop is not merged in). The box is the union
of that mask and the visible landmarks, i.e. the full body, not the detector's face-anchored box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fasthmr_ros.perception.masks import PersonDetection, check_image

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
KEYPOINT_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
    "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip
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
    ) -> None:
        if max_people < 1 or detector_calls_per_frame < 1:
            raise ValueError("max_people and detector_calls_per_frame must be >= 1")
        from mediapipe.python.solution_base import SolutionBase

        self.max_people = max_people
        self.detector_calls_per_frame = detector_calls_per_frame
        self.tile_fraction = tile_fraction
        self.mask_threshold = mask_threshold
        self.track_rois = track_rois
        self.roi_motion_gain = roi_motion_gain
        self.max_birth_tilt = None if max_birth_tilt_deg is None else math.radians(max_birth_tilt_deg)
        # Model calls so far, for benchmarks (load-independent cost figures).
        self.calls = {"frames": 0, "detector": 0, "landmarker": 0}
        self._detector = SolutionBase(
            graph_config=_DETECTOR_GRAPH, calculator_params={_DETECTOR_SCORE_PARAM: min_detection_score}
        )
        self._landmarker = SolutionBase(
            graph_config=_LANDMARK_GRAPH,
            side_inputs={"model_complexity": 1, "enable_segmentation": True},
            calculator_params={_PRESENCE_PARAM: min_presence},
        )
        self._tracked: list[_Person] = []
        # Boxes of people lost in the last _LOST_MEMORY frames: (frame number, box). A re-detection there may be
        # tilted (a person lost mid-fall or mid-flip) and is exempt from the upright-birth rule.
        self._lost: list[tuple[int, np.ndarray]] = []
        self._schedule: list[tuple[int, int, int, int]] = []
        self._next_tile = 0
        self._frame_shape: tuple[int, int] | None = None

    def reset(self) -> None:
        """Forget followed people (e.g. after a scene cut)."""
        self._tracked = []
        self._lost = []
        self._next_tile = 0

    def close(self) -> None:
        self._detector.close()
        self._landmarker.close()

    def __call__(self, image_rgb: np.ndarray) -> list[PersonDetection]:
        image = check_image(image_rgb)
        height, width = image.shape[:2]
        if self._frame_shape != (height, width):
            self._frame_shape = (height, width)
            self._schedule = detection_tiles(height, width, self.tile_fraction)
            self.reset()

        self.calls["frames"] += 1
        people: list[_Person] = []
        if self.track_rois:
            for previous in sorted(self._tracked, key=lambda p: -p.detection.score):
                person = None
                if self.roi_motion_gain > 0 and previous.previous_roi is not None:
                    person = self._landmarks(
                        image, previous.roi.extrapolated(previous.previous_roi, self.roi_motion_gain)
                    )
                if person is None:
                    # Small or still people have jittery ROIs that extrapolation can throw off: retry in place.
                    person = self._landmarks(image, previous.roi)
                if person is not None and not self._duplicate(person, people):
                    person.previous_roi = previous.roi
                    people.append(person)
                if len(people) >= self.max_people:
                    break

        frame = self.calls["frames"]
        self._lost = [(f, box) for f, box in self._lost if frame - f <= _LOST_MEMORY]
        for previous in self._tracked if self.track_rois else []:
            if not any(p.previous_roi is previous.roi for p in people):
                self._lost.append((frame, previous.detection.box))

        if len(people) < self.max_people:
            for _score, roi, hip, scale in self._detect(image):
                # A detection whose hip centre sits on a followed person's mask, or next to their hip, is that person
                # (or a piece of them, from a tile that cuts through them): skip it rather than spend a landmarker
                # call. Kept tight so that the second of two people walking side by side is still tried.
                if any(
                    p.covers(hip, 0) or np.hypot(*(hip - p.hip)) < _SAME_HIP * max(p.body_scale, scale) for p in people
                ):
                    continue
                person = self._landmarks(image, roi)
                if person is None or self._duplicate(person, people):
                    continue
                if (
                    self.max_birth_tilt is not None
                    and abs(person.roi.rotation) > self.max_birth_tilt
                    and not self._near_lost(hip)
                ):
                    continue
                people.append(person)
                if len(people) >= self.max_people:
                    break

        self._tracked = people
        return [p.detection for p in people]

    def _near_lost(self, point: np.ndarray) -> bool:
        for _, box in self._lost:
            margin = 0.25 * max(box[2] - box[0], box[3] - box[1])
            if box[0] - margin <= point[0] <= box[2] + margin and box[1] - margin <= point[1] <= box[3] + margin:
                return True
        return False

    # -- detector ---------------------------------------------------------------------------------------------
    def _detect(self, image: np.ndarray) -> list[tuple[float, Roi, np.ndarray, float]]:
        """Candidates from this frame's share of the detector schedule, best first, near-duplicates merged."""
        candidates: list[tuple[float, Roi, np.ndarray, float]] = []
        calls = min(self.detector_calls_per_frame, len(self._schedule))
        for _ in range(calls):
            x0, y0, w, h = self._schedule[self._next_tile]
            self._next_tile = (self._next_tile + 1) % len(self._schedule)
            tile = (
                image
                if (w, h) == (image.shape[1], image.shape[0])
                else np.ascontiguousarray(image[y0 : y0 + h, x0 : x0 + w])
            )
            detections = self._detector.process({"image": tile}).detections or []
            self.calls["detector"] += 1
            for det in detections:
                keypoints = det.location_data.relative_keypoints
                hip = np.array([x0 + keypoints[0].x * w, y0 + keypoints[0].y * h])
                top = np.array([x0 + keypoints[1].x * w, y0 + keypoints[1].y * h])
                candidates.append((float(det.score[0]), Roi.from_points(hip, top), hip, float(np.hypot(*(top - hip)))))
        candidates.sort(key=lambda c: -c[0])
        merged: list[tuple[float, Roi, np.ndarray, float]] = []
        for cand in candidates:
            if all(np.hypot(*(cand[2] - m[2])) >= _SAME_HIP * max(cand[3], m[3]) for m in merged):
                merged.append(cand)
        return merged

    # -- landmarker -------------------------------------------------------------------------------------------
    def _landmarks(self, image: np.ndarray, roi: Roi) -> _Person | None:
        from mediapipe.framework.formats import rect_pb2

        height, width = image.shape[:2]
        if roi.size < 4:
            return None
        half = roi.half_extent()
        x0, y0 = max(math.floor(roi.cx - half), 0), max(math.floor(roi.cy - half), 0)
        x1, y1 = min(math.ceil(roi.cx + half), width), min(math.ceil(roi.cy + half), height)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
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
        out = self._landmarker.process({"image": crop, "roi": rect})
        self.calls["landmarker"] += 1
        if out.landmarks is None or out.aux is None:
            return None

        def to_frame(landmarks) -> np.ndarray:
            pts = np.array([(lm.x, lm.y, lm.visibility, lm.presence) for lm in landmarks.landmark], dtype=np.float32)
            pts[:, 0] = x0 + pts[:, 0] * (x1 - x0)
            pts[:, 1] = y0 + pts[:, 1] * (y1 - y0)
            return pts

        keypoints = to_frame(out.landmarks)
        aux = to_frame(out.aux)
        local = self._person_mask(out.mask, keypoints, (x0, y0, x1, y1))
        box = _person_box(local, (x0, y0), keypoints, (height, width))
        if box is None:
            return None
        mask = np.zeros((height, width), dtype=bool)
        mask[y0:y1, x0:x1] = local
        score = float(np.median(keypoints[:, 3]))
        world = None
        if out.world is not None:
            # metres, origin between the hips, axes of the landmarker's ROI (the graph rotates them back upright)
            world = np.array([(lm.x, lm.y, lm.z) for lm in out.world.landmark], dtype=np.float32)
        detection = PersonDetection(
            box=box, score=score, mask=mask, keypoints=keypoints[:, :3].copy(), world_landmarks=world
        )
        scale = float(np.hypot(*(aux[1, :2] - aux[0, :2])))
        roi_next = Roi.from_points(aux[0, :2], aux[1, :2])
        return _Person(detection, roi_next, aux[0, :2].astype(np.float64), scale, local, (x0, y0, x1, y1))

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
