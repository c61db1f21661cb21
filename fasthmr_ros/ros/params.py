"""The node's parameters: one table that the node declares, config/hmr.yaml mirrors and the README documents."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class NodeParams:
    # inputs
    image_topic: str = "/camera/image_raw"
    camera_info_topic: str = "/camera/camera_info"
    image_transport: str = "raw"  # "raw" (sensor_msgs/Image) or "compressed" (<image_topic>/compressed)
    frame_id: str = ""  # overrides the input frame id when set
    # models
    models: bool = True  # false: run without any model and publish empty results (for plumbing tests)
    device: str = "cpu"
    checkpoint: str = ""  # HMR2.0 Lightning .ckpt or state_dict; "" = the embedded demo model
    model_config: str = "vit_h"  # architecture of `checkpoint`
    smpl_model: str = ""  # SMPL_NEUTRAL .pkl/.npz; "" = the embedded (non-SMPL) body model
    merge_plan: str = ""  # ECLM merge plan (fasthmr calibrate); "" = no layer merging
    mask_backend: str = "mediapipe"  # person masks: "mediapipe" or "onnx"
    mask_model: str = ""  # ONNX YOLO-seg model for mask_backend "onnx"
    token_merging: bool = True  # Mask-ToMe in the first encoder blocks
    token_budget: int = 90
    backend: str = "torch"  # encoder + head: "torch", "onnxruntime" or "tensorrt" (falls back with one log line)
    precision: str = "fp32"  # fp32 (reference) | fp16 | bf16 (torch, tensorrt) | int8 (tensorrt, calibrated engine)
    cuda_graphs: bool = False  # torch on CUDA: replay the encoder as CUDA graphs at batch max_people
    cpu_linear: str = "onednn"  # torch on CPU, fp32: "onednn" (faster linear layers) | "torch" (torch's default)
    accel_model: str = ""  # `fasthmr export` .onnx for onnxruntime/tensorrt; "" = export into accel_cache on first use
    accel_cache: str = ""  # ONNX exports + TensorRT engines; "" = $FASTHMR_CACHE or ~/.cache/fasthmr
    decoder: bool = True  # streaming temporal decoder on/off
    decoder_model: str = ""  # "" = the embedded decoder
    decoder_window: int = 0  # 0 = the decoder's trained default
    decoder_lookahead: int = 0
    max_people: int = 4
    # outputs
    publish_vertices: bool = True
    publish_markers: bool = True
    publish_overlay: bool = False
    marker_triangles: int = 1500  # size of the RViz marker mesh (the full mesh is in ~/meshes)
    diagnostics_period_s: float = 1.0
    record: str = ""  # MCAP file to record every output message into ("" = off)

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
