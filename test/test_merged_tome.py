"""Mask-ToMe: exact base model with no merging, person tokens kept whole, the fixed schedule, the merge arithmetic."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from _merged_data import random_model, real_crops

from fasthmr_ros.model.tome import (
    MaskToMeModel,
    MergeState,
    TokenMergingConfig,
    bipartite_merge,
    forward_merged,
    merge_schedule,
)


def person_counts(masks: torch.Tensor) -> torch.Tensor:
    return masks.reshape(len(masks), -1).sum(dim=1)


def test_no_merging_equals_the_base_model() -> None:
    model = random_model("tiny")
    crops = real_crops()
    images, masks = crops.images[:3], crops.token_masks[:3]
    with torch.inference_mode():
        base = model(images)
        for config in (TokenMergingConfig(budget=192), TokenMergingConfig(blocks=0)):
            assert merge_schedule(192, config) == ()
            merged = forward_merged(model, images, masks, config)
            for key in ("pose_6d", "betas", "pred_cam", "token"):
                assert torch.equal(getattr(base, key), getattr(merged.output, key)), (config, key)
            assert merged.state.sizes.shape == (3, 192)


def test_person_tokens_are_never_merged_and_every_token_is_accounted_for() -> None:
    model = random_model("tiny")
    crops = real_crops()
    masks = crops.token_masks
    with torch.inference_mode():
        merged = forward_merged(model, crops.images, masks, TokenMergingConfig(), track_source=True)
    state, person = merged.state, masks.reshape(len(masks), -1).float()
    # the source map is a partition of the 192 original tokens, and sizes count its members
    assert torch.equal(state.source.sum(dim=1), torch.ones_like(person))
    assert torch.equal(state.source.sum(dim=2), state.sizes)
    # Background can supply every merge when each step leaves one background token to merge into:
    # (192 - p) - 1 >= 40, (152 - p) - 1 >= 40, (112 - p) - 1 >= 22, i.e. p <= 89 person tokens.
    fits = person_counts(masks) <= 89
    assert fits.sum() >= 3
    person_sources = (state.source * person[:, None, :]).sum(dim=2)  # person tokens held by each merged token
    holds_person = person_sources > 0
    # every person token is alone in its merged token: size 1, nothing else merged into it
    assert torch.equal(person_sources[fits][holds_person[fits]], torch.ones(int(holds_person[fits].sum())))
    assert torch.equal(state.sizes[fits][holds_person[fits]], person_sources[fits][holds_person[fits]])
    assert torch.equal(holds_person.sum(dim=1)[fits], person_counts(masks)[fits])
    assert torch.equal(state.person, holds_person)
    assert int(state.person_merges[fits].sum()) == 0
    assert (state.sizes[fits][~holds_person[fits]] > 1).any()  # background did merge


def test_token_count_follows_the_schedule_in_every_block() -> None:
    model = random_model("tiny")
    config = TokenMergingConfig()
    schedule = merge_schedule(192, config)
    assert sum(schedule) == 192 - config.budget
    assert all(n == config.per_block for n in schedule[:-1]) and 0 < schedule[-1] <= config.per_block
    seen: dict[str, list[int]] = {"attn": [], "mlp": []}
    hooks = []
    for block in model.backbone.blocks:
        for name in seen:
            module = getattr(block, name)
            hooks.append(module.register_forward_hook(lambda m, args, out, n=name: seen[n].append(args[0].shape[1])))
    crops = real_crops()
    with torch.inference_mode():
        merged = forward_merged(model, crops.images[:4], crops.token_masks[:4], config)
    for hook in hooks:
        hook.remove()
    depth = len(model.backbone.blocks)
    after = [192 - sum(schedule[: i + 1]) for i in range(depth)]
    assert seen["attn"] == [192, *after[:-1]]  # attention sees the block's input count
    assert seen["mlp"] == after  # merging happens between attention and MLP
    assert merged.state.sizes.shape == (4, config.budget)


@pytest.mark.parametrize("budget", [60, 120, 150])
def test_other_budgets_end_at_the_budget(budget: int) -> None:
    model = random_model("tiny")
    crops = real_crops()
    config = TokenMergingConfig(budget=budget)
    with torch.inference_mode():
        merged = forward_merged(model, crops.images[:2], crops.token_masks[:2], config)
    assert merged.state.sizes.shape == (2, budget)
    assert torch.equal(merged.state.sizes.sum(dim=1), torch.full((2,), 192.0))


def test_an_unreachable_budget_fails_clearly() -> None:
    with pytest.raises(ValueError, match="cannot be reached"):
        merge_schedule(192, TokenMergingConfig(budget=20))


def test_overflow_merges_person_tokens_and_counts_them() -> None:
    """A person filling the crop leaves no background: the budget holds and every merge is counted."""
    model = random_model("tiny")
    crops = real_crops()
    masks = crops.token_masks[:2].clone()
    masks[0] = True  # all person
    with torch.inference_mode():
        merged = forward_merged(model, crops.images[:2], masks, TokenMergingConfig(), track_source=True)
    assert merged.state.sizes.shape == (2, 90)
    assert int(merged.state.person_merges[0]) == 192 - 90
    background = 192 - int(person_counts(masks[1:]))
    assert int(merged.state.person_merges[1]) >= max(0, 192 - 90 - background)


def reference_merge(x, metric, person, sizes, merge):
    """Plain-loop bipartite merge of one crop (background split alternately, size-weighted)."""
    n = len(x)
    background = [i for i in range(n) if not person[i]]
    people = [i for i in range(n) if person[i]]
    # background alternates, topped up so that A holds `merge` background tokens when B can spare them
    in_a = max((len(background) + 1) // 2, max(0, min(len(background) - 1, merge)))
    in_b = len(background) - in_a
    set_a = [t for j, t in enumerate(background) if j % 2 == 0 or j >= 2 * in_b]
    set_a = sorted(set_a + people[: (n + 1) // 2 - in_a])
    set_b = sorted(set(range(n)) - set(set_a))
    unit = [[v / math.sqrt(sum(w * w for w in m)) for v in m] for m in metric.tolist()]
    best = []
    for a in set_a:
        scores = []
        for b in set_b:
            score = sum(p * q for p, q in zip(unit[a], unit[b], strict=True))
            scores.append(score - (4.0 if person[a] or person[b] else 0.0))
        j = max(range(len(set_b)), key=lambda k: scores[k])
        best.append((scores[j], a, set_b[j]))
    ranked = sorted(range(len(set_a)), key=lambda k: -best[k][0])
    merging, staying = ranked[:merge], sorted(ranked[merge:])
    totals = {b: x[b] * sizes[b] for b in set_b}
    weights = {b: float(sizes[b]) for b in set_b}
    for k in merging:
        _, a, b = best[k]
        totals[b] = totals[b] + x[a] * sizes[a]
        weights[b] += float(sizes[a])
    rows = [x[set_a[k]] for k in staying] + [totals[b] / weights[b] for b in set_b]
    new_sizes = [float(sizes[set_a[k]]) for k in staying] + [weights[b] for b in set_b]
    return torch.stack(rows), torch.tensor(new_sizes, dtype=sizes.dtype)


@pytest.mark.parametrize(("person_rate", "merge"), [(0.3, 4), (0.5, 6), (0.8, 6)])
def test_merge_arithmetic_matches_a_plain_loop_reference(person_rate: float, merge: int) -> None:
    generator = torch.Generator().manual_seed(3)
    batch, n, dim = 4, 13, 5
    x = torch.randn(batch, n, dim, generator=generator, dtype=torch.float64)
    metric = torch.randn(batch, n, 4, generator=generator, dtype=torch.float64)
    person = torch.rand(batch, n, generator=generator) < person_rate
    sizes = torch.randint(1, 4, (batch, n), generator=generator).double()
    state = MergeState(sizes, person, torch.zeros(batch, dtype=torch.int64))
    merged, new_state = bipartite_merge(x, metric, state, merge, TokenMergingConfig())
    for i in range(batch):
        rows, new_sizes = reference_merge(x[i], metric[i], person[i].tolist(), sizes[i], merge)
        torch.testing.assert_close(merged[i], rows)
        torch.testing.assert_close(new_state.sizes[i], new_sizes)


def test_crops_merge_independently_of_their_batch() -> None:
    model = random_model("tiny")
    crops = real_crops()
    images, masks = crops.images[:3], crops.token_masks[:3]
    with torch.inference_mode():
        together = forward_merged(model, images, masks, TokenMergingConfig()).output.pose_6d
        alone = torch.cat(
            [
                forward_merged(model, images[i : i + 1], masks[i : i + 1], TokenMergingConfig()).output.pose_6d
                for i in range(3)
            ]
        )
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


def test_proportional_attention_equals_duplicated_tokens() -> None:
    """A token of size s with log(s) in the logits is attended like s copies of it."""
    model = random_model("tiny")
    block = model.backbone.blocks[1]
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(1, 7, 192, generator=generator)
    sizes = torch.tensor([[1.0, 3.0, 1.0, 2.0, 1.0, 1.0, 4.0]])
    with torch.inference_mode():
        biased = block.attention_residual(x, sizes.log()[:, None, None, :])
        copies = x.repeat_interleave(sizes[0].long(), dim=1)
        expanded = block.attention_residual(copies)
    first_copy = torch.cumsum(sizes[0].long(), 0) - sizes[0].long()
    torch.testing.assert_close(biased[0], expanded[0, first_copy], atol=1e-5, rtol=1e-5)


def test_mask_tome_exports_to_onnx_with_static_shapes(tmp_path) -> None:
    """One ONNX graph (no data-dependent shapes) serves crops with other masks and matches torch in onnxruntime."""
    import onnxruntime

    model = MaskToMeModel(random_model("tiny"), TokenMergingConfig()).eval()
    crops = real_crops()
    path = tmp_path / "mask_tome.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(model, (crops.images[:2], crops.token_masks[:2]), str(path), dynamo=False, opset_version=17)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    for rows in (slice(0, 2), slice(len(crops) - 2, len(crops))):
        images, masks = crops.images[rows], crops.token_masks[rows]
        got = session.run(None, dict(zip(names, (images.numpy(), masks.numpy()), strict=True)))
        with torch.inference_mode():
            expected = model(images, masks)
        for a, b in zip(expected, got, strict=True):
            np.testing.assert_allclose(a.numpy(), b, atol=1e-4, rtol=1e-4)
