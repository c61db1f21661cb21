"""Frame in, people out: masks (+ BlazePose landmarks) -> tracks -> a pose source -> streaming decoder -> body
model -> camera-frame joints and vertices. Plain Python + torch, no ROS: the node, `fasthmr video`, the benchmarks
and the tests all drive this class.

Pose sources (`pose_source`): "hmr" crops each person the HMR2.0 way and runs the (merged) encoder + head;
"landmarks" lifts the person's landmarks onto the body model (perception/landmark_lift.py), no crop, no encoder;
"auto" takes hmr when the user gives a checkpoint and landmarks when the embedded demo weights would be used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from fasthmr_ros.model.landmark_map import landmarks_from_mesh, vertex_indices
from fasthmr_ros.model.rotation import rotmat_to_axis_angle
from fasthmr_ros.perception.camera import cam_crop_to_full
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.landmark_sides import SideContinuity
from fasthmr_ros.perception.masks import PersonDetection, create_mask_generator
from fasthmr_ros.perception.preprocess import crop_people
from fasthmr_ros.perception.track_state import TrackHistory
from fasthmr_ros.perception.tracking import Tracker
from fasthmr_ros.perception.types import Frame, FrameResult, Person
from fasthmr_ros.runtime.body_files import load_body_model


def resolve_pose_source(config: PipelineConfig) -> str:
    """ "hmr" or "landmarks" for a config (auto: landmarks unless the user gives HMR weights)."""
    source = config.pose_source
    if source not in ("auto", "hmr", "landmarks"):
        raise ValueError(f"pose_source {source!r}: choose auto, hmr or landmarks")
    if source == "auto":
        source = "hmr" if config.encoder.checkpoint else "landmarks"
        if source == "landmarks" and config.masks.backend != "mediapipe":
            source = "hmr"  # other mask backends give no landmarks
    if source == "landmarks" and config.masks.backend != "mediapipe":
        raise ValueError(
            f"pose_source landmarks needs mask_backend mediapipe (BlazePose landmarks); {config.masks.backend!r} "
            "gives none: use pose_source hmr"
        )
    return source


@dataclass
class DetectedFrame:
    """A frame after the masks stage, on its way to the rest of the pipeline."""

    frame: Frame
    rgb: np.ndarray  # the frame's pixels, contiguous
    detections: list[PersonDetection]
    timings_ms: dict[str, float]


class Pipeline:
    """Loads every model once; process() runs one frame. Not thread-safe, except that detect() (the masks) and
    finish() (the rest) may each run in its own thread, one caller per stage, frames kept in order."""

    def __init__(self, config: PipelineConfig, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device '{config.device}' requested but CUDA is not available (use device: cpu)")
        self.pose_source = resolve_pose_source(config)
        threads = config.threads
        if not threads and self.pose_source == "landmarks" and self.device.type == "cpu":
            # The lift, decoder and body model are hundreds of sub-millisecond ops a frame. Measured on 2 cores
            # with the masks stage busy beside them: 1 thread ~34 ms a frame, torch's default (2) 130-260 ms,
            # each op's OpenMP team waiting for a thread the masks had taken.
            threads = 1
        if threads:
            torch.set_num_threads(threads)
        self.body = load_body_model(config.smpl_model or None).to(self.device).eval()
        self.body_model = self.body.name
        self.faces = np.asarray(self.body.faces)
        self.num_vertices = int(self.body.num_vertices)
        self.rest_vertices = self.body.layer.v_template.detach().cpu().numpy()
        self._landmark_vertices = vertex_indices(self.body.vertex_ids) if self.body.vertex_ids else None
        # lines the caller should log once at start-up (e.g. "backend tensorrt unavailable (...): using onnxruntime")
        self.startup_notes: list[str] = []
        self.encoder = None
        self.lift = None
        if self.pose_source == "hmr":
            from fasthmr_ros.runtime.hmr_runtime import load_runtime

            self.encoder = load_runtime(
                config.encoder,
                self.device,
                batch=config.max_people,
                threads=config.threads,
                **({"log": log} if log is not None else {}),
            )
            if self.encoder.fallback_note:
                self.startup_notes.append(self.encoder.fallback_note)
            self.weights = self.encoder.description
            encoder_text = self.encoder.settings_text
            backend_text = self.encoder.backend + (
                f" ({config.encoder.backend} unavailable)" if self.encoder.fallback_note else ""
            )
        else:
            from fasthmr_ros.model.body import EMBEDDED_NAME
            from fasthmr_ros.perception.landmark_lift import LandmarkLift
            from fasthmr_ros.runtime.lift_files import load_lift

            net, meta = load_lift(config.lift_model or None)
            self.lift = LandmarkLift(
                net, self.body, str(meta.get("body_model", EMBEDDED_NAME)), self.device, config.lift_fit_steps
            )
            self.weights = (
                f"landmark lift ({config.lift_model or 'embedded'}; trained on the body model alone) on MediaPipe "
                "BlazePose landmarks"
            )
            encoder_text = "not loaded (pose_source landmarks)"
            backend_text = "none"
        mask_options: dict[str, object] = {"max_people": config.max_people}
        if config.masks.backend == "mediapipe":
            runtime = config.masks.runtime
            if runtime == "auto":
                # measured: on CPU MediaPipe's own tflite graphs tie the converted models and need no conversion
                runtime = "onnxruntime" if self.device.type == "cuda" else "tflite"
            mask_options["runtime"] = runtime
            if runtime == "tflite":
                mask_options["landmark_threads"] = config.masks.landmark_threads
            else:
                mask_options["device"] = config.device
        if config.masks.backend == "onnx":
            if not config.masks.model:
                raise ValueError("mask_backend 'onnx' needs mask_model: the path of a YOLO-seg ONNX model")
            mask_options["model_path"] = config.masks.model
            mask_options["device"] = config.device  # the mask model runs on the encoder's GPU when it can
        self.masks = create_mask_generator(config.masks.backend, **mask_options)
        self.tracker = Tracker()
        self.decoder = None
        if config.decoder.enabled:
            from fasthmr_ros.perception.decoder_stream import StreamingDecoder
            from fasthmr_ros.runtime.decoder_files import load_decoder

            self.decoder = StreamingDecoder(
                model=load_decoder(config.decoder.model or None),
                window=config.decoder.window or None,
                lookahead=config.decoder.lookahead,
                strength=config.decoder.lift_strength if self.pose_source == "landmarks" else 1.0,
                device=self.device,
            )
        self.lookahead = config.decoder.lookahead if self.decoder is not None else 0
        self.history = TrackHistory(lookahead=self.lookahead, smooth=self.decoder is not None)
        self.sides = SideContinuity() if config.side_continuity else None
        # The lift's translation puts ITS per-frame pose and shape on the 2D landmarks; the decoder then changes the
        # pose (orientation included) and the history the shape, which moves the published body off the person in
        # the image. So the landmark source re-solves the image-plane position for the published pose and shape
        # (keeping the lift's depth, see LandmarkLift.place) before the translation filter.
        self.replace_translation = self.lift is not None and self.decoder is not None
        self.non_finite_people = 0  # people dropped because the model gave NaN/inf for them
        self._frame = -1
        self.settings = {
            "device": str(self.device),
            "pose_source": self.pose_source,
            "encoder": encoder_text,
            "backend": backend_text,
            "decoder": self.decoder.model.description if self.decoder is not None else "off",
            "decoder_lookahead_frames": str(self.lookahead),
            "decoder_strength": f"{self.decoder.strength:g}" if self.decoder is not None else "off",
            "mask_backend": config.masks.backend
            + (f" ({mask_options['runtime']})" if "runtime" in mask_options else ""),
            "max_people": str(config.max_people),
        }

    def _hmr_poses(self, rgb: np.ndarray, dets: list[PersonDetection], k: np.ndarray, result: FrameResult, lap):
        """(rotmats (N,24,3,3), betas (N,B), translation (N,3), tokens, usable (N,)) from the encoder."""
        assert self.encoder is not None
        boxes = np.stack([d.box for d in dets]).astype(np.float32)
        masks = [d.mask for d in dets] if all(d.mask is not None for d in dets) else None
        crops = crop_people(rgb, boxes, masks)
        lap("crop")
        out = self.encoder(crops.images, crops.token_masks)  # the runtime uploads (pinned memory on CUDA)
        result.notes.update(self.encoder.last_notes)
        lap("encoder")
        height, width = rgb.shape[:2]
        cam_t = cam_crop_to_full(
            out.pred_cam.float().cpu().numpy(), crops.centers, crops.sizes, (width, height),
            focal=float(k[0, 0]), principal_point=(float(k[0, 2]), float(k[1, 2])),
        )  # fmt: skip
        usable = np.ones(len(dets), bool)
        return out.rotmats.float(), out.betas.float().cpu().numpy(), cam_t, out.token.float(), usable

    def _landmark_poses(self, dets: list[PersonDetection], k: np.ndarray, lap):
        assert self.lift is not None
        lifted = self.lift(dets, k)
        lap("lift")
        return lifted.rotmats, lifted.betas, lifted.translation, None, lifted.usable

    def process(self, frame: Frame) -> FrameResult:
        """One frame, both stages in this thread."""
        return self.finish(self.detect(frame))

    @torch.inference_mode()
    def detect(self, frame: Frame) -> DetectedFrame:
        """Stage 1, the masks: touches only the mask generator, so it may run on frame t+1 in one thread while
        finish() runs on frame t in another (perception/staged.py); frames must reach finish() in order."""
        start = time.perf_counter()
        rgb = np.ascontiguousarray(frame.rgb)
        detections = self.masks(rgb)[: self.config.max_people]
        return DetectedFrame(frame, rgb, detections, {"masks": (time.perf_counter() - start) * 1e3})

    @torch.inference_mode()
    def finish(self, detected: DetectedFrame) -> FrameResult:
        """Stage 2: tracks, pose source, decoder, body model, people (everything but the mask generator)."""
        timings: dict[str, float] = dict(detected.timings_ms)
        t = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            timings[name] = (now - t) * 1e3
            t = now

        self._frame += 1
        frame, rgb, detections = detected.frame, detected.rgb, detected.detections
        update = self.tracker.update(detections)
        if self.decoder is not None:
            self.decoder.end_tracks(update.ended)
        self.history.end(update.ended)
        if self.sides is not None:
            self.sides.end(update.ended)
        lap("tracking")
        result = FrameResult(ended_track_ids=list(update.ended), timings_ms=timings, delay_frames=self.lookahead)
        result.notes["pose_source"] = self.pose_source
        if not update.tracks:
            return result
        track_ids = [track_id for track_id, _ in update.tracks]
        dets = [det for _, det in update.tracks]
        if self.sides is not None:
            dets = self.sides(track_ids, dets)
        k = frame.camera_matrix
        if self.pose_source == "hmr":
            rotmats, betas, cam_t, tokens, usable = self._hmr_poses(rgb, dets, k, result, lap)
        else:
            rotmats, betas, cam_t, tokens, usable = self._landmark_poses(dets, k, lap)
        finite = (torch.isfinite(rotmats).flatten(1).all(1).cpu().numpy() & np.isfinite(betas).all(1)
                  & np.isfinite(cam_t).all(1))  # fmt: skip
        if not finite.all():
            # NaN/inf from the model (broken weights, degenerate crop): keep it out of the decoder's windows
            self.non_finite_people += int((~finite).sum())
            result.notes["non_finite_people_dropped"] = str(self.non_finite_people)
        keep = np.flatnonzero(finite & usable)
        if len(keep) < len(track_ids):
            track_ids = [track_ids[i] for i in keep]
            dets = [dets[i] for i in keep]
            index = torch.as_tensor(keep, dtype=torch.long)
            rotmats, betas, cam_t = rotmats[index.to(rotmats.device)], betas[keep], cam_t[keep]
            tokens = None if tokens is None else tokens[index.to(tokens.device)]
        if not track_ids:
            return result
        if self.decoder is not None:
            rotmats = self.decoder.update(track_ids, rotmats, tokens)
            lap("decoder")
        for n, track_id in enumerate(track_ids):
            self.history.add(track_id, self._frame, dets[n], betas[n], cam_t[n], k, frame.stamp)
        # the decoder's answer for each track is for its observation `lookahead` steps back: pair it with that one
        chosen = [(n, obs) for n, tid in enumerate(track_ids) if (obs := self.history.paired(tid, self._frame))]
        if not chosen:
            return result
        rows = torch.as_tensor([n for n, _ in chosen], dtype=torch.long, device=rotmats.device)
        rot = rotmats[rows]
        betas_t = torch.as_tensor(np.stack([obs.betas for _, obs in chosen]), device=self.device)
        measured = [obs.translation for _, obs in chosen]
        if self.replace_translation and self.lift is not None:
            keypoints = np.stack([obs.detection.keypoints for _, obs in chosen]).astype(np.float32)
            ks = np.stack([obs.camera_matrix for _, obs in chosen])
            depth = np.array([t[2] for t in measured])
            resolved, placed = self.lift.place(keypoints, rot, betas_t, ks, depth=depth)
            # where the published pose cannot be placed (too few points), the lift's own translation stays
            measured = [resolved[i] if placed[i] else t for i, t in enumerate(measured)]
        translations = [self.history.place(track_ids[n], obs, measured[i]) for i, (n, obs) in enumerate(chosen)]
        body = self.body(rot[:, :1], rot[:, 1:], betas_t)
        lap("body")
        vertices = body.vertices.float().cpu().numpy()
        joints = body.joints.float().cpu().numpy()
        axis_angle = rotmat_to_axis_angle(rot.cpu()).numpy().reshape(len(chosen), 24 * 3)
        dropped = 0
        for i, (n, obs) in enumerate(chosen):
            det, translation = obs.detection, translations[i]
            joints_cam = joints[i] + translation
            vertices_cam = vertices[i] + translation
            finite_i = (np.isfinite(joints_cam).all() and np.isfinite(vertices_cam).all()
                        and np.isfinite(axis_angle[i]).all() and np.isfinite(obs.betas).all())  # fmt: skip
            if not finite_i:
                # a broken checkpoint or a degenerate crop: publish nobody rather than NaNs, and say so
                dropped += 1
                continue
            landmarks = None
            if self._landmark_vertices is not None:
                landmarks = landmarks_from_mesh(joints_cam, vertices_cam, self._landmark_vertices).astype(np.float32)
            result.people.append(
                Person(
                    track_id=track_ids[n], score=float(det.score), box=np.asarray(det.box, np.float32),
                    global_orient=axis_angle[i, :3], body_pose=axis_angle[i, 3:], betas=obs.betas,
                    translation=translation, joints=joints_cam, keypoints_2d=project(joints_cam, obs.camera_matrix),
                    vertices=vertices_cam, landmarks_3d=landmarks,
                )
            )  # fmt: skip
        if dropped:
            self.non_finite_people += dropped
            result.notes["non_finite_people_dropped"] = str(self.non_finite_people)
        lap("assemble")
        return result


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(N, 3) camera-frame points -> (N, 2) pixels with intrinsics K (points behind the camera are clamped)."""
    z = np.maximum(points[:, 2:3], 1e-6)
    return (points[:, :2] / z) * np.array([k[0, 0], k[1, 1]]) + np.array([k[0, 2], k[1, 2]])
