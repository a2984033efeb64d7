"""Readers that worker threads and processes open for themselves and reuse across tasks."""

from __future__ import annotations

import threading
from collections import OrderedDict

from ..errors import FramestoreError
from .description import StoreDescription
from .reader import StoreReader

_local = threading.local()
_READERS_KEPT = 8  # per worker thread: each holds its store's index in memory


def open_reader(where: str | StoreDescription, uuid: str | None = None, min_frames: int = 0) -> StoreReader:
    """A reader of the store at ``where`` (its path, or its description: a plain video
    file opened with options), opened once per worker thread and reused by the
    tasks it runs (readers hold decoders, which one thread at a time may use; the last few
    stay open). ``uuid``: refuse a store that was replaced since the job was planned;
    ``min_frames``: reopen a store that has grown since this thread opened it."""
    cache: OrderedDict[str, StoreReader] = _local.__dict__.setdefault("readers", OrderedDict())
    path = where if isinstance(where, str) else f"{where.root}#{where.shape}"
    reader = cache.pop(path, None)
    if reader is None or (uuid is not None and reader.uuid != uuid) or len(reader) < min_frames:
        reader = (
            StoreReader(where) if isinstance(where, str) else StoreReader(str(where.root), description=where)
        )
    cache[path] = reader
    while len(cache) > _READERS_KEPT:
        cache.popitem(last=False)  # not closed: a task may still hold it; freed with it
    if uuid is not None and reader.uuid != uuid:
        raise FramestoreError(
            f"{path}: is another store (uuid {reader.uuid}) than the one asked for ({uuid})"
        )
    return reader
