"""ECLM: error-constrained layer merging of the ViT encoder (FastHMR Sec. 3.1, Algorithm 1), and merge plans.

Merge rule: a run of consecutive blocks i..j becomes one block at position i whose every parameter is
theta_i + sum_{k=1..j-i} (theta_{i+k} - theta_i) (task arithmetic with block i as the base); blocks i+1..j go.

Search (`sliding_window_search`): from the top block down, a window [lo, top] grows downwards while the merged
model's error stays less than tau above the ORIGINAL model's error (the model being tried also carries every
merge committed so far). When a window fails, the largest window that passed is committed (if it holds more than
one block) and the search restarts just below it; otherwise it slides down by one block. A window that is still
passing when it reaches block 0 is committed too (the printed pseudo-code forgets that case).

Merge plan: a small JSON (or YAML) file written by `fasthmr calibrate` and applied at load time (`apply_plan`):
which runs merge (original block indices), the config and depth it was made for, tau, the error of every step
and a fingerprint of the weights it was calibrated on. Applying a plan checks all of these and refuses a model
that already carries a plan, a different config or depth, or other weights.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fasthmr_ros.model.hmr2 import HMR2

PLAN_FORMAT = "fasthmr-merge-plan"
PLAN_VERSION = 1
Run = tuple[int, int]  # inclusive (first, last) original block indices


def merged_block(blocks: Sequence[nn.Module]) -> nn.Module:
    """One block whose parameters are theta_0 + sum_k (theta_k - theta_0) over the given consecutive blocks."""
    if not blocks:
        raise ValueError("merging needs at least one block")
    result = copy.deepcopy(blocks[0])
    if len(blocks) == 1:
        return result
    others = [dict(block.named_parameters()) for block in blocks[1:]]
    with torch.no_grad():
        for name, param in result.named_parameters():
            base = param.detach().clone()
            for params in others:
                param.add_(params[name].detach() - base)
    return result


def check_runs(runs: Sequence[Sequence[int]], depth: int) -> list[Run]:
    """Sorted, validated runs: inside 0..depth-1, first <= last, no overlaps."""
    checked = []
    for run in runs:
        if len(run) != 2:
            raise ValueError(f"a merge run is [first, last], got {list(run)}")
        first, last = int(run[0]), int(run[1])
        if not 0 <= first <= last < depth:
            raise ValueError(f"merge run [{first}, {last}] is outside blocks 0..{depth - 1}")
        checked.append((first, last))
    checked.sort()
    for (_, last), (first, _) in itertools.pairwise(checked):
        if first <= last:
            raise ValueError(f"merge runs overlap at block {first}")
    return checked


def merged_blocks(blocks: Sequence[nn.Module], runs: Sequence[Run]) -> list[nn.Module]:
    """The block list after merging `runs` (original indices); unmerged blocks are the same module objects."""
    runs = check_runs(runs, len(blocks))
    starts = {first: last for first, last in runs}
    result, index = [], 0
    while index < len(blocks):
        last = starts.get(index, index)
        result.append(merged_block(blocks[index : last + 1]) if last > index else blocks[index])
        index = last + 1
    return result


def apply_merges(model: HMR2, runs: Sequence[Run]) -> HMR2:
    """Replace the backbone's blocks in place by the merged list (no plan bookkeeping: see apply_plan)."""
    model.backbone.blocks = nn.ModuleList(merged_blocks(list(model.backbone.blocks), runs))
    return model


@dataclass
class SearchStep:
    window: Run  # (lo, top): the run tried on top of the merges committed before it
    error_mm: float
    increase_mm: float  # error_mm - base error
    accepted: bool  # increase < tau
    committed: bool = False  # this window is the one committed for its top block


def sliding_window_search(
    depth: int,
    error_of: Callable[[list[Run]], float],
    base_error: float,
    tau: float,
    on_step: Callable[[SearchStep], None] | None = None,
) -> tuple[list[Run], list[SearchStep]]:
    """Algorithm 1. error_of(runs) = error of the model with those runs merged. Returns (committed runs, steps)."""
    committed: list[Run] = []
    steps: list[SearchStep] = []
    top = depth - 1
    while top > 0:
        best_lo, best_step = None, None
        lo = top - 1
        while lo >= 0:
            error = float(error_of([(lo, top), *committed]))
            step = SearchStep((lo, top), error, error - base_error, error - base_error < tau)
            steps.append(step)
            if on_step is not None:
                on_step(step)
            if not step.accepted:
                break
            best_lo, best_step = lo, step
            lo -= 1
        if best_lo is None:
            top -= 1
            continue
        # Reached when the window failed or ran past block 0 while still passing: commit it either way.
        best_step.committed = True
        committed.append((best_lo, top))
        top = best_lo - 1
    return sorted(committed), steps


def weights_fingerprint(model: HMR2) -> str:
    """A short hash of the (unmerged) weights: a few slices of every block and the head, as float32 bytes."""
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        if name.startswith(("backbone.blocks.", "backbone.pos_embed", "smpl_head.dec")):
            flat = state[name].detach().reshape(-1)
            digest.update(name.encode())
            digest.update(flat[:64].to("cpu", torch.float32).numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class MergePlan:
    config: str
    depth: int  # encoder blocks before merging
    merges: list[Run]
    tau_mm: float
    mode: str = "manual"  # "self" (unmerged model as reference), "labelled" (3D joints) or "manual"
    base_error_mm: float = 0.0
    final_error_mm: float = 0.0
    weights: str = ""  # description of the weights calibrated on
    fingerprint: str = ""  # weights_fingerprint of them ("" = not checked)
    calibration: dict[str, Any] = field(default_factory=dict)  # set size, sources, ...
    steps: list[SearchStep] = field(default_factory=list)

    @property
    def depth_after(self) -> int:
        return self.depth - sum(last - first for first, last in self.merges)

    def summary(self) -> str:
        runs = ", ".join(f"{a}-{b}" for a, b in self.merges) or "none"
        return f"ECLM {self.depth}->{self.depth_after} blocks (merged {runs}; tau {self.tau_mm:g} mm)"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["merges"] = [list(run) for run in self.merges]
        data["steps"] = [{**asdict(step), "window": list(step.window)} for step in self.steps]
        return {"format": PLAN_FORMAT, "version": PLAN_VERSION, **data, "depth_after": self.depth_after}

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "merge plan") -> MergePlan:
        if not isinstance(data, dict) or data.get("format") != PLAN_FORMAT:
            raise ValueError(f"{source} is not a fasthmr merge plan (no 'format: {PLAN_FORMAT}')")
        if data.get("version") != PLAN_VERSION:
            raise ValueError(f"{source} has plan version {data.get('version')}, this fasthmr reads {PLAN_VERSION}")
        try:
            depth = int(data["depth"])
            plan = cls(
                config=str(data["config"]),
                depth=depth,
                merges=check_runs(data["merges"], depth),
                tau_mm=float(data["tau_mm"]),
                mode=str(data.get("mode", "manual")),
                base_error_mm=float(data.get("base_error_mm", 0.0)),
                final_error_mm=float(data.get("final_error_mm", 0.0)),
                weights=str(data.get("weights", "")),
                fingerprint=str(data.get("fingerprint", "")),
                calibration=dict(data.get("calibration", {})),
                steps=[
                    SearchStep(
                        tuple(s["window"]), s["error_mm"], s["increase_mm"], s["accepted"], s.get("committed", False)
                    )
                    for s in data.get("steps", [])
                ],
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"{source} lacks or mangles field {error}") from error
        return plan

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = self.to_dict()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            path.write_text(yaml.safe_dump(data, sort_keys=False))
        else:
            path.write_text(_plan_json(data))


def _plan_json(data: dict[str, Any]) -> str:
    """Indented JSON with each merge run and each search step on one line (plans are read by people too)."""
    text = json.dumps({**data, "merges": "@merges@", "steps": "@steps@"}, indent=1)
    steps = ",\n".join("  " + json.dumps(step) for step in data["steps"])
    text = text.replace('"@merges@"', json.dumps(data["merges"]))
    return text.replace('"@steps@"', f"[\n{steps}\n ]" if steps else "[]") + "\n"


def load_plan(path: str | Path) -> MergePlan:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"merge plan not found: {path}; make one with `fasthmr calibrate`")
    text = path.read_text()
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except ValueError as error:  # json and yaml errors both derive from ValueError
        raise ValueError(f"merge plan {path} is not valid {path.suffix[1:].upper() or 'JSON'}: {error}") from error
    return MergePlan.from_dict(data, f"merge plan {path}")


def applied_plan(model: HMR2) -> MergePlan | None:
    """The plan a model carries (set by apply_plan / a merged checkpoint), if any."""
    return getattr(model.backbone, "merge_plan", None)


def apply_plan(model: HMR2, plan: MergePlan, check_weights: bool = True) -> HMR2:
    """Merge the model's blocks as the plan says (in place). Refuses twice, wrong config/depth, other weights."""
    done = applied_plan(model)
    if done is not None:
        raise ValueError(f"a merge plan is already applied to this model ({done.summary()}); apply a plan once")
    if plan.config != model.config.name:
        raise ValueError(
            f"merge plan is for config {plan.config!r}, the model is {model.config.name!r}: "
            f"calibrate this model with `fasthmr calibrate --config {model.config.name}`"
        )
    depth = len(model.backbone.blocks)
    if depth != plan.depth:
        raise ValueError(
            f"merge plan expects {plan.depth} encoder blocks, the model has {depth} "
            f"(already merged, or a merged checkpoint?); apply plans to the unmerged model"
        )
    if check_weights and plan.fingerprint:
        found = weights_fingerprint(model)
        if found != plan.fingerprint:
            raise ValueError(
                f"merge plan was calibrated on other weights ({plan.weights or 'fingerprint ' + plan.fingerprint}); "
                f"run `fasthmr calibrate` for these weights"
            )
    apply_merges(model, plan.merges)
    model.backbone.merge_plan = plan
    return model
