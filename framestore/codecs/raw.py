"""Uncompressed video chunks read at their stored byte offsets, without a demuxer.

A raw/nut chunk's packets are the frames' array bytes; its index records where each
packet's bytes start (``video_offset``, found when the chunk was finished by reading the
file back). A frame is then one ``os.preadv`` into its own array and a CRC32 check of it.
Frames read in order come a run at a time, half read and checked on each of two threads;
each run's arrays are those of the run before that the caller has dropped, where new ones
made a fresh process fault in new pages for every run (~40 per 320 kB frame, 4-8x slower).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .._disk.checksum import crc32
from ..errors import CorruptStoreError
from .base import ImageSpec
from .cores import usable_cores

# Sequential reads take runs of frames of up to this many bytes and frames (read ahead of
# the caller), half on each of two threads: 1.05-1.15x the time of a single-thread
# ``os.preadv`` loop that checks nothing, where one thread reading and checking took 1.37x
_RUN_BYTES = 8 * 2**20
_RUN_FRAMES = 32
_RUN_MIN_FRAMES = 8  # reads of fewer frames stay on the caller's thread


def _unreferenced(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Those of ``arrays`` that nothing but the list refers to: given out earlier and since
    dropped by whoever took them, so they can be filled again. Reusing them spares the
    system mapping and zeroing new memory for every run (~40 page faults a 320 kB frame)."""
    return [a for a in arrays if sys.getrefcount(a) == _HELD_BY_THE_LIST_ONLY]


_probe = [np.empty(1)]
_HELD_BY_THE_LIST_ONLY = next(sys.getrefcount(a) for a in _probe)  # measured, not assumed
del _probe


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
        """Frames ``start .. stop - 1``, each in its own array (see above). Where the
        machine has a second core, a run of frames at a time (up to ``_RUN_BYTES``): the
        first half read and checked on this thread, the second on another (``os.preadv``
        and the CRC32 check release the GIL); a damaged frame is raised after the frames
        before it."""
        run = max(2, min(_RUN_FRAMES, _RUN_BYTES // max(self._size, 1)))
        if usable_cores() < 2 or stop - start < _RUN_MIN_FRAMES:
            for k in range(start, stop):
                yield self._frame(k)
            return
        spare: list[np.ndarray] = []  # the last run's arrays, reused where nothing else holds them
        with ThreadPoolExecutor(1, thread_name_prefix="framestore-raw") as helper:
            for first in range(start, stop, run):
                ks = range(first, min(first + run, stop))
                images = _unreferenced(spare)[: len(ks)]
                spare = []
                images += [np.empty(self._shape, self._dtype) for _ in range(len(ks) - len(images))]
                half = len(ks) // 2
                second = helper.submit(self._fill_each, ks[half:], images[half:])
                failed, error = self._fill_each(ks[:half], images[:half])
                if error is None:
                    failed, error = second.result()
                    failed += half
                else:
                    second.result()
                for k in range(failed):
                    yield images[k].astype(self._native) if self._swap else images[k]
                if error is not None:
                    raise error
                spare = images

    def _fill_each(self, ks: range, images: list[np.ndarray]) -> tuple[int, CorruptStoreError | None]:
        """Frames ``ks`` read into ``images`` in turn: how many were read before the
        first that failed (all of them when none did), and its error."""
        for done, (k, image) in enumerate(zip(ks, images, strict=True)):
            try:
                self._fill(k, image)
            except CorruptStoreError as exc:
                return done, exc
        return len(ks), None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
