"""Video chunks through PyAV: one video file per chunk, read back frame-exactly.

Every frame's presentation timestamp (pts) and keyframe flag are stored in the chunk
index, so a read seeks to a known keyframe and decodes forward to a known pts: never a
position computed from a frame rate or a rounded time.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from .._disk.checksum import crc32
from .._disk.columns import (
    CRC32,
    FRAME_NUMBER,
    FRAME_TIME,
    VIDEO_CODEC_CRC32,
    VIDEO_KEYFRAME,
    VIDEO_OFFSET,
    VIDEO_PTS,
)
from .._disk.journal import CHUNK_SUFFIX, JournalContents, JournalWriter
from .._disk.storage import StorePath, open_video
from ..errors import CorruptStoreError, InvalidFrameError
from .base import ImageSpec
from .pixels import converted, to_array

# Decoding forward beats a seek for this many frames even across a keyframe (not in an
# intra-only chunk: there a seek costs far less than decoding one frame).
_FORWARD_LIMIT = 4
# A reader of a chunk whose frames depend on others (H.264) keeps the frames it decoded
# since the last keyframe (the latest ones, up to this many bytes), so that stepping back
# or reading a nearby frame again converts a kept frame instead of decoding the GOP again.
GOP_KEEP_BYTES = 32 << 20
# A random read decodes the frames before its target that no other frame references
# (B-frames, mostly) only from this many frames before it, so a step back still finds them.
_DECODE_ALL_BEFORE = 16
# Pixel formats whose first plane is the luma, i.e. the image of a gray store.
_LUMA_FIRST = frozenset({"gray", "yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"})


@dataclass(frozen=True)
class VideoCodec:
    """How framestore writes one video format with FFmpeg."""

    encoder: str
    extension: str
    pix_fmts: dict[str, str]  # image kind (gray8, gray16, color) -> pixel format
    lossless: bool
    gop: int
    options: dict[str, str] = field(default_factory=dict)
    encode_threads: int = 2
    encode_thread_type: str = "SLICE"
    decode_thread_type: str = "SLICE"
    even_size_only: bool = False
    full_range_gray: bool = False
    quantizer: int | None = None  # fixed quantizer (qmin = qmax) for MJPEG-like encoders
    odd_size_pix_fmts: dict[str, str] = field(default_factory=dict)  # where 4:2:0 cannot go
    muxer_rewrites_packets: bool = False  # H.264 in Matroska: Annex B becomes length-prefixed
    gray_via_bgr: bool = False  # decode gray as imgstore does: to BGR, then OpenCV's BGR2GRAY
    uncompressed: bool = False  # each packet is the frame's array bytes: indexed by file offset
    # batch reads decode independent frames (GOPs) on one thread per core, each thread's
    # decoders single-threaded: measured (get_frames, 2 cores shared with other work, over
    # one thread) to pay for MJPEG (1.43-1.56x in 3 runs of 4) and H.264 (1.12-1.36x); even
    # for FFV1 (0.98-1.06x); not shown for Ut Video (0.94-1.64x), whose decoder (as FFV1's)
    # has slice threads already; not for raw frames read by file offset (0.44x)
    batch_threads: bool = False

    def pix_fmt_for(self, spec: ImageSpec) -> str | None:
        if spec.width % 2 or spec.height % 2:
            return self.odd_size_pix_fmts.get(spec.kind, self.pix_fmts.get(spec.kind))
        return self.pix_fmts.get(spec.kind)


def _pts_step(extension: str, fps: float) -> Fraction:
    """The pts distance between consecutive frames, in the codec's time base."""
    if extension == ".mkv":  # Matroska stores times in milliseconds
        return Fraction(1000) / Fraction(fps).limit_denominator(1001)
    return Fraction(1)


def time_base_for(extension: str, fps: float) -> Fraction:
    if extension == ".mkv":
        return Fraction(1, 1000)
    return 1 / Fraction(fps).limit_denominator(1001)


def check_fps(codec: VideoCodec, fps: float) -> None:
    if not np.isfinite(fps) or fps <= 0:
        raise InvalidFrameError(f"fps must be a positive number, got {fps!r}")
    if Fraction(fps).limit_denominator(1001) == 0:  # the stream's rate: 1/1001 steps
        raise InvalidFrameError(f"fps {fps!r} is below 1/2002, the slowest rate a video stream can state")
    if codec.extension == ".mkv" and fps > 1000:
        raise InvalidFrameError(
            f"fps {fps} is above 1000, which Matroska's millisecond timestamps cannot "
            "tell apart; choose an image format (npy, png) for faster cameras"
        )


def add_encoder_stream(
    container: Any,
    codec: VideoCodec,
    spec: ImageSpec,
    pix_fmt: str,
    fps: float,
    options: dict[str, str] | None,
) -> av.VideoStream:
    """A new video stream in the output ``container`` encoding ``spec`` frames in ``pix_fmt``
    at ``fps`` with ``codec``'s settings (``options`` added to its own)."""
    stream = container.add_stream(codec.encoder, rate=Fraction(fps).limit_denominator(1001))
    assert isinstance(stream, av.VideoStream)  # every VideoCodec's encoder is a video encoder
    cc = stream.codec_context
    cc.width, cc.height = spec.width, spec.height
    cc.pix_fmt = pix_fmt
    cc.time_base = time_base_for(codec.extension, fps)
    cc.gop_size = codec.gop
    cc.max_b_frames = 0
    cc.thread_count = codec.encode_threads
    cc.thread_type = codec.encode_thread_type
    if codec.quantizer is not None:
        cc.qmin = cc.qmax = codec.quantizer
    if codec.full_range_gray and pix_fmt == "gray":
        cc.color_range = 2  # full range: gray values are not 16..235 video levels
    cc.options = {**codec.options, **(options or {})}
    return stream


# Containers whose muxer writes each packet's bytes unchanged at the end of the file at
# once (flushed per packet), padded to a multiple of this many bytes: their journal records
# where each packet lies instead of a second copy of it (Matroska gathers a cluster first).
_PACKETS_IN_PLACE = {".nut": 1, ".avi": 2}


class VideoChunkWriter:
    """Encodes one chunk; each packet goes to the video file and, as its bytes or where
    they lie in that file, to the journal."""

    def __init__(
        self,
        path: Path,
        journal_path: Path,
        codec: VideoCodec,
        spec: ImageSpec,
        fps: float,
        options: dict[str, str] | None = None,
        columns: list[list[str]] | None = None,
    ) -> None:
        pix_fmt = codec.pix_fmt_for(spec)
        if pix_fmt is None:
            raise InvalidFrameError(f"{codec.encoder} cannot hold {spec.kind} frames")
        self._path = path
        self._spec = spec
        self._pix_fmt = pix_fmt
        self._step = _pts_step(codec.extension, fps)
        self._rewrites_packets = codec.muxer_rewrites_packets
        self._frame_bytes = spec.frame_bytes if codec.uncompressed else None
        in_place = not codec.muxer_rewrites_packets and codec.extension in _PACKETS_IN_PLACE
        self._align = _PACKETS_IN_PLACE[codec.extension] if in_place else 0
        self._fd: int | None = None  # the chunk file read back, where packets are in place
        flush = {"flush_packets": "1"} if in_place else {}  # each packet reaches the OS at once
        self._container = av.open(str(path), "w", container_options=flush)
        try:
            stream = add_encoder_stream(self._container, codec, spec, pix_fmt, fps, options)
            cc = stream.codec_context
            self._container.start_encoding()
            # the container may keep its own time base (NUT does): index what it stores
            assert stream.time_base is not None  # start_encoding set it
            self._time_base = stream.time_base
            self._to_stream = Fraction(cc.time_base) / Fraction(stream.time_base)
            self._frame: av.VideoFrame | None = None  # each gray image is copied into it
            self._journal = JournalWriter(
                journal_path,
                {
                    "decoder": stream.codec_context.codec.canonical_name,
                    "width": spec.width,
                    "height": spec.height,
                    "pix_fmt": pix_fmt,
                    "codec_tag": cc.codec_tag or "",  # Ut Video's decoder needs its fourcc
                    "extradata": base64.b64encode(cc.extradata or b"").decode("ascii"),
                    "columns": columns or [],
                    **({CHUNK_SUFFIX: codec.extension} if in_place else {}),
                },
            )
            if in_place:
                self._fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except BaseException as exc:
            self._close_container()
            path.unlink(missing_ok=True)
            if isinstance(exc, OSError):  # the disk, not the codec (av.error.OSError too)
                raise
            if isinstance(exc, (av.FFmpegError, ValueError)):
                what = f"{spec.width}x{spec.height} {pix_fmt} frames"
                raise InvalidFrameError(f"{path}: {codec.encoder} cannot encode {what} ({exc})") from None
            raise
        self._stream = stream
        self._pending: dict[int, tuple[int, float, bytes]] = {}
        self._rows: list[tuple[int, float, int, bool, int]] = []
        self._count = 0

    def add(self, image: np.ndarray, frame_number: int, frame_time: float, columns: bytes = b"") -> None:
        if self._frame_bytes is not None:
            self._add_uncompressed(image, frame_number, frame_time, columns)
            return
        frame = self._to_frame(image)
        frame.pts = self._next_pts()
        self._pending[frame.pts] = (frame_number, frame_time, columns)
        self._emit(self._stream.encode(frame))

    def _add_uncompressed(
        self, image: np.ndarray, frame_number: int, frame_time: float, columns: bytes
    ) -> None:
        """An uncompressed frame muxed as its own packet: the bytes the ``rawvideo``
        encoder would make of it (rows packed, little-endian), without its two copies."""
        pixels = np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("<"))
        pts = self._in_stream(self._next_pts())
        self.add_packet(pixels, pts, True, frame_number, frame_time, columns)

    def _next_pts(self) -> int:
        """The next frame's pts in the codec's time base: ``round(count * step)``."""
        pts = round_half_even(self._count * self._step.numerator, self._step.denominator)
        self._count += 1
        return pts

    def _in_stream(self, codec_pts: int) -> int:
        """A codec time base pts in the stream's time base, rounded as ``av_rescale_q``
        (half up), in integers: a ``Fraction`` per frame costs ~20 µs."""
        num, den = self._to_stream.numerator, self._to_stream.denominator
        return (2 * codec_pts * num + den) // (2 * den)

    def _to_frame(self, image: np.ndarray) -> av.VideoFrame:
        spec, pix_fmt = self._spec, self._pix_fmt
        if spec.is_color:
            return converted(av.VideoFrame.from_ndarray(image, format="bgr24"), pix_fmt)
        # gray into one frame kept for every image: the image is the luma (the only plane
        # of gray, gray16le), chroma neutral; make_writable copies the frame first where the
        # encoder still refers to its pixels, so a frame it holds is never changed
        frame = self._frame
        if frame is None:
            frame = av.VideoFrame(spec.width, spec.height, pix_fmt)
            for plane in frame.planes[1:]:
                np.frombuffer(memoryview(plane), np.uint8)[:] = 128
            self._frame = frame
        else:
            frame.make_writable()
        luma = frame.planes[0]
        dtype = np.dtype(spec.dtype).newbyteorder("<")
        rows = np.frombuffer(memoryview(luma), dtype).reshape(luma.height, -1)
        rows[:, : spec.width] = image
        return frame

    def add_packet(
        self,
        payload: bytes | np.ndarray,
        pts: int,
        keyframe: bool,
        frame_number: int,
        frame_time: float,
        columns: bytes = b"",
    ) -> None:
        """Mux an already encoded frame (stream time base pts), as recovery does."""
        packet = av.Packet(payload)  # type: ignore[arg-type]  # any buffer: PyAV refers to it, no copy
        packet.pts = packet.dts = pts
        packet.time_base = self._time_base
        packet.stream = self._stream
        packet.is_keyframe = keyframe
        self._write(packet, pts, frame_number, frame_time, columns)

    @property
    def extradata(self) -> bytes:
        return bytes(self._stream.codec_context.extradata or b"")

    def _emit(self, packets: list[av.Packet[av.VideoStream]]) -> None:
        for packet in packets:
            assert packet.pts is not None  # the encoder stamps each packet with its frame's pts
            frame_number, frame_time, columns = self._pending.pop(int(packet.pts))
            self._write(packet, self._in_stream(packet.pts), frame_number, frame_time, columns)

    def _write(
        self, packet: av.Packet[Any], pts: int, frame_number: int, frame_time: float, columns: bytes
    ) -> None:
        """Mux ``packet`` and journal it: its bytes first where the file may not have them
        yet, else, once the file holds them, where they lie (or the bytes, when they are
        not found where expected)."""
        keyframe = bool(packet.is_keyframe)
        crc = crc32(packet)
        if self._fd is None:
            self._journal.append(frame_number, frame_time, pts, keyframe, packet, crc, columns)
            self._container.mux(packet)  # PyAV muxes its own reference: the packet stays intact
        else:
            self._container.mux(packet)
            offset = self._offset_of(packet, self._fd)
            self._journal.append(frame_number, frame_time, pts, keyframe, packet, crc, columns, offset)
        self._rows.append((frame_number, frame_time, pts, keyframe, crc))

    def _offset_of(self, packet: av.Packet[Any], fd: int) -> int | None:
        """Where the muxer just wrote ``packet``'s bytes: at the end of the file, before
        its padding, checked by their first bytes; None if they are not there."""
        size = packet.size
        offset = os.fstat(fd).st_size - -(-size // self._align) * self._align
        head = bytes(memoryview(packet)[:64])
        return offset if offset >= 0 and os.pread(fd, len(head), offset) == head else None

    def close(self) -> dict[str, np.ndarray]:
        self._emit(self._stream.encode(None))
        self._container.close()
        self._close_files()
        if self._pending:
            raise CorruptStoreError(
                f"{self._path}: the encoder returned no packet for {len(self._pending)} frames"
            )
        columns = _columns(self._rows)
        if self._rows:  # a file of no frames may not even be readable: nothing to check
            pts = columns[VIDEO_PTS]
            columns.update(check_stored_packets(self._path, pts, self._rewrites_packets, self._frame_bytes))
        return columns

    def abort(self) -> None:
        """Stop writing, leaving the journal as it is; never raises (this runs while
        another error is handled: a full disk fails the container's close again)."""
        self._close_files()
        self._close_container()

    def _close_files(self) -> None:
        self._journal.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _close_container(self) -> None:
        try:
            self._container.close()
        except (av.FFmpegError, OSError):  # a full disk fails the close too: the file is partial anyway
            pass


def round_half_even(num: int, den: int) -> int:
    """``round(Fraction(num, den))`` (halves to even) in integers, for ``den > 0``."""
    q, r = divmod(num, den)
    return q + int(2 * r > den or (2 * r == den and q % 2 == 1))


def _columns(rows: list[tuple[int, float, int, bool, int]]) -> dict[str, np.ndarray]:
    cols = list(zip(*rows, strict=True)) if rows else [(), (), (), (), ()]
    return {
        FRAME_NUMBER: np.array(cols[0], dtype=np.int64),
        FRAME_TIME: np.array(cols[1], dtype=np.float64),
        VIDEO_PTS: np.array(cols[2], dtype=np.int64),
        VIDEO_KEYFRAME: np.array(cols[3], dtype=bool),
        CRC32: np.array(cols[4], dtype=np.uint32),
    }


def codec_crc(stream: Any) -> int:
    """The CRC32 of a video stream's codec set-up (its extradata; 0 bytes when it has none)."""
    return crc32(bytes(stream.codec_context.extradata or b""))


def check_stored_packets(
    path: Path, pts: np.ndarray, rewritten: bool, frame_bytes: int | None = None
) -> dict[str, np.ndarray]:
    """Read a finished chunk file back (demuxing only) to prove it holds exactly the
    indexed frames. Returns the index columns this finds, in index order: the CRC32 of the
    codec set-up stored (``VIDEO_CODEC_CRC32``); where the muxer rewrote the packets, the
    CRC32 of each as stored; with ``frame_bytes`` (uncompressed
    frames of that size), the offset of each frame's bytes in the file, when every packet
    is one whole frame."""
    stored: dict[int, tuple[int, int]] = {}  # pts -> (crc, offset of the bytes)
    whole = True
    with av.open(str(path)) as container:
        codec = codec_crc(container.streams.video[0])
        for packet in container.demux(container.streams.video[0]):
            if packet.pts is not None:
                offset = -1 if packet.pos is None else packet.pos
                stored[int(packet.pts)] = (crc32(packet) if rewritten else 0, offset)
                whole = whole and packet.size == frame_bytes and offset >= 0
    if len(stored) != len(pts) or any(int(p) not in stored for p in pts):
        raise CorruptStoreError(
            f"{path}: the finished file holds {len(stored)} frames, not the {len(pts)} just written"
        )
    rows = [stored[int(p)] for p in pts]
    columns = {VIDEO_CODEC_CRC32: np.full(len(pts), codec, dtype=np.uint32)}
    if rewritten:
        columns[CRC32] = np.array([crc for crc, _ in rows], dtype=np.uint32)
    if frame_bytes is not None and whole:
        columns[VIDEO_OFFSET] = np.array([offset for _, offset in rows], dtype=np.int64)
    return columns


def frame_to_array(frame: av.VideoFrame, spec: ImageSpec, via_bgr: bool, label: str) -> np.ndarray:
    """The decoded frame as a new array of the store's shape and dtype; a frame of
    another size, bit depth or colour than the store's metadata says is refused
    (``CorruptStoreError`` naming ``label``, the chunk) rather than cropped or rescaled."""
    depth = frame.format.components[0].bits
    gray_only = frame.format.name.startswith("gray")
    if (
        (frame.height, frame.width) != (spec.height, spec.width)
        or (depth > 8) != (spec.dtype == np.uint16)
        or (spec.is_color and gray_only)
    ):
        raise CorruptStoreError(
            f"{label}: holds {frame.width}x{frame.height} {frame.format.name} frames, which are not "
            f"the {spec.shape} {spec.dtype} frames its metadata says"
        )
    if spec.is_color:
        return to_array(frame, "bgr24")
    if via_bgr:
        return cv2.cvtColor(to_array(frame, "bgr24"), cv2.COLOR_BGR2GRAY)
    name = frame.format.name
    if spec.dtype == np.uint16:
        frame = converted(frame, "gray16le")
        plane = frame.planes[0]
        words = np.frombuffer(memoryview(plane), np.uint16).reshape(plane.height, plane.line_size // 2)
        return words[:, : spec.width].copy()
    if name not in _LUMA_FIRST:
        frame = converted(frame, "gray")
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : spec.width].copy()


def _frame_bytes(frame: av.VideoFrame) -> int:
    return sum(plane.buffer_size for plane in frame.planes)


class _DecodingReader:
    """Exact frame access over a stream of decoded frames that can restart at a keyframe."""

    def __init__(
        self, label: str, spec: ImageSpec, pts: np.ndarray, keyframe: np.ndarray, keep_gop: bool = True
    ):
        self._label = label
        self._spec = spec
        self._pts = pts
        self._order = np.argsort(pts, kind="stable")
        self._keyframes = np.flatnonzero(keyframe) if len(keyframe) else np.zeros(0, np.int64)
        self._frames: Iterator[tuple[int, av.VideoFrame]] | None = None
        self._next = -1  # position the running decode yields next
        self._via_bgr = False
        self._is_keyframe = np.asarray(keyframe, dtype=bool)
        inter = len(self._keyframes) < len(pts)  # not intra-only
        self._keep = keep_gop and inter
        self._forward_limit = _FORWARD_LIMIT if inter else 0
        self._kept: dict[int, av.VideoFrame] = {}  # position -> frame, of the current GOP
        self._kept_bytes = 0
        # frames before this position that no frame references may go undecoded
        self._skip_below = 0

    def __len__(self) -> int:
        return len(self._pts)

    def _keyframe_before(self, k: int) -> int:
        i = int(np.searchsorted(self._keyframes, k, side="right")) - 1
        return int(self._keyframes[i]) if i >= 0 else 0

    def gop_starts(self, ks: np.ndarray) -> np.ndarray:
        """The keyframe each frame of ``ks`` is decoded from: frames with the same one
        share their decoding, frames with different ones are independent."""
        i = np.searchsorted(self._keyframes, ks, side="right") - 1
        return (
            np.where(i >= 0, self._keyframes[np.maximum(i, 0)], 0)
            if len(self._keyframes)
            else np.zeros_like(ks)
        )

    def _position_of(self, pts: int | None) -> int:
        if pts is None:
            raise CorruptStoreError(f"{self._label}: a decoded frame carries no timestamp")
        i = int(np.searchsorted(self._pts, pts, sorter=self._order))
        if i >= len(self._pts) or self._pts[self._order[i]] != pts:
            raise CorruptStoreError(
                f"{self._label}: decoded a frame with pts {pts}, which the chunk index "
                "does not list (index and video disagree)"
            )
        return int(self._order[i])

    def _decode_from(self, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        raise NotImplementedError

    def _restart_for(self, k: int) -> None:
        start = self._keyframe_before(k)
        if self._frames is not None and start <= self._next <= k:
            return  # already decoding inside the right stretch
        if self._frames is not None and 0 <= k - self._next <= self._forward_limit:
            return
        self._start(start, skip_below=k - _DECODE_ALL_BEFORE)

    def _start(self, start: int, skip_below: int = 0) -> None:
        self._skip_below = skip_below
        self._frames = self._decode_from(start)
        self._next = start
        self._drop_kept()

    def _drop_kept(self) -> None:
        self._kept.clear()
        self._kept_bytes = 0

    def _remember(self, pos: int, frame: av.VideoFrame) -> None:
        """Keep ``frame`` (decoded, unconverted) while its GOP is the one being decoded;
        over the budget, the GOP's earliest frames go first (a step back wants the latest)."""
        if self._is_keyframe[pos]:
            self._drop_kept()  # a new GOP begins
        self._kept[pos] = frame
        self._kept_bytes += _frame_bytes(frame)
        while self._kept_bytes > GOP_KEEP_BYTES:
            self._kept_bytes -= _frame_bytes(self._kept.pop(next(iter(self._kept))))

    def _advance_to(self, k: int) -> av.VideoFrame:
        assert self._frames is not None
        try:
            for pos, frame in self._frames:
                if self._keep:
                    self._remember(pos, frame)
                if pos == k:
                    self._next = k + 1
                    return frame
                if pos > k:
                    break
        except av.FFmpegError as exc:
            self._frames = None
            raise CorruptStoreError(f"{self._label}: cannot decode frame {k} ({exc})") from None
        self._frames = None
        raise CorruptStoreError(
            f"{self._label}: the index lists {len(self)} frames but frame {k} "
            "(0-based in this chunk) could not be decoded: the file is truncated or "
            "does not match its index"
        )

    def read(self, k: int) -> np.ndarray:
        if not 0 <= k < len(self):
            raise IndexError(f"{self._label}: frame {k} outside 0..{len(self) - 1}")
        kept = self._kept.get(k)
        if kept is not None:
            return frame_to_array(kept, self._spec, self._via_bgr, self._label)
        self._restart_for(k)
        try:
            return frame_to_array(self._advance_to(k), self._spec, self._via_bgr, self._label)
        except CorruptStoreError:
            # one retry from the very first frame, in case a seek landed past the target
            self._start(0)
            return frame_to_array(self._advance_to(k), self._spec, self._via_bgr, self._label)

    def iter_from(self, start: int, stop: int) -> Iterator[np.ndarray]:
        for k in range(start, stop):
            yield self.read(k)


class VideoChunkReader(_DecodingReader):
    """Reads a finished video chunk file, opening it on first use."""

    def __init__(
        self,
        path: StorePath,
        spec: ImageSpec,
        pts: np.ndarray,
        keyframe: np.ndarray,
        crc: np.ndarray | None = None,
        decode_thread_type: str = "SLICE",
        gray_via_bgr: bool = False,
        codec_crc: int | None = None,
        hidden: dict[int, int] | None = None,
        decode_threads: int = 0,
        keep_gop: bool = True,
    ) -> None:
        """``decode_threads``: the decoder's threads for ``read`` (0: as many as the
        machine has; 1 where the caller decodes other frames on the other cores).
        ``keep_gop``: keep the frames decoded since the last keyframe (``GOP_KEEP_BYTES``),
        for readers that step back; a reader that only reads forward needs none."""
        super().__init__(str(path), spec, pts, keyframe, keep_gop)
        self._path = path
        self._crc = crc
        # pts -> CRC32 of packets decoded only as references, never shown (not frames)
        self._hidden = hidden or {}
        self._codec_crc = codec_crc
        self._via_bgr = gray_via_bgr
        self._thread_type = decode_thread_type
        self._decode_threads = decode_threads
        self._container: Any = None
        self._stream: Any = None

    def _open_stream(self, thread_type: str, threads: int = 0) -> tuple[Any, Any]:
        try:
            container = open_video(self._path)
            stream = container.streams.video[0]
        except (av.FFmpegError, IndexError) as exc:
            raise CorruptStoreError(f"{self._path}: not a readable video file ({exc})") from None
        if self._codec_crc is not None and codec_crc(stream) != self._codec_crc:
            container.close()
            raise CorruptStoreError(
                f"{self._path}: the codec set-up stored in the file (its extradata) fails its "
                "CRC32 check: the file is damaged, and no frame of it can be trusted"
            )
        stream.thread_type = thread_type
        stream.thread_count = threads
        return container, stream

    def _seek(self, container: Any, stream: Any, start: int) -> None:
        try:
            container.seek(int(self._pts[start]), stream=stream, backward=True, any_frame=False)
        except av.FFmpegError as exc:
            raise CorruptStoreError(f"{self._path}: cannot seek ({exc})") from None

    def _decode_from(self, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        if self._container is None:
            self._container, self._stream = self._open_stream(self._thread_type, self._decode_threads)
        self._seek(self._container, self._stream, start)
        return self._generate(self._container, self._stream, self._skip_below)

    def iter_from(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Frames ``start .. stop - 1`` through a decoder of their own with frame threads,
        which decode a run of frames faster than the seek-friendly one ``read`` uses."""
        container, stream = self._open_stream("AUTO")
        expected = start
        try:
            self._seek(container, stream, self._keyframe_before(start))
            for pos, frame in self._generate(container, stream, skip_below=start):
                if pos < expected:
                    continue
                if pos != expected:
                    break
                yield frame_to_array(frame, self._spec, self._via_bgr, self._label)
                expected += 1
                if expected == stop:
                    return
        except av.FFmpegError as exc:
            raise CorruptStoreError(f"{self._path}: cannot decode frame {expected} ({exc})") from None
        finally:
            container.close()
        raise CorruptStoreError(
            f"{self._path}: the index lists {len(self)} frames but frame {expected} (0-based "
            "in this chunk) could not be decoded: the file is truncated or does not match its index"
        )

    def _generate(
        self, container: Any, stream: Any, skip_below: int = 0
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decoded frames and their positions, from where ``container`` was sought; frames
        before ``skip_below`` that no other frame references are not decoded (FFmpeg's
        ``skip_frame``, set per packet: only frames identified by their pts may be missing)."""
        context = stream.codec_context
        skipping = False
        context.skip_frame = "DEFAULT"
        placed = self._crc is not None or skip_below > 0
        for packet in container.demux(stream):
            if packet.pts in self._hidden:
                pos = -1
                if self._crc is not None and crc32(packet) != self._hidden[packet.pts]:
                    raise CorruptStoreError(
                        f"{self._path}: a packet decoded before frame 0 (pts {packet.pts}) fails "
                        "its CRC32 check: the file is damaged"
                    )
            else:
                pos = self._position_of(packet.pts) if placed and packet.pts is not None else -1
            if (0 <= pos < skip_below) != skipping:
                skipping = not skipping
                context.skip_frame = "NONREF" if skipping else "DEFAULT"
            if self._crc is not None and pos >= 0:
                if crc32(packet) != self._crc[pos]:
                    # frames decoded before the damage are fine: drain them, then stop
                    for frame in stream.codec_context.decode(None):
                        yield self._position_of(frame.pts), frame
                    raise CorruptStoreError(
                        f"{self._path}: frame {pos} (0-based in this chunk) fails its CRC32 "
                        "check: the file is damaged"
                    )
            for frame in packet.decode():
                yield self._position_of(frame.pts), frame

    def close(self) -> None:
        self._frames = None
        self._drop_kept()
        if self._container is not None:
            self._container.close()
            self._container = None


class JournalVideoReader(_DecodingReader):
    """Reads an unfinished video chunk from the packets its journal kept."""

    def __init__(self, journal: JournalContents, spec: ImageSpec) -> None:
        super().__init__(str(journal.path), spec, journal.pts, journal.keyframe)
        self._journal = journal

    def _decoder(self) -> av.VideoCodecContext:
        header = self._journal.header
        ctx: av.VideoCodecContext = av.CodecContext.create(header["decoder"], "r")
        ctx.width, ctx.height = header["width"], header["height"]
        ctx.pix_fmt = header["pix_fmt"]  # raw video has nothing else to tell it
        if header.get("codec_tag"):
            ctx.codec_tag = header["codec_tag"]
        extradata = base64.b64decode(header.get("extradata", ""))
        if extradata:
            ctx.extradata = extradata
        return ctx

    def _decode_from(self, start: int) -> Iterator[tuple[int, av.VideoFrame]]:
        ctx = self._decoder()
        payloads = self._journal.read_payloads(start, len(self._journal))
        return self._generate(ctx, start, payloads)

    def _generate(
        self, ctx: av.VideoCodecContext, start: int, payloads: list[bytes]
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        for offset, payload in enumerate(payloads):
            packet = av.Packet(payload)
            packet.pts = packet.dts = int(self._pts[start + offset])
            for frame in ctx.decode(packet):
                yield self._position_of(frame.pts), frame
        for frame in ctx.decode(None):
            yield self._position_of(frame.pts), frame

    def close(self) -> None:
        self._frames = None
        self._drop_kept()


def index_video_file(path: Path, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The index columns of a finished video file made elsewhere (its frames' pts,
    keyframe flags and CRC32s, in presentation order), found by demuxing it once; its
    frames must be ``shape``'s width and height."""
    rows: list[tuple[int, bool, int]] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            size = (stream.codec_context.height, stream.codec_context.width)
            crc = codec_crc(stream)
            for packet in container.demux(stream):
                if packet.pts is not None:
                    rows.append((int(packet.pts), bool(packet.is_keyframe), crc32(packet)))
    except (av.FFmpegError, IndexError) as exc:
        raise CorruptStoreError(f"{path}: not a readable video file ({exc})") from None
    if size != tuple(shape[:2]):
        raise InvalidFrameError(f"{path}: holds {size[1]}x{size[0]} frames, the store {shape[1]}x{shape[0]}")
    rows.sort()
    return {
        FRAME_NUMBER: np.zeros(len(rows), dtype=np.int64),
        FRAME_TIME: np.zeros(len(rows), dtype=np.float64),
        VIDEO_PTS: np.array([r[0] for r in rows], dtype=np.int64),
        VIDEO_KEYFRAME: np.array([r[1] for r in rows], dtype=bool),
        CRC32: np.array([r[2] for r in rows], dtype=np.uint32),
        VIDEO_CODEC_CRC32: np.full(len(rows), crc, dtype=np.uint32),
    }
