"""`cpu_linear: onednn`: the linear layers run oneDNN's kernel on CPU, give what nn.Linear gives, and step aside
for autograd, other dtypes and a torch without oneDNN (that last one simulated: this machine has oneDNN)."""

from __future__ import annotations

import io
from functools import partial

import onnx
import pytest
import torch
from _merged_data import random_model, real_crops
from _model_checkpoints import runtime_config
from torch import nn
from torch.profiler import profile

from fasthmr_ros.model.tome import TokenMergingConfig
from fasthmr_ros.runtime import cpu_linear
from fasthmr_ros.runtime.cpu_linear import OneDnnLinear, use_cpu_linear
from fasthmr_ros.runtime.hmr_runtime import HmrRuntime, load_runtime

ONEDNN_OP = "mkldnn::_linear_pointwise"


def ops_called(fn) -> set[str]:
    with profile() as prof:
        fn()
    return {event.name for event in prof.events()}


def test_onednn_linear_matches_nn_linear_and_uses_onednn() -> None:
    torch.manual_seed(0)
    for bias in (True, False):
        reference = nn.Linear(48, 40, bias=bias)
        layer = nn.Linear(48, 40, bias=bias)
        layer.load_state_dict(reference.state_dict())
        assert use_cpu_linear(layer, "onednn") == 0 and type(layer) is nn.Linear  # too small to pay
        assert use_cpu_linear(layer, "onednn", min_weights=0) == 1 and isinstance(layer, OneDnnLinear)
        assert layer.state_dict().keys() == reference.state_dict().keys()
        inputs = [torch.randn(3, 7, 48), torch.randn(3, 7, 64)[..., 8:56], torch.randn(48, 5).t(), torch.randn(0, 48)]
        with torch.inference_mode():
            for x in inputs:
                got = layer(x)
                assert got.shape == reference(x).shape
                torch.testing.assert_close(got, reference(x), atol=1e-5, rtol=1e-5)
            assert ONEDNN_OP in ops_called(partial(layer, inputs[0]))
            assert ONEDNN_OP not in ops_called(partial(reference, inputs[0]))
        assert use_cpu_linear(layer, "torch") == 1 and type(layer) is nn.Linear


@pytest.mark.filterwarnings("ignore:.*TorchScript-based ONNX export.*:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:The feature will be removed:DeprecationWarning")
def test_autograd_and_other_dtypes_fall_through_to_nn_linear() -> None:
    torch.manual_seed(0)
    layer, reference = nn.Linear(16, 8), nn.Linear(16, 8)
    reference.load_state_dict(layer.state_dict())
    use_cpu_linear(layer, "onednn", min_weights=0)
    x = torch.randn(4, 16)
    assert ONEDNN_OP not in ops_called(lambda: layer(x))  # grad mode, trainable weights: the op has no backward
    layer(x).square().sum().backward()
    reference(x).square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, reference.weight.grad)
    half = layer.to(torch.bfloat16)
    with torch.inference_mode():
        assert ONEDNN_OP not in ops_called(lambda: half(x.to(torch.bfloat16)))
        assert half(x.to(torch.bfloat16)).dtype == torch.bfloat16
    buffer = io.BytesIO()
    with torch.inference_mode():  # the ONNX exporter traces the layer: it must record a plain linear
        torch.onnx.export(layer.float(), (x,), buffer, dynamo=False, input_names=["x"])
    ops = {node.op_type for node in onnx.load_from_string(buffer.getvalue()).graph.node}
    assert ops & {"Gemm", "MatMul"}, ops
    with pytest.raises(ValueError, match="cpu_linear 'blas': choose one of onednn, torch"):
        use_cpu_linear(layer, "blas")


def test_runtime_with_onednn_linears_matches_torch_linears_on_real_crops() -> None:
    crops = real_crops()
    images, masks = crops.images[:3], crops.token_masks[:3]
    # vit_s: 384-wide blocks and the official 1024-wide head, large enough for oneDNN; its small readouts are not
    reference = HmrRuntime(random_model("vit_s"), "torch", TokenMergingConfig(), cpu_linear="torch")
    fast = HmrRuntime(random_model("vit_s"), "onednn", TokenMergingConfig(), cpu_linear="onednn")
    assert fast.cpu_linear == "onednn" and "oneDNN linears" in fast.settings_text
    assert "oneDNN" not in reference.settings_text
    assert isinstance(fast.model.backbone.blocks[0].attn.qkv, OneDnnLinear)
    assert type(fast.model.smpl_head.decpose) is nn.Linear
    with torch.inference_mode():
        for call_masks in (masks, None):
            want, got = reference(images, call_masks), fast(images, call_masks)
            torch.testing.assert_close(got.body_pose, want.body_pose, atol=1e-4, rtol=1e-4)
            torch.testing.assert_close(got.pred_cam, want.pred_cam, atol=1e-4, rtol=1e-4)
            assert fast.last_notes == reference.last_notes
        assert ONEDNN_OP in ops_called(lambda: fast(images, masks))
    bf16 = HmrRuntime(random_model("tiny"), "bf16", TokenMergingConfig(), precision="bf16", cpu_linear="onednn")
    assert bf16.cpu_linear == "torch" and bf16.cpu_linear_note == ""  # oneDNN swap is for fp32 only, silently
    with pytest.raises(ValueError, match="cpu_linear 'mkl'"):
        HmrRuntime(random_model("tiny"), "bad", cpu_linear="mkl")


def test_load_runtime_takes_cpu_linear_and_falls_back_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = load_runtime(runtime_config(), torch.device("cpu"), batch=4, threads=1)  # the embedded demo model
    assert runtime.cpu_linear == "onednn" and runtime.fallback_note == ""
    assert (
        load_runtime(runtime_config(cpu_linear="torch"), torch.device("cpu"), batch=4, threads=1).cpu_linear == "torch"
    )
    # A torch build without oneDNN (e.g. some ARM wheels) cannot be installed here: simulate its answer.
    monkeypatch.setattr(cpu_linear.torch.backends.mkldnn, "is_available", lambda: False)
    fallback = load_runtime(runtime_config(), torch.device("cpu"), batch=4, threads=1)
    assert fallback.cpu_linear == "torch"
    assert fallback.fallback_note == "cpu_linear onednn -> torch: this torch build has no oneDNN (mkldnn)"
