"""Finding and loading every chunk index of a store, through a one-file cache when valid.

A finished store also holds ``framestore-index.npz``: all chunk indexes concatenated,
with each chunk index file's size and modification time. Opening a store uses it only
while every chunk index file still matches its stamp and no chunk is unfinished, and
otherwise reads the chunk indexes one by one, so the cache can be stale but never wrong.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Collection
from pathlib import Path

import numpy as np

from ..errors import CorruptStoreError
from .atomic import atomic_write
from .columns import FRAME_NUMBER
from .index import (
    ChunkIndex,
    ConcatenatedChunks,
    checked_columns,
    journal_chunk_index,
    load_npz_index,
    load_yaml_index,
)
from .journal import read_journal
from .layout import Layout
from .npzio import read_npz
from .storage import RemotePath, StorePath, local_path

_NUMBERS, _COUNTS, _SIZES, _MTIMES = "chunk_number", "chunk_count", "stamp_size", "stamp_mtime_ns"
_COLUMN = "column:"


def load_chunk_indexes(layout: Layout[StorePath], keys: Collection[str] | None = None) -> list[ChunkIndex]:
    """Every non-empty chunk's index: from the cache, its ``.npz``, or its journal.
    ``keys`` limits the columns read (imgstore's indexes also hold its settings)."""
    cached = _read_cache(layout) if keys is None else None
    if cached is not None:
        return cached
    numbers = layout.chunk_numbers()
    # framestore numbers its chunks without gaps; imgstore's readers go on past one
    missing = missing_chunks(layout, numbers) if keys is None else []
    if missing:
        raise CorruptStoreError(
            f"{layout.chunk_path(missing[0])}: missing: {len(missing)} chunk(s) the store holds "
            f"(numbers {missing[:5]}) are gone, so some of its frames are lost"
        )
    chunks = []
    for n in numbers:
        index_path, journal_path = layout.index_path(n), layout.journal_path(n)
        if n == numbers[-1] and opened_when_killed(layout, n):
            continue  # the writer died creating this chunk: it holds no finished frame
        legacy_path = layout.legacy_index_path(n)
        if index_path.is_file():
            chunk = load_npz_index(n, index_path, keys)
        elif legacy_path.is_file():
            chunk = load_yaml_index(n, legacy_path)
        elif journal_path.is_file():
            chunk = journal_chunk_index(n, read_journal(journal_path))
        else:
            raise CorruptStoreError(
                f"{index_path}: missing; chunk {layout.chunk_path(n).name} has no index, "
                "so its frame numbers and times are unknown"
            )
        if chunk.count:
            chunks.append(chunk)
    return chunks


def missing_chunks(layout: Layout[StorePath], numbers: list[int]) -> list[int]:
    """Chunks of a local store that are gone: numbers missing between its first and last
    chunk (chunks are numbered without gaps), and chunks its index cache lists but the
    directory no longer holds (the last chunk deleted, say)."""
    if isinstance(layout.root, RemotePath) or not numbers:
        return []  # found by number from 0 upward: there can be no gap
    expected = set(range(numbers[0], numbers[-1] + 1))
    try:
        expected.update(int(n) for n in read_npz(layout.index_cache_path, [_NUMBERS])[_NUMBERS])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass  # no cache, or an unreadable one: the gaps only
    return sorted(expected - set(numbers))


def opened_when_killed(layout: Layout[StorePath], n: int) -> bool:
    """A store still marked as being written whose newest chunk has no index and no
    journal yet: the writer was killed between creating the chunk file and its journal."""
    return (
        layout.marker_path.exists()
        and not layout.index_path(n).exists()
        and not layout.journal_path(n).exists()
    )


def _local_cache_holds(
    layout: Layout[StorePath], numbers: list[int], sizes: np.ndarray, mtimes: np.ndarray
) -> bool:
    """Every chunk present is cached, finished, and its index file unchanged since: one
    listing of the store directory and one ``lstat`` per chunk index file."""
    root = os.fspath(local_path(layout.root))
    with os.scandir(root) as listing:
        entries = {entry.name: entry for entry in listing}
    if layout.chunk_numbers_listed([(name, e.is_dir()) for name, e in entries.items()]) != numbers:
        return False
    for n, size, mtime in zip(numbers, sizes.tolist(), mtimes.tolist(), strict=True):
        name = layout.index_name(n)
        top = entries.get(name.partition("/")[0])  # the index file, or its chunk's folder
        if top is None or top.is_symlink() or layout.journal_name(n) in entries:
            return False
        try:
            st = os.lstat(os.path.join(root, name))
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or (st.st_size, st.st_mtime_ns) != (size, mtime):
            return False
    return True


def _remote_cache_holds(layout: Layout[StorePath], numbers: list[int]) -> bool:
    """A remote store's cache is used when its writer closed it (no marker) and no chunk
    follows the last one cached. Copying a store to a server or bucket changes its files'
    modification times, and HTTP has neither listings nor exact times, so the stamps are
    not compared: a chunk rewritten after the cache fails its CRC32 checks when read (with
    ``verify``, the default)."""
    after = numbers[-1] + 1
    return not (
        layout.marker_path.exists()
        or layout.index_path(after).exists()
        or layout.journal_path(after).exists()
    )


def _stamp(path: StorePath) -> tuple[int, int]:
    st = os.stat(local_path(path))
    return st.st_size, st.st_mtime_ns


def write_index_cache(layout: Layout[Path]) -> None:
    """Write the one-file cache of a finished store's chunk indexes (atomically)."""
    chunks = load_chunk_indexes(layout)
    if not chunks or any(not c.complete for c in chunks):
        return
    names = list(chunks[0].columns)
    if any(list(c.columns) != names for c in chunks):
        return  # chunks with different columns: not worth a cache
    stamps = np.array([_stamp(c.source) for c in chunks], dtype=np.int64).reshape(-1, 2)
    arrays = {
        _NUMBERS: np.array([c.number for c in chunks], dtype=np.int64),
        _COUNTS: np.array([c.count for c in chunks], dtype=np.int64),
        _SIZES: stamps[:, 0],
        _MTIMES: stamps[:, 1],
        **{_COLUMN + k: np.concatenate([c.columns[k] for c in chunks]) for k in names},
    }
    atomic_write(layout.index_cache_path, lambda f: np.savez(f, allow_pickle=False, **arrays))


def _read_cache(layout: Layout[StorePath]) -> list[ChunkIndex] | None:
    try:
        data = read_npz(layout.index_cache_path)
        per_chunk = [data[_NUMBERS], data[_COUNTS], data[_SIZES], data[_MTIMES]]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # no cache, or an unreadable one: only a slower open
    chunk_numbers, counts, sizes, mtimes = per_chunk
    shape = chunk_numbers.shape
    if not len(chunk_numbers) or any(a.dtype.kind != "i" or a.shape != shape for a in per_chunk):
        return None
    numbers = chunk_numbers.tolist()
    if isinstance(layout.root, RemotePath):
        if not _remote_cache_holds(layout, numbers):
            return None
    elif not _local_cache_holds(layout, numbers, sizes, mtimes):
        return None
    columns = {k[len(_COLUMN) :]: v for k, v in data.items() if k.startswith(_COLUMN)}
    try:
        columns = checked_columns(layout.index_cache_path, columns)
    except CorruptStoreError:
        return None
    ends = np.cumsum(counts)
    if np.any(counts < 0) or ends[-1] != len(columns[FRAME_NUMBER]):
        return None
    # the index files were checked (no links) above: their paths are built without a check
    ends_list = ends.tolist()
    chunks = [
        ChunkIndex(n, layout.root / layout.index_name(n), {k: v[a:b] for k, v in columns.items()})
        for n, a, b in zip(numbers, [0, *ends_list[:-1]], ends_list, strict=True)
    ]
    return ConcatenatedChunks(chunks, columns)
