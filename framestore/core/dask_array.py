"""A store as a lazy dask array: one block per chunk (or per ``block_frames`` frames),
each decoded where it is computed, by a reader that process opens for itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidArgumentError
from .worker_readers import open_reader

if TYPE_CHECKING:
    from .description import StoreDescription
    from .reader import StoreReader


def to_dask(store: StoreReader, block_frames: int | None = None) -> Any:
    """``(frames, height, width[, channels])`` dask array of ``store``'s frames."""
    try:
        import dask.array as da
        from dask.base import tokenize
    except ImportError:
        raise ImportError("to_dask needs dask: pip install 'framestore[dask]'") from None
    n = len(store)
    if block_frames is not None and int(block_frames) < 1:
        raise InvalidArgumentError(f"{store.path}: block_frames must be at least 1, got {block_frames}")
    shape = tuple(store.image_shape)
    if n == 0:
        return da.empty((0, *shape), dtype=store.dtype)
    if block_frames is None:
        bounds = [*(int(s) for s in store.chunk_starts), n]
    else:
        bounds = [*range(0, n, int(block_frames)), n]
    bounds = sorted(set(bounds))
    path = str(store.path)
    name = "framestore-" + tokenize(path, store.uuid, n, bounds, store.image_shape)
    where = store.reopen_as
    graph = {
        (name, k, *(0,) * len(shape)): (_read_block, where, store.uuid, a, b)
        for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))
    }
    chunks = (tuple(np.diff(bounds).tolist()), *((d,) for d in shape))
    return da.Array(graph, name, chunks, dtype=store.dtype)


def _read_block(where: str | StoreDescription, uuid: str, start: int, stop: int) -> np.ndarray:
    reader = open_reader(where, uuid, min_frames=stop)
    out = np.empty((stop - start, *reader.image_shape), reader.dtype)
    for k, image in enumerate(reader.iter_frames(start, stop)):
        out[k] = image
    return out
