"""Checksums: the per-frame CRC32 and the whole-file checksums of finished chunks.

``crc32`` is zlib's CRC-32 (the same values, so every existing index stays valid) through
zlib-ng's implementation, ~9x faster than zlib's on a 320 KB frame, or zlib's own when the
``zlib-ng`` package is not installed.

When a chunk is finished (by the writer or by ``recover``), a digest and the byte count of
its file (or of its image files, in order) go into its index ``.npz`` under two keys that
cannot be per-frame column names (they hold a dot): ``chunk.xxh3_128`` (XXH3, 128 bits,
~29 GB/s here) and ``chunk.bytes``. Stores written before that have ``chunk.sha256``
(SHA-256, ~1.5 GB/s: slower than a raw frame encoder, so it limited writing), and are
checked with it. imgstore reads only the frame columns of an index, so it still opens the
store; stores written before either have no such keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import xxhash

try:
    from zlib_ng.zlib_ng import crc32 as crc32
except ImportError:  # zlib-ng is a dependency; zlib gives the same values, slower
    from zlib import crc32 as crc32

from .storage import StorePath

CHUNK_BYTES = "chunk.bytes"
DIGEST_PREFIX = "chunk."
# the digests a chunk index may record, by name; new chunks get the first
DIGESTS: dict[str, Callable[[], Any]] = {"xxh3_128": xxhash.xxh3_128, "sha256": hashlib.sha256}
DEFAULT_DIGEST = next(iter(DIGESTS))
CHECKSUM_KEYS = (CHUNK_BYTES, *(DIGEST_PREFIX + name for name in DIGESTS))
_BLOCK = 1 << 20


@dataclass(frozen=True)
class ChunkChecksum:
    """A digest (``algorithm``, one of ``DIGESTS``; hex) and the size in bytes of a chunk's
    files, as written."""

    algorithm: str
    digest: str
    size: int

    def to_columns(self) -> dict[str, np.ndarray]:
        """The index entries that record this checksum."""
        return {
            DIGEST_PREFIX + self.algorithm: np.array(self.digest),
            CHUNK_BYTES: np.array(self.size, dtype=np.int64),
        }

    @classmethod
    def pop_from(cls, columns: dict[str, np.ndarray]) -> ChunkChecksum | None:
        """Take the checksum entries out of an index's arrays; None when it has none."""
        size = columns.pop(CHUNK_BYTES, None)
        digests = {name: columns.pop(DIGEST_PREFIX + name, None) for name in DIGESTS}
        found = [(name, digest) for name, digest in digests.items() if digest is not None]
        if size is None or not found:
            return None
        return cls(found[0][0], str(found[0][1]), int(size))


class RunningChecksum:
    """A chunk's checksum built from its bytes in order, as they are written or read."""

    def __init__(self, algorithm: str = DEFAULT_DIGEST) -> None:
        self._algorithm = algorithm
        self._digest = DIGESTS[algorithm]()
        self._size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._digest.update(data)
        self._size += memoryview(data).nbytes

    def result(self) -> ChunkChecksum:
        return ChunkChecksum(self._algorithm, self._digest.hexdigest(), self._size)


def checksum_files(paths: Iterable[StorePath], algorithm: str = DEFAULT_DIGEST) -> ChunkChecksum:
    """The ``algorithm`` digest and total size of ``paths`` (local or remote) read in order
    (``OSError`` if one is missing)."""
    checksum = RunningChecksum(algorithm)
    for path in paths:
        with path.open("rb") as f:
            while block := f.read(_BLOCK):
                checksum.update(block)
    return checksum.result()
