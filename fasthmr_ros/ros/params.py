"""The node's parameters: its own (topics, outputs) plus the pipeline's settings under their flat names.

Defaults live in the dataclass fields (here and in perception/config.py); config/hmr.yaml and the README's
parameter table are checked against `parameter_defaults()` by a test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from fasthmr_ros.perception.config import FLAT_NAMES, PipelineConfig, flat_defaults


@dataclass(frozen=True)
class NodeParams:
    # inputs
    image_topic: str = "/camera/image_raw"
    camera_info_topic: str = "/camera/camera_info"
    image_transport: str = "raw"  # "raw" (sensor_msgs/Image) or "compressed" (<image_topic>/compressed)
    frame_id: str = ""  # overrides the input frame id when set
    models: bool = True  # false: run without any model and publish empty results (for plumbing tests)
    overlap_stages: bool = True  # the masks of the next frame run while the rest of this one does (2 threads)
    # outputs
    publish_vertices: bool = True
    publish_markers: bool = True
    publish_overlay: bool = False
    marker_triangles: int = 1500  # size of the RViz marker mesh (the full mesh is in ~/meshes)
    diagnostics_period_s: float = 1.0
    record: str = ""  # MCAP file to record every output message into ("" = off)
    viewer: bool = False  # serve the live Rerun web viewer (the optional `viewer` extra)
    viewer_port: int = 9090  # its web page; the data stream (gRPC, 127.0.0.1) listens on viewer_port + 1
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)

    @classmethod
    def own_names(cls) -> list[str]:
        return [f.name for f in fields(cls) if f.name != "pipeline"]

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> NodeParams:
        """From flat parameter values (the node's own names and the pipeline's FLAT_NAMES); unknown names raise."""
        own = {name: values[name] for name in cls.own_names() if name in values}
        rest = {name: value for name, value in values.items() if name not in own}
        return cls(**own, pipeline=PipelineConfig.from_flat(rest))


def parameter_defaults() -> dict[str, Any]:
    """Every parameter the node declares, with its default."""
    base = NodeParams()
    own = {name: getattr(base, name) for name in NodeParams.own_names()}
    clash = set(own) & set(FLAT_NAMES)
    if clash:
        raise RuntimeError(f"parameter names used twice: {sorted(clash)}")
    return {**own, **flat_defaults()}
