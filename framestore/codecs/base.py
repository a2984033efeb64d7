"""The chunk codec protocol: how one chunk's frames are written and read back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class ImageSpec:
    """Shape and dtype of every frame of a store."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def frame_bytes(self) -> int:
        """Bytes of one frame's array."""
        return int(np.prod(self.shape)) * self.dtype.itemsize

    @property
    def is_color(self) -> bool:
        return len(self.shape) == 3

    @property
    def kind(self) -> str:
        """``gray8``, ``gray16`` or ``color``: what a codec must be able to hold."""
        if self.is_color:
            return "color"
        return "gray16" if self.dtype == np.uint16 else "gray8"


class ChunkWriter(Protocol):
    """Writes one chunk; every ``add`` that returns is recorded in the chunk's journal."""

    def add(self, image: np.ndarray, frame_number: int, frame_time: float, columns: bytes = b"") -> None:
        """One frame; ``columns``: its per-frame column values, packed, for the journal."""
        ...

    def close(self) -> dict[str, np.ndarray]:
        """Finish the chunk file and return its index columns (pts etc. included)."""
        ...

    def abort(self) -> None:
        """Stop without finishing: whatever the journal holds stays readable."""
        ...


class ChunkReader(Protocol):
    """Returns frame ``k`` (0-based within the chunk) of one chunk, exactly."""

    def read(self, k: int) -> np.ndarray: ...

    def iter_from(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """Frames ``start .. stop - 1`` in order, decoding each once."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class DirectChunkReader(ChunkReader, Protocol):
    """A chunk reader that can also put a frame straight into memory the caller owns."""

    def read_into(self, k: int, out: np.ndarray) -> None:
        """Frame ``k`` (in range) read and checked in ``out``: C-contiguous, the frame's shape
        and dtype; its contents are undefined when this raises."""
        ...
