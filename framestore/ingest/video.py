"""Importing a plain video file (any container PyAV reads) into a store."""

from __future__ import annotations

import os
from pathlib import Path

import av
import numpy as np
import pandas as pd

from .._disk.index import fps_from_times
from ..codecs.pixels import to_array
from ..core.writer import StoreWriter
from ..errors import CorruptStoreError


def import_video(
    video: str | os.PathLike[str],
    output: str | os.PathLike[str],
    timestamps: str | os.PathLike[str] | None = None,
    fmt: str = "ffv1/mkv",
    gray: bool | None = None,
    overwrite: bool = False,
) -> Path:
    """Copy every frame of ``video`` into a new store at ``output``.

    ``timestamps``: a CSV with one row per frame and a ``frame_time`` (unix seconds) column,
    and optionally ``frame_number``; without it, frame numbers count from 0 and times are
    the video's own timestamps, counted back from the file's modification time. ``gray``:
    store gray frames (default: when the video's pixel format is a gray one).
    """
    video = Path(video)
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            pts = [p.pts for p in container.demux(stream) if p.size and p.pts is not None]
            assert stream.time_base is not None  # demuxers give every stream a time base
            time_base = float(stream.time_base)
            height, width = stream.codec_context.height, stream.codec_context.width
            pix_fmt = stream.codec_context.pix_fmt or ""
    except (av.FFmpegError, IndexError) as exc:
        raise CorruptStoreError(f"{video}: not a readable video ({exc})") from None
    count = len(pts)
    gray = pix_fmt.startswith("gray") if gray is None else gray
    if timestamps is not None:
        table = pd.read_csv(timestamps)
        if "frame_time" not in table.columns or len(table) != count:
            raise CorruptStoreError(
                f"{timestamps}: expected {count} rows (one per frame of {video.name}) with a "
                f"'frame_time' column, got {len(table)} rows and columns {list(table.columns)}"
            )
        times = table["frame_time"].to_numpy(float)
        numbers = table["frame_number"].to_numpy(np.int64) if "frame_number" in table else np.arange(count)
    else:
        seconds = (np.sort(np.array(pts, float)) - min(pts)) * time_base if count else np.zeros(0)
        times = video.stat().st_mtime - (seconds[-1] if count else 0) + seconds
        numbers = np.arange(count)
    fps = fps_from_times(times, 25.0)
    shape = (height, width) if gray else (height, width, 3)
    with (
        StoreWriter(
            fmt, output, imgshape=shape, fps=fps, overwrite=overwrite, metadata={"source_video": video.name}
        ) as writer,
        av.open(str(video)) as container,
    ):
        for k, frame in enumerate(container.decode(video=0)):
            image = to_array(frame, "gray" if gray else "bgr24")
            writer.add_image(image, int(numbers[k]), float(times[k]))
    return Path(output)
