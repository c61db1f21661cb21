"""One exported graph in onnxruntime: a fixed-batch callable (images, token_masks | None) -> named torch outputs."""

from __future__ import annotations

from pathlib import Path

import torch

from fasthmr_ros.runtime.onnx_export import EXPORT_HINT


def ort_providers(device: torch.device | str) -> list:
    """onnxruntime execution providers for a torch device: CUDA (same GPU) when asked for and present, else CPU."""
    import onnxruntime as ort

    device = torch.device(device)
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


class OnnxGraph:
    """An exported encoder graph in an onnxruntime session. batch: the static batch it was exported with."""

    def __init__(self, path: str | Path, device: torch.device | str = "cpu", threads: int = 0) -> None:
        import onnxruntime as ort

        path = Path(path)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=ort_providers(device))
        except Exception as error:  # onnxruntime raises its own exception types (InvalidProtobuf, Fail, ...)
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{path} is not a loadable ONNX model ({first[:200]}); {EXPORT_HINT}") from error
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        if "images" not in inputs or set(inputs) - {"images", "token_masks"}:
            raise ValueError(f"{path} is not a fasthmr encoder graph (inputs {sorted(inputs)}); {EXPORT_HINT}")
        batch = inputs["images"][0]
        if not isinstance(batch, int):
            raise ValueError(f"{path} has a dynamic batch ({batch!r}); fasthmr exports use a static batch")
        self.path = path
        self.batch = batch
        self.takes_masks = "token_masks" in inputs
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.providers = self.session.get_providers()

    def run(self, images: torch.Tensor, token_masks: torch.Tensor | None) -> dict[str, torch.Tensor]:
        feed = {"images": images.detach().to("cpu", torch.float32).contiguous().numpy()}
        if self.takes_masks:
            if token_masks is None:
                raise ValueError(f"{self.path.name} merges tokens and needs token masks")
            feed["token_masks"] = token_masks.detach().to("cpu", torch.bool).contiguous().numpy()
        values = self.session.run(self.output_names, feed)
        return {name: torch.from_numpy(value) for name, value in zip(self.output_names, values, strict=True)}
