"""Pixel-format conversion of PyAV frames through one kept swscale context per thread.

``VideoFrame.to_ndarray(format=...)`` and ``reformat(format=...)`` build and free a new
swscale context (with its own thread pool) for every frame; keeping one per thread gives
the same pixels 1.4x faster for yuv420p -> BGR and 4.5x faster for BGR -> yuv420p
(640x512). The context is single-threaded, so a forked child that inherits it has no
thread pool to join when it frees it.
"""

from __future__ import annotations

import threading

import av
import numpy as np
from av.video.reformatter import VideoReformatter

_local = threading.local()


def _reformatter() -> VideoReformatter:
    reformatter: VideoReformatter | None = getattr(_local, "reformatter", None)
    if reformatter is None:
        reformatter = _local.reformatter = VideoReformatter()
    return reformatter


def converted(frame: av.VideoFrame, pix_fmt: str) -> av.VideoFrame:
    """``frame`` in ``pix_fmt`` (the frame itself when it already is)."""
    if frame.format.name == pix_fmt:
        return frame
    return _reformatter().reformat(frame, format=pix_fmt, threads=1)


def to_array(frame: av.VideoFrame, pix_fmt: str) -> np.ndarray:
    """A new array of ``frame``'s pixels in ``pix_fmt`` (e.g. ``"bgr24"``, ``"gray"``)."""
    return converted(frame, pix_fmt).to_ndarray()
