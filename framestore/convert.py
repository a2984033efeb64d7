"""Rewriting a store (ours or one imgstore wrote) into another format, losing nothing
but what a lossy target format loses: frame numbers, times, user metadata and extra data
are kept."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .index import fps_from_times
from .reader import StoreReader
from .storage import local_path
from .writer import StoreWriter

_FRAME_KEYS = ("frame_index", "frame_number", "frame_time")


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    fmt: str,
    *,
    chunksize: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write every frame of the store ``src`` to a new store ``dst`` in format ``fmt``,
    with its per-frame columns, user metadata and extra data.

    ``progress(done, total)`` is called as frames are written. Returns ``dst``.
    """
    local_path(dst)  # refused before reading anything when it is a URL
    with StoreReader(src) as source:
        index = source.index_dataframe()
        extra_columns = [c for c in index.columns if c not in _FRAME_KEYS]
        table = {name: index[name].to_numpy() for name in extra_columns}
        extra = source.get_extra_data()
        by_frame: dict[int, list[dict]] = {}
        for record in extra.to_dict("records") if len(extra) else []:
            index = int(record["frame_index"])
            values = {k: v for k, v in record.items() if k not in _FRAME_KEYS and not _missing(v)}
            by_frame.setdefault(index, []).append(values)
        writer = StoreWriter(
            fmt,
            dst,
            imgshape=source.image_shape,
            imgdtype=source.dtype,
            chunksize=chunksize or source.chunksize,
            fps=source.fps or fps_from_times(source.frame_times, 25.0),
            metadata=source.user_metadata,
            overwrite=overwrite,
            frame_columns={name: table[name].dtype for name in extra_columns},
        )
        with writer:
            numbers, times = source.frame_numbers, source.frame_times
            for i, image in enumerate(source):
                row = {name: table[name][i] for name in extra_columns}
                writer.add_image(image, int(numbers[i]), float(times[i]), **row)
                for values in by_frame.get(i, ()):
                    writer.add_extra_data(**values)
                if progress is not None and (i % 100 == 99 or i == len(source) - 1):
                    progress(i + 1, len(source))
    return Path(dst)


def _missing(value: object) -> bool:
    return isinstance(value, float) and np.isnan(value)
