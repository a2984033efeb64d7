"""Uncompressed video chunks read at their stored byte offsets, without a demuxer.

A raw/nut chunk's packets are the frames' array bytes; its index records where each
packet's bytes start (``video_offset``, found when the chunk was finished by reading the
file back). A frame is then one ``os.preadv`` into a new array and a CRC32 check of it,
also when frames are read in order: one array at a time is what the allocator hands back
again while it is still in the CPU's cache, where a run of frames read into many arrays at
once made a fresh process fault in new pages for every run (~40 per 320 kB frame, 8x slower).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._disk.checksum import crc32
from ..errors import CorruptStoreError
from .base import ImageSpec


class UncompressedChunkReader:
    """Frame ``k`` of an uncompressed video chunk, read from ``offsets[k]`` in ``path``."""

    def __init__(self, path: Path, spec: ImageSpec, offsets: np.ndarray, crc: np.ndarray | None) -> None:
        self._path = path
        self._shape = spec.shape
        self._dtype = spec.dtype.newbyteorder("<")  # FFmpeg's gray16le, on any machine
        self._native = spec.dtype
        self._swap = self._dtype != self._native
        self._size = spec.frame_bytes
        # plain ints: looked up once per frame, where numpy scalars cost more than the check
        self._offsets: list[int] = offsets.astype(np.int64).tolist()
        self._crc: list[int] | None = None if crc is None else crc.astype(np.uint32).tolist()
        self._fd: int | None = None
        self._opening = threading.Lock()  # batches read one chunk from two threads

    def __len__(self) -> int:
        return len(self._offsets)

    def _file(self) -> int:
        fd = self._fd
        if fd is None:
            with self._opening:
                if self._fd is None:
                    try:
                        self._fd = os.open(self._path, os.O_RDONLY)
                    except FileNotFoundError:
                        raise CorruptStoreError(f"{self._path}: the chunk file is missing") from None
                fd = self._fd
        return fd

    def _fill(self, k: int, image: np.ndarray) -> None:
        """Frame ``k``'s stored bytes read into ``image`` and checked."""
        if os.preadv(self._file(), [image.data], self._offsets[k]) != self._size:
            raise CorruptStoreError(
                f"{self._path}: the index lists {len(self)} frames but frame {k} (0-based in this "
                "chunk) is cut short: the file is truncated or does not match its index"
            )
        if self._crc is not None and crc32(image) != self._crc[k]:
            raise CorruptStoreError(
                f"{self._path}: frame {k} (0-based in this chunk) fails its CRC32 check: the file is damaged"
            )

    def _frame(self, k: int) -> np.ndarray:
        """Frame ``k`` (in range) in a new array."""
        image = np.empty(self._shape, self._dtype)
        self._fill(k, image)
        return image.astype(self._native) if self._swap else image

    def read_into(self, k: int, out: np.ndarray) -> None:
        """Frame ``k`` (in range) read and checked in ``out``, a C-contiguous array of the
        frame's shape and dtype (on an error its contents are undefined)."""
        self._fill(k, out.view(self._dtype))
        if self._swap:
            out.byteswap(inplace=True)

    def read(self, k: int) -> np.ndarray:
        if not 0 <= k < len(self):
            raise IndexError(f"{self._path}: frame {k} outside 0..{len(self) - 1}")
        return self._frame(k)

    def iter_from(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Frames ``start .. stop - 1``, each read and checked on its own (see above)."""
        for k in range(start, stop):
            yield self._frame(k)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
