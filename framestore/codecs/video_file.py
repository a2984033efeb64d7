"""A plain video file (any container PyAV demuxes) read frame-exactly.

Its demux index (every packet's timestamps, keyframe flag, size and CRC32; nothing is
decoded) says which frame is where. An MP4/MOV file at a URL is indexed from its sample
tables alone: FFmpeg demuxes it with every sample's bytes read as zeros, never fetched,
so opening a long recording fetches its header, not its frames (and its packets have no
CRC32 to check; the file's identity, size and ETag, still keys the cached index).

Frames are in presentation order, sorted by pts, when the container's timestamps can be
trusted: every packet has one, no two are equal, and they run the way the codec orders
frames (increasing in decode order exactly when the codec does not reorder frames).
Otherwise (a raw stream without timestamps, B-frames in AVI, a muxer's broken pts)
frames are numbered in the order the decoder gives them, and a read seeks to a keyframe
by its decode timestamp (or by demuxing from the start) and counts frames from there;
that assumes closed GOPs, as encoders write by default.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .._disk.checksum import crc32
from .._disk.columns import CRC32, VIDEO_CODEC_CRC32, VIDEO_KEYFRAME, VIDEO_PTS
from .._disk.storage import RemotePath, StorePath, open_video
from ..errors import CorruptStoreError
from .base import ChunkReader, ImageSpec
from .video import VideoChunkReader, _DecodingReader, codec_crc

_NO_DTS = np.iinfo(np.int64).min
_INDEX_BLOCK = 4 * 2**20  # bytes per request when a URL is demuxed to index it
_HEADER_BLOCK = 2**18  # bytes per request when only a URL's sample tables are read
_GRAY16 = ("gray16", "gray10", "gray12", "gray14")


@dataclass(frozen=True)
class VideoFileIndex:
    """What demuxing a video file tells about it, without decoding (cached per file)."""

    pts: np.ndarray
    """int64 pts of each frame in frame order (in decode order: as the container has them)."""
    dts: np.ndarray
    """int64 decode timestamp of each frame in frame order (``_NO_DTS`` where none)."""
    keyframe: np.ndarray
    """Whether each frame's packet is a keyframe."""
    packet_size: np.ndarray
    """Bytes of each frame's packet."""
    crc32: np.ndarray
    """CRC32 of each frame's packet, checked on every read (zeros when not ``checksummed``)."""
    by_pts: bool
    """Frames are in pts order (the timestamps are trusted); else in decode order."""
    time_base: Fraction
    fps: float
    """The stream's average frame rate (0 when the container does not say)."""
    width: int
    height: int
    pix_fmt: str
    codec: str
    intra_only: bool
    checksummed: bool = True
    """Whether ``crc32`` holds the packets' CRC32 (not for a URL indexed from its header)."""
    hidden_pts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    """pts of the packets decoded but not shown (an MP4 edit list's discarded start)."""
    hidden_crc32: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint32))

    def __len__(self) -> int:
        return len(self.pts)

    @property
    def seconds(self) -> np.ndarray:
        """Each frame's time from the file's first frame: its pts in seconds, or, when
        the timestamps are not trusted, its position over the frame rate."""
        if self.by_pts:
            return (self.pts - (self.pts.min() if len(self) else 0)) * float(self.time_base)
        return np.arange(len(self)) / (self.fps or 30.0)

    def spec(self, gray: bool | None) -> ImageSpec:
        """Frames as read: gray where the pixel format is (or ``gray`` asks for the
        luma plane), else BGR color."""
        if gray is None:
            gray = self.pix_fmt.startswith("gray")
        if not gray:
            return ImageSpec((self.height, self.width, 3), np.dtype(np.uint8))
        wide = self.pix_fmt.startswith(_GRAY16)
        return ImageSpec((self.height, self.width), np.dtype(np.uint16 if wide else np.uint8))

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "pts": self.pts,
            "dts": self.dts,
            "keyframe": self.keyframe,
            "packet_size": self.packet_size,
            "crc32": self.crc32,
            "by_pts": np.array(self.by_pts),
            "time_base": np.array([self.time_base.numerator, self.time_base.denominator]),
            "fps": np.array(self.fps),
            "size": np.array([self.height, self.width]),
            "pix_fmt": np.array(self.pix_fmt),
            "codec": np.array(self.codec),
            "intra_only": np.array(self.intra_only),
            "checksummed": np.array(self.checksummed),
            "hidden_pts": self.hidden_pts,
            "hidden_crc32": self.hidden_crc32,
        }

    @classmethod
    def from_arrays(cls, a: dict[str, np.ndarray]) -> VideoFileIndex:
        return cls(
            pts=a["pts"].astype(np.int64),
            dts=a["dts"].astype(np.int64),
            keyframe=a["keyframe"].astype(bool),
            packet_size=a["packet_size"].astype(np.int64),
            crc32=a["crc32"].astype(np.uint32),
            by_pts=bool(a["by_pts"]),
            time_base=Fraction(int(a["time_base"][0]), int(a["time_base"][1])),
            fps=float(a["fps"]),
            height=int(a["size"][0]),
            width=int(a["size"][1]),
            pix_fmt=str(a["pix_fmt"]),
            codec=str(a["codec"]),
            intra_only=bool(a["intra_only"]),
            checksummed=bool(a["checksummed"]),
            hidden_pts=a["hidden_pts"].astype(np.int64),
            hidden_crc32=a["hidden_crc32"].astype(np.uint32),
        )


def demux_index(path: StorePath) -> VideoFileIndex:
    """Demux the first video stream of ``path`` once (no decoding) and index its frames;
    an MP4/MOV URL from its sample tables, without fetching the frames."""
    if isinstance(path, RemotePath):
        path.check_ranges()
        from_header = _index_from_sample_tables(path)
        if from_header is not None:
            return from_header
    try:
        container: Any = (  # a URL is read through once: in large blocks, for few requests
            av.open(path.open(block_size=_INDEX_BLOCK)) if isinstance(path, RemotePath) else open_video(path)
        )
        with container:
            stream = container.streams.video[0]
            cc = stream.codec_context
            rows = [
                (p.pts, p.dts, bool(p.is_keyframe), p.size, crc32(p), bool(p.is_discard))
                for p in container.demux(stream)
                if p.size
            ]
            time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
            rate = stream.average_rate or stream.guessed_rate
            reorders = bool(cc.has_b_frames)
            width, height, pix_fmt = cc.width, cc.height, cc.pix_fmt or ""
            codec, intra_only = cc.codec.name, bool(cc.codec.intra_only)
    except (av.FFmpegError, IndexError) as exc:
        raise CorruptStoreError(f"{path}: not a video file PyAV can read ({exc})") from None
    return _index_of(path, rows, time_base, rate, reorders, width, height, pix_fmt, codec, intra_only)


def _index_of(
    path: StorePath,
    rows: list[tuple[int | None, int | None, bool, int, int, bool]],
    time_base: Fraction,
    rate: Fraction | None,
    reorders: bool,
    width: int,
    height: int,
    pix_fmt: str,
    codec: str,
    intra_only: bool,
    checksummed: bool = True,
) -> VideoFileIndex:
    """The index of demuxed packets ``rows`` (pts, dts, keyframe, size, CRC32, discarded), in
    frame order. Packets an edit list discards are decoded but never shown: not frames."""
    hidden = [r for r in rows if r[5] and r[0] is not None]
    rows = [r for r in rows if not r[5]]
    if not rows or not width or not height:
        raise CorruptStoreError(f"{path}: holds no video frames")
    raw_pts = [r[0] for r in rows]
    known = all(p is not None for p in raw_pts) and len(set(raw_pts)) == len(raw_pts)
    pts = np.array([p if p is not None else _NO_DTS for p in raw_pts], dtype=np.int64)
    increasing = bool(np.all(np.diff(pts) > 0))
    # a reordering codec with pts increasing in decode order: decode-order stamps (AVI)
    by_pts = known and increasing != reorders
    order = np.argsort(pts, kind="stable") if by_pts else np.arange(len(rows))
    dts = np.array([r[1] if r[1] is not None else _NO_DTS for r in rows], dtype=np.int64)
    return VideoFileIndex(
        pts=pts[order] if by_pts else np.arange(len(rows), dtype=np.int64),
        dts=dts[order],
        keyframe=np.array([r[2] for r in rows], dtype=bool)[order],
        packet_size=np.array([r[3] for r in rows], dtype=np.int64)[order],
        crc32=np.array([r[4] for r in rows], dtype=np.uint32)[order],
        by_pts=by_pts,
        time_base=time_base,
        fps=float(rate) if rate else 0.0,
        width=width,
        height=height,
        pix_fmt=pix_fmt,
        codec=codec,
        intra_only=intra_only,
        checksummed=checksummed,
        hidden_pts=np.array([r[0] for r in hidden], dtype=np.int64),
        hidden_crc32=np.array([r[4] for r in hidden], dtype=np.uint32),
    )


class _SamplesAsZeros(io.RawIOBase):
    """A remote file whose bytes inside the hidden spans read as zeros, unfetched."""

    def __init__(self, file: Any) -> None:
        self._file = file
        self._size = int(file.seek(0, io.SEEK_END))
        self._pos = 0
        self._starts = np.zeros(0, np.int64)
        self._ends = np.zeros(0, np.int64)

    def hide(self, starts: np.ndarray, sizes: np.ndarray) -> None:
        """From now on read the spans ``starts[i] .. starts[i] + sizes[i]`` as zeros."""
        order = np.argsort(starts)
        starts, ends = starts[order], starts[order] + sizes[order]
        # merge touching spans: the samples of an mdat box usually follow each other
        reach = np.maximum.accumulate(ends)
        first = np.ones(len(starts), bool)
        first[1:] = starts[1:] > reach[:-1]
        self._starts = starts[first]
        self._ends = np.maximum.reduceat(reach, np.flatnonzero(first)) if len(starts) else ends

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._file.close()
        super().close()

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, size: int = -1) -> bytes:
        end = self._size if size < 0 else min(self._size, self._pos + size)
        parts = []
        while self._pos < end:
            i = int(np.searchsorted(self._starts, self._pos, side="right")) - 1
            if i >= 0 and self._pos < self._ends[i]:
                stop = min(end, int(self._ends[i]))
                parts.append(bytes(stop - self._pos))
            else:
                stop = min(end, int(self._starts[i + 1])) if i + 1 < len(self._starts) else end
                self._file.seek(self._pos)
                parts.append(self._file.read(stop - self._pos))
            self._pos = stop
        return b"".join(parts)


def _index_from_sample_tables(path: RemotePath) -> VideoFileIndex | None:
    """The index of an MP4/MOV URL from its sample tables (its ``moov`` box): FFmpeg's
    own timestamps (edit lists and composition offsets applied), read by demuxing with
    every sample's bytes as zeros. None for other containers, or where the tables do not
    list every packet (fragmented MP4): those are demuxed in full."""
    file = _SamplesAsZeros(path.open(block_size=_HEADER_BLOCK))
    try:
        container: Any = av.open(file)
        with container:
            if not {"mov", "mp4"} & set(container.format.name.split(",")):
                return None
            stream = container.streams.video[0]
            entries = stream.index_entries
            count = len(entries)
            if not count or count != stream.frames:
                return None
            positions = np.fromiter((e.pos for e in entries), np.int64, count)
            sizes = np.fromiter((e.size for e in entries), np.int64, count)
            # the tables' keyframes: a parser would find none in zeros
            keyframe_at = {e.timestamp: e.is_keyframe for e in entries}
            file.hide(positions, sizes)  # packets FFmpeg probed at opening are already read
            packets = (p for p in container.demux(stream) if p.size)
            rows = [(p.pts, p.dts, keyframe_at.get(p.dts, False), p.size, 0, p.is_discard) for p in packets]
            cc = stream.codec_context
            if len(rows) != count or sorted(r[3] for r in rows) != sorted(sizes.tolist()):
                return None
            time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 1)
            return _index_of(
                path, rows, time_base, stream.average_rate or stream.guessed_rate, bool(cc.has_b_frames),
                cc.width, cc.height, cc.pix_fmt or "", cc.codec.name, bool(cc.codec.intra_only),
                checksummed=False,
            )  # fmt: skip
    except (av.FFmpegError, IndexError):
        return None  # demuxed in full, which names what is wrong


def video_file_reader(
    path: StorePath, spec: ImageSpec, index: VideoFileIndex, verify: bool = True
) -> ChunkReader:
    """A frame-exact reader of the video file ``path`` as ``index`` describes it."""
    if isinstance(path, RemotePath):
        path.check_ranges()
    crc = index.crc32 if verify and index.checksummed else None
    # frame threads for codecs with inter frames (single-slice H.264 needs them)
    threads = "SLICE" if index.intra_only else "AUTO"
    if index.by_pts:
        hidden = dict(zip(index.hidden_pts.tolist(), index.hidden_crc32.tolist(), strict=True))
        return VideoChunkReader(path, spec, index.pts, index.keyframe, crc, threads, hidden=hidden)
    return DecodeOrderReader(path, spec, index, crc, threads)


class DecodeOrderReader(_DecodingReader):
    """Frames numbered in the order the decoder returns them, from keyframes found by
    their position in decode order (for files whose timestamps cannot be trusted)."""

    def __init__(
        self, path: StorePath, spec: ImageSpec, index: VideoFileIndex, crc: np.ndarray | None, threads: str
    ) -> None:
        super().__init__(str(path), spec, index.pts, index.keyframe)
        self._path = path
        self._dts = index.dts
        self._crc = crc
        self._threads = threads
        self._container: Any = None
        self._stream: Any = None
        # seek by dts only where every packet has one and they increase
        self._seek_by_dts = bool(np.all(self._dts != _NO_DTS) and np.all(np.diff(self._dts) > 0))

    def _open(self) -> None:
        if self._container is not None:
            self._container.close()
        try:
            self._container = open_video(self._path)
            self._stream = self._container.streams.video[0]
        except (av.FFmpegError, IndexError) as exc:
            raise CorruptStoreError(f"{self._path}: not a readable video file ({exc})") from None
        self._stream.thread_type = self._threads
        self._stream.thread_count = 0

    def _packets_from(self, start: int) -> Iterator[Any]:
        """The packets from frame ``start`` (a keyframe) on, the first being its own."""
        if self._container is None or not self._seek_by_dts:
            self._open()
            skip = start
        else:
            try:
                self._container.seek(int(self._dts[start]), stream=self._stream, backward=True)
            except av.FFmpegError as exc:
                raise CorruptStoreError(f"{self._path}: cannot seek ({exc})") from None
            skip = -1
        for packet in self._container.demux(self._stream):
            if not packet.size:
                yield packet  # the end: flushes the decoder
            elif skip < 0:  # after a seek: skip to the keyframe's own dts
                if packet.dts is None or packet.dts > self._dts[start]:
                    self._seek_by_dts = False  # the seek landed past it: count from the start
                    yield from self._packets_from(start)
                    return
                if packet.dts == self._dts[start]:
                    skip = 0
                    yield packet
            elif skip > 0:
                skip -= 1
            else:
                yield packet

    def _decode_from(self, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        if self._container is None:
            self._open()
        return self._generate(start)

    def _generate(self, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        position = start  # of the next frame the decoder returns
        packet_number = start
        for packet in self._packets_from(start):
            if packet.size:
                if self._crc is not None and crc32(packet) != self._crc[packet_number]:
                    raise CorruptStoreError(
                        f"{self._path}: frame {packet_number} fails its CRC32 check: the file "
                        "changed or is damaged"
                    )
                packet_number += 1
            for frame in packet.decode():
                yield position, frame
                position += 1

    def close(self) -> None:
        self._frames = None
        if self._container is not None:
            self._container.close()
            self._container = None


class RemuxChunkWriter:
    """One chunk of original packets, remuxed into Matroska without re-encoding."""

    def __init__(self, path: Path, template: Any) -> None:
        self._path = path
        self._container: Any = av.open(str(path), "w", format="matroska")
        self._stream = self._container.add_stream_from_template(template)

    def add(self, packet: Any) -> None:
        """Mux a demuxed packet (its own time base is rescaled to the file's)."""
        packet.stream = self._stream
        self._container.mux(packet)

    def close(self) -> dict[str, np.ndarray]:
        """Finish the file and index it as stored, in presentation order: pts, keyframe
        flags and the CRC32 of every packet (read back: muxers may rewrite packets)."""
        self._container.close()
        with av.open(str(self._path)) as container:
            codec = codec_crc(container.streams.video[0])
            rows = [
                (int(p.pts), bool(p.is_keyframe), crc32(p))
                for p in container.demux(container.streams.video[0])
                if p.size and p.pts is not None
            ]
        rows.sort()
        return {
            VIDEO_PTS: np.array([r[0] for r in rows], dtype=np.int64),
            VIDEO_KEYFRAME: np.array([r[1] for r in rows], dtype=bool),
            CRC32: np.array([r[2] for r in rows], dtype=np.uint32),
            VIDEO_CODEC_CRC32: np.full(len(rows), codec, dtype=np.uint32),
        }

    def abort(self) -> None:
        self._container.close()
