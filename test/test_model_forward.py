"""The model computes HMR2.0's published forward pass, checked against a plain re-derivation from the state_dict."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from fasthmr_ros.model.hmr2 import HMR2
from fasthmr_ros.model.rotation import rot6d_to_rotmat


def layer_norm(x: torch.Tensor, state: dict, key: str, eps: float) -> torch.Tensor:
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * state[f"{key}.weight"] + state[f"{key}.bias"]


def linear(x: torch.Tensor, state: dict, key: str) -> torch.Tensor:
    out = x @ state[f"{key}.weight"].T
    return out + state[f"{key}.bias"] if f"{key}.bias" in state else out


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v per head, explicit; inputs (B, N, heads*d)."""
    b, nq, inner = q.shape
    d = inner // heads
    qh = q.reshape(b, nq, heads, d).permute(0, 2, 1, 3)
    kh = k.reshape(b, k.shape[1], heads, d).permute(0, 2, 1, 3)
    vh = v.reshape(b, v.shape[1], heads, d).permute(0, 2, 1, 3)
    weights = torch.softmax(qh @ kh.transpose(-1, -2) / math.sqrt(d), dim=-1)
    return (weights @ vh).permute(0, 2, 1, 3).reshape(b, nq, inner)


def gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def reference_forward(state: dict, images: torch.Tensor, model: HMR2) -> dict[str, torch.Tensor]:
    cfg_b, cfg_h = model.config.backbone, model.config.head
    # patch conv 16x16, stride 16, padding 2 -> tokens in row-major order; every token + pos[1:] + pos[0]
    x = F.conv2d(images, state["backbone.patch_embed.proj.weight"], state["backbone.patch_embed.proj.bias"], 16, 2)
    x = x.flatten(2).transpose(1, 2)
    x = x + state["backbone.pos_embed"][:, 1:] + state["backbone.pos_embed"][:, :1]
    for i in range(cfg_b.depth):
        p = f"backbone.blocks.{i}"
        h = layer_norm(x, state, f"{p}.norm1", 1e-6)
        q, k, v = linear(h, state, f"{p}.attn.qkv").chunk(3, dim=-1)
        x = x + linear(attention(q, k, v, cfg_b.num_heads), state, f"{p}.attn.proj")
        h = layer_norm(x, state, f"{p}.norm2", 1e-6)
        x = x + linear(gelu(linear(h, state, f"{p}.mlp.fc1")), state, f"{p}.mlp.fc2")
    context = layer_norm(x, state, "backbone.last_norm", 1e-6)

    t = "smpl_head.transformer"
    zero = torch.zeros(images.shape[0], 1, 1, dtype=images.dtype)
    token = linear(zero, state, f"{t}.to_token_embedding") + state[f"{t}.pos_embedding"]
    for i in range(cfg_h.depth):
        p = f"{t}.transformer.layers.{i}"
        h = layer_norm(token, state, f"{p}.0.norm", 1e-5)
        q, k, v = linear(h, state, f"{p}.0.fn.to_qkv").chunk(3, dim=-1)
        token = token + linear(attention(q, k, v, cfg_h.heads), state, f"{p}.0.fn.to_out.0")
        h = layer_norm(token, state, f"{p}.1.norm", 1e-5)
        k, v = linear(context, state, f"{p}.1.fn.to_kv").chunk(2, dim=-1)
        q = linear(h, state, f"{p}.1.fn.to_q")
        token = token + linear(attention(q, k, v, cfg_h.heads), state, f"{p}.1.fn.to_out.0")
        h = layer_norm(token, state, f"{p}.2.norm", 1e-5)
        token = token + linear(gelu(linear(h, state, f"{p}.2.fn.net.0")), state, f"{p}.2.fn.net.3")
    token = token[:, 0]
    return {
        "token": token,
        "pose_6d": linear(token, state, "smpl_head.decpose") + state["smpl_head.init_body_pose"],
        "betas": linear(token, state, "smpl_head.decshape") + state["smpl_head.init_betas"],
        "cam": linear(token, state, "smpl_head.deccam") + state["smpl_head.init_cam"],
    }


def random_model(name: str = "tiny", seed: int = 0) -> HMR2:
    torch.manual_seed(seed)
    model = HMR2(name).double().eval()
    with torch.no_grad():  # non-trivial norms and mean parameters, so every term of the forward pass matters
        for key, value in model.state_dict().items():
            if "norm" in key or key.startswith("smpl_head.init_"):
                value.add_(0.1 * torch.randn_like(value))
    return model


def test_forward_matches_reference_derivation() -> None:
    model = random_model()
    images = torch.randn(3, 3, 256, 192, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    state = {k: v.detach() for k, v in model.state_dict().items()}
    expected = reference_forward(state, images, model)
    with torch.no_grad():
        out = model(images)
    assert torch.allclose(out.token, expected["token"], atol=1e-10)
    assert torch.allclose(out.pose_6d, expected["pose_6d"], atol=1e-10)
    assert torch.allclose(out.betas, expected["betas"], atol=1e-10)
    assert torch.allclose(out.pred_cam, expected["cam"], atol=1e-10)
    rot = rot6d_to_rotmat(expected["pose_6d"].reshape(3, 24, 6))
    assert torch.allclose(out.global_orient, rot[:, :1], atol=1e-10)
    assert torch.allclose(out.body_pose, rot[:, 1:], atol=1e-10)
    assert torch.allclose(out.rotmats, rot, atol=1e-10)
    assert out.token.shape == (3, model.config.head.dim)


def test_pos_embed_cls_slot_is_added_to_every_patch() -> None:
    model = random_model()
    with torch.no_grad():
        model.backbone.patch_embed.proj.weight.zero_()
        model.backbone.patch_embed.proj.bias.zero_()
        tokens = model.backbone.embed(torch.randn(2, 3, 256, 192, dtype=torch.float64))
    pos = model.backbone.pos_embed.detach()
    for index in (0, 5, 100, 191):
        assert torch.equal(tokens[1, index], pos[0, 1 + index] + pos[0, 0])


def test_patch_grid_is_row_major_with_padding_two() -> None:
    model = random_model()
    width = model.config.backbone.embed_dim
    with torch.no_grad():
        weight = torch.zeros(width, 3, 16, 16, dtype=torch.float64)
        weight[0, 0] = 1.0  # channel 0 of a token = sum of its receptive field in image channel 0
        model.backbone.patch_embed.proj.weight.copy_(weight)
        model.backbone.patch_embed.proj.bias.zero_()
        model.backbone.pos_embed.zero_()
        for y, x in ((0, 0), (13, 13), (14, 14), (100, 37), (253, 189)):
            image = torch.zeros(1, 3, 256, 192, dtype=torch.float64)
            image[0, 0, y, x] = 1.0
            tokens = model.backbone.embed(image)[0, :, 0]
            # token (i, j) sees rows 16i-2 .. 16i+13 and columns 16j-2 .. 16j+13
            expected = ((y + 2) // 16) * 12 + (x + 2) // 16
            assert tokens.nonzero().flatten().tolist() == [expected], (y, x)


def test_head_takes_any_token_count_and_ignores_token_order() -> None:
    model = random_model()
    gen = torch.Generator().manual_seed(2)
    tokens = torch.randn(2, 192, model.config.backbone.embed_dim, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        merged = model.head_from_tokens(tokens[:, :90])
        shuffled = model.head_from_tokens(tokens[:, torch.randperm(90, generator=gen)])
    assert merged.pose_6d.shape == (2, 144)
    # cross-attention carries no position: the head sees a set of tokens
    assert torch.allclose(merged.pose_6d, shuffled.pose_6d, atol=1e-10)


def test_context_bias_log_size_equals_duplicated_tokens() -> None:
    """Proportional attention: a token with bias log(2) weighs as two copies of it."""
    model = random_model()
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randn(2, 40, model.config.backbone.embed_dim, generator=gen, dtype=torch.float64)
    duplicated = torch.cat((tokens, tokens[:, :1]), dim=1)
    bias = torch.zeros(2, 40, dtype=torch.float64)
    bias[:, 0] = math.log(2.0)
    with torch.no_grad():
        biased = model.head_from_tokens(tokens, context_bias=bias)
        copied = model.head_from_tokens(duplicated)
        zero_bias = model.head_from_tokens(tokens, context_bias=torch.zeros_like(bias))
        plain = model.head_from_tokens(tokens)
    assert torch.allclose(biased.pose_6d, copied.pose_6d, atol=1e-10)
    assert torch.allclose(zero_bias.pose_6d, plain.pose_6d, atol=1e-12)
    assert not torch.allclose(biased.pose_6d, plain.pose_6d, atol=1e-6)


def test_block_halves_and_keys_compose_to_the_block() -> None:
    model = random_model()
    block = model.backbone.blocks[0]
    x = torch.randn(2, 192, model.config.backbone.embed_dim, dtype=torch.float64)
    with torch.no_grad():
        after_attn, keys = block.attention_residual(x, return_keys=True)
        composed = block.mlp_residual(after_attn)
        direct = block(x)
        qkv = block.attn.qkv(block.norm1(x))
    heads = model.config.backbone.num_heads
    assert torch.equal(composed, direct)
    expected_keys = qkv.chunk(3, dim=-1)[1].reshape(2, 192, heads, -1).transpose(1, 2)
    assert torch.allclose(keys, expected_keys, atol=1e-12)


def test_default_mean_parameters_are_identity_pose_zero_betas() -> None:
    head = HMR2("tiny").smpl_head
    identity = rot6d_to_rotmat(head.init_body_pose.reshape(24, 6))
    assert torch.equal(identity, torch.eye(3).expand(24, 3, 3))
    assert torch.count_nonzero(head.init_betas) == 0
    assert head.init_cam[0, 0] > 0  # a positive scale: the person is in front of the camera
