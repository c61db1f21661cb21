"""ECLM: the merge rule, Algorithm 1 (with the block-0 edge case), merge plans and merged checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _merged_data import random_model, real_crops

from fasthmr_ros.model.eclm import (
    MergePlan,
    apply_merges,
    apply_plan,
    load_plan,
    merged_block,
    sliding_window_search,
    weights_fingerprint,
)
from fasthmr_ros.runtime.body_files import load_body_model
from fasthmr_ros.runtime.weights import load_model, save_merged_checkpoint
from fasthmr_ros.training.eclm_search import MergeErrorEvaluator, body_joints, mpjpe_mm


def test_merged_block_is_task_arithmetic_over_every_parameter() -> None:
    model = random_model("tiny")
    blocks = list(model.backbone.blocks[1:4])
    merged = merged_block(blocks)
    params = [dict(block.named_parameters()) for block in blocks]
    names = list(params[0])
    assert names and {n for n, _ in merged.named_parameters()} == set(names)
    for name, value in merged.named_parameters():
        base = params[0][name]
        expected = base + (params[1][name] - base) + (params[2][name] - base)
        torch.testing.assert_close(value, expected, rtol=0, atol=1e-6)
    # the source blocks are untouched
    assert not torch.equal(params[0]["mlp.fc1.weight"], dict(merged.named_parameters())["mlp.fc1.weight"])


def test_merging_a_run_of_one_block_changes_nothing() -> None:
    model = random_model("tiny")
    images = real_crops().images[:2]
    with torch.inference_mode():
        before = model(images)
        apply_merges(model, [(2, 2), (4, 4)])
        after = model(images)
    assert len(model.backbone.blocks) == 6
    for key in ("pose_6d", "betas", "pred_cam", "token"):
        assert torch.equal(getattr(before, key), getattr(after, key)), key


def test_apply_merges_removes_the_run_and_keeps_the_rest_in_order() -> None:
    model = random_model("tiny")
    original = list(model.backbone.blocks)
    apply_merges(model, [(1, 3), (4, 5)])
    blocks = list(model.backbone.blocks)
    assert len(blocks) == 3
    assert blocks[0] is original[0]
    torch.testing.assert_close(
        blocks[2].norm1.weight, original[4].norm1.weight + (original[5].norm1.weight - original[4].norm1.weight)
    )


def search_with(depth: int, allowed: set[tuple[int, int]], tau: float = 0.5):
    """Algorithm 1 on an error function: 0 when every run is in `allowed`, else 1 (base error 0)."""

    def error_of(runs: list[tuple[int, int]]) -> float:
        return 0.0 if all(run in allowed for run in runs) else 1.0

    return sliding_window_search(depth, error_of, 0.0, tau)


def test_search_commits_a_window_still_passing_at_block_zero() -> None:
    depth = 6
    everything = {(lo, top) for top in range(depth) for lo in range(top + 1)}
    runs, steps = search_with(depth, everything)
    assert runs == [(0, depth - 1)]
    assert [s.window for s in steps] == [(lo, depth - 1) for lo in range(depth - 2, -1, -1)]
    assert steps[-1].committed


def test_search_commits_the_largest_passing_window_and_restarts_below_it() -> None:
    # pairs pass, anything longer fails: (4,5) committed, restart at 3: (2,3), restart at 1: (0,1) at the edge
    pairs = {(lo, lo + 1) for lo in range(5)}
    runs, steps = search_with(6, pairs)
    assert runs == [(0, 1), (2, 3), (4, 5)]
    assert [s.window for s in steps] == [(4, 5), (3, 5), (2, 3), (1, 3), (0, 1)]
    assert [s.committed for s in steps] == [True, False, True, False, True]


def test_search_slides_down_by_one_when_nothing_passes_and_tau_zero_keeps_all() -> None:
    runs, steps = search_with(5, {(1, 2)})
    assert runs == [(1, 2)]
    assert [s.window for s in steps] == [(3, 4), (2, 3), (1, 2), (0, 2)]
    runs, _ = search_with(5, {(1, 2)}, tau=0.0)  # an increase of exactly 0 is not < 0
    assert runs == []


@pytest.fixture
def plan_for_tiny() -> tuple[torch.nn.Module, MergePlan]:
    model = random_model("tiny", seed=1)
    plan = MergePlan(
        config="tiny", depth=6, merges=[(3, 5)], tau_mm=0.1, fingerprint=weights_fingerprint(model), weights="test"
    )
    return model, plan


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_plan_round_trips_and_applies_once(plan_for_tiny, tmp_path: Path, suffix: str) -> None:
    model, plan = plan_for_tiny
    path = tmp_path / f"plan{suffix}"
    plan.save(path)
    loaded = load_plan(path)
    assert loaded.merges == [(3, 5)] and loaded.depth_after == 4 and loaded.config == "tiny"
    apply_plan(model, loaded)
    assert len(model.backbone.blocks) == 4
    with pytest.raises(ValueError, match="already applied"):
        apply_plan(model, loaded)


def test_plan_refuses_the_wrong_config_and_other_weights(plan_for_tiny) -> None:
    _, plan = plan_for_tiny
    with pytest.raises(ValueError, match=r"config 'tiny'.*'vit_s'"):
        apply_plan(random_model("vit_s"), plan)
    with pytest.raises(ValueError, match="other weights"):
        apply_plan(random_model("tiny", seed=2), plan)


def test_bad_plan_files_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fasthmr calibrate"):
        load_plan(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"merges": [[1, 2]]}')
    with pytest.raises(ValueError, match="not a fasthmr merge plan"):
        load_plan(tmp_path / "other.json")
    (tmp_path / "overlap.json").write_text(
        '{"format": "fasthmr-merge-plan", "version": 1, "config": "tiny", "depth": 6, "merges": [[1, 3], [3, 4]],'
        ' "tau_mm": 0.1}'
    )
    with pytest.raises(ValueError, match="overlap"):
        load_plan(tmp_path / "overlap.json")


def test_merged_checkpoint_loads_merged_and_refuses_its_plan_again(plan_for_tiny, tmp_path: Path) -> None:
    model, plan = plan_for_tiny
    apply_plan(model, plan)
    path = tmp_path / "merged.ckpt"
    save_merged_checkpoint(model, path)
    loaded = load_model(path, "tiny")
    images = real_crops().images[:2]
    with torch.inference_mode():
        torch.testing.assert_close(loaded(images).pose_6d, model(images).pose_6d, rtol=0, atol=0)
    with pytest.raises(ValueError, match="already applied"):
        apply_plan(loaded, plan)


def test_evaluator_matches_a_merged_model_with_a_partial_cache() -> None:
    model = random_model("tiny")
    body = load_body_model(None)
    images = real_crops().images[:3]
    # a cache too small for every block input: only every k-th is kept and the rest recomputed
    evaluator = MergeErrorEvaluator(model, body, images, batch_size=2, cache_bytes=3 * 192 * 192 * 4 * 2)
    assert evaluator.cache_stride > 1 and evaluator.base_error == 0.0
    runs = [(3, 4)]
    with torch.inference_mode():
        reference = body_joints(body, apply_merges(random_model("tiny"), runs)(images))
    torch.testing.assert_close(evaluator.joints(runs), reference, atol=1e-5, rtol=1e-5)
    assert evaluator.error(runs) == pytest.approx(mpjpe_mm(reference, evaluator.unmerged_joints), rel=1e-4)
