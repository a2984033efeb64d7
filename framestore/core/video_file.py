"""A plain video file as a read-only store of one chunk: the third dialect.

Opened by its path or URL (with ``new_for_filename``, ``open_video`` or any tool), its
frames are indexed once by demuxing (``codecs/video_file.py``; the index is kept in the
user cache, never beside the file). ``frame_time`` comes from a times file given with it
(``.npy``, or a CSV with a ``frame_time`` column and optionally ``frame_number``), else
from the container's timestamps as seconds from the first frame; ``frame_number`` is the
``frame_index`` unless given.
"""

from __future__ import annotations

import datetime
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd

from .._disk.columns import CRC32, FRAME_NUMBER, FRAME_TIME, VIDEO_KEYFRAME, VIDEO_PTS
from .._disk.index import ChunkIndex, checked_chunk_index
from .._disk.layout import Layout
from .._disk.metadata import METADATA_FILENAME, StoreMetadata
from .._disk.storage import StorePath, is_url, modified_time, store_path
from .._disk.user_cache import file_identity, read_cached, write_cached
from ..codecs import FormatSpec
from ..codecs.base import ChunkReader, ImageSpec
from ..codecs.video import VideoCodec
from ..codecs.video_file import VideoFileIndex, demux_index, video_file_reader
from ..errors import CorruptStoreError, StoreNotFoundError, UnknownFormatError
from .dialect import Dialect

VIDEO_FILE_CLASS = "VideoFile"
PACKET_SIZE = "packet_size"
_CACHE_KIND = "video-index-v1"
# what a URL must end with to be taken for a video file rather than a store directory
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".nut", ".flv", ".wmv",
     ".h264", ".264", ".h265", ".hevc", ".mj2", ".ogv", ".3gp"}
)  # fmt: skip

Times = str | os.PathLike[str] | Sequence[float] | np.ndarray


def is_video_file(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a single video file rather than a store: a local file
    other than ``metadata.yaml``, or a URL whose path ends in a video extension."""
    if is_url(location):
        return Path(urlsplit(str(location)).path).suffix.lower() in VIDEO_SUFFIXES
    path = Path(location)
    return path.name != METADATA_FILENAME and path.is_file()


@dataclass(frozen=True)
class SingleFileLayout(Layout[StorePath]):
    """The layout of a store that is one video file: chunk 0 is the file itself."""

    def chunk_path(self, n: int) -> StorePath:
        return self.root

    def chunk_numbers(self) -> list[int]:
        return [0]


class VideoFileDialect(Dialect):
    """A plain video file: its one chunk's index comes from demuxing it, not from disk."""

    index_keys = None

    def __init__(self, index: VideoFileIndex, chunk: ChunkIndex, spec: ImageSpec) -> None:
        self.index = index
        self.chunk = chunk
        self.spec = spec

    def read_format(self, md: StoreMetadata) -> FormatSpec:
        video = VideoCodec(
            encoder="",
            extension=md.extension,
            pix_fmts={self.spec.kind: self.index.pix_fmt},
            lossless=False,
            gop=0,
        )
        return FormatSpec(md.format, f"a plain {self.index.codec} video file", video=video)

    def stored_image_shape(self, md: StoreMetadata) -> tuple[int, ...]:
        return md.imgshape

    def video_timestamps(self, path: StorePath, chunk: ChunkIndex) -> tuple[np.ndarray, np.ndarray]:
        return self.index.pts, self.index.keyframe

    def extra_data(self, layout: Layout[StorePath], n: int) -> pd.DataFrame:
        return pd.DataFrame()

    def chunk_reader(self, path: StorePath, verify: bool) -> ChunkReader:
        """A frame-exact reader of the file."""
        return video_file_reader(path, self.spec, self.index, verify)


def read_video_index(path: StorePath) -> tuple[VideoFileIndex, str]:
    """The demux index of the video file at ``path`` (from the user cache when the file
    is unchanged) and the file's identity key."""
    try:
        key = file_identity(path)
    except FileNotFoundError:
        raise StoreNotFoundError(f"{path}: no such video file") from None
    cached = read_cached(_CACHE_KIND, key)
    if cached is not None:
        try:
            return VideoFileIndex.from_arrays(cached), key
        except (KeyError, ValueError, IndexError):
            pass  # an entry from another version: index again
    index = demux_index(path)
    write_cached(_CACHE_KIND, key, index.to_arrays())
    return index, key


def read_times(times: Times, count: int, video: StorePath) -> tuple[np.ndarray, np.ndarray | None]:
    """``frame_time`` (and ``frame_number`` when the file has it) for ``count`` frames,
    from an array, a ``.npy`` file or a CSV with a ``frame_time`` column."""
    numbers = None
    if isinstance(times, (str, os.PathLike)):
        where = store_path(times)
        suffix = where.suffix.lower()
        try:
            data = where.read_bytes()
        except FileNotFoundError:
            raise StoreNotFoundError(f"{where}: no such times file (for {video})") from None
        if suffix == ".npy":
            try:
                values = np.load(io.BytesIO(data), allow_pickle=False)
            except ValueError as exc:
                raise CorruptStoreError(f"{where}: not a readable .npy array ({exc})") from None
        elif suffix == ".csv":
            table = pd.read_csv(io.BytesIO(data))
            if FRAME_TIME not in table.columns:
                raise CorruptStoreError(
                    f"{where}: no '{FRAME_TIME}' column (it has {', '.join(map(str, table.columns))})"
                )
            values = table[FRAME_TIME].to_numpy()
            if FRAME_NUMBER in table.columns:
                numbers = table[FRAME_NUMBER].to_numpy(np.int64)
        else:
            raise UnknownFormatError(f"{where}: frame times are read from a .npy or .csv file")
        label = str(where)
    else:
        values, label = np.asarray(times), "the times given"
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) != count:
        raise CorruptStoreError(
            f"{label}: {values.shape[0] if values.ndim else 0} frame times of shape {values.shape} "
            f"for the {count} frames of {video}; expected one time per frame"
        )
    return values, numbers


def describe_video_file(
    location: str | os.PathLike[str],
    times: Times | None = None,
    frame_numbers: Sequence[int] | np.ndarray | None = None,
    gray: bool | None = None,
) -> tuple[StoreMetadata, StorePath, VideoFileDialect]:
    """The metadata, path and dialect of a plain video file opened as a store."""
    path = store_path(location)
    index, key = read_video_index(path)
    count = len(index)
    numbers: np.ndarray | None = None
    if times is None:
        frame_time = index.seconds
    else:
        frame_time, numbers = read_times(times, count, path)
    if frame_numbers is not None:
        numbers = np.asarray(frame_numbers, dtype=np.int64)
        if numbers.shape != (count,):
            raise CorruptStoreError(f"{path}: {numbers.shape} frame numbers given for {count} frames")
    columns = {
        FRAME_NUMBER: np.arange(count, dtype=np.int64) if numbers is None else numbers,
        FRAME_TIME: frame_time,
        VIDEO_PTS: index.pts,
        VIDEO_KEYFRAME: index.keyframe,
        PACKET_SIZE: index.packet_size,
    }
    if index.checksummed:
        columns[CRC32] = index.crc32
    chunk = checked_chunk_index(0, path, columns)
    spec = index.spec(gray)
    mtime = modified_time(path)
    created = datetime.datetime.fromtimestamp(mtime, datetime.UTC) if mtime is not None else None
    metadata = StoreMetadata(
        format=f"{index.codec}/{path.suffix.lower().lstrip('.') or 'video'}",
        store_class=VIDEO_FILE_CLASS,
        chunksize=max(count, 1),
        imgshape=spec.shape,
        imgdtype=str(spec.dtype),
        extension=path.suffix.lower(),
        created_utc=created.replace(tzinfo=None).isoformat() if created else "",
        timezone_local="UTC",
        uuid=key[:32],
        fps=index.fps or None,
        written_by_framestore=False,
    )
    return metadata, path, VideoFileDialect(index, chunk, spec)


def video_meta(dialect: VideoFileDialect, path: StorePath) -> dict[str, Any]:
    """Length, rate, size and duration of a plain video file, as its container and
    index tell them, and whether reads check each packet's CRC32 (not for an MP4 URL
    indexed from its header)."""
    index = dialect.index
    seconds = index.seconds
    return {
        "length": len(index),
        "fps": index.fps or None,
        "width": index.width,
        "height": index.height,
        "duration": float(seconds[-1] - seconds[0]) if len(index) else 0.0,
        "codec": index.codec,
        "pix_fmt": index.pix_fmt,
        "size": path.stat().st_size if isinstance(path, Path) else path.info().get("size"),
        "timestamps": "pts" if index.by_pts else "decode order",
        "packet_crc32": index.checksummed,
        "path": str(path),
    }
