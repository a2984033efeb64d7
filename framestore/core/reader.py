"""The read-only store object: imgstore's reading API plus a numpy-friendly sequence."""

from __future__ import annotations

import datetime
import functools
import os
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import cv2
import numpy as np
import pandas as pd

from .._disk.columns import CRC32, FRAME_NUMBER, FRAME_TIME
from .._disk.index import ChunkIndex, StoreIndex
from .._disk.index_cache import load_chunk_indexes
from .._disk.metadata import StoreMetadata
from .._disk.storage import StorePath
from ..codecs.base import ChunkReader
from ..codecs.images import ImageChunkReader
from ..codecs.video import JournalVideoReader, VideoChunkReader
from ..errors import (
    FrameIndexError,
    IncompleteStoreWarning,
    StoreClosedError,
)
from .description import StoreDescription
from .dialect import read_extra_data

# Chunk readers kept open at once (a decoder holds a few frames): enough that random reads
# rarely reopen a chunk, few enough that memory stays bounded by a few chunks.
_OPEN_FRAMES_BUDGET = 256 * 2**20
_OPEN_CHUNKS_MIN, _OPEN_CHUNKS_MAX = 2, 32

# Chunk readers a forked process inherited from its parent (see StoreReader._reader).
_INHERITED_READERS: list[OrderedDict[int, ChunkReader]] = []

Frame = tuple[np.ndarray, tuple[int, float]]
Roi = tuple[int, int, int, int]


class StoreReader(Sequence[np.ndarray]):
    """A store opened for reading: a sequence of frames over ``frame_index``.

    ``store[i]`` is one frame ``(h, w[, c])``; ``store[a:b]``, ``store[[i, j]]`` and
    ``get_frames`` return ``(n, h, w[, c])`` arrays. Lookups by ``frame_number`` and
    ``frame_time`` are explicit methods. Color frames are BGR, as in OpenCV and imgstore.
    """

    def __init__(self, path: str | os.PathLike[str], verify: bool = True) -> None:
        """Open the store at ``path``: its directory or ``metadata.yaml``, on disk or as a
        URL fsspec can read (``https://``, ``s3://``, ``file://``; read-only)."""
        self._verify = verify
        self._store = StoreDescription.read(path)
        self._index = StoreIndex(load_chunk_indexes(self._store.layout, self._store.index_keys))
        self._open: OrderedDict[int, ChunkReader] = OrderedDict()
        self._pid = os.getpid()  # the process the open chunk readers belong to
        frame_bytes = int(np.prod(self._store.spec.shape)) * self._store.spec.dtype.itemsize
        self._open_limit = int(
            np.clip(_OPEN_FRAMES_BUDGET // (8 * frame_bytes), _OPEN_CHUNKS_MIN, _OPEN_CHUNKS_MAX)
        )
        self._cursor = -1
        self._closed = False
        self.frame_number: int | None = None
        self.frame_time: float | None = None
        if not self.is_complete:
            unfinished = sum(not c.complete for c in self._index.chunks)
            warnings.warn(
                f"{self._store.root}: this store is still being written or its writer did not "
                f"close it ({unfinished} unfinished chunk(s) read from their journals); if "
                f"no writer is running, 'framestore recover {self._store.root}' finishes it",
                IncompleteStoreWarning,
                stacklevel=2,
            )

    # -- description -------------------------------------------------------------------
    @property
    def path(self) -> StorePath:
        """The store's directory: a local path, or a :class:`RemotePath` for a URL."""
        return self._store.root

    @property
    def metadata(self) -> StoreMetadata:
        return self._store.metadata

    @property
    def description(self) -> StoreDescription:
        """What the store's ``metadata.yaml`` says, resolved: format, layout, dialect."""
        return self._store

    @property
    def format(self) -> str:
        return self._store.format.name

    @property
    def frame_count(self) -> int:
        return len(self._index)

    @property
    def frame_min(self) -> int | None:
        return self._index.frame_min

    @property
    def frame_max(self) -> int | None:
        return self._index.frame_max

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self._store.shape

    @property
    def dtype(self) -> np.dtype:
        return self._store.spec.dtype

    @property
    def chunksize(self) -> int:
        return self._store.metadata.chunksize

    @property
    def fps(self) -> float | None:
        return self._store.metadata.fps

    @property
    def uuid(self) -> str:
        return self._store.metadata.uuid

    @property
    def user_metadata(self) -> dict[str, Any]:
        return dict(self._store.metadata.user)

    @property
    def created(self) -> tuple[datetime.datetime | None, datetime.tzinfo]:
        """(creation time in UTC, the recording machine's time zone), as in imgstore."""
        return self._store.created_utc, self.timezone

    @property
    def timezone(self) -> datetime.tzinfo:
        """The recording machine's time zone, in which frame times are shown."""
        return self._store.timezone

    @property
    def is_complete(self) -> bool:
        """True when the writer closed the store and every chunk is finished."""
        return not self._store.layout.marker_path.exists() and all(c.complete for c in self._index.chunks)

    @property
    def frame_numbers(self) -> np.ndarray:
        """frame_number of every frame, by frame_index (read-only view)."""
        return _readonly(self._index.frame_number)

    @property
    def frame_times(self) -> np.ndarray:
        """frame_time of every frame, by frame_index (read-only view)."""
        return _readonly(self._index.frame_time)

    @property
    def chunk_starts(self) -> np.ndarray:
        """frame_index where each chunk starts, plus the total frame count at the end."""
        return _readonly(self._index.starts)

    def __repr__(self) -> str:
        return (
            f"<StoreReader {str(self._store.root)!r} {self.format} {self.frame_count} frames "
            f"{self.image_shape} {self.dtype}>"
        )

    # -- imgstore's reading API ----------------------------------------------------------
    def get_next_image(self) -> Frame:
        """The frame after the last one returned; ``EOFError`` after the last frame."""
        if self._cursor + 1 >= len(self):
            raise EOFError(f"{self._store.root}: no frame after frame_index {self._cursor}")
        return self._frame_at(self._cursor + 1)

    def get_image(
        self, frame_number: int | None, exact_only: bool = True, frame_index: int | None = None
    ) -> Frame:
        """The frame with ``frame_number`` (nearest one if not ``exact_only``), or the
        frame at ``frame_index`` when that is given. Returns ``(image, (frame_number,
        frame_time))``; a missing frame number raises :class:`FrameNotFoundError`."""
        if frame_index is not None:
            i = self._index.normalize(frame_index)
            if frame_number is not None and int(self._index.frame_number[i]) != frame_number:
                raise ValueError(
                    f"frame_number {frame_number} and frame_index {frame_index} name "
                    "different frames; give one of them"
                )
            return self._frame_at(i)
        if frame_number is None:
            raise TypeError("get_image needs a frame_number or a frame_index")
        if exact_only:
            return self._frame_at(self._index.index_of_frame_number(frame_number))
        return self._frame_at(self._index.nearest_frame_number(frame_number))

    def get_nearest_image(self, frame_time: float) -> Frame:
        """The frame whose frame_time is nearest ``frame_time`` (earliest on a tie)."""
        return self._frame_at(self._index.nearest_frame_time(frame_time))

    def convert_frame_time_to_datetime(
        self, frame_time: float, tz: datetime.tzinfo | None = None
    ) -> datetime.datetime:
        """A frame_time as an aware datetime in the store's time zone (or ``tz``)."""
        return datetime.datetime.fromtimestamp(frame_time, tz=tz or self.timezone)

    def get_frame_metadata(self) -> dict[str, list[Any]]:
        """``{'frame_number': [...], 'frame_time': [...]}`` for every frame, in order."""
        return {
            FRAME_NUMBER: self._index.frame_number.tolist(),
            FRAME_TIME: self._index.frame_time.tolist(),
        }

    def get_extra_data(self) -> pd.DataFrame:
        """Everything written with ``add_extra_data``, one row per call (imgstore's and
        Motif's extra data files too)."""
        return read_extra_data(self._store.dialect, self._store.layout)

    def index_dataframe(self) -> pd.DataFrame:
        """frame_number, frame_time and every per-frame column, one row per frame."""
        data: dict[str, np.ndarray] = {
            FRAME_NUMBER: self._index.frame_number,
            FRAME_TIME: self._index.frame_time,
        }
        for name in self._index.extra_column_names():
            column = self._index.column(name)
            assert column is not None
            data[name] = column
        return pd.DataFrame(data, index=pd.RangeIndex(len(self), name="frame_index"))

    # -- sequence ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, key: Any) -> np.ndarray:  # type: ignore[override]
        if isinstance(key, tuple):
            frames = self[key[0]]
            rest = key[1:]
            return frames[(slice(None), *rest)] if frames.ndim > self._spec_ndim else frames[rest]
        if isinstance(key, (int, np.integer)):
            return self._read(self._index.normalize(int(key)))
        if isinstance(key, slice):
            return self.get_frames(range(*key.indices(len(self))))
        indices = np.asarray(key)
        if indices.dtype == bool:
            if indices.shape != (len(self),):
                raise IndexError(f"boolean index of shape {indices.shape} for {len(self)} frames")
            indices = np.flatnonzero(indices)
        return self.get_frames(indices)

    @property
    def _spec_ndim(self) -> int:
        return len(self._store.shape)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_frames()

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start:stop`` (frame_index) in order, each chunk decoded straight through."""
        stop = len(self) if stop is None else min(int(stop), len(self))
        starts = self._index.starts
        for c, chunk in enumerate(self._index.chunks):
            first, end = max(start - int(starts[c]), 0), min(stop - int(starts[c]), chunk.count)
            if first < end:
                for image in self._reader(c).iter_from(first, end):
                    yield self._converted(image)

    def to_dask(self, block_frames: int | None = None) -> Any:
        """The frames as a lazy ``dask.array`` ``(frames, height, width[, channels])``: one
        block per chunk (or per ``block_frames`` frames), decoded where it is computed by a
        reader each worker process opens for itself. Needs ``framestore[dask]``."""
        from .dask_array import to_dask

        return to_dask(self, block_frames)

    def get_frames(self, indices: Sequence[int] | np.ndarray, roi: Roi | None = None) -> np.ndarray:
        """Frames at ``indices`` (frame_index, negatives count from the end) as one array.

        The result is allocated once; each chunk is decoded once, in chunk order.
        ``roi=(x, y, width, height)`` keeps only that rectangle of every frame.
        """
        idx = np.asarray(indices)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"frame indices must be integers, got {idx.dtype}")
        idx = idx.astype(np.int64).ravel()
        n = len(self)
        bad = (idx < -n) | (idx >= n)
        if bad.any():
            raise FrameIndexError(f"frame index {idx[bad][0]} out of range for {n} frames")
        idx = np.where(idx < 0, idx + n, idx)
        rows, cols = self._roi_slices(roi)
        h = rows.stop - rows.start
        w = cols.stop - cols.start
        out = np.empty((len(idx), h, w, *self._store.shape[2:]), dtype=self._store.spec.dtype)
        chunk, offset = self._index.locate_many(idx)
        order = np.lexsort((offset, chunk))
        previous = (-1, -1)
        for i in order:
            key = (int(chunk[i]), int(offset[i]))
            if key != previous:
                image = self._converted(self._reader(key[0]).read(key[1]))[rows, cols]
                previous = key
            out[i] = image
        return out

    def _roi_slices(self, roi: Roi | None) -> tuple[slice, slice]:
        spec = self._store.spec
        if roi is None:
            return slice(0, spec.height), slice(0, spec.width)
        x, y, w, h = (int(v) for v in roi)
        if w < 1 or h < 1 or x < 0 or y < 0 or x + w > spec.width or y + h > spec.height:
            raise ValueError(
                f"roi (x, y, width, height) = {roi} does not fit frames of {spec.width}x{spec.height}"
            )
        return slice(y, y + h), slice(x, x + w)

    def file_of(self, frame_index: int) -> StorePath:
        """The file holding the frame at ``frame_index``: its chunk's video file, or its
        own image file."""
        c, k = self._index.locate(frame_index)
        n, layout = self._index.chunks[c].number, self._store.layout
        return layout.image_path(n, k) if self._store.format.image is not None else layout.chunk_path(n)

    # -- plumbing ----------------------------------------------------------------------
    def _frame_at(self, i: int) -> Frame:
        image = self._read(i)
        self._cursor = i
        self.frame_number = int(self._index.frame_number[i])
        self.frame_time = float(self._index.frame_time[i])
        return image, (self.frame_number, self.frame_time)

    def _read(self, i: int) -> np.ndarray:
        c, k = self._index.locate(i)
        return self._converted(self._reader(c).read(k))

    def _converted(self, image: np.ndarray) -> np.ndarray:
        return image if self._store.conversion is None else cv2.cvtColor(image, self._store.conversion)

    def _reader(self, c: int) -> ChunkReader:
        if self._closed:
            raise StoreClosedError(f"{self._store.root}: the store is closed")
        if self._pid != os.getpid():
            # a forked child: its parent's decoders share file offsets with the parent and
            # would join decoder threads that exist only there when freed, so they are
            # set aside, never used or freed, and this process opens its own
            _INHERITED_READERS.append(self._open)
            self._open = OrderedDict()
            self._pid = os.getpid()
        reader = self._open.get(c)
        if reader is not None:
            self._open.move_to_end(c)
            return reader
        reader = self._new_reader(self._index.chunks[c])
        self._open[c] = reader
        while len(self._open) > self._open_limit:
            _, old = self._open.popitem(last=False)
            old.close()
        return reader

    def _new_reader(self, chunk: ChunkIndex) -> ChunkReader:
        return open_chunk_reader(self._store, chunk, self._verify)

    def close(self) -> None:
        for reader in self._open.values():
            reader.close()
        self._open.clear()
        self._closed = True

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()  # decoders are reopened on demand in the new process
        return state


def open_chunk_reader(store: StoreDescription, chunk: ChunkIndex, verify: bool = True) -> ChunkReader:
    """A reader of one chunk of a store; with ``verify``, checking each frame's CRC32."""
    crc = chunk.columns.get(CRC32) if verify else None
    fmt, layout, spec = store.format, store.layout, store.spec
    if fmt.image is not None:
        return ImageChunkReader(
            functools.partial(layout.image_path, chunk.number), chunk.count, fmt.image, spec, crc
        )
    assert fmt.video is not None
    if chunk.journal is not None:
        return JournalVideoReader(chunk.journal, spec)
    path = layout.chunk_path(chunk.number)
    pts, keyframe = store.dialect.video_timestamps(path, chunk)
    video = fmt.video
    return VideoChunkReader(path, spec, pts, keyframe, crc, video.decode_thread_type, video.gray_via_bgr)


def _readonly(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view
