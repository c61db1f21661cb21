"""What a Rerun recording holds, read back through the SDK (rerun.chunk): per entity, its rows by timeline value."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


def read_rrd(path: Path) -> tuple[dict[str, dict[int, dict]], dict[str, dict]]:
    """({entity: {stamp_ns: {component: value}}} for data on the `stamp` timeline, {entity: {component: value}} for
    static data). Clears appear as a component `Clear:is_recursive`."""
    import rerun.chunk

    timed: dict[str, dict[int, dict]] = defaultdict(dict)
    static: dict[str, dict] = defaultdict(dict)
    for chunk in rerun.chunk.RrdReader(path).stream().collect().stream():
        batch = chunk.to_record_batch()
        names = [n for n in batch.schema.names if ":" in n]
        columns = {n: batch.column(n).to_pylist() for n in names}
        if "stamp" not in batch.schema.names:
            for n in names:
                static[chunk.entity_path][n] = columns[n][-1]
            continue
        stamps = batch.column("stamp").cast("int64").to_pylist()
        for row, stamp in enumerate(stamps):
            entry = timed[chunk.entity_path].setdefault(stamp, {})
            entry.update({n: columns[n][row] for n in names if columns[n][row] is not None})
    return dict(timed), dict(static)
