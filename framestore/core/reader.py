"""The read-only store object: imgstore's reading API plus a numpy-friendly sequence."""

from __future__ import annotations

import datetime
import functools
import math
import operator
import os
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pandas as pd

from .._disk.columns import CRC32, FRAME_NUMBER, FRAME_TIME, VIDEO_CODEC_CRC32, VIDEO_OFFSET
from .._disk.index import ChunkIndex, StoreIndex, fps_from_times
from .._disk.index_cache import load_chunk_indexes
from .._disk.layout import Layout
from .._disk.metadata import METADATA_FILENAME, StoreMetadata
from .._disk.storage import StorePath
from ..codecs.base import ChunkReader, DirectChunkReader
from ..codecs.cores import usable_cores
from ..codecs.images import ImageChunkReader, NpyChunkReader
from ..codecs.raw import UncompressedChunkReader
from ..codecs.video import GOP_KEEP_BYTES, JournalVideoReader, VideoChunkReader
from ..errors import (
    CorruptStoreError,
    FollowTimeoutError,
    FrameIndexError,
    IncompleteStoreWarning,
    StoreClosedError,
    StoreWarning,
    WriterGoneError,
)
from .damage import BatchJudge, DamageSettings
from .description import StoreDescription
from .dialect import read_extra_data
from .imgstore_compat import extra_data_files, reindex
from .live import (
    FOLLOW_POLL,
    FollowedFrame,
    WriterState,
    finished_chunk,
    refreshed_chunks,
    writer_state,
)
from .noise_scores import index_fingerprint, kept_scores
from .video_file import VideoFileDialect, video_meta

# Chunk readers kept open at once (a decoder holds a few frames, an H.264 reader also the
# GOP it decoded last): enough that random reads rarely reopen a chunk, few enough that
# memory stays bounded by a few chunks.
_OPEN_FRAMES_BUDGET = 256 * 2**20
_OPEN_CHUNKS_MIN, _OPEN_CHUNKS_MAX = 2, 32

# Readers that put a frame straight into the caller's memory, at its stored offset: the
# classes, not the runtime-checked DirectChunkReader protocol (~20 us a check)
_DIRECT_READERS: tuple[type[DirectChunkReader], ...] = (UncompressedChunkReader, NpyChunkReader)
# a batch of at least this many such frames is read in two halves on two threads: fewer
# take about as long as the hand-over to the second thread (~20 us a frame, ~100 us)
_HALVES_MIN_FRAMES = 8

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

    def __init__(
        self,
        path: str | os.PathLike[str],
        verify: bool = True,
        *,
        description: StoreDescription | None = None,
    ) -> None:
        """Open the store at ``path``: its directory or ``metadata.yaml``, or a plain video
        file, on disk or as a URL fsspec can read (``https://``, ``s3://``, ``file://``;
        read-only). ``description``: the store already described (a video file opened
        with its times, :func:`framestore.open_video`)."""
        self._verify = verify
        self._store = StoreDescription.read(path) if description is None else description
        self._index = StoreIndex(self._store.load_chunks())
        self._open: OrderedDict[int, ChunkReader] = OrderedDict()
        # each batch thread's own chunk readers (see _each_chunk), up to _open_limit in all
        self._batch_open: list[OrderedDict[int, ChunkReader]] = []
        self._pid = os.getpid()  # the process the open chunk readers belong to
        video = self._store.format.video
        kept = GOP_KEEP_BYTES if video is not None and video.gop != 1 else 0  # see VideoChunkReader
        decoder = 8 * self._store.spec.frame_bytes  # a decoder's frames, about
        self._open_limit = _open_chunks(decoder + kept)
        self._batch_open_limit = _open_chunks(decoder)  # batch readers keep no GOP
        self._cursor = -1
        self._closed = False
        self._cut: set[int] = set()  # chunks finished under this reader, cut to what it knew
        self.frame_number: int | None = None
        self.frame_time: float | None = None
        if not self.is_complete:
            unfinished = sum(not c.complete for c in self._index.chunks)
            if self.writer_state == "writing":
                why = (
                    f"{self._store.root}: this store is being written ({len(self)} frames so far, "
                    f"{unfinished} unfinished chunk(s) read from their journals); refresh() or "
                    "follow() read the frames written later"
                )
            else:
                why = (
                    f"{self._store.root}: this store is still being written or its writer did not "
                    f"close it ({unfinished} unfinished chunk(s) read from their journals); if "
                    f"no writer is running, 'framestore recover {self._store.root}' finishes it"
                )
            warnings.warn(why, IncompleteStoreWarning, stacklevel=2)

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
    def frame_min(self) -> int | float:
        """The smallest frame_number (NaN when the store is empty, as in imgstore)."""
        return math.nan if self._index.frame_min is None else self._index.frame_min

    @property
    def frame_max(self) -> int | float:
        """The largest frame_number (NaN when the store is empty, as in imgstore)."""
        return math.nan if self._index.frame_max is None else self._index.frame_max

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
        if isinstance(self._store.dialect, VideoFileDialect):
            return True  # a plain video file is read as it is
        return not self._store.layout.marker_path.exists() and all(c.complete for c in self._index.chunks)

    @property
    def writer_state(self) -> WriterState:
        """Who writes the store, looked up now: ``"finished"`` (closed by its writer),
        ``"writing"`` (a live writer holds it), ``"gone"`` (unfinished, and its writer
        died) or ``"unknown"`` (unfinished, and this cannot be told: read by URL)."""
        return writer_state(self._store)

    @property
    def is_live(self) -> bool:
        """True while a writer is writing the store (``writer_state == "writing"``)."""
        return self.writer_state == "writing"

    def refresh(self) -> int:
        """Read the index again for the frames written since the store was opened or last
        refreshed: the open chunk's journal from where it was left, chunks finished or
        begun since. Returns how many frames were added (0 for a finished store). Frames
        already read keep their frame_index; nothing is written to the store."""
        if isinstance(self._store.dialect, VideoFileDialect):
            return 0
        before = self._index
        chunks = refreshed_chunks(self._store, before.chunks)
        for c in self._cut:  # finished while read: its frames the journal did not hold yet
            chunks[c] = finished_chunk(self._store, before.chunks[c])
        self._cut.clear()
        if len(chunks) == len(before.chunks) and all(map(operator.is_, chunks, before.chunks)):
            return 0
        for c, (old, new) in enumerate(zip(before.chunks, chunks, strict=False)):
            if old is not new and (reader := self._open.pop(c, None)) is not None:
                reader.close()
        self._index = StoreIndex(chunks, checked=len(before))
        return len(self._index) - len(before)

    def follow(
        self, timeout: float | None = 10.0, *, start: int | None = None, poll: float = FOLLOW_POLL
    ) -> Iterator[FollowedFrame]:
        """Every frame from frame_index ``start`` (default: the first one not yet in the
        store when called) as it is written, in order, each once; ends when the writer
        closes the store. Raises :class:`FollowTimeoutError` after ``timeout`` seconds
        without a new frame (None: wait for ever), and :class:`WriterGoneError` when the
        writer died, after every frame it finished. ``poll``: seconds between looks at
        the store while nothing is new."""
        if start is not None and start < 0:
            raise FrameIndexError(f"follow starts at a frame_index from 0 on, got {start}")
        position = len(self) if start is None else int(start)
        waited_since = time.monotonic()
        while True:
            state = self.writer_state  # before the look: frames written before it ended are seen
            self.refresh()
            if position < len(self):
                stop = len(self)
                for image in self.iter_frames(position, stop):
                    i = position
                    position += 1
                    yield FollowedFrame(
                        i, int(self._index.frame_number[i]), float(self._index.frame_time[i]), image
                    )
                waited_since = time.monotonic()
                continue
            if state == "finished":
                return
            if state == "gone":
                raise WriterGoneError(
                    f"{self._store.root}: its writer is gone (died without closing the store) after "
                    f"{len(self)} frames, all of which were delivered; 'framestore recover "
                    f"{self._store.root}' finishes the store"
                )
            if timeout is not None and time.monotonic() - waited_since > timeout:
                raise FollowTimeoutError(
                    f"{self._store.root}: no new frame for {timeout:g} s (the store holds "
                    f"{len(self)} frames; its writer is {state})"
                )
            time.sleep(poll)

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

    def video_meta(self) -> dict[str, Any]:
        """``length``, ``fps`` (nominal, else measured), ``width``, ``height``,
        ``duration`` (seconds, first to last frame) and ``size`` (bytes of the frame
        data); a plain video file adds its ``codec``, ``pix_fmt`` and whether its frames
        are ordered by their timestamps."""
        if isinstance(self._store.dialect, VideoFileDialect):
            return video_meta(self._store.dialect, self._store.root)
        times = self._index.frame_time
        layout = self._store.layout
        size = None
        if isinstance(layout.root, Path):  # bytes of the chunk files, where they can be listed
            chunks = [c for c in self._index.chunks if c.complete]
            files = [f for c in chunks for f in layout.frame_files(c.number, c.count)]
            size = sum(f.stat().st_size for f in files if isinstance(f, Path) and f.is_file())
        return {
            "length": len(self),
            "fps": self.fps or (fps_from_times(times, 0.0) or None),
            "width": self._store.shape[1],
            "height": self._store.shape[0],
            "duration": float(times[-1] - times[0]) if len(self) else 0.0,
            "size": size,
        }

    # -- imgstore's reading API ----------------------------------------------------------
    mode = "r"

    @property
    def filename(self) -> str:
        """The store's directory, as imgstore names it."""
        return str(self._store.root)

    @property
    def full_path(self) -> str:
        """The store's ``metadata.yaml``."""
        return str(self._store.root / METADATA_FILENAME)

    @property
    def store_class(self) -> str:
        """The class imgstore opens this store with: ``VideoImgStore`` or ``DirectoryImgStore``."""
        return self._store.format.store_class

    @property
    def lossless(self) -> bool:
        return self._store.format.lossless

    @property
    def chunks(self) -> list[int]:
        """The numbers of the chunks that hold frames."""
        return [c.number for c in self._index.chunks if c.count]

    @property
    def frame_time_min(self) -> float | None:
        return float(self._index.frame_time.min()) if len(self) else None

    @property
    def frame_time_max(self) -> float | None:
        return float(self._index.frame_time.max()) if len(self) else None

    @property
    def duration(self) -> float:
        """Seconds from the earliest frame_time to the latest (0 when empty)."""
        return float(np.ptp(self._index.frame_time)) if len(self) else 0.0

    @property
    def has_extra_data(self) -> bool:
        return bool(self.find_extra_data_files())

    def find_extra_data_files(self) -> list[str]:
        """The chunks' extra data files (``add_extra_data``'s, or Motif's)."""
        return [str(p) for p in extra_data_files(self._store.layout)]

    def get_next_framenumber(self) -> int:
        """The frame_number ``get_next_image`` returns next; ``EOFError`` after the last frame."""
        if self._cursor + 1 >= len(self):
            raise EOFError(f"{self._store.root}: no frame after frame_index {self._cursor}")
        return int(self._index.frame_number[self._cursor + 1])

    def reindex(self) -> None:
        """Renumber the frames in place so that those before the one frame numbered 0 get
        -k .. -1, as imgstore's ``reindex`` (``ValueError`` unless exactly one frame is 0);
        each index keeps the old numbers as ``_frame_number_before_reindex``."""
        layout = self._store.layout.on_disk()
        reindex(layout, self._store.index_keys)
        self._index = StoreIndex(load_chunk_indexes(layout, self._store.index_keys))

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
            if frame_index < 0:
                raise FrameIndexError(
                    f"frame_index {frame_index} is negative; get_image takes 0 .. {len(self) - 1} "
                    "(store[-1] counts from the end)"
                )
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

    def get_extra_data(self, ignore_corrupt_chunks: bool = False) -> pd.DataFrame:
        """Everything written with ``add_extra_data``, one row per call (imgstore's and
        Motif's extra data files too); an empty table when there is none. A damaged file
        raises ``CorruptStoreError``, or with ``ignore_corrupt_chunks`` warns and is left out."""
        return read_extra_data(self._store.dialect, self._store.layout, ignore_corrupt_chunks)

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

    @property
    def index_fingerprint(self) -> str:
        """SHA-256 of what identifies this store's frames (frame numbers and times, per-frame
        and per-chunk checksums): it changes when any chunk does."""
        return index_fingerprint(self._index)

    def score_noise(
        self,
        settings: DamageSettings | None = None,
        *,
        recompute: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> pd.DataFrame:
        """Every frame judged for damage from its pixels (``framestore.detect_damage``'s
        columns, indexed by ``frame_index``, ``frame_number`` first), decoded here in one
        pass (``framestore.score_damage`` judges chunks in parallel). The table is kept in
        the store as ``damage_scores.csv`` and reused while it describes the store as it is
        (same uuid, index and ``settings``); ``recompute`` judges again anyway.
        ``progress(done, total)`` is called as frames are judged."""
        s = settings or DamageSettings()

        def judge() -> tuple[np.ndarray, ...]:
            batch = BatchJudge(s, self.image_shape, self.dtype)
            for done, image in enumerate(self.iter_frames(), 1):
                batch.add(image)
                if progress is not None:
                    progress(done, len(self))
            return batch.finish()

        return kept_scores(self, s, judge, recompute)

    # -- sequence ----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, key: Any) -> np.ndarray:  # type: ignore[override]
        """Frames as a numpy array of shape ``(frames, h, w[, c])`` would give them: an
        integer, a slice, an integer array (its shape kept) or a boolean mask over
        ``frame_index``, optionally followed by indexes into each frame."""
        if isinstance(key, tuple):
            if not key:
                return self[:]
            first, rest = key[0], key[1:]
            if isinstance(first, (int, np.integer)):
                return self[first][rest]
            if isinstance(first, slice):
                return self[first][(slice(None), *rest)]
            positions = self._positions(first)
            frames = self.get_frames(positions.ravel())
            # numpy's rules, on the frames read: index arrays in ``rest`` pair with ``first``
            picked: np.ndarray = frames[(np.arange(positions.size).reshape(positions.shape), *rest)]
            return picked
        if isinstance(key, (int, np.integer)):
            return self._read(self._index.normalize(int(key)))
        if isinstance(key, slice):
            return self.get_frames(range(*key.indices(len(self))))
        positions = self._positions(key)
        if positions.ndim == 0:
            return self[positions.item()]
        return self.get_frames(positions.ravel()).reshape(*positions.shape, *self._store.shape)

    def _positions(self, key: Any) -> np.ndarray:
        """An index array or boolean mask over frame_index as an array of positions."""
        positions = np.asarray(key)
        if positions.dtype == bool:
            if positions.shape != (len(self),):
                raise IndexError(f"boolean index of shape {positions.shape} for {len(self)} frames")
            return np.flatnonzero(positions)
        if positions.size and not np.issubdtype(positions.dtype, np.integer):
            raise TypeError(f"frame indices must be integers, got {positions.dtype}")
        return positions.astype(np.int64)

    @property
    def _spec_ndim(self) -> int:
        return len(self._store.shape)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.iter_frames()

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Frames ``start:stop`` (frame_index, negatives counting from the end, as in a
        slice) in order, each chunk decoded straight through."""
        start, stop, _ = slice(start, stop).indices(len(self))
        starts = self._index.starts
        for c, chunk in enumerate(self._index.chunks):
            first, end = max(start - int(starts[c]), 0), min(stop - int(starts[c]), chunk.count)
            while first < end:
                try:
                    for image in self._reader(c).iter_from(first, end):
                        yield self._converted(image)
                        first += 1
                except (OSError, CorruptStoreError):
                    if not self._finished_under_us(c):
                        raise

    @property
    def reopen_as(self) -> str | StoreDescription:
        """What a worker process opens this store from: its path, or for a plain video
        file its description (which holds the options it was opened with)."""
        if isinstance(self._store.dialect, VideoFileDialect):
            return self._store
        return str(self._store.root)

    def to_dask(self, block_frames: int | None = None) -> Any:
        """The frames as a lazy ``dask.array`` ``(frames, height, width[, channels])``: one
        block per chunk (or per ``block_frames`` frames), decoded where it is computed by a
        reader each worker process opens for itself. Needs ``framestore[dask]``."""
        from .dask_array import to_dask

        return to_dask(self, block_frames)

    def get_frames(
        self,
        indices: Sequence[int] | np.ndarray,
        roi: Roi | None = None,
        on_error: Literal["raise", "zeros"] = "raise",
    ) -> np.ndarray:
        """Frames at ``indices`` (frame_index, negatives count from the end) as one array.

        The result is allocated once; each chunk is decoded once, in chunk order.
        ``roi=(x, y, width, height)`` keeps only that rectangle of every frame.
        ``on_error="zeros"``: a frame that cannot be read (damaged, truncated) is zeros,
        and one :class:`StoreWarning` names them all; the default raises.
        """
        if on_error not in ("raise", "zeros"):
            raise ValueError(f"on_error must be 'raise' or 'zeros', got {on_error!r}")
        idx = np.asarray(indices)
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(f"frame indices must be integers, got {idx.dtype}")
        idx = idx.astype(np.int64).ravel()
        n = len(self)
        bad = (idx < -n) | (idx >= n)
        if bad.any():
            raise FrameIndexError(f"frame index {idx[bad][0]} out of range for {n} frames")
        idx = np.where(idx < 0, idx + n, idx)
        rows, cols = self.roi_slices(roi)
        h = rows.stop - rows.start
        w = cols.stop - cols.start
        out = np.empty((len(idx), h, w, *self._store.shape[2:]), dtype=self._store.spec.dtype)
        chunk, offset = self._index.locate_many(idx)
        order = np.lexsort((offset, chunk))
        by_chunk = np.split(order, np.flatnonzero(np.diff(chunk[order])) + 1) if len(order) else []
        failed: dict[int, str] = {}  # frame_index -> why

        # whole frames as stored: a reader that can is read straight into ``out``, no copy
        whole = (h, w) == self._store.spec.shape[:2] and self._store.conversion is None

        def fill(picks: np.ndarray, reader: ChunkReader | None) -> None:
            """One chunk's frames, in offset order, read with ``reader`` (a batch thread's
            own) or else the store's reader of the chunk."""
            c = int(chunk[picks[0]])
            if reader is None and whole:
                reader = self._reader(c)
            into = reader.read_into if whole and isinstance(reader, _DIRECT_READERS) else None
            previous = first = -1
            for i in picks:
                if offset[i] == previous:
                    out[i] = out[first]
                    continue
                previous, first = offset[i], i
                k = int(offset[i])
                try:
                    if into is not None:
                        into(k, out[i])
                    else:
                        image = self._read_in(c, k) if reader is None else reader.read(k)
                        out[i] = self._converted(image)[rows, cols]
                except CorruptStoreError as exc:
                    if on_error == "raise":
                        raise
                    failed[int(idx[i])] = str(exc)
                    out[i] = 0

        self._each_chunk(fill, [int(chunk[p[0]]) for p in by_chunk], by_chunk, offset)
        if failed:
            first = min(failed)
            warnings.warn(
                f"{len(failed)} frame(s) could not be read and are zeros: frame_index "
                f"{', '.join(map(str, sorted(failed)))} (first: {failed[first]})",
                StoreWarning,
                stacklevel=2,
            )
        return out

    def _each_chunk(
        self,
        work: Callable[[np.ndarray, ChunkReader | None], None],
        chunks: list[int],
        picks: list[np.ndarray],
        offset: np.ndarray,
    ) -> None:
        """``work(picks[j], reader)`` for each chunk ``chunks[j]``. Where the format's
        decoders gain from it (``VideoCodec.batch_threads``), a finished chunk's picks are
        cut into independent units (each frame with its repeats; for a chunk with
        inter-frames, each GOP's frames) that one thread per core takes in turn, each
        thread with readers of its own whose decoders are single-threaded, so the cores
        decode different frames; the first error, in chunk order, is raised once every
        thread has stopped. Chunks read from their journals (which may be finished under
        us) come after, one at a time, as do all chunks without ``batch_threads``, except
        frames read at stored offsets, which are read in two halves (``_read_in_halves``)."""
        video = self._store.format.video
        total = sum(map(len, picks))
        threads = min(usable_cores(), total)
        decode_units = threads >= 2 and video is not None and video.batch_threads
        if not decode_units:
            halves = threads >= 2 and total >= _HALVES_MIN_FRAMES
            if not (halves and self._read_in_halves(work, chunks, picks, total)):
                for p in picks:
                    work(p, None)
            return
        self._check_open()
        units: list[tuple[int, int, np.ndarray]] = []  # (position in chunk order, chunk, picks)
        cost: list[int] = []  # frames each unit decodes
        later: list[int] = []
        for j, (c, p) in enumerate(zip(chunks, picks, strict=True)):
            if self._index.chunks[c].journal is not None:
                later.append(j)
                continue
            reader = self._reader(c)
            ks = offset[p]
            starts = reader.gop_starts(ks) if isinstance(reader, VideoChunkReader) else ks
            cuts = np.flatnonzero(np.diff(starts)) + 1
            units.extend((j, c, u) for u in np.split(p, cuts))
            cost.extend((ks[np.r_[cuts - 1, len(ks) - 1]] - starts[np.r_[0, cuts]] + 1).tolist())
        # the longest first, so that no thread is left with a long one when the others are done
        units = [units[u] for u in sorted(range(len(units)), key=cost.__getitem__, reverse=True)]
        while len(self._batch_open) < threads:
            self._batch_open.append(OrderedDict())
        limit = max(_OPEN_CHUNKS_MIN, self._batch_open_limit // threads)
        errors: list[tuple[int, BaseException]] = []
        taken = iter(range(len(units)))
        lock = threading.Lock()

        def run(slot: int) -> None:
            while not errors:
                with lock:
                    u = next(taken, None)
                if u is None:
                    return
                j, c, p = units[u]
                try:
                    work(p, self._batch_reader(slot, c, limit))
                except Exception as exc:  # raised below, in chunk order
                    errors.append((j, exc))

        with ThreadPoolExecutor(threads - 1) as pool:
            running = [pool.submit(run, slot) for slot in range(1, threads)]
            run(0)
            wait(running)
        for j in later:
            if any(e < j for e, _ in errors):
                break
            try:
                work(picks[j], None)
            except Exception as exc:  # raised below, in chunk order
                errors.append((j, exc))
                break
        if errors:
            raise min(errors, key=operator.itemgetter(0))[1]

    def _read_in_halves(
        self,
        work: Callable[[np.ndarray, ChunkReader | None], None],
        chunks: list[int],
        picks: list[np.ndarray],
        total: int,
    ) -> bool:
        """Where every chunk is finished and read at stored offsets (raw/nut, npy), the
        batch's first half of its ``total`` frames (in chunk and offset order) read on this thread and
        the second on another, into the same result (``os.preadv`` and the CRC32 check
        release the GIL); the first error, in chunk order, is raised once both stop.
        False, having read nothing, where that does not apply."""
        if (
            not isinstance(self._store.root, Path)  # remote files: one request at a time
            or len(chunks) > self._open_limit
            or any(self._index.chunks[c].journal is not None for c in chunks)
        ):
            return False
        readers = [self._reader(c) for c in chunks]  # all open before either thread reads
        if not all(isinstance(r, _DIRECT_READERS) for r in readers):
            return False
        half, seen = total // 2, 0
        parts: tuple[list[tuple[int, np.ndarray]], list[tuple[int, np.ndarray]]] = ([], [])
        for j, p in enumerate(picks):
            cut = min(max(half - seen, 0), len(p))
            if cut:
                parts[0].append((j, p[:cut]))
            if cut < len(p):
                parts[1].append((j, p[cut:]))
            seen += len(p)
        errors: list[tuple[int, int, BaseException]] = []

        def run(part: int) -> None:
            for j, p in parts[part]:
                try:
                    work(p, readers[j])
                except Exception as exc:  # raised below, in chunk order
                    errors.append((j, part, exc))
                    return

        with ThreadPoolExecutor(1) as pool:
            other = pool.submit(run, 1)
            run(0)
            other.result()
        if errors:
            raise min(errors, key=operator.itemgetter(0, 1))[2]
        return True

    def _batch_reader(self, slot: int, c: int, limit: int) -> ChunkReader:
        """Batch thread ``slot``'s own reader of finished chunk ``c`` (its decoder
        single-threaded, keeping no GOP: batches read forward), kept open with up to
        ``limit`` others of that thread's."""
        readers = self._batch_open[slot]
        reader = readers.get(c)
        if reader is not None:
            readers.move_to_end(c)
            return reader
        chunk = self._index.chunks[c]
        reader = open_chunk_reader(self._store, chunk, self._verify, decode_threads=1, keep_gop=False)
        readers[c] = reader
        while len(readers) > limit:
            readers.popitem(last=False)[1].close()
        return reader

    def roi_slices(self, roi: Roi | None) -> tuple[slice, slice]:
        """The rows and columns ``roi=(x, y, width, height)`` keeps (all for None)."""
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
        return self._converted(self._read_in(*self._index.locate(i)))

    def _read_in(self, c: int, k: int) -> np.ndarray:
        """Frame ``k`` of chunk ``c``, also when the chunk was finished since it was opened."""
        try:
            return self._reader(c).read(k)
        except (OSError, CorruptStoreError):
            if not self._finished_under_us(c):
                raise
            return self._reader(c).read(k)

    def _finished_under_us(self, c: int) -> bool:
        """Whether chunk ``c``, read from its journal, has been finished (by its writer or
        by recover) since: then it is read from its finished files from now on."""
        chunk = self._index.chunks[c]
        if chunk.journal is None or chunk.journal.path.exists():
            return False
        finished = finished_chunk(self._store, chunk)
        if finished.count > chunk.count:
            self._cut.add(c)  # refresh() takes the rest
        columns = {name: values[: chunk.count] for name, values in finished.columns.items()}
        self._index.chunks[c] = ChunkIndex(chunk.number, finished.source, columns)
        old = self._open.pop(c, None)
        if old is not None:
            old.close()
        return True

    def _converted(self, image: np.ndarray) -> np.ndarray:
        return image if self._store.conversion is None else cv2.cvtColor(image, self._store.conversion)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"{self._store.root}: the store is closed")
        if self._pid != os.getpid():
            # a forked child: its parent's decoders share file offsets with the parent and
            # would join decoder threads that exist only there when freed, so they are
            # set aside, never used or freed, and this process opens its own
            _INHERITED_READERS.extend([self._open, *self._batch_open])
            self._open = OrderedDict()
            self._batch_open = []
            self._pid = os.getpid()

    def _reader(self, c: int) -> ChunkReader:
        self._check_open()
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

    def close(self, save_index: bool = False) -> None:
        """Close every open chunk file. ``save_index`` is accepted for imgstore's scripts;
        a reader writes nothing."""
        for readers in (self._open, *self._batch_open):
            for reader in readers.values():
                reader.close()
            readers.clear()
        self._closed = True

    def __enter__(self) -> StoreReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()  # decoders are reopened on demand in the new process
        state["_batch_open"] = []
        return state


def open_chunk_reader(
    store: StoreDescription,
    chunk: ChunkIndex,
    verify: bool = True,
    decode_threads: int = 0,
    keep_gop: bool = True,
) -> ChunkReader:
    """A reader of one chunk of a store; with ``verify``, checking each frame's CRC32;
    ``decode_threads`` and ``keep_gop``: a finished video chunk's decoder threads (0: the
    machine's) and whether it keeps its last GOP's frames (see ``VideoChunkReader``)."""
    crc = chunk.columns.get(CRC32) if verify else None
    fmt, layout, spec = store.format, store.layout, store.spec
    if fmt.image is not None:
        if chunk.journal is not None:  # the journal numbers the files (a damaged record leaves a gap)
            files = functools.partial(_journaled_image_path, layout, chunk.number, chunk.journal.pts)
            return ImageChunkReader(files, chunk.count, fmt.image, spec, crc)
        paths = functools.partial(layout.image_path, chunk.number)
        if fmt.image.extension == ".npy":
            return NpyChunkReader(paths, layout.image_name, chunk.count, fmt.image, spec, crc)
        return ImageChunkReader(paths, chunk.count, fmt.image, spec, crc)
    assert fmt.video is not None
    if chunk.journal is not None:
        return JournalVideoReader(chunk.journal, spec)
    path = layout.chunk_path(chunk.number)
    if isinstance(store.dialect, VideoFileDialect):
        return store.dialect.chunk_reader(path, verify)
    offsets = chunk.columns.get(VIDEO_OFFSET)
    if fmt.video.uncompressed and offsets is not None and isinstance(path, Path):
        return UncompressedChunkReader(path, spec, offsets, crc)
    pts, keyframe = store.dialect.video_timestamps(path, chunk)
    video = fmt.video
    codec = chunk.columns.get(VIDEO_CODEC_CRC32) if verify and chunk.count else None
    return VideoChunkReader(
        path,
        spec,
        pts,
        keyframe,
        crc,
        video.decode_thread_type,
        video.gray_via_bgr,
        codec_crc=int(codec[0]) if codec is not None else None,
        decode_threads=decode_threads,
        keep_gop=keep_gop,
    )


def _open_chunks(per_chunk: int) -> int:
    """How many chunk readers of ``per_chunk`` bytes each stay open (``_OPEN_FRAMES_BUDGET``)."""
    return int(np.clip(_OPEN_FRAMES_BUDGET // per_chunk, _OPEN_CHUNKS_MIN, _OPEN_CHUNKS_MAX))


def _journaled_image_path(layout: Layout[StorePath], n: int, files: np.ndarray, k: int) -> StorePath:
    return layout.image_path(n, int(files[k]))


def _readonly(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view
