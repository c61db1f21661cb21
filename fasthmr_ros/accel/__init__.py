"""Deployment backends for the encoder + head: ONNX export, onnxruntime, TensorRT, and the PyTorch CUDA speed modes.

- onnx_export: the merged (Mask-ToMe inside the graph) and base graphs at a static batch, checked against PyTorch,
  with a JSON sidecar that says what they were exported from.
- cache: where exports and engines live, and the keys that decide when one can be reused.
- onnx_backend / tensorrt_engine: run those graphs; graph_runtime: the HmrRuntime-compatible wrapper around them.
- torch_speed: fp16/bf16, CUDA graphs, pinned-memory transfers for the PyTorch backend.
- backends: which backend a node gets when the one asked for cannot run here (one log line says why).
"""
