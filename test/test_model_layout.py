"""vit_h must have the official 4D-Humans key names and shapes (strict checkpoint loading depends on it)."""

from __future__ import annotations

import torch

from fasthmr_ros.model.configs import CONFIGS
from fasthmr_ros.model.hmr2 import HMR2


def official_hmr2_layout() -> dict[str, tuple[int, ...]]:
    """The backbone.* / smpl_head.* layout of the official HMR2.0 checkpoint, written out from its published
    description: ViT-H/16 (1280 wide, 32 blocks, MLP 5120, 193 position slots) and a 6-layer decoder head (1024
    wide, 8 heads x 64, context 1280, FFN 1024, readouts 144/10/3)."""
    layout: dict[str, tuple[int, ...]] = {
        "backbone.pos_embed": (1, 193, 1280),
        "backbone.patch_embed.proj.weight": (1280, 3, 16, 16),
        "backbone.patch_embed.proj.bias": (1280,),
        "backbone.last_norm.weight": (1280,),
        "backbone.last_norm.bias": (1280,),
    }
    for i in range(32):
        block = f"backbone.blocks.{i}"
        layout |= {
            f"{block}.norm1.weight": (1280,),
            f"{block}.norm1.bias": (1280,),
            f"{block}.attn.qkv.weight": (3840, 1280),
            f"{block}.attn.qkv.bias": (3840,),
            f"{block}.attn.proj.weight": (1280, 1280),
            f"{block}.attn.proj.bias": (1280,),
            f"{block}.norm2.weight": (1280,),
            f"{block}.norm2.bias": (1280,),
            f"{block}.mlp.fc1.weight": (5120, 1280),
            f"{block}.mlp.fc1.bias": (5120,),
            f"{block}.mlp.fc2.weight": (1280, 5120),
            f"{block}.mlp.fc2.bias": (1280,),
        }
    layout |= {
        "smpl_head.init_body_pose": (1, 144),
        "smpl_head.init_betas": (1, 10),
        "smpl_head.init_cam": (1, 3),
        "smpl_head.transformer.to_token_embedding.weight": (1024, 1),
        "smpl_head.transformer.to_token_embedding.bias": (1024,),
        "smpl_head.transformer.pos_embedding": (1, 1, 1024),
        "smpl_head.decpose.weight": (144, 1024),
        "smpl_head.decpose.bias": (144,),
        "smpl_head.decshape.weight": (10, 1024),
        "smpl_head.decshape.bias": (10,),
        "smpl_head.deccam.weight": (3, 1024),
        "smpl_head.deccam.bias": (3,),
    }
    for i in range(6):
        layer = f"smpl_head.transformer.transformer.layers.{i}"
        for sub in range(3):
            layout |= {f"{layer}.{sub}.norm.weight": (1024,), f"{layer}.{sub}.norm.bias": (1024,)}
        layout |= {
            f"{layer}.0.fn.to_qkv.weight": (1536, 1024),
            f"{layer}.0.fn.to_out.0.weight": (1024, 512),
            f"{layer}.0.fn.to_out.0.bias": (1024,),
            f"{layer}.1.fn.to_kv.weight": (1024, 1280),
            f"{layer}.1.fn.to_q.weight": (512, 1024),
            f"{layer}.1.fn.to_out.0.weight": (1024, 512),
            f"{layer}.1.fn.to_out.0.bias": (1024,),
            f"{layer}.2.fn.net.0.weight": (1024, 1024),
            f"{layer}.2.fn.net.0.bias": (1024,),
            f"{layer}.2.fn.net.3.weight": (1024, 1024),
            f"{layer}.2.fn.net.3.bias": (1024,),
        }
    return layout


def test_vit_h_matches_official_layout_on_meta_device() -> None:
    with torch.device("meta"):
        model = HMR2("vit_h")
    state = model.state_dict()
    expected = official_hmr2_layout()
    assert sorted(set(expected) - set(state)) == []
    assert sorted(set(state) - set(expected)) == []
    wrong = {k: (tuple(state[k].shape), v) for k, v in expected.items() if tuple(state[k].shape) != v}
    assert wrong == {}
    assert all(t.is_meta for t in state.values())


def test_vit_h_parameter_count_is_official() -> None:
    with torch.device("meta"):
        model = HMR2("vit_h")
    layout = official_hmr2_layout()
    buffers = {"smpl_head.init_body_pose", "smpl_head.init_betas", "smpl_head.init_cam"}
    expected = sum(int(torch.Size(shape).numel()) for key, shape in layout.items() if key not in buffers)
    count = sum(p.numel() for p in model.parameters())
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert count == expected
    assert abs(count - 670.5e6) < 0.1e6  # the published ~670.5 M
    assert abs(backbone - 631e6) < 0.5e6  # the published ~631 M backbone


def test_small_configs_keep_the_official_structure() -> None:
    vit_h_keys = set(official_hmr2_layout())
    for name, config in CONFIGS.items():
        with torch.device("meta"):
            model = HMR2(config)
        state = model.state_dict()
        width = config.backbone.embed_dim
        assert len(model.backbone.blocks) == config.backbone.depth
        assert tuple(state["backbone.pos_embed"].shape) == (1, 193, width), name
        assert tuple(state["smpl_head.transformer.transformer.layers.0.1.fn.to_kv.weight"].shape)[1] == width
        # Every key is a vit_h key with block/layer indices that exist in vit_h.
        assert set(state) <= vit_h_keys, name
