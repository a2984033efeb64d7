"""Uncompressed video chunks read at their stored byte offsets, without a demuxer.

A raw/nut chunk's packets are the frames' array bytes; its index records where each
packet's bytes start (``video_offset``, found when the chunk was finished by reading the
file back). A frame is then one ``os.preadv`` into a new array and a CRC32 check of it;
a run of frames is one ``preadv`` scattering the bytes into the frames' arrays (and the
container's few bytes between them into a scratch buffer).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._disk.checksum import crc32
from ..errors import CorruptStoreError
from .base import ImageSpec

# frames gathered into one preadv by iter_from (8 MB of 640x512 gray): fewer system calls
_RUN_BYTES = 8 << 20
# container bytes between two frames beyond which they are read separately
_GAP_LIMIT = 1 << 16


class UncompressedChunkReader:
    """Frame ``k`` of an uncompressed video chunk, read from ``offsets[k]`` in ``path``."""

    def __init__(self, path: Path, spec: ImageSpec, offsets: np.ndarray, crc: np.ndarray | None) -> None:
        self._path = path
        self._shape = spec.shape
        self._dtype = spec.dtype.newbyteorder("<")  # FFmpeg's gray16le, on any machine
        self._native = spec.dtype
        self._size = spec.frame_bytes
        self._offsets = offsets.astype(np.int64)
        self._crc = None if crc is None else crc.astype(np.uint32)
        self._per_run = max(1, min(_RUN_BYTES // self._size, os.sysconf("SC_IOV_MAX") // 2))
        self._fd: int | None = None

    def __len__(self) -> int:
        return len(self._offsets)

    def _file(self) -> int:
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDONLY)
            except FileNotFoundError:
                raise CorruptStoreError(f"{self._path}: the chunk file is missing") from None
        return self._fd

    def _checked(self, image: np.ndarray, got: int, k: int) -> np.ndarray:
        if got != self._size:
            raise CorruptStoreError(
                f"{self._path}: the index lists {len(self)} frames but frame {k} (0-based in this "
                "chunk) is cut short: the file is truncated or does not match its index"
            )
        if self._crc is not None and crc32(image) != self._crc[k]:
            raise CorruptStoreError(
                f"{self._path}: frame {k} (0-based in this chunk) fails its CRC32 check: the file is damaged"
            )
        return image if self._dtype == self._native else image.astype(self._native)

    def read(self, k: int) -> np.ndarray:
        if not 0 <= k < len(self):
            raise IndexError(f"{self._path}: frame {k} outside 0..{len(self) - 1}")
        image = np.empty(self._shape, self._dtype)
        return self._checked(image, os.preadv(self._file(), [image.data], int(self._offsets[k])), k)

    def iter_from(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Frames ``start .. stop - 1``, each run of nearby frames in one ``preadv``."""
        k = start
        while k < stop:
            end = min(k + self._per_run, stop)
            gaps = np.diff(self._offsets[k:end]) - self._size
            bad = np.flatnonzero((gaps < 0) | (gaps > _GAP_LIMIT))
            if len(bad):
                end = k + int(bad[0]) + 1  # up to the first frame not closely after the one before
            images = [np.empty(self._shape, self._dtype) for _ in range(end - k)]
            buffers: list[memoryview] = []
            for image, gap in zip(images, [*gaps[: end - k - 1].tolist(), 0], strict=True):
                buffers.append(image.data)
                if gap:
                    buffers.append(memoryview(bytearray(gap)))
            base = int(self._offsets[k])
            got = os.preadv(self._file(), buffers, base)
            for j, image in enumerate(images, start=k):
                received = min(self._size, max(0, got - (int(self._offsets[j]) - base)))
                yield self._checked(image, received, j)
            k = end

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
