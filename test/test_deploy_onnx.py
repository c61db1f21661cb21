"""ONNX export of the (merged) encoder + head and the onnxruntime backend, on real person crops with real masks."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from _merged_data import random_model, real_crops
from _model_checkpoints import runtime_config, write_official_checkpoint

from fasthmr_ros.model.eclm import MergePlan, apply_plan
from fasthmr_ros.model.tome import MaskToMeModel, TokenMergingConfig
from fasthmr_ros.runtime.graph_runtime import GraphRuntime
from fasthmr_ros.runtime.hmr_runtime import HmrRuntime, load_runtime
from fasthmr_ros.runtime.onnx_backend import OnnxGraph
from fasthmr_ros.runtime.onnx_export import export_encoder
from fasthmr_ros.runtime.static_batch import run_static_batch

WEIGHTS = {"description": "random test weights", "fingerprint": "test"}


def fitting_crops(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Real crops whose person leaves enough background for the 90-token budget (no person merges)."""
    crops = real_crops()
    fits = crops.token_masks.reshape(len(crops), -1).sum(dim=1) <= 89
    return crops.images[fits][:count], crops.token_masks[fits][:count]


RuntimeConfig = partial(runtime_config, backend="onnxruntime")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One torch thread: on the shared 2-core CI machine two OpenMP threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run_session(path: Path, images: torch.Tensor, masks: torch.Tensor | None) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {"images": images.numpy()}
    if masks is not None:
        feed["token_masks"] = masks.numpy()
    return session.run(None, feed)


@pytest.mark.parametrize(
    ("config", "merging"),
    [("tiny", True), ("tiny", False), ("vit_s", True)],
    ids=["tiny-tome", "tiny-base", "vit_s-tome"],
)
def test_export_matches_torch_on_other_crops(tmp_path: Path, config: str, merging: bool) -> None:
    """The graphs hold no data-dependent shapes: crops other than the export's check inputs match PyTorch too."""
    model = random_model(config)
    token_merging = TokenMergingConfig() if merging else None
    images, masks = fitting_crops(5)
    out = tmp_path / "encoder.onnx"
    sidecar = export_encoder(model, out, 2, token_merging, WEIGHTS, sample=(images[:2], masks[:2]), tolerance=1e-4)
    assert set(sidecar["graphs"]) == ({"merged", "base"} if merging else {"base"})
    assert sidecar["schedule"] == ([40, 40, 22] if merging else [])
    recorded = max(max(g["max_abs_error"].values()) for g in sidecar["graphs"].values())
    assert recorded == sidecar["parity"]["max_abs_error"] <= 1e-4
    for kind, graph in sidecar["graphs"].items():
        proto = onnx.load(str(tmp_path / graph["file"]))
        onnx.checker.check_model(proto)
        assert proto.opset_import[0].version == 17
        assert [d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == [2, 3, 256, 192]
        assert [i.name for i in proto.graph.input] == (["images", "token_masks"] if kind == "merged" else ["images"])
    for rows in (slice(2, 4), slice(3, 5)):
        batch_images, batch_masks = images[rows], masks[rows]
        with torch.inference_mode():
            if merging:
                expected = MaskToMeModel(model, token_merging)(batch_images, batch_masks)
                got = run_session(out, batch_images, batch_masks)
                assert np.array_equal(got[4], expected[4].numpy())  # person_merges: exact counts
            else:
                result = model(batch_images)
                expected = (result.pose_6d, result.betas, result.pred_cam, result.token)
                got = run_session(out, batch_images, None)
        for want, have in zip(expected[:4], got[:4], strict=True):
            np.testing.assert_allclose(have, want.numpy(), atol=1e-4, rtol=1e-4)
    if merging:  # the base graph of a merging export is the unmerged encoder
        base = run_session(tmp_path / sidecar["graphs"]["base"]["file"], images[2:4], None)
        with torch.inference_mode():
            np.testing.assert_allclose(base[0], model(images[2:4]).pose_6d.numpy(), atol=1e-4, rtol=1e-4)


def test_export_carries_the_merge_plan(tmp_path: Path) -> None:
    """An ECLM-merged model exports its merged blocks: the graph equals the merged model, not the original."""
    images, masks = fitting_crops(2)
    original = random_model("tiny", seed=3)
    merged = apply_plan(random_model("tiny", seed=3), MergePlan("tiny", 6, [(3, 5)], tau_mm=0.1))
    sidecar = export_encoder(merged, tmp_path / "m.onnx", 2, TokenMergingConfig(), WEIGHTS, sample=(images, masks))
    assert sidecar["merge_plan"].startswith("ECLM 6->4 blocks") and sidecar["settings"]["plan"]
    got = run_session(tmp_path / "m.onnx", images, masks)[0]
    with torch.inference_mode():
        want = MaskToMeModel(merged, TokenMergingConfig())(images, masks)[0].numpy()
        unmerged = MaskToMeModel(original, TokenMergingConfig())(images, masks)[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert np.abs(got - unmerged).max() > 100 * np.abs(got - want).max()


def test_static_batch_pads_and_chunks_without_changing_results(tmp_path: Path) -> None:
    """A batch-2 graph serves 1, 2 and 5 crops; every crop's outputs equal PyTorch's on that crop alone."""
    model = random_model("tiny")
    images, masks = fitting_crops(5)
    export_encoder(model, tmp_path / "b2.onnx", 2, TokenMergingConfig(), WEIGHTS, sample=(images[:2], masks[:2]))
    graph = OnnxGraph(tmp_path / "b2.onnx", threads=1)
    assert graph.batch == 2 and graph.takes_masks
    reference = HmrRuntime(random_model("tiny"), "ref", TokenMergingConfig())
    for count in (1, 2, 5):
        out = run_static_batch(graph.run, graph.batch, images[:count], masks[:count])
        assert out["pose_6d"].shape == (count, 144) and out["person_merges"].shape == (count,)
        with torch.inference_mode():
            want = torch.cat([reference(images[n : n + 1], masks[n : n + 1]).pose_6d for n in range(count)])
        torch.testing.assert_close(out["pose_6d"], want, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="3 crops but 2 token masks"):
        run_static_batch(graph.run, 2, images[:3], masks[:2])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    write_official_checkpoint(path, "tiny", seed=7)
    return path


def test_onnxruntime_backend_exports_once_and_matches_the_torch_runtime(checkpoint: Path, tmp_path: Path) -> None:
    images, masks = fitting_crops(3)
    lines: list[str] = []
    config = RuntimeConfig(str(checkpoint), accel_cache=str(tmp_path / "cache"))
    runtime = load_runtime(config, torch.device("cpu"), log=lines.append, batch=2, threads=1)
    assert isinstance(runtime, GraphRuntime) and runtime.backend == "onnxruntime" and not runtime.fallback_note
    assert any("exporting the tiny encoder" in line for line in lines)
    assert "onnxruntime fp32 (CPUExecutionProvider)" in runtime.settings_text and "192->90" in runtime.settings_text
    torch_runtime = load_runtime(
        RuntimeConfig(str(checkpoint), backend="torch"), torch.device("cpu"), batch=2, threads=1
    )
    with torch.inference_mode():
        for call_masks in (masks, None):
            got, want = runtime(images, call_masks), torch_runtime(images, call_masks)
            assert runtime.last_notes == torch_runtime.last_notes
            for name in ("global_orient", "body_pose", "betas", "pred_cam", "token"):
                torch.testing.assert_close(getattr(got, name), getattr(want, name), atol=1e-4, rtol=1e-4)
    assert runtime.last_notes["token_merging"] == "skipped: no person masks"
    exported = sorted((tmp_path / "cache" / "onnx").glob("*/model.onnx"))
    assert len(exported) == 1
    stamp = exported[0].stat().st_mtime_ns
    lines.clear()
    again = load_runtime(
        config, torch.device("cpu"), log=lines.append, batch=2, threads=1
    )  # cache hit: no export, same file
    assert not lines and exported[0].stat().st_mtime_ns == stamp
    with torch.inference_mode():
        torch.testing.assert_close(again(images, masks).pose_6d, runtime(images, masks).pose_6d)
