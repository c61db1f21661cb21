"""Run a fixed-batch graph on any number of crops: pad the last chunk, slice the padding off the outputs.

Padding rows are zero images with all-background masks. Every crop merges its tokens on its own (Mask-ToMe works
per crop), so padding never changes a real crop's result; it only costs the padded rows' compute.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Outputs = dict[str, torch.Tensor]


def pad_rows(values: torch.Tensor, rows: int) -> torch.Tensor:
    """values (n, ...) -> (rows, ...) with zero (False) rows appended; n <= rows."""
    if len(values) == rows:
        return values
    pad = values.new_zeros((rows - len(values), *values.shape[1:]))
    return torch.cat((values, pad), dim=0)


def run_static_batch(
    run: Callable[[torch.Tensor, torch.Tensor | None], Outputs],
    batch: int,
    images: torch.Tensor,
    token_masks: torch.Tensor | None,
) -> Outputs:
    """Call run(images (batch, ...), masks (batch, ...) | None) on chunks of `batch` crops; outputs cover exactly
    the given crops, in order. batch <= 0 means the graph takes any batch (one call, no padding)."""
    count = len(images)
    if token_masks is not None and len(token_masks) != count:
        raise ValueError(f"got {count} crops but {len(token_masks)} token masks: pass one (16, 12) mask per crop")
    if batch <= 0 or count == batch:
        return run(images, token_masks)
    if count == 0:
        raise ValueError("no crops to run: the encoder needs at least one (3, 256, 192) crop")
    chunks: list[Outputs] = []
    for start in range(0, count, batch):
        rows = slice(start, min(start + batch, count))
        size = rows.stop - rows.start
        masks = pad_rows(token_masks[rows], batch) if token_masks is not None else None
        out = run(pad_rows(images[rows], batch), masks)
        chunks.append({name: value[:size] for name, value in out.items()})
    if len(chunks) == 1:
        return chunks[0]
    return {name: torch.cat([chunk[name] for chunk in chunks], dim=0) for name in chunks[0]}
