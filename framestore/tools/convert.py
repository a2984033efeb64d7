"""Rewriting a store (ours or one imgstore wrote) into another format, losing nothing
but what a lossy target format loses: frame numbers, times, per-frame columns, user
metadata and extra data are kept. Long stores convert in parallel, chunk by chunk."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._disk.storage import local_path
from ..core.reader import StoreReader
from ..core.settings import DEFAULT_CHUNKSIZE, WriteSettings
from ..core.video_file import Times, VideoFileDialect
from ..core.writer import StoreWriter
from ..parallel.parts import PartedStore, PartSpec
from ..parallel.tasks import default_workers, run_ordered
from ..sessions.dataset import open_video_with_times
from .selection import Selection

_FRAME_KEYS = ("frame_index", "frame_number", "frame_time")


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    fmt: str,
    *,
    chunksize: int | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    chunks_per_task: int = 1,
    selection: Selection | None = None,
    times: Times | None = None,
) -> Path:
    """Write every frame of the store ``src`` to a new store ``dst`` in format ``fmt``,
    with its per-frame columns, user metadata and extra data.

    The output's chunks are converted in parallel: on ``workers`` local processes (default:
    one per core; 1 converts in this process) or on a Dask cluster (``scheduler``: an
    address or a ``dask.distributed.Client``; the workers must see ``src`` and ``dst`` at
    the same paths), ``chunks_per_task`` output chunks per task. Every way writes the same
    frames, indexes and extra data.
    ``progress(done, total)`` is called as frames are written. ``selection``: only
    these frames (a range, every n-th, a rectangle), recorded in ``dst``'s
    ``derived_from``. ``src`` may also be a plain video file (``times``: its frame times,
    see :func:`framestore.open_video`). Returns ``dst``.
    """
    selection = selection or Selection()
    local_path(dst)  # refused before reading anything when it is a URL
    # the index and extra data are read once, here; each part gets its own rows of them
    with StoreReader(src) if times is None else open_video_with_times(src, times) as source:
        index = source.index_dataframe()
        whole_file = isinstance(source.description.dialect, VideoFileDialect)  # one chunk: the file
        out_chunksize = int(chunksize or (DEFAULT_CHUNKSIZE if whole_file else source.chunksize))
        picked = selection.indices(source)
        rows, cols = source.roi_slices(selection.roi)
        everything = _Frames(
            str(src),
            0,
            len(picked),
            picked,
            (rows.start, rows.stop, cols.start, cols.stop),
            source.frame_numbers[picked],
            source.frame_times[picked],
            {c: index[c].to_numpy()[picked] for c in index.columns if c not in _FRAME_KEYS},
            _extra_by_frame(source, picked),
        )
        derived = None
        if not selection.is_everything:
            derived = {
                "method": "convert",
                "sources": [{"path": str(src), "uuid": source.uuid}],
                **selection.to_dict(source),
            }
        settings = WriteSettings.build(
            fmt,
            imgshape=(rows.stop - rows.start, cols.stop - cols.start, *source.image_shape[2:]),
            imgdtype=source.dtype,
            chunksize=out_chunksize,
            fps=source.fps / selection.every if source.fps else None,
            metadata=source.user_metadata,
            frame_columns={name: column.dtype for name, column in everything.columns.items()},
            derived_from=derived,
        )
    total = everything.stop
    step = out_chunksize * _at_least_one(chunks_per_task)
    starts = list(range(0, total, step)) or [0]
    if scheduler is None and (workers == 1 or default_workers(len(starts)) == 1 and workers is None):
        with StoreWriter.from_settings(dst, settings, overwrite=overwrite) as writer:
            _write_frames(everything, writer, progress, total)
        return Path(dst)

    store = PartedStore(dst, settings, overwrite=overwrite, frames=total)
    tasks = [
        _Part(store.part(k, first_chunk=k * chunks_per_task), everything.rows(a, min(a + step, total)))
        for k, a in enumerate(starts)
    ]
    try:
        for task in run_ordered(_convert_part, tasks, workers=workers, scheduler=scheduler):
            store.commit(task.spec)
            if progress is not None:
                progress(task.frames.stop, total)
    except BaseException:
        store.discard_parts()
        raise
    store.close()
    return Path(dst)


@dataclass(frozen=True)
class _Frames:
    """Frames ``start:stop`` of the source and what goes with each: frame number, time,
    per-frame column values, and the extra data recorded after it (picklable)."""

    src: str
    start: int
    stop: int
    indices: np.ndarray  # the source's frame_index of each frame
    crop: tuple[int, int, int, int]  # rows start, stop, columns start, stop
    numbers: np.ndarray
    times: np.ndarray
    columns: dict[str, np.ndarray]
    extra: dict[int, list[dict[str, Any]]]

    def rows(self, a: int, b: int) -> _Frames:
        extra = {i: v for i, v in self.extra.items() if a <= i < b}
        columns = {n: c[a:b] for n, c in self.columns.items()}
        return _Frames(
            self.src, a, b, self.indices[a:b], self.crop, self.numbers[a:b], self.times[a:b], columns, extra
        )


@dataclass(frozen=True)
class _Part:
    spec: PartSpec
    frames: _Frames


def _convert_part(part: _Part) -> _Part:
    with part.spec.open() as writer:
        _write_frames(part.frames, writer, None, 0)
    return part


def _extra_by_frame(source: StoreReader, picked: np.ndarray) -> dict[int, list[dict[str, Any]]]:
    """The source's extra data records of the frames ``picked``, by their position
    there, without the frame keys."""
    extra = source.get_extra_data()
    position = {int(i): k for k, i in enumerate(picked)}
    by_frame: dict[int, list[dict[str, Any]]] = {}
    for record in extra.to_dict("records") if len(extra) else []:
        k = position.get(int(record["frame_index"]))
        if k is not None:
            values = {str(key): v for key, v in record.items() if key not in _FRAME_KEYS and not _missing(v)}
            by_frame.setdefault(k, []).append(values)
    return by_frame


def _write_frames(
    frames: _Frames, writer: StoreWriter, progress: Callable[[int, int], None] | None, total: int
) -> None:
    """``frames``, with their columns and extra data, decoded from the source into ``writer``."""
    if not len(frames.indices):
        return
    r0, r1, c0, c1 = frames.crop
    first, last = int(frames.indices[0]), int(frames.indices[-1]) + 1
    k = 0  # the next of ``frames`` to write; the source is decoded straight through
    with StoreReader(frames.src) as source:
        for j, image in enumerate(source.iter_frames(first, last), start=first):
            if j != frames.indices[k]:
                continue
            i = frames.start + k
            row = {name: column[k] for name, column in frames.columns.items()}
            writer.add_image(image[r0:r1, c0:c1], int(frames.numbers[k]), float(frames.times[k]), **row)
            for values in frames.extra.get(i, ()):
                writer.add_extra_data(**values)
            if progress is not None and (i % 100 == 99 or i == frames.stop - 1):
                progress(i + 1, total)
            k += 1


def _at_least_one(chunks_per_task: int) -> int:
    if int(chunks_per_task) < 1:
        raise ValueError(f"chunks_per_task must be at least 1, got {chunks_per_task}")
    return int(chunks_per_task)


def _missing(value: object) -> bool:
    return isinstance(value, float) and np.isnan(value)
