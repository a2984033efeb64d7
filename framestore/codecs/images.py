"""Image-folder chunks: one file per frame (npy, png, jpg, tif, bmp, pgm, ppm), imgstore's
directory layout."""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .._disk.atomic import atomic_write
from .._disk.checksum import RunningChecksum, crc32
from .._disk.columns import CRC32, FRAME_NUMBER, FRAME_TIME
from .._disk.journal import JournalWriter
from .._disk.npzio import npy_from_bytes
from .._disk.storage import StorePath, read_bytearray
from ..errors import CorruptStoreError
from .base import ImageSpec


@dataclass(frozen=True)
class ImageCodec:
    """How one image file format is written and read."""

    extension: str
    lossless: bool
    kinds: tuple[str, ...]  # image kinds it holds: gray8, gray16, color
    encode: Callable[[np.ndarray], bytes]
    decode: Callable[[bytearray, ImageSpec], np.ndarray | None]


def _encode_npy(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, image, allow_pickle=False)
    return buf.getvalue()


def _decode_npy(data: bytearray, spec: ImageSpec) -> np.ndarray | None:
    image = npy_from_bytes(data)  # the header is parsed once per distinct header
    if image is not None:
        return image
    try:
        loaded: np.ndarray = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError:
        return None
    return loaded


@dataclass(frozen=True)
class _Cv2Encoder:
    """``cv2.imencode`` with fixed parameters (a class, not a closure, so that a format,
    and a reader holding it, pickles)."""

    ext: str
    params: tuple[int, ...]

    def __call__(self, image: np.ndarray) -> bytes:
        ok, buf = cv2.imencode(self.ext, image, list(self.params))
        if not ok:
            raise ValueError(f"OpenCV could not encode a {image.shape} {image.dtype} image as {self.ext}")
        return buf.tobytes()


def decode_cv2(data: bytearray, spec: ImageSpec) -> np.ndarray | None:
    flags = cv2.IMREAD_UNCHANGED
    if spec.kind == "color":
        flags = cv2.IMREAD_COLOR
    elif spec.kind == "gray8":
        flags = cv2.IMREAD_GRAYSCALE
    return cv2.imdecode(np.frombuffer(data, np.uint8), flags)


IMAGE_CODECS = {
    "npy": ImageCodec(".npy", True, ("gray8", "gray16", "color"), _encode_npy, _decode_npy),
    "png": ImageCodec(
        ".png",
        True,
        ("gray8", "gray16", "color"),
        _Cv2Encoder(".png", (cv2.IMWRITE_PNG_COMPRESSION, 1)),
        decode_cv2,
    ),
    "jpg": ImageCodec(
        ".jpg",
        False,
        ("gray8", "color"),
        _Cv2Encoder(".jpg", (cv2.IMWRITE_JPEG_QUALITY, 95)),
        decode_cv2,
    ),
    # imgstore's other image formats, all lossless (OpenCV's defaults)
    "tif": ImageCodec(".tif", True, ("gray8", "gray16", "color"), _Cv2Encoder(".tif", ()), decode_cv2),
    "bmp": ImageCodec(".bmp", True, ("gray8", "color"), _Cv2Encoder(".bmp", ()), decode_cv2),
    "pgm": ImageCodec(".pgm", True, ("gray8", "gray16"), _Cv2Encoder(".pgm", ()), decode_cv2),
    "ppm": ImageCodec(".ppm", True, ("color",), _Cv2Encoder(".ppm", ()), decode_cv2),
}


class ImageChunkWriter:
    """Writes each frame as its own file (atomically), then journals it."""

    def __init__(
        self,
        directory: Path,
        journal_path: Path,
        image_path: Callable[[int], Path],
        codec: ImageCodec,
        spec: ImageSpec,
        columns: list[list[str]] | None = None,
    ) -> None:
        directory.mkdir(exist_ok=True)
        self._image_path = image_path
        self._codec = codec
        header = {"images": codec.extension, "frame_crc": True, "columns": columns or []}
        self._journal = JournalWriter(journal_path, header)
        self._rows: list[tuple[int, float, int]] = []
        self._checksum = RunningChecksum()  # of the files' bytes as written, never read back

    def add(self, image: np.ndarray, frame_number: int, frame_time: float, columns: bytes = b"") -> None:
        k = len(self._rows)
        path = self._image_path(k)
        data = self._codec.encode(image)
        atomic_write(path, data, fsync=False)  # the journal record after it is what counts
        crc = crc32(data)
        self._checksum.update(data)
        self._journal.append(frame_number, frame_time, k, True, payload_crc=crc, columns=columns)
        self._rows.append((frame_number, frame_time, crc))

    def close(self) -> dict[str, np.ndarray]:
        """The chunk's index columns, with the checksum of its files (``ChunkChecksum``)."""
        self._journal.close()
        cols = list(zip(*self._rows, strict=True)) if self._rows else [(), (), ()]
        return {
            FRAME_NUMBER: np.array(cols[0], dtype=np.int64),
            FRAME_TIME: np.array(cols[1], dtype=np.float64),
            CRC32: np.array(cols[2], dtype=np.uint32),
            **self._checksum.result().to_columns(),
        }

    def abort(self) -> None:
        self._journal.close()


class ImageChunkReader:
    """Reads frame ``k`` of an image-folder chunk from its file."""

    def __init__(
        self,
        image_path: Callable[[int], StorePath],
        count: int,
        codec: ImageCodec,
        spec: ImageSpec,
        crc: np.ndarray | None = None,
    ) -> None:
        self._image_path = image_path
        self._count = count
        self._crc = crc
        self._codec = codec
        self._spec = spec

    def __len__(self) -> int:
        return self._count

    def read(self, k: int) -> np.ndarray:
        if not 0 <= k < self._count:
            raise IndexError(f"frame {k} outside 0..{self._count - 1}")
        path = self._image_path(k)
        try:
            data = read_bytearray(path)
        except FileNotFoundError:
            raise CorruptStoreError(f"{path}: image file listed in the index is missing") from None
        if self._crc is not None and crc32(data) != self._crc[k]:
            raise CorruptStoreError(f"{path}: fails its CRC32 check: the file is damaged")
        image = self._codec.decode(data, self._spec)
        if image is None or image.shape != self._spec.shape or image.dtype != self._spec.dtype:
            got = "undecodable data" if image is None else f"{image.shape} {image.dtype}"
            raise CorruptStoreError(
                f"{path}: expected a {self._spec.shape} {self._spec.dtype} image, got {got}"
            )
        return image

    def iter_from(self, start: int, stop: int) -> Iterator[np.ndarray]:
        for k in range(start, stop):
            yield self.read(k)

    def close(self) -> None:
        pass


class NpyChunkReader(ImageChunkReader):
    """A finished npy chunk on a local disk: each file opened by name in its chunk's
    folder (held open; never through a link) and read with one ``preadv`` straight into a
    new array (its header into a small buffer, one byte more to prove the file ends there),
    as long as the files carry the header framestore writes for the store's frames. Any
    other file, and every error, takes ``ImageChunkReader``'s path, which names it."""

    def __init__(
        self,
        image_path: Callable[[int], StorePath],
        image_name: Callable[[int], str],
        count: int,
        codec: ImageCodec,
        spec: ImageSpec,
        crc: np.ndarray | None = None,
    ) -> None:
        super().__init__(image_path, count, codec, spec, crc)
        self._name = image_name
        header = codec.encode(np.zeros(spec.shape, spec.dtype))[: -spec.frame_bytes or None]
        self._header: bytes | None = header
        self._folder: int | None = None  # the chunk folder's descriptor
        self._opening = threading.Lock()  # batches read one chunk from two threads

    def _open(self, k: int) -> int | None:
        """File ``k`` opened for reading, or None where the general path must judge it."""
        folder_fd = self._folder
        if folder_fd is None:
            folder = self._image_path(0).parent  # checked: not a link, inside the store
            if not isinstance(folder, Path):
                self._header = None  # a remote store: whole files, as fetched
                return None
            with self._opening:
                if self._folder is None:
                    try:
                        self._folder = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                    except OSError:
                        return None
                folder_fd = self._folder
        try:
            return os.open(self._name(k), os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder_fd)
        except OSError:  # missing, a link, unreadable
            return None

    def _direct(self, k: int, out: np.ndarray) -> bool:
        """File ``k`` read straight into ``out`` and checked; False where the general path
        must judge it (``out`` is then undefined)."""
        header = self._header
        fd = None if header is None else self._open(k)
        if header is None or fd is None:
            return False
        head, tail = bytearray(len(header)), bytearray(1)
        try:
            got = os.preadv(fd, [head, out.data, tail], 0)
        finally:
            os.close(fd)
        if head != header:
            self._header = None  # the store's files were written otherwise: whole files from now on
            return False
        if got != len(head) + out.nbytes:  # cut short or longer: the general path names the damage
            return False
        if self._crc is not None and crc32(out, crc32(head)) != self._crc[k]:
            raise CorruptStoreError(f"{self._image_path(k)}: fails its CRC32 check: the file is damaged")
        return True

    def read(self, k: int) -> np.ndarray:
        if not 0 <= k < self._count:
            raise IndexError(f"frame {k} outside 0..{self._count - 1}")
        image = np.empty(self._spec.shape, self._spec.dtype)
        return image if self._direct(k, image) else super().read(k)

    def read_into(self, k: int, out: np.ndarray) -> None:
        """Frame ``k`` (in range) read and checked in ``out`` (C-contiguous, the frame's
        shape and dtype; undefined when this raises)."""
        if not self._direct(k, out):
            out[...] = super().read(k)

    def close(self) -> None:
        if self._folder is not None:
            os.close(self._folder)
            self._folder = None
