"""The pipeline's settings, one typed part per stage, and their flat names (ROS parameters, CLI flags).

Each setting has its default in exactly one dataclass field here or in runtime/config.py; the node's parameter
table, config/hmr.yaml, `fasthmr video`'s flags and the README are derived from or checked against these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fasthmr_ros.runtime.config import EncoderConfig


@dataclass(frozen=True)
class MaskConfig:
    backend: str = "mediapipe"  # person masks: mediapipe | onnx
    model: str = ""  # YOLO-seg ONNX model for backend onnx
    runtime: str = "auto"  # mediapipe models: auto (tflite on CPU, onnxruntime on CUDA) | tflite | onnxruntime | torch
    landmark_threads: int = 2  # tflite: followed people's landmarker runs spread over this many graphs/threads


@dataclass(frozen=True)
class DecoderSettings:
    enabled: bool = True  # streaming temporal decoder on/off
    model: str = ""  # "" = the embedded decoder
    window: int = 0  # frames; 0 = the decoder's trained default
    lookahead: int = 0  # frames of delay accepted for smoother output
    # pose_source landmarks: share of the decoder's correction applied (0..1). The embedded decoder learnt HMR's
    # errors, not the lift's; on simulated lift sequences (bench.lift_decoder_sim) 0.8 kept its Accel err within
    # 1.5x of the full correction's at 30 and 60 fps and won back about half of the PA-MPJPE it cost
    lift_strength: float = 0.8


@dataclass(frozen=True)
class PipelineConfig:
    device: str = "cpu"  # cpu | cuda | cuda:N
    pose_source: str = "auto"  # auto (hmr with a user checkpoint, else landmarks) | hmr | landmarks
    lift_model: str = ""  # landmark-lift weights (fasthmr train-lift); "" = the embedded lift
    # Gauss-Newton steps fitting the lifted pose to the 2D landmarks (perception/landmark_fit.py); 0 = off
    lift_fit_steps: int = 3
    # keep each track's left and right landmarks the same way round (perception/landmark_sides.py)
    side_continuity: bool = True
    smpl_model: str = ""  # SMPL_NEUTRAL .pkl/.npz; "" = the embedded (non-SMPL) body model
    max_people: int = 4  # people per frame (the encoder's batch)
    # torch CPU threads; 0 = auto: 1 for the landmark pose source on a CPU (small models whose ops are too short
    # to share; see Pipeline), torch's default otherwise
    threads: int = 0
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    masks: MaskConfig = field(default_factory=MaskConfig)
    decoder: DecoderSettings = field(default_factory=DecoderSettings)

    @classmethod
    def from_flat(cls, values: Mapping[str, Any]) -> PipelineConfig:
        """A config from flat names (FLAT_NAMES keys, e.g. ROS parameters); unknown names or wrong types raise."""
        unknown = sorted(set(values) - set(FLAT_NAMES))
        if unknown:
            raise ValueError(f"unknown pipeline setting(s) {', '.join(unknown)}; known: {', '.join(FLAT_NAMES)}")
        parts: dict[str, dict[str, Any]] = {}
        top: dict[str, Any] = {}
        defaults = flat_defaults()
        for name, value in values.items():
            default = defaults[name]
            if isinstance(default, bool) and not isinstance(value, bool):
                raise ValueError(f"{name} must be true or false, got {value!r}")
            is_int = isinstance(default, int) and not isinstance(default, bool)
            if is_int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"{name} must be an integer, got {value!r}")
            if isinstance(default, float):
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"{name} must be a number, got {value!r}")
                value = float(value)
            if isinstance(default, str) and not isinstance(value, str):
                raise ValueError(f"{name} must be a string, got {value!r}")
            path = FLAT_NAMES[name]
            if "." in path:
                part, attr = path.split(".")
                parts.setdefault(part, {})[attr] = value
            else:
                top[path] = value
        base = cls()
        for part, changes in parts.items():
            top[part] = replace(getattr(base, part), **changes)
        return replace(base, **top)

    def flat(self) -> dict[str, Any]:
        """{flat name: value}, the inverse of from_flat."""
        out = {}
        for name, path in FLAT_NAMES.items():
            value: Any = self
            for attr in path.split("."):
                value = getattr(value, attr)
            out[name] = value
        return out


# flat name (ROS parameter / CLI flag) -> field path in PipelineConfig
FLAT_NAMES: dict[str, str] = {
    "device": "device",
    "pose_source": "pose_source",
    "lift_model": "lift_model",
    "lift_fit_steps": "lift_fit_steps",
    "side_continuity": "side_continuity",
    "checkpoint": "encoder.checkpoint",
    "model_config": "encoder.model_config",
    "smpl_model": "smpl_model",
    "merge_plan": "encoder.merge_plan",
    "mask_backend": "masks.backend",
    "mask_model": "masks.model",
    "mask_runtime": "masks.runtime",
    "mask_landmark_threads": "masks.landmark_threads",
    "token_merging": "encoder.token_merging",
    "token_budget": "encoder.token_budget",
    "backend": "encoder.backend",
    "precision": "encoder.precision",
    "cuda_graphs": "encoder.cuda_graphs",
    "cpu_linear": "encoder.cpu_linear",
    "accel_model": "encoder.accel_model",
    "accel_cache": "encoder.accel_cache",
    "decoder": "decoder.enabled",
    "decoder_model": "decoder.model",
    "decoder_window": "decoder.window",
    "decoder_lookahead": "decoder.lookahead",
    "decoder_lift_strength": "decoder.lift_strength",
    "max_people": "max_people",
    "torch_threads": "threads",
}


def flat_defaults() -> dict[str, Any]:
    return PipelineConfig().flat()
