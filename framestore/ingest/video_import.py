"""``framestore import``: one store from one or more plain video files, concatenated.

Frames are decoded and written in the store's format (the default one unless asked),
or, with ``copy``, the original compressed packets are kept: remuxed into Matroska
chunks split at keyframes (nothing is re-encoded), indexed like every store (pts,
keyframes, each packet's CRC32, the chunk's checksum).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._disk.atomic import replace
from .._disk.checksum import checksum_files
from .._disk.columns import FRAME_NUMBER, FRAME_TIME, VIDEO_PTS
from .._disk.index import fps_from_times, write_index
from .._disk.index_cache import write_index_cache
from .._disk.layout import Layout
from .._disk.storage import local_path, open_video
from ..codecs import COPY_FORMAT, DEFAULT_FORMAT
from ..codecs.video_file import RemuxChunkWriter, VideoFileIndex
from ..core.description import StoreDescription
from ..core.reader import StoreReader
from ..core.settings import DEFAULT_CHUNKSIZE, WriteSettings
from ..core.video_file import Times, VideoFileDialect, read_times
from ..core.writer import StoreWriter, create_store
from ..errors import CorruptStoreError, InvalidFrameError

Progress = Callable[[int, int], None]


def import_videos(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    times: Times | None = None,
    source_times: Sequence[Times] | None = None,
    fmt: str | None = None,
    copy: bool = False,
    chunksize: int | None = None,
    gray: bool | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Write the frames of the video files ``sources``, in order, into a new store at
    ``output``; returns its path.

    ``times``: frame times for all the frames (an array or a ``.npy``/CSV file, as for
    :func:`framestore.open_video`), or ``source_times``, one per source; without them,
    each file's container timestamps in seconds, each file continuing where the last
    ended.
    Frame numbers come from a CSV's ``frame_number`` column, else count from 0.
    ``fmt``: the store's format (default ``framestore.DEFAULT_FORMAT``); ``copy``: keep
    the original packets instead (``fmt`` must not be given). ``progress(done, total)``
    is called as frames are written.
    """
    if copy and fmt is not None:
        raise ValueError("give a format or copy the original packets, not both")
    if not sources:
        raise ValueError("import needs at least one video file")
    local_path(output)  # a URL is refused before anything is read
    if source_times is not None and (times is not None or len(source_times) != len(sources)):
        raise ValueError(f"give times for all frames, or one per source ({len(sources)}), not both")
    each = list(source_times) if source_times is not None else [None] * len(sources)
    stores = [
        StoreReader(src, description=StoreDescription.for_video_file(src, t, gray=gray))
        for src, t in zip(sources, each, strict=True)
    ]
    try:
        numbers, frame_times = _numbers_and_times(stores, times)
        shape, dtype = stores[0].image_shape, stores[0].dtype
        for store in stores[1:]:
            if (store.image_shape, store.dtype) != (shape, dtype):
                raise InvalidFrameError(
                    f"{store.path}: frames of {store.image_shape} {store.dtype}, unlike the "
                    f"{shape} {dtype} of {stores[0].path}; a store holds one frame shape"
                )
        derived = {
            "method": "copy" if copy else "import",
            "sources": [{"path": str(s.path), "frames": len(s)} for s in stores],
        }
        settings = WriteSettings.build(
            fmt or DEFAULT_FORMAT,
            imgshape=shape,
            imgdtype=dtype,
            chunksize=int(chunksize or DEFAULT_CHUNKSIZE),
            fps=stores[0].fps or fps_from_times(frame_times, 25.0),
            derived_from=derived,
        )
        if copy:
            _copy(stores, Path(output), settings, numbers, frame_times, overwrite, progress)
        else:
            _decode(stores, Path(output), settings, numbers, frame_times, overwrite, progress)
    finally:
        for store in stores:
            store.close()
    return Path(output)


def _numbers_and_times(stores: list[StoreReader], times: Times | None) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's number and time, over all sources in order."""
    total = sum(len(s) for s in stores)
    if times is not None:
        frame_times, numbers = read_times(times, total, stores[0].path)
        return (np.arange(total) if numbers is None else numbers), frame_times
    parts, start = [], 0.0
    for store in stores:
        t = store.frame_times
        parts.append(t - t[0] + start)
        step = float(np.median(np.diff(t))) if len(t) > 1 else 1 / (store.fps or 25.0)
        start = parts[-1][-1] + step
    numbers = np.concatenate([s.frame_numbers for s in stores])
    given = any(
        s.frame_numbers[0] != 0 or not np.array_equal(s.frame_numbers, np.arange(len(s))) for s in stores
    )
    return (numbers if given else np.arange(total)), np.concatenate(parts)


def _decode(
    stores: list[StoreReader],
    output: Path,
    settings: WriteSettings,
    numbers: np.ndarray,
    times: np.ndarray,
    overwrite: bool,
    progress: Progress | None,
) -> None:
    total, i = len(numbers), 0
    with StoreWriter.from_settings(output, settings, overwrite=overwrite) as writer:
        for store in stores:
            for image in store:
                writer.add_image(image, int(numbers[i]), float(times[i]))
                i += 1
                if progress is not None and (i % 100 == 0 or i == total):
                    progress(i, total)


def _copy(
    stores: list[StoreReader],
    output: Path,
    settings: WriteSettings,
    numbers: np.ndarray,
    times: np.ndarray,
    overwrite: bool,
    progress: Progress | None,
) -> None:
    indexes = [_copyable(store) for store in stores]
    settings = dataclasses.replace(settings, format=COPY_FORMAT, codec_options={}, user_metadata={})
    layout, _, lock = create_store(output, settings, overwrite)
    try:
        chunks = _Chunks(layout, settings.chunksize, numbers, times)
        offset = 0
        for store, index in zip(stores, indexes, strict=True):
            with open_video(store.path) as container:
                stream = container.streams.video[0]
                gop: list[tuple[Any, int]] = []  # packets from a keyframe, with their frame_index
                for packet in container.demux(stream):
                    if not packet.size:
                        continue
                    if packet.is_keyframe and gop:
                        chunks.add_gop(gop, stream)
                        gop = []
                    gop.append((packet, offset + int(np.searchsorted(index.pts, packet.pts))))
                if gop:
                    chunks.add_gop(gop, stream)
            offset += len(store)
            chunks.finish()  # a chunk holds one source's packets: its codec set-up
            if progress is not None:
                progress(offset, len(numbers))
        write_index_cache(layout)
        layout.marker_path.unlink(missing_ok=True)
    finally:
        lock.release()


def _copyable(store: StoreReader) -> VideoFileIndex:
    dialect = store.description.dialect
    assert isinstance(dialect, VideoFileDialect)
    index = dialect.index
    if not index.by_pts:
        raise CorruptStoreError(
            f"{store.path}: its timestamps do not give the frames' order, so its packets "
            "cannot be kept as they are; import it without --copy (re-encoding)"
        )
    if len(index.hidden_pts):
        raise CorruptStoreError(
            f"{store.path}: its edit list hides {len(index.hidden_pts)} decoded frames before its "
            "first shown frame, which a store's Matroska chunk cannot hide; import it without "
            "--copy (re-encoding)"
        )
    return index


class _Chunks:
    """Chunk files of whole GOPs, started anew at a keyframe once one holds ``chunksize``
    frames, each indexed as it is finished."""

    def __init__(self, layout: Layout[Path], chunksize: int, numbers: np.ndarray, times: np.ndarray):
        self._layout = layout
        self._chunksize = chunksize
        self._numbers = numbers
        self._times = times
        self._number = 0
        self._writer: RemuxChunkWriter | None = None
        self._frames: list[int] = []

    def add_gop(self, gop: list[tuple[Any, int]], stream: Any) -> None:
        closed = min(p.pts for p, _ in gop) >= gop[0][0].pts  # no frame shown before its keyframe
        if self._writer is not None and len(self._frames) >= self._chunksize and closed:
            self.finish()
        if self._writer is None:
            path = self._layout.chunk_path(self._number)
            self._writer = RemuxChunkWriter(path.with_name(f"{path.stem}.copying.mkv"), stream)
        for packet, frame_index in gop:
            self._writer.add(packet)
            self._frames.append(frame_index)

    def finish(self) -> None:
        if self._writer is None:
            return
        n, path = self._number, self._layout.chunk_path(self._number)
        columns = self._writer.close()
        frames = np.sort(np.array(self._frames))
        if len(columns[VIDEO_PTS]) != len(frames) or (
            len(frames) and not np.array_equal(frames, np.arange(frames[0], frames[0] + len(frames)))
        ):
            raise CorruptStoreError(f"{path}: the remuxed chunk does not hold whole, consecutive frames")
        replace(path.with_name(f"{path.stem}.copying.mkv"), path, fsync=False)
        columns = {FRAME_NUMBER: self._numbers[frames], FRAME_TIME: self._times[frames], **columns}
        columns.update(checksum_files([path]).to_columns())
        write_index(self._layout.index_path(n), columns)
        self._number += 1
        self._writer = None
        self._frames = []
