"""TensorRT engines from the exported ONNX graphs: check, build (FP16/BF16, optional INT8), cache, run.

Written against the TensorRT 10 Python API (Builder, OnnxParser, BuilderConfig, IInt8EntropyCalibrator2, Runtime,
execution contexts with named tensors). TensorRT is not installable from the package registries (its wheels
download from NVIDIA at install time); JetPack ships it. Everything here imports `tensorrt` inside the functions
that need it, so the module imports (and its TensorRT-free parts are tested) without it. Type-check against the
stubs: see docs/deploy.md ("Type-checking the TensorRT module").

Engines are specific to the GPU model, the TensorRT version, the graph and the precision: the cache key hashes all
four (plus the workspace size), so an engine is rebuilt after a JetPack upgrade or on another GPU, never misused.
Buffers are torch CUDA tensors (no pycuda / cuda-python needed): torch with CUDA is required anyway.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from fasthmr_ros.runtime.fingerprint import settings_key

ENGINE_FORMAT_VERSION = 1
DEFAULT_WORKSPACE_GB = 4.0
TENSORRT_PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# ONNX operators TensorRT 10's parser imports (onnx-tensorrt docs/operators.md, 10.x). Mask-ToMe needs TopK
# (argsort), GatherElements, CumSum, ScatterElements with reduction "add" (TensorRT's ScatterElements plugin,
# registered by init_libnvinfer_plugins) and bool inputs; all are in the list.
_OPS_TEXT = (
    "Abs Acos Acosh Add And ArgMax ArgMin Asin Asinh Atan Atanh AveragePool BatchNormalization Cast CastLike Ceil "
    "Celu Clip Concat Constant ConstantOfShape Conv ConvTranspose Cos Cosh CumSum DeformConv DepthToSpace "
    "DequantizeLinear Div Dropout Einsum Elu Equal Erf Exp Expand EyeLike Flatten Floor GRU Gather GatherElements "
    "GatherND Gelu Gemm GlobalAveragePool GlobalLpPool GlobalMaxPool Greater GreaterOrEqual GridSample "
    "GroupNormalization HardSigmoid HardSwish Hardmax Identity If ImageScaler InstanceNormalization IsInf IsNaN LRN "
    "LSTM LayerNormalization LeakyRelu Less LessOrEqual Log LogSoftmax Loop LpNormalization LpPool MatMul Max "
    "MaxPool Mean MeanVarianceNormalization Min Mish Mod Mul Neg NonMaxSuppression NonZero Not OneHot Or PRelu Pad "
    "ParametricSoftplus Pow QuantizeLinear RNN RandomNormal RandomNormalLike RandomUniform RandomUniformLike Range "
    "Reciprocal ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceMax ReduceMean ReduceMin ReduceProd ReduceSum "
    "ReduceSumSquare Relu Reshape Resize ReverseSequence RoiAlign Round ScaledTanh Scan Scatter ScatterElements "
    "ScatterND Selu Shape Shrink Sigmoid Sign Sin Sinh Size Slice Softmax Softplus Softsign SpaceToDepth Split Sqrt "
    "Squeeze Sub Sum Tan Tanh ThresholdedRelu Tile TopK Transpose Trilu Unsqueeze Upsample Where Xor"
)
TENSORRT_ONNX_OPS = frozenset(_OPS_TEXT.split())


def unsupported_ops(onnx_path: str | Path) -> list[str]:
    """ONNX operators in the graph that TensorRT's parser does not import (empty for our exports)."""
    import onnx

    model = onnx.load(str(onnx_path), load_external_data=False)
    ops = {node.op_type for node in model.graph.node if node.domain in ("", "ai.onnx")}
    return sorted(ops - TENSORRT_ONNX_OPS)


def gpu_identity(device: torch.device | str) -> dict[str, str]:
    """What an engine is specific to on the GPU side: its name and compute capability."""
    device = torch.device(device)
    major, minor = torch.cuda.get_device_capability(device)
    return {"gpu": torch.cuda.get_device_name(device), "compute_capability": f"{major}.{minor}"}


def engine_settings(graph_sha256: str, gpu: dict[str, str], tensorrt_version: str, precision: str,
                    workspace_gb: float = DEFAULT_WORKSPACE_GB) -> dict[str, Any]:  # fmt: skip
    if precision not in TENSORRT_PRECISIONS:
        raise ValueError(f"TensorRT precision must be one of {', '.join(TENSORRT_PRECISIONS)}, got {precision!r}")
    return {
        "format_version": ENGINE_FORMAT_VERSION,
        "onnx_sha256": graph_sha256,
        **gpu,
        "tensorrt": tensorrt_version,
        "precision": precision,
        "workspace_gb": workspace_gb,
    }


def engine_file(cache: Path, kind: str, settings: dict[str, Any]) -> Path:
    return cache / "engines" / f"{kind}-{settings['precision']}-{settings_key(settings)}.engine"


class CropBatches:
    """Calibration crops (images (N,3,256,192), token masks (N,16,12) | None) served in static batches on the GPU.

    The last partial batch is dropped (calibration needs full batches; use at least `batch` crops)."""

    def __init__(self, images: torch.Tensor, masks: torch.Tensor | None, batch: int, device: torch.device) -> None:
        if len(images) < batch:
            raise ValueError(f"INT8 calibration needs at least {batch} crops (the engine batch), got {len(images)}")
        self.images, self.masks, self.batch = images, masks, batch
        self.device_images = torch.empty((batch, *images.shape[1:]), dtype=torch.float32, device=device)
        self.device_masks = (
            torch.empty((batch, *masks.shape[1:]), dtype=torch.bool, device=device) if masks is not None else None
        )

    def __iter__(self) -> Iterator[dict[str, int]]:
        for start in range(0, len(self.images) - self.batch + 1, self.batch):
            rows = slice(start, start + self.batch)
            self.device_images.copy_(self.images[rows])
            pointers = {"images": self.device_images.data_ptr()}
            if self.masks is not None and self.device_masks is not None:
                self.device_masks.copy_(self.masks[rows])
                pointers["token_masks"] = self.device_masks.data_ptr()
            torch.cuda.synchronize(self.device_images.device)
            yield pointers


def make_calibrator(batches: CropBatches, cache_file: Path) -> Any:
    """An IInt8EntropyCalibrator2 fed from `batches`; the calibration table is kept in cache_file for rebuilds."""
    import tensorrt as trt

    class CropCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches = iter(batches)

        def get_batch_size(self) -> int:
            return batches.batch

        def get_batch(self, names: list[str]) -> list[int]:
            pointers = next(self._batches, None)
            if pointers is None:
                return []  # no more data: calibration ends
            return [pointers[name] for name in names]

        def read_calibration_cache(self) -> bytes | None:
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_bytes(bytes(cache))

    return CropCalibrator()


def build_engine(
    onnx_path: str | Path,
    engine_path: Path,
    precision: str,
    workspace_gb: float = DEFAULT_WORKSPACE_GB,
    calibrator: Any = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Parse the ONNX graph, build a serialized engine for this GPU and write it (atomically) to engine_path."""
    import tensorrt as trt

    if precision == "int8" and calibrator is None:
        raise ValueError("an INT8 engine needs calibration crops: `fasthmr export --tensorrt --int8 --video CLIP`")
    missing = unsupported_ops(onnx_path)
    if missing:
        raise ValueError(f"{onnx_path} uses ONNX operators TensorRT cannot import: {', '.join(missing)}")
    logger = trt.Logger(trt.Logger.WARNING)
    # Mask-ToMe's merges export as ScatterElements(reduction="add"), which TensorRT implements as a plugin.
    trt.init_libnvinfer_plugins(logger, "")
    builder = trt.Builder(logger)
    # TensorRT 10 networks are always explicit-batch (EXPLICIT_BATCH is deprecated and ignored); not STRONGLY_TYPED,
    # so that the FP16/BF16/INT8 builder flags may choose lower-precision kernels.
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):  # reads external data (vit_h) next to the file
        errors = [str(parser.get_error(index)) for index in range(parser.num_errors)]
        raise ValueError(f"TensorRT cannot parse {onnx_path}: {'; '.join(errors[:3]) or 'no error given'}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "bf16":
        config.set_flag(trt.BuilderFlag.BF16)
    elif precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.set_flag(trt.BuilderFlag.FP16)  # layers without an INT8 kernel (attention softmax, norms) use FP16
        config.int8_calibrator = calibrator
    log(f"building a TensorRT {precision} engine from {Path(onnx_path).name} (minutes, once per GPU and version)")
    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise RuntimeError(f"TensorRT could not build an engine from {onnx_path} (see the TensorRT log above)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    scratch = engine_path.with_name(engine_path.name + ".tmp")
    scratch.write_bytes(memoryview(serialized))
    scratch.replace(engine_path)
    log(f"engine built in {time.perf_counter() - started:.0f} s: {engine_path}")
    return engine_path


def write_engine_sidecar(engine_path: Path, settings: dict[str, Any], extra: dict[str, Any]) -> None:
    side = engine_path.with_suffix(".json")
    side.write_text(json.dumps({**settings, **extra, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, indent=1))


def ensure_engine(
    graph_file: Path,
    graph_sha256: str,
    kind: str,
    cache: Path,
    precision: str,
    device: torch.device | str,
    calibration: CropBatches | None = None,
    rebuild: bool = False,
    log: Callable[[str], None] = print,
) -> Path:
    """The cached engine for this graph, GPU, TensorRT version and precision; built when missing (or `rebuild`)."""
    import tensorrt as trt

    settings = engine_settings(graph_sha256, gpu_identity(device), trt.__version__, precision)
    path = engine_file(cache, kind, settings)
    if path.is_file() and not rebuild:
        return path
    calibrator = None
    if precision == "int8":
        if calibration is None:
            raise ValueError(
                f"no INT8 engine for this model, GPU and TensorRT version in {path.parent}: build one with "
                f"`fasthmr export --tensorrt --int8 --video YOUR_CLIP.mp4`, or use precision fp16"
            )
        calibrator = make_calibrator(calibration, path.with_suffix(".calib"))
    build_engine(graph_file, path, precision, calibrator=calibrator, log=log)
    write_engine_sidecar(path, settings, {"onnx": str(graph_file), "graph": kind})
    return path


def _torch_dtype(dtype: Any) -> torch.dtype:
    import tensorrt as trt

    table = {
        trt.DataType.FLOAT: torch.float32,
        trt.DataType.HALF: torch.float16,
        trt.DataType.BF16: torch.bfloat16,
        trt.DataType.INT32: torch.int32,
        trt.DataType.INT64: torch.int64,
        trt.DataType.BOOL: torch.bool,
    }
    if dtype not in table:
        raise ValueError(f"engine tensor type {dtype} has no torch equivalent here")
    return table[dtype]


class TensorRTGraph:
    """A deserialized engine with its input/output buffers bound once; same run() contract as OnnxGraph."""

    def __init__(self, engine_path: str | Path, device: torch.device | str) -> None:
        import tensorrt as trt

        self.path = Path(engine_path)
        self.device = torch.device(device)
        logger = trt.Logger(trt.Logger.WARNING)
        trt.init_libnvinfer_plugins(logger, "")
        self._runtime = trt.Runtime(logger)
        engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if engine is None:
            raise ValueError(
                f"{self.path} does not deserialize (built by another TensorRT version or GPU?): delete it to rebuild"
            )
        self._engine = engine
        self._context = engine.create_execution_context()
        self.buffers: dict[str, torch.Tensor] = {}
        self.input_names: list[str] = []
        self.output_names: list[str] = []
        with torch.cuda.device(self.device):
            for index in range(engine.num_io_tensors):
                name = engine.get_tensor_name(index)
                dims = engine.get_tensor_shape(name)
                shape = tuple(dims[i] for i in range(len(dims)))
                if any(size < 0 for size in shape):
                    raise ValueError(f"{self.path}: tensor {name} has a dynamic shape {shape}; export a static batch")
                buffer = torch.empty(shape, dtype=_torch_dtype(engine.get_tensor_dtype(name)), device=self.device)
                self._context.set_tensor_address(name, buffer.data_ptr())
                self.buffers[name] = buffer
                is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
                (self.input_names if is_input else self.output_names).append(name)
        if "images" not in self.input_names:
            raise ValueError(f"{self.path} is not a fasthmr encoder engine (inputs {self.input_names})")
        self.batch = int(self.buffers["images"].shape[0])
        self.takes_masks = "token_masks" in self.input_names

    def run(self, images: torch.Tensor, token_masks: torch.Tensor | None) -> dict[str, torch.Tensor]:
        self.buffers["images"].copy_(images, non_blocking=True)
        if self.takes_masks:
            if token_masks is None:
                raise ValueError(f"{self.path.name} merges tokens and needs token masks")
            self.buffers["token_masks"].copy_(token_masks, non_blocking=True)
        stream = torch.cuda.current_stream(self.device)
        if not self._context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"TensorRT execution of {self.path.name} failed (see the TensorRT log)")
        # the caller keeps the outputs across calls: copy them out of the bound buffers
        return {name: self.buffers[name].clone() for name in self.output_names}
