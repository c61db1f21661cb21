"""Cheap, content-based identities for large files and for settings: the keys of the export and engine caches."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

SAMPLE_CHUNKS = 16
CHUNK_BYTES = 1 << 16


def file_fingerprint(path: str | Path) -> str:
    """sha256 (16 hex) of a file's size and 17 evenly spread 64 KiB chunks (first and last included).

    A 2.7 GB vit_h checkpoint hashes in milliseconds this way. Two different trained checkpoints differ in every
    chunk; a file edited in place between sampled chunks would not be noticed, which is not a case for weights.
    """
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as f:
        for index in range(SAMPLE_CHUNKS + 1):
            f.seek(max(0, (size - CHUNK_BYTES) * index // SAMPLE_CHUNKS))
            digest.update(f.read(CHUNK_BYTES))
    return digest.hexdigest()[:16]


def files_sha256(paths: list[Path]) -> str:
    """Full sha256 over the files' bytes in order (an ONNX graph and its external data file)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as f:
            while block := f.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()


def settings_key(settings: dict[str, Any]) -> str:
    """sha256 (16 hex) of settings as canonical JSON: equal settings give equal keys, any change a new one."""
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
