"""Plain video files as cameras write them, generated for tests and benchmarks: H.264
with B-frames, open GOPs, variable frame rate, intra-only codecs, and files whose
container timestamps are broken or missing. Frames carry their own frame number
(:func:`framestore.testing.frames.synthetic_frame`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .frames import synthetic_frame


def write_video_file(
    path: str | os.PathLike[str],
    count: int = 60,
    *,
    codec: str = "libx264",
    shape: tuple[int, int] = (48, 64),
    pix_fmt: str = "yuv420p",
    fps: int = 30,
    gop: int = 12,
    bframes: int = 2,
    open_gop: bool = False,
    intervals_ms: Sequence[int] | None = None,
    options: dict[str, str] | None = None,
    first_pts: int = 0,
) -> Path:
    """Encode ``count`` synthetic frames into ``path`` (container from its extension).

    ``intervals_ms``: a variable frame rate, frame intervals in milliseconds repeated
    (timestamps in a 1/1000 time base); otherwise ``fps`` constant. A negative ``first_pts``
    makes an MP4's edit list hide the frames before pts 0 (as a trim without re-encoding
    does). H.264 (libx264) takes ``gop``, ``bframes`` and ``open_gop``; ``options`` go to
    the encoder.
    """
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream: Any = container.add_stream(codec, rate=fps)
        stream.width, stream.height = shape[1], shape[0]
        stream.pix_fmt = pix_fmt
        cc = stream.codec_context
        cc.time_base = Fraction(1, 1000) if intervals_ms else Fraction(1, fps)
        opts = dict(options or {})
        if codec == "libx264":
            cc.gop_size, cc.max_b_frames = gop, bframes
            params = f"keyint={gop}:min-keyint={gop}:bframes={bframes}:open-gop={int(open_gop)}:scenecut=0"
            opts = {"preset": "veryfast", "x264-params": params, **opts}
        else:
            cc.gop_size = gop
        cc.options = opts
        t = first_pts
        for i in range(count):
            image = synthetic_frame(i, shape)
            frame = av.VideoFrame.from_ndarray(np.stack([image] * 3, axis=-1), format="bgr24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = t
            t += intervals_ms[i % len(intervals_ms)] if intervals_ms else 1
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def write_with_broken_pts(source: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """Remux ``source`` (an intra-only stream, e.g. MJPEG) into ``path`` with the pts of
    every tenth frame pair swapped: the container's timestamps then say an order the
    decoder does not follow (decode timestamps stay increasing, as muxers demand)."""
    path = Path(path)
    with av.open(str(source)) as src, av.open(str(path), "w") as dst:
        ins = src.streams.video[0]
        out = dst.add_stream_from_template(ins)
        for k, packet in enumerate(p for p in src.demux(ins) if p.size):
            packet.stream = out
            packet.dts = 2 * k
            packet.pts = 2 * k + (3 if k % 10 == 4 else 0)  # frame 4 shown after frame 5
            dst.mux(packet)
    return path


def decode_all(path: str | os.PathLike[str], gray: bool = False) -> np.ndarray:
    """Every frame of ``path`` by a plain sequential PyAV decode: the oracle. BGR, or
    with ``gray`` the first plane (the luma; the image itself for gray pixel formats)."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if gray:
                plane = frame.planes[0]
                rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
                frames.append(rows[:, : frame.width].copy())
            else:
                frames.append(frame.to_ndarray(format="bgr24"))
    return np.stack(frames)
