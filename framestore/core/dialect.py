"""The two on-disk dialects a store is read in: framestore's own, and imgstore's (also
what loopbio's Motif recorder writes), chosen from ``metadata.yaml``.

Every quirk of imgstore's and Motif's stores lives in :class:`ImgstoreDialect`: their
chunk indexes hold only frame numbers and times (so each video chunk's frame timestamps
and keyframes are found once by demuxing it, without decoding); gray frames are decoded
to BGR and converted with OpenCV, as imgstore does, so the pixels are identical; their
video chunks hold even sizes whatever ``imgshape`` says; Motif puts extra data in files
of its own.
"""

from __future__ import annotations

import datetime
import re
import warnings
from abc import ABC, abstractmethod
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import av
import cv2
import numpy as np
import pandas as pd

from .._disk.columns import FRAME_NUMBER, FRAME_TIME, VIDEO_KEYFRAME, VIDEO_PTS
from .._disk.extra_data import read_extra_data_file
from .._disk.index import ChunkIndex
from .._disk.layout import Layout
from .._disk.metadata import METADATA_FILENAME, StoreMetadata, local_timezone_name
from .._disk.storage import StorePath, modified_time, open_video
from ..codecs import DIRECTORY_STORE, FormatSpec, resolve_format
from ..codecs.images import IMAGE_CODECS, ImageCodec, decode_cv2
from ..codecs.video import VideoCodec
from ..errors import CorruptStoreError, StoreWarning, UnknownFormatError

_CV2_IMAGE_FORMATS = ("tif", "png", "jpg", "ppm", "pgm", "bmp")
_ANY_KIND = {"gray8": "", "gray16": "", "color": ""}


class Dialect(ABC):
    """How a store's files are read: its format, image shape, index columns, frame
    timestamps and extra data. What both dialects share (colour conversion, time zone,
    creation time) are imgstore's rules, which it applies to any store."""

    index_keys: tuple[str, ...] | None  # the chunk index columns to load (None: all)

    @abstractmethod
    def read_format(self, md: StoreMetadata) -> FormatSpec:
        """The format to read the store's chunks with."""

    @abstractmethod
    def stored_image_shape(self, md: StoreMetadata) -> tuple[int, ...]:
        """The shape of the frames in the chunk files."""

    @abstractmethod
    def video_timestamps(self, path: StorePath, chunk: ChunkIndex) -> tuple[np.ndarray, np.ndarray]:
        """Presentation timestamps and keyframe flags of a finished video chunk's frames."""

    @abstractmethod
    def extra_data(self, layout: Layout[StorePath], n: int) -> pd.DataFrame:
        """Chunk ``n``'s extra data records (empty when it has none)."""

    def colour_conversion(self, md: StoreMetadata) -> int | None:
        """The OpenCV colour conversion imgstore applies on read for an ``encoding`` such
        as ``cv_bayerbg`` (raw Bayer frames become BGR), or None."""
        return opencv_conversion(md.encoding) if md.encoding else None

    def timezone(self, md: StoreMetadata) -> datetime.tzinfo:
        """The recording machine's time zone: ``timezone_local``, else an old store's
        ``timezone`` user key, else this machine's (imgstore's rule), else UTC."""
        for name in (md.timezone_local, md.user.get("timezone"), local_timezone_name()):
            if name:
                try:
                    return ZoneInfo(str(name))
                except (ZoneInfoNotFoundError, ValueError):
                    continue
        return datetime.UTC

    def created_utc(self, root: StorePath, md: StoreMetadata) -> datetime.datetime | None:
        """When the store was created, in UTC. An old store without ``created_utc``: the
        local time in a ``YYYYMMDD_HHMMSS`` directory name, else the modification time of
        its ``metadata.yaml`` (imgstore's rule; None where a remote filesystem does not
        tell it)."""
        if md.created_utc:
            created = datetime.datetime.fromisoformat(md.created_utc)
            if created.tzinfo is None:
                created = created.replace(tzinfo=datetime.UTC)
            return created.astimezone(datetime.UTC)
        match = re.match(r"(.*)(20\d{6}_\d{6}).*", root.name)
        if match:
            local = datetime.datetime.strptime(match.group(2), "%Y%m%d_%H%M%S")
            return local.replace(tzinfo=self.timezone(md)).astimezone(datetime.UTC)
        mtime = modified_time(root / METADATA_FILENAME)
        return None if mtime is None else datetime.datetime.fromtimestamp(mtime, tz=datetime.UTC)


class FramestoreDialect(Dialect):
    """Stores framestore wrote: every index column is ours, video timestamps are stored."""

    index_keys = None

    def read_format(self, md: StoreMetadata) -> FormatSpec:
        return resolve_format(md.format)

    def stored_image_shape(self, md: StoreMetadata) -> tuple[int, ...]:
        return md.imgshape

    def video_timestamps(self, path: StorePath, chunk: ChunkIndex) -> tuple[np.ndarray, np.ndarray]:
        if VIDEO_PTS not in chunk.columns:  # an index that lost them: as for imgstore's
            return IMGSTORE.video_timestamps(path, chunk)
        pts = chunk.columns[VIDEO_PTS].astype(np.int64)
        keyframe = chunk.columns.get(VIDEO_KEYFRAME, np.zeros(chunk.count, bool)).astype(bool)
        return pts, keyframe

    def extra_data(self, layout: Layout[StorePath], n: int) -> pd.DataFrame:
        path = layout.extra_path(n)
        return pd.DataFrame(read_extra_data_file(path)) if path.is_file() else pd.DataFrame()


class ImgstoreDialect(Dialect):
    """Stores imgstore or Motif wrote, read as imgstore reads them."""

    # of an index imgstore wrote, only the frame columns: it also holds imgstore's settings
    index_keys = (FRAME_NUMBER, FRAME_TIME)

    def read_format(self, md: StoreMetadata) -> FormatSpec:
        """A read-only format for the chunks imgstore wrote."""
        name = md.format.removesuffix("+color")
        if md.store_class == DIRECTORY_STORE:
            if name == "npy":
                return FormatSpec(md.format, "imgstore npy chunks", image=IMAGE_CODECS["npy"])
            if name in _CV2_IMAGE_FORMATS:
                image = ImageCodec(f".{md.format}", name != "jpg", tuple(_ANY_KIND), _read_only, decode_cv2)
                return FormatSpec(md.format, f"imgstore {name} chunks", image=image)
            raise UnknownFormatError(f"imgstore directory format '{md.format}' is not supported")
        video = VideoCodec(
            encoder="",
            extension=md.extension or (".avi" if md.format == "mjpeg" else ".mp4"),
            pix_fmts=dict(_ANY_KIND),
            lossless=False,
            gop=0,
            decode_thread_type="AUTO",
            gray_via_bgr=True,
        )
        return FormatSpec(md.format, f"imgstore video chunks ({md.format})", video=video)

    def stored_image_shape(self, md: StoreMetadata) -> tuple[int, ...]:
        """imgstore's video stores hold even sizes whatever ``imgshape`` says (imgstore
        truncates odd ones to even when reading)."""
        if md.store_class == DIRECTORY_STORE:
            return md.imgshape
        return (md.imgshape[0] & -2, md.imgshape[1] & -2, *md.imgshape[2:])

    def video_timestamps(self, path: StorePath, chunk: ChunkIndex) -> tuple[np.ndarray, np.ndarray]:
        """Found by demuxing the file once, in presentation order."""
        pts: list[int] = []
        key: list[bool] = []
        try:
            with open_video(path) as container:
                for packet in container.demux(container.streams.video[0]):
                    if packet.pts is not None:
                        pts.append(int(packet.pts))
                        key.append(bool(packet.is_keyframe))
        except (av.FFmpegError, IndexError) as exc:
            raise CorruptStoreError(f"{path}: not a readable video file ({exc})") from None
        count = chunk.count
        if len(pts) < count:
            raise CorruptStoreError(f"{path}: its index lists {count} frames but the file holds {len(pts)}")
        order = np.argsort(np.array(pts, dtype=np.int64), kind="stable")
        return np.array(pts, dtype=np.int64)[order][:count], np.array(key, dtype=bool)[order][:count]

    def extra_data(self, layout: Layout[StorePath], n: int) -> pd.DataFrame:
        """Motif's file (real frames only, in frame order, as imgstore reads it), else
        imgstore's."""
        motif = layout.motif_extra_path(n)
        if motif.is_file():
            df = pd.DataFrame(read_extra_data_file(motif))
            if len(df):
                df = df[df["frame_number"] >= 0]
                by = ["frame_index", "sensor_time"] if "sensor_time" in df else ["frame_index"]
                df = df.sort_values(by=by, ignore_index=True)
            return df
        ours = layout.extra_path(n)
        for path in (ours, ours.with_name(ours.name.replace(".extra.", ".extra_data."))):
            if path.is_file():
                return pd.DataFrame(read_extra_data_file(path))
        return pd.DataFrame()


FRAMESTORE = FramestoreDialect()
IMGSTORE = ImgstoreDialect()


def dialect_of(md: StoreMetadata) -> Dialect:
    """The dialect a store's metadata says it was written in."""
    return FRAMESTORE if md.written_by_framestore else IMGSTORE


def opencv_conversion(encoding: str) -> int:
    """The OpenCV colour conversion to BGR an imgstore ``encoding`` (``cv_bayerbg``, ...) names."""
    wanted = encoding.lower()
    for name in dir(cv2):
        m = re.match(r"^COLOR_([A-Za-z0-9_]+)2BGR$", name)
        if m and "cv_" + m.group(1).lower().replace("_", "") == wanted:
            return int(getattr(cv2, name))
    raise UnknownFormatError(f"image encoding '{encoding}' is not an OpenCV conversion to BGR")


def read_extra_data(dialect: Dialect, layout: Layout[StorePath], skip_corrupt: bool = False) -> pd.DataFrame:
    """Every chunk's extra data records as one table; with ``skip_corrupt``, a chunk whose
    file is damaged is left out with a warning instead of raising."""
    frames = []
    for n in layout.chunk_numbers():
        try:
            df = dialect.extra_data(layout, n)
        except CorruptStoreError as exc:
            if not skip_corrupt:
                raise
            warnings.warn(f"extra data of chunk {n} left out: {exc}", StoreWarning, stacklevel=3)
            continue
        if len(df):
            frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _read_only(image: np.ndarray) -> bytes:
    raise UnknownFormatError("stores in imgstore's formats are read here, not written")
