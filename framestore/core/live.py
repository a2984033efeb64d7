"""Reading a store while it is written: its index read again, and who is writing it.

A writer leaves every finished frame of its open chunk in that chunk's journal and
finishes a full chunk by writing its index before removing its journal, so a reader sees
each frame in one of the two at every moment. :func:`refreshed_chunks` reads only what
changed since the last look: the journals from where they were left, the index of a chunk
finished since, and chunks begun since. Nothing here writes to the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from .._disk.columns import FRAME_NUMBER
from .._disk.index import ChunkIndex, journal_chunk_index, load_npz_index
from .._disk.journal import read_journal
from .._disk.lock import writer_alive
from ..errors import CorruptStoreError
from .description import StoreDescription
from .video_file import VideoFileDialect

FOLLOW_POLL = 0.01
"""Seconds :meth:`StoreReader.follow` waits between looks at the store when no new frame
was found: with the writer's encoding time, it bounds how late a follower sees a frame."""

WriterState = Literal["finished", "writing", "gone", "unknown"]
"""``finished``: the writer closed the store (or ``recover`` finished it). ``writing``: a
writer holds the store's lock. ``gone``: the store is unfinished and no process holds its
lock (its writer died; `framestore recover` finishes it). ``unknown``: unfinished, and who
writes it cannot be told here (read by URL, or a file system without locks)."""


@dataclass(frozen=True)
class FollowedFrame:
    """One frame as :meth:`StoreReader.follow` delivers it."""

    frame_index: int
    """Its position in the store."""
    frame_number: int
    """The number its source gave it."""
    frame_time: float
    """Unix seconds, from the recording machine's clock at capture."""
    image: np.ndarray
    """The frame ``(h, w[, c])``."""


def writer_state(store: StoreDescription) -> WriterState:
    """Who is writing ``store`` now. A writer removes the store's writing marker only
    after it finished every chunk, so a store without one is finished."""
    if isinstance(store.dialect, VideoFileDialect) or not store.layout.marker_path.exists():
        return "finished"
    if not isinstance(store.root, Path):
        return "unknown"
    alive = writer_alive(store.root)
    return "unknown" if alive is None else "writing" if alive else "gone"


def refreshed_chunks(store: StoreDescription, chunks: list[ChunkIndex]) -> list[ChunkIndex]:
    """``chunks`` (a store's chunk indexes as read before) brought up to date: journals
    read on from where they were left, chunks finished since read from their index (which
    must begin with the frames their journal held), chunks begun since added. An entry is
    the same object when nothing in it changed."""
    out = [chunk if chunk.complete else _read_on(store, chunk) for chunk in chunks]
    layout = store.layout
    last = chunks[-1].number if chunks else -1
    for n in layout.chunk_numbers():
        if n <= last:
            continue
        chunk = _new_chunk(store, n)
        if chunk is None:  # its writer is creating it: not one finished frame yet
            break
        if chunk.count:
            out.append(chunk)
    return out


def finished_chunk(store: StoreDescription, chunk: ChunkIndex) -> ChunkIndex:
    """The index of ``chunk``, read from its journal before, now that it is finished: it
    must hold the frames the journal held first (``CorruptStoreError`` otherwise)."""
    path = store.layout.index_path(chunk.number)
    try:
        finished = load_npz_index(chunk.number, path, store.index_keys)
    except FileNotFoundError:
        raise CorruptStoreError(
            f"{chunk.source}: removed while this reader used it, and the chunk was not finished"
        ) from None
    numbers = finished.columns[FRAME_NUMBER]
    if len(numbers) < chunk.count or not np.array_equal(numbers[: chunk.count], chunk.columns[FRAME_NUMBER]):
        raise CorruptStoreError(
            f"{finished.source}: the chunk finished under this reader holds other frames "
            "than its journal did; open the store again"
        )
    return finished


def _read_on(store: StoreDescription, chunk: ChunkIndex) -> ChunkIndex:
    assert chunk.journal is not None
    try:
        journal = read_journal(chunk.journal.path, after=chunk.journal)
    except FileNotFoundError:  # finished since: its index was written before the journal went
        return finished_chunk(store, chunk)
    if len(journal) == chunk.count:
        return chunk
    return journal_chunk_index(chunk.number, journal)


def _new_chunk(store: StoreDescription, n: int) -> ChunkIndex | None:
    layout = store.layout
    index_path = layout.index_path(n)
    if index_path.exists():
        return load_npz_index(n, index_path, store.index_keys)
    try:
        return journal_chunk_index(n, read_journal(layout.journal_path(n)))
    except FileNotFoundError:  # not begun, or finished between the two looks
        return load_npz_index(n, index_path, store.index_keys) if index_path.exists() else None
