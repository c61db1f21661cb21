"""A TFLite float model as a PyTorch module (and from there ONNX), read straight from the .tflite flatbuffer.

Why not a registry converter: the BlazePose models that ship in the mediapipe wheel keep most weights as sparse
float16 tensors behind DENSIFY + DEQUANTIZE ops, which tflite2onnx does not know, and `tf2onnx --tflite` needs
TensorFlow installed (whose protobuf pin clashes with mediapipe's). The graphs themselves use a dozen plain ops, so
a small reader (the `flatbuffers` runtime, already a mediapipe dependency, with the field numbers of TFLite's
schema.fbs) and one PyTorch op per TFLite op are enough; constants (including the densified and dequantized
weights) are folded at load time. The module runs in NCHW internally, takes NHWC like the .tflite, and keeps a
free batch dimension (the .tflite is batch 1), so one call can serve several people or tiles.

Supported ops: ADD, CONCATENATION, CONV_2D, DEPTHWISE_CONV_2D, DEPTH_TO_SPACE, DEQUANTIZE, DENSIFY, LOGISTIC,
MAX_POOL_2D, PAD, RESHAPE, RESIZE_BILINEAR with fused NONE/RELU/RELU6. Anything else is one ValueError naming it.
"""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# BuiltinOperator codes (schema.fbs) of the ops handled here.
_OPS = {0: "ADD", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D", 5: "DEPTH_TO_SPACE", 6: "DEQUANTIZE",
        14: "LOGISTIC", 17: "MAX_POOL_2D", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 34: "PAD", 124: "DENSIFY"}  # fmt: skip
# TensorType -> numpy dtype
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8, 7: np.int16}
# DimensionMetadata array types (SparseIndexVector union): Int32Vector, Uint16Vector, Uint8Vector
_INDEX_DTYPES = {1: np.int32, 2: np.uint16, 3: np.uint8}
# Bumped when the reader or the module changes, so cached ONNX exports are redone.
CONVERTER_VERSION = "1"


class _Table:
    """Read access to one flatbuffer table by field number (vtable slot 4 + 2 * field)."""

    def __init__(self, buf: bytes, pos: int) -> None:
        import flatbuffers.table

        self.t = flatbuffers.table.Table(bytearray(buf) if not isinstance(buf, bytearray) else buf, pos)

    @classmethod
    def root(cls, buf: bytearray) -> _Table:
        import flatbuffers.encode
        import flatbuffers.number_types as nt

        return cls(buf, flatbuffers.encode.Get(nt.UOffsetTFlags.packer_type, buf, 0))

    def _offset(self, number: int) -> int:
        return self.t.Offset(4 + 2 * number)

    def scalar(self, number: int, kind: str, default: int | float = 0) -> int | float:
        import flatbuffers.number_types as nt

        off = self._offset(number)
        if not off:
            return default
        flags = {"i8": nt.Int8Flags, "u8": nt.Uint8Flags, "i32": nt.Int32Flags, "u32": nt.Uint32Flags,
                 "u64": nt.Uint64Flags, "bool": nt.BoolFlags, "f32": nt.Float32Flags}[kind]  # fmt: skip
        return self.t.Get(flags, off + self.t.Pos)

    def table(self, number: int) -> _Table | None:
        off = self._offset(number)
        if not off:
            return None
        sub = _Table.__new__(_Table)
        import flatbuffers.table

        sub.t = flatbuffers.table.Table(self.t.Bytes, self.t.Indirect(off + self.t.Pos))
        return sub

    def tables(self, number: int) -> list[_Table]:
        import flatbuffers.table

        off = self._offset(number)
        if not off:
            return []
        start = self.t.Vector(off)
        out = []
        for i in range(self.t.VectorLen(off)):
            sub = _Table.__new__(_Table)
            sub.t = flatbuffers.table.Table(self.t.Bytes, self.t.Indirect(start + 4 * i))
            out.append(sub)
        return out

    def array(self, number: int, dtype: type) -> np.ndarray:
        off = self._offset(number)
        if not off:
            return np.zeros(0, dtype=dtype)
        start, length = self.t.Vector(off), self.t.VectorLen(off)
        size = np.dtype(dtype).itemsize
        return np.frombuffer(bytes(self.t.Bytes[start : start + length * size]), dtype=dtype)

    def string(self, number: int) -> str:
        off = self._offset(number)
        return self.t.String(off + self.t.Pos).decode() if off else ""


@dataclass
class TfliteTensor:
    name: str
    shape: tuple[int, ...]
    dtype: type
    data: np.ndarray | None = None  # constant value (sparse tensors come back densified)


@dataclass
class TfliteOp:
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, int | float | bool] = field(default_factory=dict)


@dataclass
class TfliteGraph:
    tensors: list[TfliteTensor]
    ops: list[TfliteOp]
    inputs: list[int]
    outputs: list[int]


_OPTION_FIELDS: dict[str, list[tuple[str, int, str]]] = {
    "CONV_2D": [("padding", 0, "i8"), ("stride_w", 1, "i32"), ("stride_h", 2, "i32"), ("activation", 3, "i8"),
                ("dilation_w", 4, "i32"), ("dilation_h", 5, "i32")],
    "DEPTHWISE_CONV_2D": [("padding", 0, "i8"), ("stride_w", 1, "i32"), ("stride_h", 2, "i32"),
                          ("depth_multiplier", 3, "i32"), ("activation", 4, "i8"), ("dilation_w", 5, "i32"),
                          ("dilation_h", 6, "i32")],
    "MAX_POOL_2D": [("padding", 0, "i8"), ("stride_w", 1, "i32"), ("stride_h", 2, "i32"), ("filter_w", 3, "i32"),
                    ("filter_h", 4, "i32"), ("activation", 5, "i8")],
    "ADD": [("activation", 0, "i8")],
    "CONCATENATION": [("axis", 0, "i32"), ("activation", 1, "i8")],
    "RESIZE_BILINEAR": [("align_corners", 2, "bool"), ("half_pixel_centers", 3, "bool")],
    "DEPTH_TO_SPACE": [("block_size", 0, "i32")],
}  # fmt: skip
# Defaults of schema.fbs where they are not 0.
_OPTION_DEFAULTS = {"stride_w": 1, "stride_h": 1, "dilation_w": 1, "dilation_h": 1, "depth_multiplier": 1}


def read_tflite(path: str | Path) -> TfliteGraph:
    """The first subgraph of a .tflite file: tensors (constants decoded), ops in execution order, inputs, outputs."""
    buf = bytearray(Path(path).read_bytes())
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ValueError(f"{path} is not a TFLite flatbuffer (no TFL3 identifier)")
    model = _Table.root(buf)
    codes = []
    for oc in model.tables(1):
        code = max(int(oc.scalar(0, "i8")), int(oc.scalar(3, "i32")))
        custom = oc.string(1)
        codes.append(f"custom op {custom}" if custom else _OPS.get(code, f"builtin op {code}"))
    buffers = model.tables(4)
    subgraph = model.tables(2)[0]
    tensors = []
    for t in subgraph.tables(0):
        dtype = _DTYPES.get(int(t.scalar(1, "i8")))
        if dtype is None:
            raise ValueError(f"{path}: tensor {t.string(3)!r} has an unsupported type {t.scalar(1, 'i8')}")
        shape = tuple(int(s) for s in t.array(0, np.int32))
        data = None
        buffer = buffers[int(t.scalar(2, "u32"))]
        raw = buffer.array(0, np.uint8)
        if raw.size == 0 and int(buffer.scalar(1, "u64")) > 1:  # large models keep data after the flatbuffer
            start, size = int(buffer.scalar(1, "u64")), int(buffer.scalar(2, "u64"))
            raw = np.frombuffer(bytes(buf[start : start + size]), dtype=np.uint8)
        if raw.size:
            values = raw.view(dtype)
            sparsity = t.table(6)
            data = _densify(values, shape, sparsity) if sparsity is not None else values.reshape(shape).copy()
        tensors.append(TfliteTensor(t.string(3), shape, dtype, data))
    ops = []
    for op in subgraph.tables(3):
        kind = codes[int(op.scalar(0, "u32"))]
        if kind not in _OPS.values():
            raise ValueError(f"{path}: {kind} is not supported by fasthmr_ros.runtime.tflite_torch")
        options: dict[str, int | float | bool] = {}
        table = op.table(4)
        for name, number, fmt in _OPTION_FIELDS.get(kind, []):
            options[name] = (
                table.scalar(number, fmt, _OPTION_DEFAULTS.get(name, 0)) if table else _OPTION_DEFAULTS.get(name, 0)
            )
        ops.append(TfliteOp(kind, [int(i) for i in op.array(1, np.int32)], [int(i) for i in op.array(2, np.int32)],
                            options))  # fmt: skip
    inputs = [int(i) for i in subgraph.array(1, np.int32)]
    outputs = [int(i) for i in subgraph.array(2, np.int32)]
    return TfliteGraph(tensors, ops, inputs, outputs)


def _densify(values: np.ndarray, shape: tuple[int, ...], sparsity: _Table) -> np.ndarray:
    """A TFLite sparse tensor (dense dims, then CSR dims, in traversal order; no block maps) as a dense array."""
    order = [int(i) for i in sparsity.array(0, np.int32)]
    if sparsity.array(1, np.int32).size or order != list(range(len(shape))):
        raise ValueError("sparse tensors with block maps or a permuted traversal order are not supported")
    dims = sparsity.tables(2)
    # Walk the dims: `positions` holds, per entry of the dims so far, its flat dense index and its segment id.
    flat = np.zeros(1, dtype=np.int64)
    segment = np.zeros(1, dtype=np.int64)
    for axis, dim in enumerate(dims):
        if int(dim.scalar(0, "i8")) == 0:  # DENSE
            size = int(dim.scalar(1, "i32"))
            flat = (flat[:, None] * shape[axis] + np.arange(size)[None, :]).ravel()
            segment = (segment[:, None] * size + np.arange(size)[None, :]).ravel()
        else:  # SPARSE_CSR: segments index into the stored indices of this dim
            seg_dtype = _INDEX_DTYPES[int(dim.scalar(2, "u8"))]
            idx_dtype = _INDEX_DTYPES[int(dim.scalar(4, "u8"))]
            segments = dim.table(3).array(0, seg_dtype).astype(np.int64)
            indices = dim.table(5).array(0, idx_dtype).astype(np.int64)
            counts = segments[segment + 1] - segments[segment]
            parent = np.repeat(flat, counts)
            starts = np.repeat(segments[segment], counts)
            within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            stored = starts + within
            flat = parent * shape[axis] + indices[stored]
            segment = stored
    dense = np.zeros(int(np.prod(shape)), dtype=values.dtype)
    if flat.size != values.size:
        raise ValueError(f"sparse tensor holds {values.size} values for {flat.size} positions")
    dense[flat] = values
    return dense.reshape(shape)


def _act(x: torch.Tensor, code: int) -> torch.Tensor:
    if code == 0:
        return x
    if code == 1:
        return torch.relu(x)
    if code == 3:
        return torch.clamp(x, 0.0, 6.0)
    raise ValueError(f"fused activation {code} is not supported")


def _same_pad(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    # TFLite SAME: total padding so that out = ceil(in / stride); the odd pixel goes after
    effective = (kernel - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


class TfliteModule(nn.Module):
    """Runs a TfliteGraph. forward(x): x (B, H, W, C) NHWC, uint8 or float; `input_scale`/`input_offset` map it to
    the model's float range (x * scale + offset). Returns the graph outputs, rank-4 ones as NHWC like TFLite."""

    def __init__(self, graph: TfliteGraph, input_scale: float = 1.0, input_offset: float = 0.0) -> None:
        super().__init__()
        self.graph = graph
        self.input_scale = float(input_scale)
        self.input_offset = float(input_offset)
        self._consts: dict[int, str] = {}
        folded = self._fold_constants()
        for ti, value in folded.items():
            name = f"c{ti}"
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(value)), persistent=False)
            self._consts[ti] = name
        self.output_names = [graph.tensors[i].name for i in graph.outputs]
        # A symmetric spatial PAD read only by VALID convolutions becomes the convolutions' own padding: a separate
        # Pad op costs a copy of the activation and, in onnxruntime, breaks its blocked-layout chain (measured: 5 ms
        # of Pad plus ~6 ms of layout reorders per landmarker call).
        consumers: dict[int, list[TfliteOp]] = {}
        for op in graph.ops:
            for i in op.inputs:
                consumers.setdefault(i, []).append(op)
        self._pad_into: dict[int, tuple[int, int]] = {}
        for op in graph.ops:
            if op.kind != "PAD":
                continue
            pads = np.asarray(self._static[op.inputs[1]]).reshape(-1, 2)
            readers = consumers.get(op.outputs[0], [])
            symmetric = (
                pads[1, 0] == pads[1, 1] and pads[2, 0] == pads[2, 1] and not pads[0].any() and not pads[3].any()
            )
            if (
                symmetric
                and readers
                and all(
                    r.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")
                    and r.options["padding"] == 1
                    and r.inputs[0] == op.outputs[0]
                    for r in readers
                )
                and op.outputs[0] not in graph.outputs
            ):
                self._pad_into[op.outputs[0]] = (int(pads[1, 0]), int(pads[2, 0]))

    def _fold_constants(self) -> dict[int, np.ndarray]:
        """Constants after DENSIFY/DEQUANTIZE, laid out for the NCHW torch op that reads them."""
        tensors = self.graph.tensors
        values: dict[int, np.ndarray] = {i: t.data for i, t in enumerate(tensors) if t.data is not None}
        self._folded_ops: set[int] = set()
        for n, op in enumerate(self.graph.ops):
            if op.kind in ("DENSIFY", "DEQUANTIZE") and op.inputs[0] in values:
                values[op.outputs[0]] = values[op.inputs[0]].astype(np.float32)
                self._folded_ops.add(n)
        used: dict[int, np.ndarray] = {}
        for op in self.graph.ops:
            if op.kind == "CONV_2D":
                used[op.inputs[1]] = values[op.inputs[1]].astype(np.float32).transpose(0, 3, 1, 2)  # OHWI -> OIHW
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    used[op.inputs[2]] = values[op.inputs[2]].astype(np.float32)
            elif op.kind == "DEPTHWISE_CONV_2D":
                w = values[op.inputs[1]].astype(np.float32)  # (1, kh, kw, C*mult)
                used[op.inputs[1]] = w.transpose(3, 0, 1, 2)  # (C*mult, 1, kh, kw)
                if len(op.inputs) > 2 and op.inputs[2] >= 0:
                    used[op.inputs[2]] = values[op.inputs[2]].astype(np.float32)
            elif op.kind in ("ADD", "CONCATENATION"):
                for i in op.inputs:
                    if i in values:
                        v = values[i].astype(np.float32)
                        used[i] = v.transpose(0, 3, 1, 2) if v.ndim == 4 else v
        self._static = {i: v for i, v in values.items() if i not in used}
        return used

    def _static_ints(self, index: int) -> list[int]:
        return [int(v) for v in np.asarray(self._static[index]).ravel()]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        graph = self.graph
        x = x.permute(0, 3, 1, 2).float() * self.input_scale + self.input_offset
        env: dict[int, torch.Tensor] = {graph.inputs[0]: x}
        for ti, name in self._consts.items():
            env.setdefault(ti, getattr(self, name))
        for n, op in enumerate(graph.ops):
            if n in self._folded_ops:
                continue
            o = op.options
            ins = op.inputs
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                a, w = env[ins[0]], env[ins[1]]
                bias = env[ins[2]] if len(ins) > 2 and ins[2] >= 0 else None
                kh, kw = int(w.shape[2]), int(w.shape[3])
                padding = self._pad_into.get(ins[0], (0, 0))
                if o["padding"] == 0:  # SAME
                    top, bottom = _same_pad(int(a.shape[2]), kh, int(o["stride_h"]), int(o["dilation_h"]))
                    left, right = _same_pad(int(a.shape[3]), kw, int(o["stride_w"]), int(o["dilation_w"]))
                    if top == bottom and left == right:
                        padding = (top, left)
                    else:
                        a = F.pad(a, (left, right, top, bottom))
                groups = int(a.shape[1]) if op.kind == "DEPTHWISE_CONV_2D" else 1
                y = F.conv2d(a, w, bias, stride=(int(o["stride_h"]), int(o["stride_w"])), padding=padding,
                             dilation=(int(o["dilation_h"]), int(o["dilation_w"])), groups=groups)  # fmt: skip
                y = _act(y, int(o["activation"]))
            elif op.kind == "MAX_POOL_2D":
                a = env[ins[0]]
                kh, kw, sh, sw = int(o["filter_h"]), int(o["filter_w"]), int(o["stride_h"]), int(o["stride_w"])
                if o["padding"] == 0:
                    top, bottom = _same_pad(int(a.shape[2]), kh, sh, 1)
                    left, right = _same_pad(int(a.shape[3]), kw, sw, 1)
                    a = F.pad(a, (left, right, top, bottom), value=float("-inf"))
                y = _act(F.max_pool2d(a, (kh, kw), (sh, sw)), int(o["activation"]))
            elif op.kind == "ADD":
                y = _act(env[ins[0]] + env[ins[1]], int(o["activation"]))
            elif op.kind == "PAD" and op.outputs[0] in self._pad_into:
                y = env[ins[0]]  # the readers pad
            elif op.kind == "PAD":
                pads = np.asarray(self._static[ins[1]]).reshape(-1, 2)  # NHWC (before, after)
                if pads[0].any() or pads[3].any():
                    raise ValueError("PAD over the batch or channel axis is not supported")
                y = F.pad(env[ins[0]], (int(pads[2, 0]), int(pads[2, 1]), int(pads[1, 0]), int(pads[1, 1])))
            elif op.kind == "RESIZE_BILINEAR":
                height, width = self._static_ints(ins[1])
                if o["align_corners"]:
                    y = F.interpolate(env[ins[0]], size=(height, width), mode="bilinear", align_corners=True)
                elif o["half_pixel_centers"]:
                    y = F.interpolate(env[ins[0]], size=(height, width), mode="bilinear", align_corners=False)
                else:
                    raise ValueError("RESIZE_BILINEAR without half_pixel_centers or align_corners is not supported")
            elif op.kind == "DEPTH_TO_SPACE":
                a = env[ins[0]]
                bs = int(o["block_size"])
                b, c, h, w_ = a.shape
                # TFLite's NHWC depth-to-space reads channels as (row offset, column offset, channel): ONNX "DCR"
                y = a.reshape(b, bs, bs, c // (bs * bs), h, w_).permute(0, 3, 4, 1, 5, 2)
                y = y.reshape(b, c // (bs * bs), h * bs, w_ * bs)
            elif op.kind == "RESHAPE":
                a = env[ins[0]]
                if a.dim() == 4:
                    a = a.permute(0, 2, 3, 1)  # TFLite reshapes NHWC memory order
                shape = list(graph.tensors[op.outputs[0]].shape)
                y = a.reshape(a.shape[0], *shape[1:])
                if y.dim() == 4:
                    y = y.permute(0, 3, 1, 2)
            elif op.kind == "CONCATENATION":
                parts = [env[i] for i in ins]
                axis = int(o["axis"])
                rank = parts[0].dim()
                axis = axis % rank
                if rank == 4:
                    axis = (0, 2, 3, 1)[axis]
                y = _act(torch.cat(parts, dim=axis), int(o["activation"]))
            elif op.kind == "LOGISTIC":
                y = torch.sigmoid(env[ins[0]])
            elif op.kind in ("DENSIFY", "DEQUANTIZE"):
                y = env[ins[0]].float()
            else:  # pragma: no cover - read_tflite refuses unknown ops
                raise ValueError(op.kind)
            env[op.outputs[0]] = y
        outs = []
        for i in graph.outputs:
            y = env[i]
            outs.append(y.permute(0, 2, 3, 1) if y.dim() == 4 else y)
        return tuple(outs)


def file_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def export_onnx(module: TfliteModule, path: Path, input_hw: tuple[int, int], channels: int = 3,
                opset: int = 17) -> Path:  # fmt: skip
    """The module as ONNX with a dynamic batch and a uint8 NHWC input named "images"; written atomically."""
    import onnx

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, *input_hw, channels, dtype=torch.uint8)
    names = [f"out{i}" for i in range(len(module.output_names))]
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".export-", suffix=".onnx")
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(), (example,), scratch, dynamo=False, opset_version=opset, input_names=["images"],
                output_names=names, dynamic_axes={"images": {0: "batch"}, **{n: {0: "batch"} for n in names}},
                do_constant_folding=True,
            )  # fmt: skip
        onnx.checker.check_model(scratch)
        os.replace(scratch, path)
    finally:
        Path(scratch).unlink(missing_ok=True)
    return path
