"""Reading stores that imgstore or its Motif recorder wrote, as imgstore reads them.

Their chunk indexes hold only frame numbers and times, so each video chunk's frame
timestamps and keyframes are found once by demuxing it (no decoding); gray frames are
decoded to BGR and converted with OpenCV, as imgstore does, so the pixels are identical.
"""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import av
import cv2
import numpy as np

from .._disk.metadata import METADATA_FILENAME, StoreMetadata, local_timezone_name
from .._disk.storage import StorePath, modified_time, open_video
from ..codecs import DIRECTORY_STORE, FormatSpec, resolve_format
from ..codecs.images import IMAGE_CODECS, ImageCodec, decode_cv2
from ..codecs.video import VideoCodec
from ..errors import CorruptStoreError, UnknownFormatError

_CV2_IMAGE_FORMATS = ("tif", "png", "jpg", "ppm", "pgm", "bmp")
_ANY_KIND = {"gray8": "", "gray16": "", "color": ""}


def read_format(md: StoreMetadata) -> FormatSpec:
    """The format to read a store with: ours, or a read-only one for imgstore's stores."""
    if md.written_by_framestore:
        return resolve_format(md.format)
    name = md.format.removesuffix("+color")
    if md.store_class == DIRECTORY_STORE:
        if name == "npy":
            return FormatSpec(md.format, "imgstore npy chunks", image=IMAGE_CODECS["npy"])
        if name in _CV2_IMAGE_FORMATS:
            codec = ImageCodec(f".{md.format}", name != "jpg", tuple(_ANY_KIND), _read_only, decode_cv2)
            return FormatSpec(md.format, f"imgstore {name} chunks", image=codec)
        raise UnknownFormatError(f"imgstore directory format '{md.format}' is not supported")
    extension = md.extension or (".avi" if md.format == "mjpeg" else ".mp4")
    codec = VideoCodec(
        encoder="",
        extension=extension,
        pix_fmts=dict(_ANY_KIND),
        lossless=False,
        gop=0,
        decode_thread_type="AUTO",
        gray_via_bgr=True,
    )
    return FormatSpec(md.format, f"imgstore video chunks ({md.format})", video=codec)


def _read_only(image: np.ndarray) -> bytes:
    raise UnknownFormatError("stores in imgstore's formats are read here, not written")


def scan_video_chunk(path: StorePath, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Presentation timestamps and keyframe flags of the first ``count`` frames of a
    video file, in presentation order, found by demuxing it once."""
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
    if len(pts) < count:
        raise CorruptStoreError(f"{path}: its index lists {count} frames but the file holds {len(pts)}")
    order = np.argsort(np.array(pts, dtype=np.int64), kind="stable")
    return np.array(pts, dtype=np.int64)[order][:count], np.array(key, dtype=bool)[order][:count]


def store_timezone(md: StoreMetadata) -> datetime.tzinfo:
    """The recording machine's time zone: ``timezone_local``, else an old store's
    ``timezone`` user key, else this machine's (imgstore's rule), else UTC."""
    for name in (md.timezone_local, md.user.get("timezone"), local_timezone_name()):
        if name:
            try:
                return ZoneInfo(str(name))
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return datetime.UTC


def synthesized_created_utc(root: StorePath, md: StoreMetadata) -> datetime.datetime | None:
    """When an old store has no ``created_utc``: the local time in a ``YYYYMMDD_HHMMSS``
    directory name, else the modification time of its ``metadata.yaml`` (imgstore's rule;
    None where a remote filesystem does not tell it)."""
    match = re.match(r"(.*)(20\d{6}_\d{6}).*", root.name)
    if match:
        local = datetime.datetime.strptime(match.group(2), "%Y%m%d_%H%M%S")
        return local.replace(tzinfo=store_timezone(md)).astimezone(datetime.UTC)
    mtime = modified_time(root / METADATA_FILENAME)
    return None if mtime is None else datetime.datetime.fromtimestamp(mtime, tz=datetime.UTC)


def stored_image_shape(md: StoreMetadata) -> tuple[int, ...]:
    """The shape of the frames in the chunk files. imgstore's video stores hold even sizes
    whatever ``imgshape`` says (imgstore truncates odd ones to even when reading)."""
    if md.written_by_framestore or md.store_class == DIRECTORY_STORE:
        return md.imgshape
    return (md.imgshape[0] & -2, md.imgshape[1] & -2, *md.imgshape[2:])


def encoding_conversion(md: StoreMetadata) -> int | None:
    """The OpenCV colour conversion imgstore applies on read for an ``encoding`` such as
    ``cv_bayerbg`` (raw Bayer frames become BGR), or None."""
    if not md.encoding:
        return None
    wanted = md.encoding.lower()
    for name in dir(cv2):
        m = re.match(r"^COLOR_([A-Za-z0-9_]+)2BGR$", name)
        if m and "cv_" + m.group(1).lower().replace("_", "") == wanted:
            return int(getattr(cv2, name))
    raise UnknownFormatError(f"image encoding '{md.encoding}' is not an OpenCV conversion to BGR")
