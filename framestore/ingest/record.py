"""Recording live sources into stores: one capture thread and one writer per source.

Each source is read on its own thread, which stamps every frame with the host clock as it
arrives and hands it to its store's writer (whose bounded queue and encoder thread keep
the capture loop free). One source records into the store at ``path``; several record
into sibling stores ``path/cam0``, ``path/cam1``, ... of one dataset. A source that
fails closes its own store, complete, and the others record on.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .._disk.layout import INDEX_SUFFIX
from ..codecs import DEFAULT_FORMAT, resolve_format
from ..core.settings import DEFAULT_CHUNKSIZE
from ..core.writer import StoreWriter
from ..errors import FramestoreError, InvalidArgumentError, StoreExistsError, StoreWarning
from .sources import Captured, Source, open_source

STOP_GRACE = 5.0
"""Seconds a capture thread may take, once asked to stop, to return from its source's
``read``; after that its store is closed without it (a hung stream)."""
LATE_FACTOR = 1.5
"""A frame arriving more than this many frame intervals after the one before, from a
source without its own frame numbers, counts the frames that fit in the gap as dropped."""

SourceSpec = str | int | Source
FrameCallback = Callable[[str, Captured], None]


@dataclass(frozen=True)
class SourceStatus:
    """One source's recording, as the live status line shows it."""

    name: str
    """The store's name (``cam0``, ...; the store's directory name for one source)."""
    frames: int
    """Frames recorded so far."""
    fps: float
    """Frames per second over the last status interval."""
    dropped: int
    """Frames the source dropped: gaps in its frame numbers, or late frames."""
    queued: int
    """Frames waiting in the writer's queue."""
    mb_per_s: float
    """Megabytes per second written to disk over the last status interval."""
    state: str
    """``recording``, ``stopped``, ``ended`` or ``failed``."""

    def line(self) -> str:
        return (
            f"{self.name}: {self.frames} frames, {self.fps:.1f} fps, {self.dropped} dropped, "
            f"queue {self.queued}, {self.mb_per_s:.1f} MB/s"
            + ("" if self.state == "recording" else f" ({self.state})")
        )


@dataclass(frozen=True)
class RecordedSource:
    """What one source recorded."""

    name: str
    source: str
    """The source, as named in messages."""
    path: Path
    """Its store (absent when the source gave no frame)."""
    frames: int
    dropped: int
    seconds: float
    """From its first frame to its last."""
    ended: str
    """Why it stopped: ``stopped`` (asked to), ``duration``, ``frames``, ``source
    ended`` (end of a video file) or ``failed``."""
    error: str | None = None
    """What went wrong, when it failed."""


@dataclass(frozen=True)
class RecordReport:
    """What :func:`record` recorded."""

    path: Path
    sources: tuple[RecordedSource, ...]

    @property
    def ok(self) -> bool:
        """No source failed."""
        return all(s.error is None for s in self.sources)

    def lines(self) -> list[str]:
        out = []
        for s in self.sources:
            rate = f"{(s.frames - 1) / s.seconds:.1f} fps" if s.frames > 1 and s.seconds > 0 else "-"
            text = f"{s.name}: {s.frames} frames in {s.seconds:.1f} s ({rate}), {s.dropped} dropped"
            where = f" -> {s.path}" if s.frames else " (no store: no frame)"
            why = f"FAILED: {s.error}" if s.error else s.ended
            out.append(f"{text}, {why}{where}")
        return out


def record(
    path: str | os.PathLike[str],
    sources: SourceSpec | Sequence[SourceSpec] = 0,
    *,
    fmt: str = DEFAULT_FORMAT,
    duration: float | None = None,
    frames: int | None = None,
    fps: float | None = None,
    gray: bool = False,
    chunksize: int = DEFAULT_CHUNKSIZE,
    overwrite: bool = False,
    on_frame: FrameCallback | None = None,
    on_status: Callable[[list[SourceStatus]], None] | None = None,
    status_every: float = 0.5,
    stop: threading.Event | None = None,
) -> RecordReport:
    """Record ``sources`` (a camera index, device path, video file, stream URL or
    :class:`~framestore.ingest.sources.Source`; one or a list) until ``duration`` seconds
    have passed, each has recorded ``frames`` frames, ``stop`` is set, Ctrl-C, or every
    source has ended or failed. One source records into the store ``path``; several into
    ``path/cam0``, ``path/cam1``, ...

    frame_number is the source's own where it gives one (a video file's frame position),
    else a counter from 0; frame_time the host clock when the frame arrived. ``fps``: the
    nominal rate (asked of cameras; paces a video file). ``gray``: store color frames as
    gray. ``on_frame(name, captured)`` runs on the source's capture thread after each
    frame is queued for writing (a slow callback slows that capture); ``on_status(list of
    SourceStatus)`` every ``status_every`` seconds on the calling thread. A source that
    fails closes its store and warns; the others record on. Every store is closed and
    complete when this returns.
    """
    root = Path(path)
    specs = list(sources) if isinstance(sources, Sequence) and not isinstance(sources, str) else [sources]
    _check_arguments(root, specs, fmt, duration, frames, fps, chunksize, overwrite)
    opened: list[Source] = []
    try:
        for spec in specs:
            opened.append(open_source(spec, fps))
    except BaseException:
        for source in opened:
            source.close()
        raise
    paths = [root] if len(opened) == 1 else [root / f"cam{k}" for k in range(len(opened))]
    stop = stop or threading.Event()
    deadline = None if duration is None else time.monotonic() + duration
    settings = _Settings(fmt, fps, gray, chunksize, overwrite, frames, deadline, on_frame, stop)
    recorders = [_Recorder(source, p, settings) for source, p in zip(opened, paths, strict=True)]
    for recorder in recorders:
        recorder.thread.start()
    try:
        while not all(r.done.is_set() for r in recorders):
            for r in recorders:
                r.done.wait(status_every / len(recorders))
            if on_status is not None and not all(r.done.is_set() for r in recorders):
                on_status([r.status() for r in recorders])
    except KeyboardInterrupt:  # Ctrl-C: the same clean stop as setting ``stop``
        pass
    finally:
        stop.set()
        _finish(recorders)
    if on_status is not None:
        on_status([r.status() for r in recorders])
    return RecordReport(root, tuple(r.report() for r in recorders))


def _check_arguments(
    root: Path,
    specs: list[SourceSpec],
    fmt: str,
    duration: float | None,
    frames: int | None,
    fps: float | None,
    chunksize: int,
    overwrite: bool,
) -> None:
    if not specs:
        raise InvalidArgumentError("record needs at least one source")
    resolve_format(fmt)
    for name, value in (("duration", duration), ("frames", frames), ("fps", fps)):
        if value is not None and not (np.isfinite(value) and value > 0):
            raise InvalidArgumentError(f"{name} must be a positive number, got {value!r}")
    if chunksize < 1:
        raise InvalidArgumentError(f"chunksize must be at least 1, got {chunksize}")
    empty_directory = root.is_dir() and not root.is_symlink() and not any(root.iterdir())
    if os.path.lexists(root) and not overwrite and not empty_directory:
        raise StoreExistsError(f"{root}: already exists; pass overwrite=True (--force) to replace it")


def _finish(recorders: list[_Recorder]) -> None:
    """Wait for every capture thread to stop; close the stores of those stuck in a read."""
    give_up = time.monotonic() + STOP_GRACE
    for r in recorders:
        r.done.wait(max(give_up - time.monotonic(), 0.0))
    for r in recorders:
        if not r.done.is_set():
            r.abandon()


@dataclass(frozen=True)
class _Settings:
    fmt: str
    fps: float | None
    gray: bool
    chunksize: int
    overwrite: bool
    frames: int | None
    deadline: float | None
    on_frame: FrameCallback | None
    stop: threading.Event


class _Recorder:
    """One source into one store, on its own capture thread."""

    def __init__(self, source: Source, path: Path, settings: _Settings) -> None:
        self.source, self.path, self.settings = source, path, settings
        self.name = path.name
        self.frames = self.dropped = 0
        self.first_time = self.last_time = 0.0
        self.ended = "stopped"
        self.error: str | None = None
        self._writer: StoreWriter | None = None
        self._lock = threading.Lock()  # the writer, between this thread and abandon()
        self._previous: tuple[int, float] | None = None  # last frame number and time
        self._sampled = (time.monotonic(), 0, 0)  # time, frames, bytes at the last status
        self._finished: dict[str, int] = {}  # finished image chunk folders: their bytes
        self.thread = threading.Thread(target=self._run, name=f"framestore-record-{self.name}", daemon=True)
        # waited on instead of the thread: a Ctrl-C that interrupts Thread.join can leave
        # a running thread marked as finished (CPython before 3.13)
        self.done = threading.Event()

    def _run(self) -> None:
        settings = self.settings
        try:
            while not settings.stop.is_set():
                if settings.deadline is not None and time.monotonic() >= settings.deadline:
                    self.ended = "duration"
                    break
                captured = self.source.read()
                if captured is None:
                    self.ended = "source ended"
                    break
                if not self._add(captured):
                    break
                if settings.frames is not None and self.frames >= settings.frames:
                    self.ended = "frames"
                    break
        except Exception as exc:  # the source, the writer or the callback: this source only
            self.ended = "failed"
            self.error = " ".join(str(exc).split()) or type(exc).__name__
        finally:
            self._close()
        try:
            if self.error is not None:
                kept = f"its store {self.path} is closed, complete, with {self.frames} frames"
                warnings.warn(
                    StoreWarning(
                        f"{self.name} ({self.source.name}) failed: {self.error}; "
                        + (kept if self.frames else "no store was made (no frame)")
                    ),
                    stacklevel=1,
                )
        finally:
            self.done.set()

    def _add(self, captured: Captured) -> bool:
        """Write one frame; False when the store was closed under this thread."""
        frame_time = time.time() if captured.frame_time is None else float(captured.frame_time)
        image = captured.image
        if self.settings.gray and image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
        number = self.frames if captured.frame_number is None else int(captured.frame_number)
        with self._lock:
            if self._writer is None:
                if self.error is not None:  # abandoned while this thread waited for a frame
                    return False
                self._writer = self._open(image)
            self._writer.add_image(image, number, frame_time)
        # by the host's clock, the next frame is due from now: opening the store made it no later
        paced = time.time() if self.frames == 0 and captured.frame_time is None else frame_time
        self._count_dropped(captured.frame_number is not None, number, paced)
        self.frames += 1
        self.last_time = frame_time
        if self.frames == 1:
            self.first_time = frame_time
        if self.settings.on_frame is not None:
            self.settings.on_frame(self.name, Captured(image, number, frame_time))
        return True

    def _open(self, image: np.ndarray) -> StoreWriter:
        settings = self.settings
        return StoreWriter(
            settings.fmt,
            self.path,
            imgshape=image.shape,
            imgdtype=image.dtype,
            chunksize=settings.chunksize,
            fps=settings.fps or self.source.fps,
            metadata={"recorded_from": self.source.name},
            overwrite=settings.overwrite,
        )

    def _count_dropped(self, numbered: bool, number: int, frame_time: float) -> None:
        """Gaps in the source's frame numbers; without numbers, frames that came late by
        their capture times (the host's clock at arrival unless the source gives them)."""
        previous, self._previous = self._previous, (number, frame_time)
        if previous is None:
            return
        if numbered:
            self.dropped += max(number - previous[0] - 1, 0)
            return
        fps = self.settings.fps or self.source.fps
        if fps:
            intervals = (frame_time - previous[1]) * fps
            if intervals > LATE_FACTOR:
                self.dropped += round(intervals) - 1

    def _close(self) -> None:
        with self._lock:
            writer, self._writer = self._writer, None
        try:
            if writer is not None:
                writer.close()
        except FramestoreError as exc:
            if self.error is None:
                self.ended, self.error = "failed", str(exc)
        finally:
            self.source.close()

    def abandon(self) -> None:
        """Close the store of a source stuck in ``read`` after the stop (a hung stream)."""
        with self._lock:
            writer, self._writer = self._writer, None
            self.ended = "failed"
            self.error = f"{self.source.name} did not return a frame within {STOP_GRACE:g} s of the stop"
        if writer is not None:
            writer.close()

    def status(self) -> SourceStatus:
        now = time.monotonic()
        before, self._sampled = self._sampled, (now, self.frames, _bytes_under(self.path, self._finished))
        elapsed = max(now - before[0], 1e-9)
        writer = self._writer
        alive = not self.done.is_set()
        return SourceStatus(
            name=self.name,
            frames=self.frames,
            fps=(self.frames - before[1]) / elapsed,
            dropped=self.dropped,
            queued=writer.queued_frames if writer is not None else 0,
            mb_per_s=max(self._sampled[2] - before[2], 0) / elapsed / 1e6,
            state="recording" if alive else ("failed" if self.error else self.ended),
        )

    def report(self) -> RecordedSource:
        return RecordedSource(
            name=self.name,
            source=self.source.name,
            path=self.path,
            frames=self.frames,
            dropped=self.dropped,
            seconds=self.last_time - self.first_time,
            ended=self.ended,
            error=self.error,
        )


def _bytes_under(path: Path, finished: dict[str, int]) -> int:
    """Bytes of the files under ``path`` (0 while it does not exist). ``finished`` keeps
    the size of each finished image chunk folder (one with its index), counted once."""
    total = 0
    try:
        entries = list(os.scandir(path))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.path in finished:
                total += finished[entry.path]
            elif entry.is_dir(follow_symlinks=False):
                size = _bytes_under(Path(entry.path), finished)
                if os.path.exists(os.path.join(entry.path, f"index{INDEX_SUFFIX}")):
                    finished[entry.path] = size
                total += size
            elif entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
        except OSError:  # replaced by the writer meanwhile
            continue
    return total
