"""Mask-ToMe: mask-guided token merging in the first encoder blocks (FastHMR Sec. 3.2), written from the papers.

Bipartite soft matching (ToMe, Bolya et al. 2023) with the FastHMR mask rule:
- tokens are split alternately into sets A and B; every A token finds its most similar B token (cosine of the
  head-averaged attention keys) and the r best-matched pairs merge: the A token is averaged into its B token,
  weighted by how many original tokens each already holds (its size);
- person tokens (the person mask on the 16x12 patch grid, preprocess.crop_people's token_masks) rank after every
  background pair, in both roles, so only background merges while enough background is left (see "overflow");
- merging sits between a block's attention and its MLP; from then on attention uses proportional attention
  (log size added to the logits) and so does the SMPL head's cross-attention (context_bias);
- a FIXED schedule: per_block tokens in each of the first `blocks` blocks, the last of them merging whatever is
  left down to `budget`. Every crop of a batch keeps the same count, so shapes are static (batching, export).

Choices the paper leaves open (figures in docs/merged.md):
- split "background_first": the background tokens alternate between A and B among themselves (grid order), and
  person tokens fill the remaining places. A bipartite step merges at most one token per background A token, so
  this lets a step merge up to half the background, where ToMe's grid alternation ("alternate") strands some
  background in B. When even half is not enough for the step's fixed count, more background moves to A (B keeps
  at least one background token to merge into): a crop then needs person merges only when its background
  cannot reach the budget at all (with 40/40/22: more than 89 person tokens).
- overflow: when a crop's background cannot supply a step's merges (big people, small budget), the step still
  merges its fixed count: the remaining merges are the most similar pairs that involve a person token. The
  crop keeps its shape; each such merge is counted (MergeState.person_merges), and the runtime reports it.

Everything is batched tensor code (gather/scatter/argsort, no loops over tokens or crops); the schedule is fixed
at construction, so shapes never depend on the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fasthmr_ros.model.hmr2 import HMR2, HMROutput

SIMILARITIES = ("keys", "tokens")
SPLITS = ("background_first", "alternate")
# Cosine similarities lie in [-1, 1]: subtracting 4 ranks every pair that touches a person token below every
# background pair, while keeping the order among person pairs (used only on overflow).
PERSON_PENALTY = 4.0


@dataclass(frozen=True)
class TokenMergingConfig:
    budget: int = 90  # tokens left after the last merging block (M')
    per_block: int = 40  # tokens merged per block (n_l)
    blocks: int = 3  # merging blocks (l), the first ones
    similarity: str = "keys"  # "keys": cosine of head-averaged keys (ToMe); "tokens": cosine of the tokens
    size_weighted: bool = True  # average merged tokens weighted by their sizes (ToMe) or plainly
    proportional_attention: bool = True  # log(size) bias in later attention and in the head
    split: str = "background_first"  # see the module docstring

    def __post_init__(self) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        if self.split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {self.split!r}")
        if self.budget < 1 or self.per_block < 0 or self.blocks < 0:
            raise ValueError(
                f"token merging needs budget >= 1, per_block >= 0, blocks >= 0 (got {self.budget}, "
                f"{self.per_block}, {self.blocks})"
            )


def merge_schedule(num_tokens: int, config: TokenMergingConfig) -> tuple[int, ...]:
    """Tokens merged in each of the first blocks: per_block each, the last merging block takes what is left.

    192 tokens, budget 90, 40 per block, 3 blocks -> (40, 40, 22). Raises ValueError when a block would have to
    merge more than half its tokens (a bipartite step cannot) or the depth is too small.
    """
    if config.blocks == 0 or config.budget >= num_tokens:
        return ()
    schedule = []
    tokens = int(num_tokens)  # a traced shape would be a tensor, and `tokens -= merge` would change it in place
    for index in range(config.blocks):
        last = index == config.blocks - 1
        merge = tokens - config.budget if last else min(config.per_block, tokens - config.budget)
        if merge > tokens // 2:
            raise ValueError(
                f"token budget {config.budget} cannot be reached: block {index} would merge {merge} of {tokens} "
                f"tokens, a bipartite step merges at most half; raise token_budget or merge in more blocks"
            )
        schedule.append(merge)
        tokens -= merge
    while schedule and schedule[-1] == 0:
        schedule.pop()
    return tuple(schedule)


def check_schedule(num_tokens: int, depth: int, config: TokenMergingConfig) -> tuple[int, ...]:
    """merge_schedule, also checked against the encoder's depth (ECLM can leave fewer blocks)."""
    schedule = merge_schedule(num_tokens, config)
    if len(schedule) > depth:
        raise ValueError(
            f"token merging needs {len(schedule)} blocks, the encoder has {depth}: lower token merging's blocks "
            f"or use a merge plan that keeps more blocks"
        )
    return schedule


@dataclass
class MergeState:
    """What each current token holds. B crops, N current tokens, N0 original tokens."""

    sizes: torch.Tensor  # (B, N) float: original tokens merged into each token
    person: torch.Tensor  # (B, N) bool: holds at least one person token
    person_merges: torch.Tensor  # (B,) int64: merges so far that involved a person token (overflow)
    source: torch.Tensor | None = None  # (B, N, N0) float 0/1: which original tokens each token holds

    @classmethod
    def start(cls, person: torch.Tensor, dtype: torch.dtype, track_source: bool = False) -> MergeState:
        batch, tokens = person.shape
        source = None
        if track_source:
            source = torch.eye(tokens, dtype=dtype, device=person.device).expand(batch, tokens, tokens)
        return cls(
            sizes=torch.ones(batch, tokens, dtype=dtype, device=person.device),
            person=person,
            person_merges=torch.zeros(batch, dtype=torch.int64, device=person.device),
            source=source,
        )


def _gather_rows(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (B, N, ...) at index (B, K) along dim 1 -> (B, K, ...)."""
    if values.dim() == 2:
        return values.gather(1, index)
    expanded = index.reshape(*index.shape, *([1] * (values.dim() - 2))).expand(-1, -1, *values.shape[2:])
    return values.gather(1, expanded)


def _scatter_add_rows(base: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """base (B, M, ...) with values (B, K, ...) added at rows index (B, K)."""
    if base.dim() == 2:
        return base.scatter_add(1, index, values)
    expanded = index.reshape(*index.shape, *([1] * (base.dim() - 2))).expand(-1, -1, *base.shape[2:])
    return base.scatter_add(1, expanded, values)


def split_sets(person: torch.Tensor, split: str, merge: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (B, ceil(N/2)) of set A and (B, floor(N/2)) of set B, each in grid order.

    "alternate": alternate places of the current token order (ToMe). "background_first": the background tokens
    alternate between A and B among themselves; when that gives A fewer background tokens than the step merges,
    background moves from the end of B's share to A until A has `merge` of them (B keeps at least one to merge
    into). Person tokens fill the rest of A, then B. Every crop has the same set sizes, so shapes stay static.
    """
    batch, tokens = person.shape
    position = torch.arange(tokens, device=person.device).expand(batch, tokens)
    if split == "alternate":
        return position[:, 0::2], position[:, 1::2]
    size_a = (tokens + 1) // 2
    background = ~person
    count = background.sum(dim=1, keepdim=True)  # (B, 1)
    # clamp with Python bounds, not a tensor made from `merge`: no host-to-device copy, so CUDA graphs can capture it
    in_a_count = torch.maximum((count + 1) // 2, torch.clamp(count - 1, min=0, max=merge))
    in_b_count = count - in_a_count
    rank_background = background.long().cumsum(dim=1) - 1
    rank_person = person.long().cumsum(dim=1) - 1
    # the first 2 * in_b_count background tokens alternate, the rest go to A
    background_in_a = (rank_background >= 2 * in_b_count) | (rank_background % 2 == 0)
    person_in_a = rank_person < size_a - in_a_count
    in_b = (background & ~background_in_a) | (person & ~person_in_a)  # (bool Where is missing in onnxruntime)
    # Unique keys (set first, then position): a plain argsort gives the stable order, export-safe.
    order = torch.argsort(in_b.long() * tokens + position, dim=1)
    return order[:, :size_a], order[:, size_a:]


def bipartite_merge(
    x: torch.Tensor, metric: torch.Tensor, state: MergeState, merge: int, config: TokenMergingConfig
) -> tuple[torch.Tensor, MergeState]:
    """Merge `merge` tokens of x (B, N, C) using metric (B, N, D); returns (B, N - merge, C) and the new state.

    Output order: the A tokens that stayed (in their A order), then every B token.
    """
    a_idx, b_idx = split_sets(state.person, config.split, merge)
    metric = F.normalize(metric.float(), dim=-1)
    scores = _gather_rows(metric, a_idx) @ _gather_rows(metric, b_idx).transpose(1, 2)  # (B, Na, Nb)
    person_a = _gather_rows(state.person, a_idx)
    person_b = _gather_rows(state.person, b_idx)
    touches_person = person_a[:, :, None] | person_b[:, None, :]
    scores = scores - PERSON_PENALTY * touches_person.to(scores.dtype)
    best_score, best_b = scores.max(dim=-1)  # (B, Na): each A token's best partner in B
    rank = torch.argsort(best_score, dim=1, descending=True)
    src = rank[:, :merge]  # A positions that merge away
    keep = rank[:, merge:].sort(dim=1).values  # A positions that stay, in A order
    dst = best_b.gather(1, src)  # their B partners

    sizes_a, sizes_b = _gather_rows(state.sizes, a_idx), _gather_rows(state.sizes, b_idx)
    weights_a = sizes_a if config.size_weighted else torch.ones_like(sizes_a)
    weights_b = sizes_b if config.size_weighted else torch.ones_like(sizes_b)
    x_a, x_b = _gather_rows(x, a_idx), _gather_rows(x, b_idx)
    w_a = weights_a.to(x.dtype)[..., None]
    w_b = weights_b.to(x.dtype)[..., None]
    total = _scatter_add_rows(x_b * w_b, dst, _gather_rows(x_a * w_a, src))
    weight = _scatter_add_rows(w_b, dst, _gather_rows(w_a, src))
    merged_x = torch.cat((_gather_rows(x_a, keep), total / weight), dim=1)

    sizes = torch.cat((sizes_a.gather(1, keep), sizes_b.scatter_add(1, dst, sizes_a.gather(1, src))), dim=1)
    person_into_b = person_b.long().scatter_add(1, dst, person_a.gather(1, src).long()) > 0
    person = torch.cat((person_a.gather(1, keep), person_into_b), dim=1)
    overflow = (person_a.gather(1, src) | person_b.gather(1, dst)).sum(dim=1)
    source = None
    if state.source is not None:
        source_a, source_b = _gather_rows(state.source, a_idx), _gather_rows(state.source, b_idx)
        source = torch.cat(
            (_gather_rows(source_a, keep), _scatter_add_rows(source_b, dst, _gather_rows(source_a, src))), dim=1
        )
    new_state = MergeState(sizes, person, state.person_merges + overflow, source)
    return merged_x, new_state


@dataclass
class MergedOutput:
    output: HMROutput
    state: MergeState  # final sizes / person flags / overflow counter / source map of the encoder tokens


def forward_merged(
    model: HMR2,
    images: torch.Tensor,
    person_masks: torch.Tensor,
    config: TokenMergingConfig,
    track_source: bool = False,
) -> MergedOutput:
    """HMR2 forward with Mask-ToMe. person_masks (B, 16, 12) or (B, 192) bool, row-major grid order."""
    backbone = model.backbone
    x = backbone.embed(images)
    batch, tokens, _ = x.shape
    if person_masks.shape[0] != batch or person_masks[0].numel() != tokens:
        raise ValueError(
            f"token masks must be (B, {'x'.join(map(str, backbone.config.grid))}) for {batch} crops, "
            f"got {tuple(person_masks.shape)}"
        )
    schedule = check_schedule(int(tokens), len(backbone.blocks), config)
    state = MergeState.start(person_masks.flatten(1).to(x.device, torch.bool), x.dtype, track_source)
    attn_bias = None
    for index, block in enumerate(backbone.blocks):
        merge = schedule[index] if index < len(schedule) else 0
        if merge == 0:
            x = block.mlp_residual(block.attention_residual(x, attn_bias))
            continue
        x, keys = block.attention_residual(x, attn_bias, return_keys=True)
        metric = keys.mean(dim=1) if config.similarity == "keys" else x
        x, state = bipartite_merge(x, metric, state, merge, config)
        if config.proportional_attention:
            attn_bias = state.sizes.log().to(x.dtype)[:, None, None, :]
        x = block.mlp_residual(x)
    tokens_out = backbone.last_norm(x)
    context_bias = state.sizes.log().to(x.dtype) if config.proportional_attention and schedule else None
    return MergedOutput(model.head_from_tokens(tokens_out, context_bias), state)


class MaskToMeModel(nn.Module):
    """Export-friendly wrapper: (images, person_masks) -> (pose_6d, betas, pred_cam, token, person_merges)."""

    def __init__(self, model: HMR2, config: TokenMergingConfig) -> None:
        super().__init__()
        self.model = model
        self.config = config

    def forward(self, images: torch.Tensor, person_masks: torch.Tensor) -> tuple[torch.Tensor, ...]:
        merged = forward_merged(self.model, images, person_masks, self.config)
        out = merged.output
        return out.pose_6d, out.betas, out.pred_cam, out.token, merged.state.person_merges


def describe(config: TokenMergingConfig, num_tokens: int = 192) -> str:
    """One line for settings/diagnostics, e.g. 'Mask-ToMe 192->90 tokens (40/40/22 in blocks 0-2)'."""
    schedule = merge_schedule(num_tokens, config)
    if not schedule:
        return "no token merging"
    left = num_tokens - sum(schedule)
    merged = "/".join(map(str, schedule))
    return f"Mask-ToMe {num_tokens}->{left} tokens ({merged} in blocks 0-{len(schedule) - 1})"
