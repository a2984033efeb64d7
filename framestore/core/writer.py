"""The store writer: validates each frame, encodes off the caller's thread, rolls chunks.

Frames go through a small bounded queue to one encoder thread; a full chunk is finished
on another thread while the next one is encoded, and the codecs add threads of their own.
``add_image`` blocks when the queue is full, so a slow disk slows the caller down instead
of dropping frames. Every finished frame is in its
chunk's journal at once, so a killed writer loses only what was still queued.
"""

from __future__ import annotations

import datetime
import functools
import math
import os
import queue
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .._disk.atomic import fsync_path
from .._disk.checksum import CHUNK_BYTES, checksum_files
from .._disk.columns import FRAME_NUMBER
from .._disk.extra_data import ExtraDataWriter
from .._disk.index import write_index
from .._disk.index_cache import write_index_cache
from .._disk.layout import LOCK_FILENAME, SCRATCH_DIR, Layout, write_marker
from .._disk.lock import StoreLock
from .._disk.metadata import METADATA_FILENAME, StoreMetadata, write_metadata
from .._disk.storage import local_path
from ..codecs import DEFAULT_FORMAT
from ..codecs.base import ChunkWriter
from ..codecs.images import ImageChunkWriter
from ..codecs.video import VideoChunkWriter
from ..errors import (
    FramestoreError,
    InvalidFrameError,
    StoreClosedError,
    StoreExistsError,
)
from .dialect import FRAMESTORE
from .imgstore_compat import insert_chunk
from .settings import DEFAULT_CHUNKSIZE, WriteSettings

QUEUE_FRAMES = 16


class StoreWriter:
    """A store being written. Use :func:`framestore.new_for_format` to make one."""

    def __init__(
        self,
        fmt: str = DEFAULT_FORMAT,
        path: str | os.PathLike[str] | None = None,
        *,
        imgshape: tuple[int, ...],
        imgdtype: str | np.dtype[Any] | type = np.uint8,
        chunksize: int = DEFAULT_CHUNKSIZE,
        fps: float | None = None,
        metadata: dict[str, Any] | None = None,
        overwrite: bool = False,
        codec_options: dict[str, str] | None = None,
        frame_columns: dict[str, Any] | None = None,
        encoding: str | None = None,
    ) -> None:
        root = _writable_root(path)
        settings = WriteSettings.build(
            fmt,
            imgshape=imgshape,
            imgdtype=imgdtype,
            chunksize=chunksize,
            fps=fps,
            metadata=metadata,
            codec_options=codec_options,
            frame_columns=frame_columns,
            encoding=encoding,
        )
        self._start(root, settings, overwrite, 0)

    @classmethod
    def from_settings(
        cls,
        path: str | os.PathLike[str],
        settings: WriteSettings,
        *,
        overwrite: bool = False,
        first_chunk: int = 0,
    ) -> StoreWriter:
        """A writer of a new store at ``path`` with ``settings``, which may say what the
        store is derived from. A part of a store written in parallel (``parallel.parts``)
        numbers its chunks, and its extra data's frame indexes, from ``first_chunk``."""
        writer = cls.__new__(cls)
        writer._start(_writable_root(path), settings, overwrite, int(first_chunk))
        return writer

    def _start(self, root: Path, settings: WriteSettings, overwrite: bool, first_chunk: int) -> None:
        self._root = root
        self._settings = settings
        self._layout, self._metadata, self._lock = create_store(root, settings, overwrite)
        self._first_chunk_number = first_chunk
        self._closed = False
        self._error: BaseException | None = None
        try:
            self._start_encoder()
        except BaseException:
            shutil.rmtree(self._root, ignore_errors=True)
            self._lock.release()
            raise

    def _start_encoder(self) -> None:
        """Start from no frames: a new encoder thread, its first chunk opened here, so a
        codec that refuses these frames fails now, here."""
        settings = self._settings
        self._frame_count = 0
        self.frame_number: int | None = None
        self.frame_time: float | None = None
        self.frame_min: int | float = math.nan
        self.frame_max: int | float = math.nan
        self._times: tuple[float, float] | None = None  # earliest and latest frame_time
        self._next_inserted: int | None = None  # the number insert_chunk gives next
        self._extra = ExtraDataWriter(
            self._layout, settings.chunksize, self._first_chunk_number * settings.chunksize
        )
        self._queue: queue.Queue[tuple[np.ndarray, int, float, bytes] | None] = queue.Queue(QUEUE_FRAMES)
        self._first_chunk: ChunkWriter | None = self._new_chunk(self._first_chunk_number)
        self._thread = threading.Thread(target=self._encode_loop, name="framestore-encoder", daemon=True)
        self._thread.start()

    def _finish_encoding(self) -> None:
        """Let the encoder write every queued frame and finish its chunks."""
        while self._thread.is_alive():  # a dead encoder thread takes nothing more
            try:
                self._queue.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._extra.close()
        if self._error is not None:
            raise FramestoreError(
                f"{self._root}: writing failed ({self._error}); frames written before the "
                "failure stay readable, and `framestore recover` finishes the store"
            ) from self._error

    # -- public API --------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._root

    @property
    def frame_count(self) -> int:
        """Frames accepted so far."""
        return self._frame_count

    @property
    def queued_frames(self) -> int:
        """Frames accepted but not yet encoded (up to ``QUEUE_FRAMES``, 16, before
        ``add_image`` blocks): how far the encoder is behind the caller."""
        return self._queue.qsize()

    @property
    def image_shape(self) -> tuple[int, ...]:
        return self._settings.spec.shape

    @property
    def uuid(self) -> str:
        return self._metadata.uuid

    def add_image(self, img: np.ndarray, frame_number: int, frame_time: float, **columns: Any) -> None:
        """Queue one frame for writing; blocks while the encoder is a queue-length behind.

        ``columns``: the frame's value for each per-frame column declared with
        ``frame_columns`` when the store was created (all of them, every frame)."""
        self._check_open()
        packed = self._pack_columns(columns)
        image = np.asarray(img)
        spec = self._settings.spec
        if image.shape != spec.shape or image.dtype != spec.dtype:
            raise InvalidFrameError(
                f"{self._root}: expected a frame of shape {spec.shape} and dtype "
                f"{spec.dtype}, got {image.shape} {image.dtype}"
            )
        number = _frame_number(frame_number)
        time = float(frame_time)
        if not np.isfinite(time):
            raise InvalidFrameError(f"{self._root}: frame_time must be finite, got {frame_time!r}")
        self._put((np.array(image, order="C"), number, time, packed))  # one copy, contiguous
        self._counted([number], [time])

    def add_extra_data(self, **values: Any) -> None:
        """Record values (JSON-serialisable) against the frame added last, as imgstore does."""
        self._check_open()
        if not values:
            return
        if self._frame_count == 0:
            raise ValueError("add_extra_data records values for the last frame added: add a frame first")
        self._extra.add(values, self._frame_count - 1, self.frame_number, self.frame_time)

    def close(self, save_index: bool = False) -> None:
        """Finish every chunk, then mark the store complete. Safe to call twice.
        ``save_index`` is accepted for imgstore's scripts: the index is always saved."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._next_inserted is None:
                self._finish_encoding()
            write_index_cache(self._layout)
            self._layout.marker_path.unlink(missing_ok=True)
        except OSError as exc:  # a full disk, say: the store stays marked unfinished
            raise FramestoreError(
                f"{self._root}: writing failed ({exc}); frames written before the failure stay "
                "readable, and `framestore recover` finishes the store"
            ) from exc
        finally:
            self._lock.release()

    # -- imgstore's writing API ----------------------------------------------------------
    mode = "w"

    @property
    def filename(self) -> str:
        """The store's directory, as imgstore names it."""
        return str(self._root)

    @property
    def full_path(self) -> str:
        """The store's ``metadata.yaml``."""
        return str(self._root / METADATA_FILENAME)

    @property
    def store_class(self) -> str:
        """The class imgstore opens this store with: ``VideoImgStore`` or ``DirectoryImgStore``."""
        return self._settings.format.store_class

    @property
    def lossless(self) -> bool:
        return self._settings.format.lossless

    @property
    def user_metadata(self) -> dict[str, Any]:
        return dict(self._settings.user_metadata)

    @property
    def created(self) -> tuple[datetime.datetime | None, datetime.tzinfo]:
        """(creation time in UTC, this machine's time zone), as in imgstore."""
        return FRAMESTORE.created_utc(self._root, self._metadata), FRAMESTORE.timezone(self._metadata)

    @property
    def chunks(self) -> list[int]:
        """The numbers of the chunks finished so far."""
        return [n for n in self._layout.chunk_numbers() if self._layout.index_path(n).exists()]

    @property
    def frame_time_min(self) -> float | None:
        return None if self._times is None else self._times[0]

    @property
    def frame_time_max(self) -> float | None:
        return None if self._times is None else self._times[1]

    @property
    def duration(self) -> float:
        """Seconds from the earliest frame_time added to the latest (0 before any)."""
        return 0.0 if self._times is None else self._times[1] - self._times[0]

    def empty(self) -> None:
        """Delete every frame written so far and its extra data, keeping the store and
        its metadata, as imgstore's ``empty`` (which comes before ``insert_chunk``)."""
        if self._closed:
            raise StoreClosedError(f"{self._root}: the store was closed; open a new writer")
        if self._next_inserted is None:
            self._finish_encoding()
        for n in self._layout.chunk_numbers():
            self._layout.remove_chunk(n)
            self._layout.index_path(n).unlink(missing_ok=True)
            self._layout.extra_path(n).unlink(missing_ok=True)
        self._start_encoder()

    def insert_chunk(
        self,
        video_path: str | os.PathLike[str],
        frame_numbers: Any,
        frame_times: Any,
        move: bool = True,
    ) -> None:
        """Add a finished video file (this store's container, frame size and codec) as the
        next chunk, with one frame number and time per frame; moved in, or copied when not
        ``move``. Frames added before must fill whole chunks; no frame is added after."""
        if self._closed:
            raise StoreClosedError(f"{self._root}: the store was closed; open a new writer")
        if self._settings.format.video is None:
            raise ValueError(f"{self._root}: insert_chunk takes video files; this store holds image files")
        if self._next_inserted is None:
            if self._frame_count % self._settings.chunksize:
                raise ValueError(
                    f"{self._root}: insert_chunk needs the frames added before to fill whole chunks "
                    f"({self._frame_count} frames, chunks of {self._settings.chunksize})"
                )
            self._finish_encoding()
            self._next_inserted = self._first_chunk_number + self._frame_count // self._settings.chunksize
        numbers = [_frame_number(n) for n in frame_numbers]
        times = [float(t) for t in frame_times]
        insert_chunk(
            self._layout, self._next_inserted, Path(video_path), np.array(numbers, dtype=np.int64),
            np.array(times), self._settings.spec.shape, move,
        )
        self._next_inserted += 1
        if numbers:
            self._counted(numbers, times)

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<StoreWriter {str(self._root)!r} {self._settings.format.name} {self._frame_count} frames>"

    # -- plumbing ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosedError(f"{self._root}: the store was closed; open a new writer")
        if self._error is not None:
            raise FramestoreError(f"{self._root}: the encoder failed ({self._error})") from self._error
        if self._next_inserted is not None:
            raise StoreClosedError(
                f"{self._root}: chunks were inserted with insert_chunk, which ends add_image "
                "and add_extra_data (empty() starts the store over)"
            )
        if not self._thread.is_alive():
            raise FramestoreError(f"{self._root}: the encoder thread has stopped")

    def _counted(self, numbers: list[int], times: list[float]) -> None:
        self._frame_count += len(numbers)
        self.frame_number, self.frame_time = numbers[-1], times[-1]
        self.frame_min = min(self.frame_min, *numbers) if self._times else min(numbers)
        self.frame_max = max(self.frame_max, *numbers) if self._times else max(numbers)
        low, high = self._times or (times[0], times[0])
        self._times = (min(low, *times), max(high, *times))

    def _pack_columns(self, values: dict[str, Any]) -> bytes:
        names = self._settings.column_names
        if set(values) != set(names):
            raise InvalidFrameError(
                f"{self._root}: per-frame columns must be exactly {list(names)} (declared with "
                f"frame_columns), got {sorted(values)}"
            )
        if not names:
            return b""
        try:
            return np.array(tuple(values[n] for n in names), dtype=self._settings.columns).tobytes()
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidFrameError(f"{self._root}: bad per-frame column value ({exc})") from None

    def _put(self, item: tuple[np.ndarray, int, float, bytes]) -> None:
        while True:
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                self._check_open()

    def _encode_loop(self) -> None:
        chunk, self._first_chunk = self._first_chunk, None
        number, in_chunk = self._first_chunk_number, 0
        item: tuple[np.ndarray, int, float, bytes] | None = None
        packed: list[bytes] = []  # the current chunk's per-frame column values
        # a full chunk is finished (flushed, checksummed, indexed) on a second thread
        # while this one encodes the next
        finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="framestore-finish")
        finishing: Future[None] | None = None
        try:
            while (item := self._queue.get()) is not None:
                if chunk is None:
                    chunk = self._new_chunk(number)
                chunk.add(*item)
                packed.append(item[3])
                in_chunk += 1
                if in_chunk == self._settings.chunksize:
                    if finishing is not None:
                        finishing.result()  # at most one chunk waits to be finished
                    finishing = finisher.submit(self._finish_chunk, chunk, number, packed)
                    chunk, number, in_chunk, packed = None, number + 1, 0, []
            if chunk is not None and in_chunk:
                self._finish_chunk(chunk, number, packed)
            elif chunk is not None:  # closed before any frame: leave no empty chunk behind
                chunk.abort()
                self._layout.remove_chunk(number)
            chunk = None
            if finishing is not None:
                finishing.result()
        except BaseException as exc:  # handed to the caller's thread by _check_open/close
            self._error = exc
            if chunk is not None:
                chunk.abort()
        finally:
            while item is not None:  # until close(): keep the caller from blocking on a full queue
                item = self._queue.get()
            finisher.shutdown(wait=True)

    def _new_chunk(self, n: int) -> ChunkWriter:
        layout, settings = self._layout, self._settings
        if settings.format.image is not None:
            return ImageChunkWriter(
                layout.chunk_path(n),
                layout.journal_path(n),
                functools.partial(layout.image_path, n),
                settings.format.image,
                settings.spec,
                settings.columns_header,
            )
        assert settings.format.video is not None
        return VideoChunkWriter(
            layout.chunk_path(n),
            layout.journal_path(n),
            settings.format.video,
            settings.spec,
            settings.time_base_fps,
            settings.codec_options,
            settings.columns_header,
        )

    def _finish_chunk(self, chunk: ChunkWriter, n: int, packed: list[bytes]) -> None:
        columns = chunk.close()
        names = self._settings.column_names
        if names:
            values = np.frombuffer(b"".join(packed), dtype=self._settings.columns)
            columns.update({name: values[name].copy() for name in names})
        files = self._layout.frame_files(n, len(columns[FRAME_NUMBER]))
        # a video chunk reaches the disk while it is checksummed: one waits on the disk, the other on the CPU
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="framestore-fsync") as syncer:
            synced = syncer.submit(fsync_path, files[0]) if self._settings.format.video is not None else None
            if CHUNK_BYTES not in columns:  # image chunks checksum their files as written
                columns.update(checksum_files(files).to_columns())
            if synced is not None:
                synced.result()
        write_index(self._layout.index_path(n), columns)
        self._layout.journal_path(n).unlink(missing_ok=True)


def _frame_number(value: Any) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise InvalidFrameError(f"frame_number must be an integer, got {value!r}")
    if isinstance(value, (int, np.integer)) or (
        isinstance(value, (float, np.floating)) and float(value).is_integer()
    ):
        number = int(value)
        if -(2**63) <= number < 2**63:
            return number
        raise InvalidFrameError(f"frame_number must fit in 64 bits (-2**63 .. 2**63 - 1), got {value!r}")
    raise InvalidFrameError(f"frame_number must be an integer, got {value!r}")


def create_store(
    root: Path, settings: WriteSettings, overwrite: bool
) -> tuple[Layout[Path], StoreMetadata, StoreLock]:
    """Make the store directory ``root``, marked as being written, with the
    ``metadata.yaml`` of ``settings``; its layout, metadata and lock (held by the
    caller until the store is finished)."""
    lock = _prepare_directory(root, overwrite)
    try:
        layout = Layout.for_format(root, settings.format)
        metadata = settings.new_metadata()
        write_marker(layout.marker_path)
        write_metadata(root, metadata)
    except BaseException:
        lock.release()
        raise
    return layout, metadata, lock


def _writable_root(path: str | os.PathLike[str] | None) -> Path:
    if path is None:
        raise TypeError("new_for_format needs the path of the store to write")
    return local_path(path)


def _prepare_directory(root: Path, overwrite: bool) -> StoreLock:
    """An empty directory ``root`` (but for the running tool's scratch folder), locked; an
    existing store there is replaced only with ``overwrite``, and never under its live writer."""
    if root.is_symlink() and not root.exists():
        raise StoreExistsError(
            f"{root}: is a symbolic link to {os.readlink(root)}, which does not exist; "
            f"make that directory, or remove the link"
        )
    if root.exists():
        if not root.is_dir():
            raise StoreExistsError(f"{root}: exists and is not a directory")
        if any(p.name not in (LOCK_FILENAME, SCRATCH_DIR) for p in root.iterdir()):
            if not overwrite:
                raise StoreExistsError(f"{root}: already exists; pass overwrite=True to replace it")
            if not (root / METADATA_FILENAME).is_file():
                raise StoreExistsError(
                    f"{root}: is a non-empty directory but not a store; refusing to delete it"
                )
            lock = StoreLock(root, "overwrite it")
            try:  # the directory and its lock file stay: the lock holds throughout
                for entry in root.iterdir():
                    if entry.name in (LOCK_FILENAME, SCRATCH_DIR):
                        continue
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
            except BaseException:
                lock.release()
                raise
            return lock
    root.mkdir(parents=True, exist_ok=True)
    return StoreLock(root, "write it")
