"""Backend choice and fallbacks, export/engine cache keys, bad and stale exported files, `fasthmr export`, the
torch precision modes, and the TensorRT builder's calls (the last on a stand-in module: TensorRT cannot be
installed on this CPU machine)."""

from __future__ import annotations

import json
import shutil
import sys
import types
from dataclasses import replace
from functools import partial
from pathlib import Path

import onnx
import pytest
import torch
from _merged_data import random_model, real_crops
from _model_checkpoints import runtime_config, write_official_checkpoint
from conftest import Collector, diagnostics_values, spin_until
from diagnostic_msgs.msg import DiagnosticArray
from onnx import TensorProto, helper

from fasthmr_ros.cli import main
from fasthmr_ros.footage import fetch
from fasthmr_ros.model.tome import TokenMergingConfig
from fasthmr_ros.msg import HumanMeshArray
from fasthmr_ros.paths import footage_dir
from fasthmr_ros.runtime import tensorrt_engine
from fasthmr_ros.runtime.backend_choice import choose_backend
from fasthmr_ros.runtime.fingerprint import file_fingerprint
from fasthmr_ros.runtime.graph_loading import export_settings
from fasthmr_ros.runtime.hmr_runtime import HmrRuntime, load_runtime
from fasthmr_ros.runtime.onnx_export import ExportSettings, export_encoder
from fasthmr_ros.runtime.tensorrt_engine import engine_file, engine_settings, ensure_engine, unsupported_ops

CLIP = "pose2sim_single_cam01.mp4"  # MediaPipe finds the person in every frame
RuntimeConfig = partial(runtime_config, backend="onnxruntime")
FALLBACK_LINE = "backend tensorrt unavailable (TensorRT needs a CUDA device, device is cpu): using onnxruntime"


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on the shared 2-core CI machine two OpenMP threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ckpt")
    first, second = folder / "a.ckpt", folder / "b.ckpt"
    write_official_checkpoint(first, "tiny", seed=1)
    write_official_checkpoint(second, "tiny", seed=2)
    return first, second


@pytest.fixture(scope="module")
def exported(checkpoints: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`fasthmr export` of the first checkpoint at batch 2, checked on crops of real footage."""
    fetch([CLIP])
    out = tmp_path_factory.mktemp("export") / "tiny.onnx"
    argv = ["export", "--checkpoint", str(checkpoints[0]), "--config", "tiny", "--batch", "2", "--out", str(out),
            "--video", str(footage_dir() / CLIP), "--frames", "3"]  # fmt: skip
    assert main(argv) == 0
    return out


def test_backend_choice_and_fallback_lines() -> None:
    cpu_trt = choose_backend("tensorrt", "cpu")
    assert cpu_trt.backend == "onnxruntime"
    assert cpu_trt.note == FALLBACK_LINE
    assert choose_backend("onnxruntime", "cpu") == choose_backend("onnxruntime", "cpu:0")
    assert choose_backend("onnxruntime", "cpu").note == "" and choose_backend("torch", "cpu").backend == "torch"
    cuda_trt = choose_backend("tensorrt", "cuda")
    if not torch.cuda.is_available():  # CPU machines (CI): no CUDA -> neither TensorRT nor onnxruntime's CUDA provider
        assert cuda_trt.backend == "torch" and "CUDA is not available to torch" in cuda_trt.note
        assert choose_backend("onnxruntime", "cuda").backend == "torch"
    else:
        assert cuda_trt.backend == "tensorrt" or "tensorrt" in cuda_trt.note
    with pytest.raises(ValueError, match="backend must be one of torch, onnxruntime, tensorrt"):
        choose_backend("openvino", "cpu")


def test_node_logs_one_line_when_tensorrt_is_missing(spawn, ros_node, checkpoints: tuple[Path, Path],
                                                     tmp_path: Path) -> None:  # fmt: skip
    """The node asked for TensorRT on a machine without it: it says so once, exports for onnxruntime, reports that
    backend and publishes people from the checkpoint it was given."""
    video = fetch([CLIP])[0]
    meshes = Collector(ros_node, HumanMeshArray, "/fasthmr/meshes")
    diagnostics = Collector(ros_node, DiagnosticArray, "/diagnostics")
    node = spawn("-m", "fasthmr_ros.cli", "run", "-p", "backend:=tensorrt", "-p", f"checkpoint:={checkpoints[0]}",
                 "-p", "model_config:=tiny", "-p", "decoder:=false", "-p", f"accel_cache:={tmp_path}",
                 "-p", "max_people:=2", name="node")  # fmt: skip
    assert spin_until(ros_node, lambda: meshes.sub.get_publisher_count() > 0, 180, [node]), node.log()
    replay = spawn("-m", "fasthmr_ros.cli", "replay", str(video), "--width", "640", "--rate", "10",
                   "--max-frames", "30", name="replay")  # fmt: skip
    assert replay.wait(timeout=120) == 0, replay.log()
    spin_until(ros_node, lambda: sum(len(m.humans) for m in meshes.messages) >= 3 and diagnostics.messages, 20, [node])

    log = node.log()
    tensorrt_lines = [line for line in log.splitlines() if "tensorrt" in line.lower()]
    assert len(tensorrt_lines) == 1 and FALLBACK_LINE in tensorrt_lines[0], log
    assert "exporting the tiny encoder" in log, log
    assert list(tmp_path.glob("**/*.onnx")), "no ONNX export in the accel cache"
    assert sum(len(m.humans) for m in meshes.messages) >= 3, [len(m.humans) for m in meshes.messages]
    assert all("user checkpoint" in m.weights for m in meshes.messages), {m.weights for m in meshes.messages}
    values = diagnostics_values(diagnostics.messages[-1])
    assert values["backend"] == "onnxruntime (tensorrt unavailable)", values


def test_precision_settings_are_checked(checkpoints: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="precision int8 needs backend tensorrt"):
        load_runtime(
            RuntimeConfig(str(checkpoints[0]), backend="torch", precision="int8"),
            torch.device("cpu"),
            batch=3,
            threads=1,
        )
    with pytest.raises(ValueError, match="precision must be one of"):
        load_runtime(RuntimeConfig(str(checkpoints[0]), precision="fp8"), torch.device("cpu"), batch=3, threads=1)
    runtime = load_runtime(
        RuntimeConfig(str(checkpoints[0]), backend="tensorrt", precision="int8", accel_cache=str(tmp_path)),
        "cpu",
        batch=3,
        threads=1,
    )
    assert runtime.backend == "onnxruntime" and "precision int8 needs TensorRT" in runtime.fallback_note
    with pytest.raises(ValueError, match="cuda_graphs needs device cuda"):
        HmrRuntime(random_model("tiny"), "random", TokenMergingConfig(), cuda_graphs=True)


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_torch_half_precision_runs_the_encoder_reduced_and_the_head_in_fp32(precision: str) -> None:
    crops = real_crops()
    images, masks = crops.images[:2], crops.token_masks[:2]
    reference = HmrRuntime(random_model("tiny"), "fp32", TokenMergingConfig())
    reduced = HmrRuntime(random_model("tiny"), precision, TokenMergingConfig(), precision=precision)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert reduced.model.backbone.blocks[0].mlp.fc1.weight.dtype == dtype
    assert reduced.model.smpl_head.decpose.weight.dtype == torch.float32
    assert f"torch {precision}" in reduced.settings_text
    with torch.inference_mode():
        for call_masks in (masks, None):
            want, got = reference(images, call_masks), reduced(images, call_masks)
            assert got.body_pose.dtype == torch.float32
            assert reduced.last_notes == reference.last_notes
            error = (got.body_pose - want.body_pose).abs().max().item()
            assert 0 < error < 0.05  # reduced precision changes the result, a little (rotation entries lie in [-1, 1])


def test_cache_keys_follow_every_setting(checkpoints: tuple[Path, Path], tmp_path: Path) -> None:
    base = ExportSettings("tiny", 2, TokenMergingConfig(), "", "weights")
    variants = [
        replace(base, config="vit_s"), replace(base, batch=4), replace(base, token_merging=None),
        replace(base, token_merging=TokenMergingConfig(budget=100)), replace(base, plan="plan"),
        replace(base, weights="other"), replace(base, opset=18),
    ]  # fmt: skip
    keys = {base.key(), *(v.key() for v in variants)}
    assert len(keys) == len(variants) + 1
    assert ExportSettings("tiny", 2, TokenMergingConfig(), "", "weights").key() == base.key()
    first, second = checkpoints
    copy = tmp_path / "copy.ckpt"
    shutil.copy(first, copy)
    assert file_fingerprint(copy) == file_fingerprint(first) != file_fingerprint(second)
    with copy.open("ab") as f:
        f.write(b"\0")
    assert file_fingerprint(copy) != file_fingerprint(first)
    settings, weights, _ = export_settings(RuntimeConfig(str(first)), 2)
    assert settings.weights == weights["fingerprint"] == file_fingerprint(first)
    assert export_settings(RuntimeConfig(str(first), token_budget=192), 2)[0].token_merging is None  # nothing merges
    gpu = {"gpu": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0"}
    engine = engine_settings("a" * 64, gpu, "10.13.0", "fp16")
    changed = [
        engine_settings("b" * 64, gpu, "10.13.0", "fp16"),
        engine_settings("a" * 64, {"gpu": "Orin", "compute_capability": "8.7"}, "10.13.0", "fp16"),
        engine_settings("a" * 64, gpu, "10.3.0", "fp16"),
        engine_settings("a" * 64, gpu, "10.13.0", "int8"),
    ]
    files = {engine_file(tmp_path, "merged", s) for s in [engine, *changed]}
    assert len(files) == 5 and engine_file(tmp_path, "merged", dict(engine)) in files


def test_exported_graph_is_reused_and_checked_against_the_node(
    exported: Path, checkpoints: tuple[Path, Path], tmp_path: Path
) -> None:
    sidecar = json.loads(exported.with_suffix(".json").read_text())
    assert sidecar["parity"]["inputs"] == "given" and sidecar["parity"]["max_abs_error"] <= 1e-3
    assert sidecar["batch"] == 2 and set(sidecar["graphs"]) == {"merged", "base"}
    crops = real_crops()
    config = RuntimeConfig(str(checkpoints[0]), accel_model=str(exported))
    runtime = load_runtime(config, torch.device("cpu"), batch=3, threads=1)
    reference = load_runtime(replace(config, backend="torch"), torch.device("cpu"), batch=3, threads=1)
    with torch.inference_mode():  # 3 crops on a batch-2 graph: one full chunk, one padded
        torch.testing.assert_close(
            runtime(crops.images[:3], crops.token_masks[:3]).body_pose,
            reference(crops.images[:3], crops.token_masks[:3]).body_pose, atol=1e-4, rtol=1e-4,
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"does not fit this node's settings \(weights"):
        load_runtime(replace(config, checkpoint=str(checkpoints[1])), "cpu", batch=3, threads=1)
    with pytest.raises(ValueError, match=r"does not fit this node's settings \(token_merging"):
        load_runtime(replace(config, token_budget=100), "cpu", batch=3, threads=1)
    with pytest.raises(FileNotFoundError, match="fasthmr export"):
        load_runtime(replace(config, accel_model=str(tmp_path / "none.onnx")), "cpu", batch=3, threads=1)


def test_bad_and_stale_exported_files_fail_with_one_line(exported: Path, checkpoints: tuple[Path, Path],
                                                         tmp_path: Path) -> None:  # fmt: skip
    config = RuntimeConfig(str(checkpoints[0]))
    for name in [p.name for p in exported.parent.iterdir()]:
        shutil.copy(exported.parent / name, tmp_path / name)
    copy = tmp_path / exported.name
    side = copy.with_suffix(".json")
    original = copy.read_bytes()
    copy.write_bytes(b"not an onnx graph".ljust(len(original), b"\0"))  # same size as recorded: only the content lies
    with pytest.raises(ValueError, match="is not a loadable ONNX model"):
        load_runtime(replace(config, accel_model=str(copy)), "cpu", batch=3, threads=1)
    copy.write_bytes(original[:-100])
    with pytest.raises(ValueError, match="stale or truncated"):
        load_runtime(replace(config, accel_model=str(copy)), "cpu", batch=3, threads=1)
    copy.write_bytes(original)
    side.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_runtime(replace(config, accel_model=str(copy)), "cpu", batch=3, threads=1)
    side.unlink()
    with pytest.raises(ValueError, match="has no sidecar"):
        load_runtime(replace(config, accel_model=str(copy)), "cpu", batch=3, threads=1)
    # a broken cache entry is exported again, with one line saying why
    cache = tmp_path / "cache"
    load_runtime(replace(config, accel_cache=str(cache)), "cpu", batch=3, threads=1)
    (entry,) = (cache / "onnx").glob("*/model.onnx")
    entry.write_bytes(entry.read_bytes()[:1000])
    lines: list[str] = []
    runtime = load_runtime(replace(config, accel_cache=str(cache)), "cpu", log=lines.append, batch=3, threads=1)
    assert any("is unusable" in line and "stale or truncated" in line for line in lines)
    assert runtime.backend == "onnxruntime" and entry.stat().st_size > 1000


def test_export_command_errors(checkpoints: tuple[Path, Path], tmp_path: Path, capsys) -> None:
    out = str(tmp_path / "x.onnx")
    assert main(["export", "--checkpoint", str(tmp_path / "none.ckpt"), "--config", "tiny", "--out", out]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    argv = ["export", "--checkpoint", str(checkpoints[0]), "--config", "tiny", "--batch", "1", "--out", out]
    assert main([*argv, "--tensorrt", "--precision", "int8"]) == 2
    assert "add --video" in capsys.readouterr().err
    assert main([*argv, "--tensorrt", "--device", "cpu"]) == 2  # the ONNX is written, the engines cannot be
    captured = capsys.readouterr()
    assert "max |onnxruntime - torch|" in captured.out and Path(out).is_file()
    assert captured.err.strip().startswith("[export] TensorRT engines not built: TensorRT needs a CUDA device")
    assert len(captured.err.strip().splitlines()) == 1
    engines_only = ["export", "--onnx", out, "--tensorrt", "--device", "cpu"]
    assert main(engines_only) == 2 and "TensorRT needs a CUDA device" in capsys.readouterr().err
    assert main(["export", "--onnx", str(tmp_path / "none.onnx"), "--tensorrt"]) == 2
    assert "ONNX model not found" in capsys.readouterr().err


def test_exported_graphs_use_only_operators_tensorrt_imports(exported: Path, tmp_path: Path) -> None:
    for graph in ("tiny.onnx", "tiny.base.onnx"):
        assert unsupported_ops(exported.parent / graph) == []
    node = helper.make_node("Unique", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None])],
    )  # fmt: skip
    onnx.save(helper.make_model(graph), str(tmp_path / "unique.onnx"))
    assert unsupported_ops(tmp_path / "unique.onnx") == ["Unique"]


def _stand_in_tensorrt(calls: list[str], parse_ok: bool = True) -> types.ModuleType:
    """A stand-in for the `tensorrt` module with the TensorRT 10 names build_engine uses; records the calls."""
    trt = types.ModuleType("tensorrt")
    trt.__version__ = "10.13.0.35"

    class Logger:
        WARNING = "warning"

        def __init__(self, severity: str) -> None:
            calls.append(f"Logger({severity})")

    class Parser:
        num_errors = 0 if parse_ok else 1

        def __init__(self, network: object, logger: object) -> None:
            pass

        def parse_from_file(self, path: str) -> bool:
            calls.append(f"parse({Path(path).name})")
            return parse_ok

        def get_error(self, index: int) -> str:
            return "In node 7 (importTopK): UNSUPPORTED_NODE"

    class Config:
        int8_calibrator = None

        def set_memory_pool_limit(self, pool: str, size: int) -> None:
            calls.append(f"pool({pool},{size})")

        def set_flag(self, flag: str) -> None:
            calls.append(f"flag({flag})")

    class Builder:
        def __init__(self, logger: object) -> None:
            pass

        def create_network(self, flags: int) -> object:
            calls.append(f"network({flags})")
            return object()

        def create_builder_config(self) -> Config:
            return Config()

        def build_serialized_network(self, network: object, config: Config) -> bytes:
            calls.append("build")
            return b"serialized engine"

    trt.Logger = Logger
    trt.OnnxParser = Parser
    trt.Builder = Builder
    trt.init_libnvinfer_plugins = lambda logger, namespace: calls.append("plugins")
    trt.MemoryPoolType = types.SimpleNamespace(WORKSPACE="workspace")
    trt.BuilderFlag = types.SimpleNamespace(FP16="fp16", BF16="bf16", INT8="int8")
    return trt


def test_engine_builder_calls_and_cache_with_a_stand_in_tensorrt(exported: Path, tmp_path: Path, monkeypatch) -> None:
    """Uses a stand-in for the tensorrt module and for the GPU query (neither exists on this CPU machine): checks
    the order of TensorRT API calls, the flags per precision, the atomic engine write, the engine cache (no second
    build), and the one-line errors for a graph TensorRT cannot parse and for INT8 without calibration data."""
    calls: list[str] = []
    monkeypatch.setitem(sys.modules, "tensorrt", _stand_in_tensorrt(calls))
    monkeypatch.setattr(tensorrt_engine, "gpu_identity", lambda device: {"gpu": "Orin", "compute_capability": "8.7"})
    sidecar = json.loads(exported.with_suffix(".json").read_text())
    sha = sidecar["graphs"]["merged"]["sha256"]
    path = ensure_engine(exported, sha, "merged", tmp_path, "fp16", "cuda", log=calls.append)
    assert path.read_bytes() == b"serialized engine" and not path.with_name(path.name + ".tmp").exists()
    api = [c for c in calls if not c.startswith(("building", "engine built"))]
    assert api == ["Logger(warning)", "plugins", "network(0)", "parse(tiny.onnx)", f"pool(workspace,{4 << 30})",
                   "flag(fp16)", "build"]  # fmt: skip
    assert json.loads(path.with_suffix(".json").read_text())["onnx_sha256"] == sha
    calls.clear()
    assert ensure_engine(exported, sha, "merged", tmp_path, "fp16", "cuda", log=calls.append) == path and not calls
    bf16 = ensure_engine(exported, sha, "merged", tmp_path, "bf16", "cuda", log=calls.append)
    assert bf16 != path and "flag(bf16)" in calls
    with pytest.raises(ValueError, match="fasthmr export --tensorrt --int8 --video"):
        ensure_engine(exported, sha, "merged", tmp_path, "int8", "cuda")
    monkeypatch.setitem(sys.modules, "tensorrt", _stand_in_tensorrt(calls, parse_ok=False))
    with pytest.raises(ValueError, match=r"TensorRT cannot parse .*importTopK"):
        ensure_engine(exported, "c" * 64, "merged", tmp_path, "fp16", "cuda")


def test_export_refuses_a_graph_that_does_not_match_torch(tmp_path: Path) -> None:
    """The parity check can fail: a zero tolerance on a graph with float rounding is refused, sidecar kept."""
    crops = real_crops()
    with pytest.raises(ValueError, match="differs from PyTorch by"):
        export_encoder(random_model("tiny"), tmp_path / "t.onnx", 2, TokenMergingConfig(), {"fingerprint": "x"},
                       sample=(crops.images[:2], crops.token_masks[:2]), tolerance=0.0)  # fmt: skip
    assert json.loads((tmp_path / "t.json").read_text())["parity"]["max_abs_error"] > 0
