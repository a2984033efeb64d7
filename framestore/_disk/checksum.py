"""Checksums: the per-frame CRC32 and the whole-file checksums of finished chunks.

``crc32`` is zlib's CRC-32 (the same values, so every existing index stays valid) through
zlib-ng's implementation, ~9x faster than zlib's on a 320 KB frame, or zlib's own when the
``zlib-ng`` package is not installed.

Whole-file checksums of finished chunks are kept in each chunk's index.

When a chunk is finished (by the writer or by ``recover``), the SHA-256 and byte count of
its file (or of its image files, in order) go into its index ``.npz`` under two keys that
cannot be per-frame column names (they hold a dot). imgstore reads only the frame columns
of an index, so it still opens the store; stores written before this have no such keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

try:
    from zlib_ng.zlib_ng import crc32 as crc32
except ImportError:  # zlib-ng is a dependency; zlib gives the same values, slower
    from zlib import crc32 as crc32

from .storage import StorePath

CHUNK_SHA256 = "chunk.sha256"
CHUNK_BYTES = "chunk.bytes"
CHECKSUM_KEYS = (CHUNK_SHA256, CHUNK_BYTES)
_BLOCK = 1 << 20


@dataclass(frozen=True)
class ChunkChecksum:
    """SHA-256 (hex) and size in bytes of a chunk's files, as written."""

    sha256: str
    size: int

    def to_columns(self) -> dict[str, np.ndarray]:
        """The index entries that record this checksum."""
        return {CHUNK_SHA256: np.array(self.sha256), CHUNK_BYTES: np.array(self.size, dtype=np.int64)}

    @classmethod
    def pop_from(cls, columns: dict[str, np.ndarray]) -> ChunkChecksum | None:
        """Take the checksum entries out of an index's arrays; None when it has none."""
        digest, size = columns.pop(CHUNK_SHA256, None), columns.pop(CHUNK_BYTES, None)
        if digest is None or size is None:
            return None
        return cls(str(digest), int(size))


def checksum_files(paths: Iterable[StorePath]) -> ChunkChecksum:
    """SHA-256 and total size of ``paths`` (local or remote) read in order (``OSError`` if
    one is missing)."""
    digest = hashlib.sha256()
    size = 0
    for path in paths:
        with path.open("rb") as f:
            while block := f.read(_BLOCK):
                digest.update(block)
                size += len(block)
    return ChunkChecksum(digest.hexdigest(), size)
