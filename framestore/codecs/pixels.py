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


_CHANNELS = {"bgr24": 3, "gray": 1}


def to_array(frame: av.VideoFrame, pix_fmt: str) -> np.ndarray:
    """A new array of ``frame``'s pixels in ``pix_fmt`` (e.g. ``"bgr24"``, ``"gray"``).

    A conversion's output frame is new and ours alone, so where its rows are unpadded the
    array is that frame's buffer (kept alive by the array) rather than a copy of it."""
    out = converted(frame, pix_fmt)
    channels = _CHANNELS.get(pix_fmt)
    if out is frame or channels is None:
        return out.to_ndarray()
    plane = out.planes[0]
    if plane.line_size != out.width * channels:
        return out.to_ndarray()
    shape = (out.height, out.width, channels) if channels > 1 else (out.height, out.width)
    return np.frombuffer(memoryview(plane), np.uint8).reshape(shape)
