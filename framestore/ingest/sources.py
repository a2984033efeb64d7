"""Live sources for :func:`framestore.record`: cameras, devices, video files and streams.

A source is anything with ``name``, ``fps``, ``read()`` and ``close()`` (:class:`Source`):
tests and closed-loop rigs pass their own. :func:`open_source` opens what a user names
(a camera index, a device path, a video file, a stream URL) through OpenCV, whose FFmpeg
backend reads files and RTSP/HTTP streams and whose V4L2 backend reads cameras.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ..errors import SourceError


@dataclass(frozen=True)
class Captured:
    """One frame from a source."""

    image: np.ndarray
    """The frame ``(h, w)`` or ``(h, w, 3)`` (BGR)."""
    frame_number: int | None = None
    """The source's own number for it (a camera's frame counter); None: the recorder
    numbers frames 0, 1, 2, ..."""
    frame_time: float | None = None
    """Unix seconds of capture; None: the host clock when ``read`` returned it."""


@runtime_checkable
class Source(Protocol):
    """What :func:`framestore.record` records from."""

    name: str
    """Says which source, in messages (a camera index, a path, a URL)."""
    fps: float | None
    """The nominal frame rate, where the source states one."""

    def read(self) -> Captured | None:
        """The next frame, waiting for it as a camera does; None when the source has
        ended normally (the end of a video file). A failure (a camera unplugged, a stream
        cut) raises :class:`~framestore.errors.SourceError`."""
        ...

    def close(self) -> None:
        """Release the camera, file or connection."""
        ...


class OpenCVSource:
    """A camera (index or device path), a video file or a stream URL, read by OpenCV.

    A video file numbers frames by their position in it and ends at its end; read as fast
    as the store takes frames, or at ``fps`` when given (a recording replayed as if live).
    A camera or stream numbers frames by a counter; ``fps`` is asked of the camera. A
    camera or stream that stops giving frames has failed.
    """

    def __init__(self, spec: str | int, fps: float | None = None) -> None:
        self.name = f"camera {spec}" if isinstance(spec, int) else str(spec)
        target: str | int = spec
        if isinstance(spec, str) and spec.isdigit():
            target, self.name = int(spec), f"camera {spec}"
        self._is_file = isinstance(target, str) and Path(target).is_file() and not _is_device(target)
        if isinstance(target, str) and not self._is_file and "://" not in target and not _is_device(target):
            raise SourceError(
                f"{target}: no such video file or device (a source is a camera index, a device "
                "path, a video file or a stream URL)"
            )
        self._capture = cv2.VideoCapture(target)
        if not self._capture.isOpened():
            self._capture.release()
            raise SourceError(
                f"{self.name}: cannot be opened (no such camera, or a stream or file OpenCV cannot read)"
            )
        if fps is not None and not self._is_file:
            self._capture.set(cv2.CAP_PROP_FPS, fps)
        stated = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float | None = fps or (stated if 0 < stated < 10_000 else None)
        self._pace = fps if self._is_file else None
        self._start: float | None = None
        self._count = 0

    def read(self) -> Captured | None:
        if self._pace is not None:
            if self._start is None:
                self._start = time.monotonic()
            delay = self._start + self._count / self._pace - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        ok, image = self._capture.read()
        if not ok or image is None:
            if self._is_file:
                return None
            raise SourceError(
                f"{self.name}: gave no frame after {self._count} (unplugged, or the stream ended)"
            )
        self._count += 1
        number = int(self._capture.get(cv2.CAP_PROP_POS_FRAMES)) - 1 if self._is_file else None
        return Captured(image, number)

    def close(self) -> None:
        self._capture.release()


def _is_device(path: str) -> bool:
    return path.startswith("/dev/") and os.path.exists(path)


def open_source(spec: str | int | Source, fps: float | None = None) -> Source:
    """``spec`` as a source: a :class:`Source` as it is, anything else by
    :class:`OpenCVSource` (``SourceError`` naming it when it cannot be opened)."""
    if isinstance(spec, (str, int)):
        return OpenCVSource(spec, fps)
    if not isinstance(spec, Source):
        raise TypeError(
            f"a source is a camera index, a device path, a video file, a stream URL or an object "
            f"with name, fps, read() and close(); got {type(spec).__name__}"
        )
    return spec
