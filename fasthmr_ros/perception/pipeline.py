"""Frame in, people out: masks -> tracks -> HMR2.0-exact crops -> (merged) encoder + head -> streaming decoder ->
body model -> camera-frame joints and vertices. Plain Python + torch, no ROS: the node, `fasthmr video`, the
benchmarks and the tests all drive this class.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from fasthmr_ros.model.rotation import rotmat_to_axis_angle
from fasthmr_ros.perception.camera import cam_crop_to_full
from fasthmr_ros.perception.config import PipelineConfig
from fasthmr_ros.perception.masks import PersonDetection, create_mask_generator
from fasthmr_ros.perception.preprocess import crop_people
from fasthmr_ros.perception.tracking import Tracker
from fasthmr_ros.perception.types import Frame, FrameResult, Person
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.hmr_runtime import load_runtime


@dataclass
class _Pending:
    """Per-frame facts kept for `lookahead` frames, so delayed decoder poses meet the frame they belong to."""

    people: dict[int, tuple[PersonDetection, np.ndarray, np.ndarray, np.ndarray]]  # id -> det, betas, cam_t, K
    ended: list[int]


class Pipeline:
    """Loads every model once; process() runs one frame. Not thread-safe: one caller at a time."""

    def __init__(self, config: PipelineConfig, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device '{config.device}' requested but CUDA is not available (use device: cpu)")
        self.encoder = load_runtime(
            config.encoder,
            self.device,
            batch=config.max_people,
            threads=config.threads,
            **({"log": log} if log is not None else {}),
        )
        # lines the caller should log once at start-up (e.g. "backend tensorrt unavailable (...): using onnxruntime")
        self.startup_notes = [self.encoder.fallback_note] if self.encoder.fallback_note else []
        self.weights = self.encoder.description
        self.body = load_body_model(config.smpl_model or None).to(self.device).eval()
        self.body_model = self.body.name
        self.faces = np.asarray(self.body.faces)
        self.num_vertices = int(self.body.num_vertices)
        self.rest_vertices = self.body.layer.v_template.detach().cpu().numpy()
        mask_options: dict[str, object] = {"max_people": config.max_people}
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
                device=self.device,
            )
        self.lookahead = config.decoder.lookahead if self.decoder is not None else 0
        self.non_finite_people = 0  # people dropped because the model gave NaN/inf for them
        self._pending: deque[_Pending] = deque(maxlen=self.lookahead + 1)
        self.settings = {
            "device": str(self.device),
            "encoder": self.encoder.settings_text,
            "backend": self.encoder.backend
            + (f" ({config.encoder.backend} unavailable)" if self.startup_notes else ""),
            "decoder": self.decoder.model.description if self.decoder is not None else "off",
            "decoder_lookahead_frames": str(self.lookahead),
            "mask_backend": config.masks.backend,
            "max_people": str(config.max_people),
        }

    @torch.inference_mode()
    def process(self, frame: Frame) -> FrameResult:
        timings: dict[str, float] = {}
        t = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            timings[name] = (now - t) * 1e3
            t = now

        rgb = np.ascontiguousarray(frame.rgb)
        detections = self.masks(rgb)[: self.config.max_people]
        lap("masks")
        update = self.tracker.update(detections)
        if self.decoder is not None:
            self.decoder.end_tracks(update.ended)
        lap("tracking")
        result = FrameResult(ended_track_ids=list(update.ended), timings_ms=timings, delay_frames=self.lookahead)
        track_ids = [track_id for track_id, _ in update.tracks]
        people_now: dict[int, tuple[PersonDetection, np.ndarray, np.ndarray, np.ndarray]] = {}
        rotmats = None
        if track_ids:
            dets = [det for _, det in update.tracks]
            boxes = np.stack([d.box for d in dets]).astype(np.float32)
            masks = [d.mask for d in dets] if all(d.mask is not None for d in dets) else None
            crops = crop_people(rgb, boxes, masks)
            lap("crop")
            out = self.encoder(crops.images, crops.token_masks)  # the runtime uploads (pinned memory on CUDA)
            result.notes.update(self.encoder.last_notes)
            lap("encoder")
            k = frame.camera_matrix
            height, width = rgb.shape[:2]
            cam_t = cam_crop_to_full(
                out.pred_cam.float().cpu().numpy(), crops.centers, crops.sizes, (width, height),
                focal=float(k[0, 0]), principal_point=(float(k[0, 2]), float(k[1, 2])),
            )  # fmt: skip
            rotmats = out.rotmats.float()
            betas = out.betas.float().cpu().numpy()
            finite = (torch.isfinite(rotmats).flatten(1).all(1).cpu().numpy() & np.isfinite(betas).all(1)
                      & np.isfinite(cam_t).all(1))  # fmt: skip
            if not finite.all():
                # NaN/inf from the model (broken weights, degenerate crop): keep it out of the decoder's windows
                self.non_finite_people += int((~finite).sum())
                result.notes["non_finite_people_dropped"] = str(self.non_finite_people)
                keep = np.flatnonzero(finite)
                track_ids = [track_ids[i] for i in keep]
                dets = [dets[i] for i in keep]
                rotmats, betas, cam_t = rotmats[torch.as_tensor(keep)], betas[keep], cam_t[keep]
                out.token = out.token[torch.as_tensor(keep)]
            if self.decoder is not None and track_ids:
                rotmats = self.decoder.update(track_ids, rotmats, out.token.float())
                lap("decoder")
            for n, track_id in enumerate(track_ids):
                people_now[track_id] = (dets[n], betas[n], np.asarray(cam_t[n], np.float64), k)
        self._pending.append(_Pending(people_now, list(update.ended)))
        if rotmats is None or len(self._pending) <= self.lookahead:
            return result
        # the decoder's output for each track refers to `lookahead` frames ago: pair it with that frame's facts
        then = self._pending[0]
        chosen = [(n, tid) for n, tid in enumerate(track_ids) if tid in then.people]
        if not chosen:
            return result
        rows = [n for n, _ in chosen]
        rot = rotmats[rows]
        betas_t = torch.as_tensor(np.stack([then.people[tid][1] for _, tid in chosen]), device=self.device)
        body = self.body(rot[:, :1], rot[:, 1:], betas_t)
        lap("body")
        vertices = body.vertices.float().cpu().numpy()
        joints = body.joints.float().cpu().numpy()
        axis_angle = rotmat_to_axis_angle(rot.cpu()).numpy().reshape(len(rows), 24 * 3)
        dropped = 0
        for i, (_, track_id) in enumerate(chosen):
            det, betas_i, translation, k = then.people[track_id]
            joints_cam = joints[i] + translation
            finite = (np.isfinite(joints_cam).all() and np.isfinite(vertices[i]).all()
                      and np.isfinite(axis_angle[i]).all() and np.isfinite(betas_i).all())  # fmt: skip
            if not finite:
                # a broken checkpoint or a degenerate crop: publish nobody rather than NaNs, and say so
                dropped += 1
                continue
            result.people.append(
                Person(
                    track_id=track_id, score=float(det.score), box=np.asarray(det.box, np.float32),
                    global_orient=axis_angle[i, :3], body_pose=axis_angle[i, 3:], betas=betas_i,
                    translation=translation, joints=joints_cam, keypoints_2d=project(joints_cam, k),
                    vertices=vertices[i] + translation,
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
