"""The store index: every chunk's frame numbers and times, loaded once into numpy arrays.

frame_index -> (chunk, offset) is a ``searchsorted`` over chunk starts; frame_number and
frame_time lookups are ``searchsorted`` over stable argsorts. Nothing scans.
"""

from __future__ import annotations

import functools
import warnings
import zipfile
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from ..errors import CorruptStoreError, FrameIndexError, FrameNotFoundError, StoreWarning
from .atomic import atomic_write
from .checksum import ChunkChecksum
from .columns import CRC32, FRAME_NUMBER, FRAME_TIME, RESERVED_COLUMNS, VIDEO_KEYFRAME, VIDEO_PTS
from .journal import JournalContents
from .npzio import read_npz
from .storage import StorePath


@dataclass(frozen=True)
class ChunkIndex:
    """One chunk's index columns and where they came from."""

    number: int
    source: StorePath  # the index file, or the journal of an unfinished chunk
    columns: dict[str, np.ndarray]
    journal: JournalContents | None = None
    checksum: ChunkChecksum | None = None  # of the chunk's files, recorded when it was finished

    @property
    def count(self) -> int:
        return len(self.columns[FRAME_NUMBER])

    @property
    def complete(self) -> bool:
        return self.journal is None


class ConcatenatedChunks(list[ChunkIndex]):
    """Chunk indexes whose columns are views, in chunk order, of ``columns`` (the index
    cache's), which the store index then takes instead of concatenating the chunks'."""

    def __init__(self, chunks: list[ChunkIndex], columns: dict[str, np.ndarray]) -> None:
        super().__init__(chunks)
        self.columns = columns


def load_npz_index(number: int, path: StorePath, keys: Collection[str] | None = None) -> ChunkIndex:
    """Read ``NNNNNN.npz`` (only the columns ``keys``, when given), checking that it holds
    equal-length frame columns."""
    try:
        columns = read_npz(path, keys)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CorruptStoreError(f"{path}: unreadable chunk index ({exc})") from None
    checksum = ChunkChecksum.pop_from(columns)
    return checked_chunk_index(number, path, columns, checksum=checksum)


def load_yaml_index(number: int, path: StorePath) -> ChunkIndex:
    """Read an old imgstore ``.yaml`` chunk index (safe YAML only)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        columns = {key: np.asarray(data[key]) for key in (FRAME_NUMBER, FRAME_TIME)}
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise CorruptStoreError(f"{path}: unreadable chunk index ({exc})") from None
    return checked_chunk_index(number, path, columns)


def checked_chunk_index(
    number: int,
    path: StorePath,
    columns: dict[str, np.ndarray],
    journal: JournalContents | None = None,
    checksum: ChunkChecksum | None = None,
) -> ChunkIndex:
    return ChunkIndex(number, path, checked_columns(path, columns), journal, checksum)


def checked_columns(path: StorePath, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``columns`` with frame_number as int64 and frame_time as float64, raising
    CorruptStoreError unless both are there and every column is 1-D of one length."""
    for key in (FRAME_NUMBER, FRAME_TIME):
        if key not in columns:
            raise CorruptStoreError(f"{path}: chunk index has no '{key}' column")
    n = len(columns[FRAME_NUMBER])
    for key, values in columns.items():
        if values.ndim != 1 or len(values) != n:
            raise CorruptStoreError(
                f"{path}: column '{key}' has {len(values)} rows, expected {n} like frame_number"
            )
    try:
        columns[FRAME_NUMBER] = _as_type(columns[FRAME_NUMBER], np.int64)
        columns[FRAME_TIME] = _as_type(columns[FRAME_TIME], np.float64)
    except (TypeError, ValueError) as exc:
        raise CorruptStoreError(f"{path}: frame_number/frame_time of the wrong type ({exc})") from None
    return columns


def journal_chunk_index(number: int, journal: JournalContents) -> ChunkIndex:
    """The index of unfinished chunk ``number``, from its journal."""
    columns = {
        FRAME_NUMBER: journal.frame_number,
        FRAME_TIME: journal.frame_time,
        VIDEO_PTS: journal.pts,  # image chunks: the frame's file number
        VIDEO_KEYFRAME: journal.keyframe,
        **journal.columns,
    }
    if journal.header.get("frame_crc"):  # image chunks: each file's CRC32
        columns[CRC32] = journal.payload_crc
    return checked_chunk_index(number, journal.path, columns, journal)


def _as_type(values: np.ndarray, dtype: type) -> np.ndarray:
    if values.dtype == dtype:
        return values
    if values.size == 0:  # imgstore's empty trailing chunk stores [] as float64
        return values.astype(dtype)
    if dtype is np.int64 and not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"expected integers, got {values.dtype}")
    return values.astype(dtype)


@dataclass
class StoreIndex:
    """All chunk indexes of a store, concatenated in chunk order.

    ``checked``: how many leading frames were already checked for irregular numbers and
    times (a store read again while it is written warns only about its new frames)."""

    chunks: list[ChunkIndex]
    checked: int = 0
    frame_number: np.ndarray = field(init=False)
    frame_time: np.ndarray = field(init=False)
    starts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        counts = np.array([c.count for c in self.chunks], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        if isinstance(self.chunks, ConcatenatedChunks):
            self.frame_number = self.chunks.columns[FRAME_NUMBER]
            self.frame_time = self.chunks.columns[FRAME_TIME]
        else:
            self.frame_number = _concat([c.columns[FRAME_NUMBER] for c in self.chunks], np.int64)
            self.frame_time = _concat([c.columns[FRAME_TIME] for c in self.chunks], np.float64)
        self._warn_irregular(max(self.checked - 1, 0))

    @functools.cached_property
    def _by_number(self) -> _SortedView:
        return _SortedView(self.frame_number)

    @functools.cached_property
    def _by_time(self) -> _SortedView:
        return _SortedView(self.frame_time)

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _warn_irregular(self, first: int) -> None:
        numbers = self.frame_number[first:]
        bad = first + np.flatnonzero(numbers[1:] <= numbers[:-1])
        if len(bad):
            where = ", ".join(
                f"{self.chunks[self.chunk_of(int(i) + 1)].source} "
                f"({self.frame_number[i]} then {self.frame_number[i + 1]})"
                for i in bad[:3]
            )
            warnings.warn(
                f"frame numbers go backwards or repeat {len(bad)} time(s), first at {where}; "
                "get_image(frame_number) returns the first frame with that number",
                StoreWarning,
                stacklevel=4,
            )
        times = self.frame_time[self.checked :]
        if len(times) and not np.all(np.isfinite(times)):
            warnings.warn(
                f"{np.count_nonzero(~np.isfinite(times))} frame times are not finite",
                StoreWarning,
                stacklevel=4,
            )

    def column(self, name: str) -> np.ndarray | None:
        """A per-frame column over the whole store, or None where no chunk has it."""
        if not any(name in c.columns for c in self.chunks):
            return None
        parts = []
        for c in self.chunks:
            if name in c.columns:
                parts.append(c.columns[name])
            else:
                parts.append(np.full(c.count, np.nan))
        return np.concatenate(parts)

    def extra_column_names(self) -> list[str]:
        names: dict[str, None] = {}
        for c in self.chunks:
            for key in c.columns:
                if key not in RESERVED_COLUMNS:
                    names[key] = None
        return list(names)

    def normalize(self, frame_index: int) -> int:
        """A frame index (negative counts from the end) checked against the store's length."""
        n = len(self)
        i = int(frame_index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise FrameIndexError(f"frame index {frame_index} out of range for {n} frames")
        return i

    def chunk_of(self, frame_index: int) -> int:
        """Position (in ``chunks``) of the chunk holding ``frame_index``."""
        return int(np.searchsorted(self.starts, frame_index, side="right")) - 1

    def locate(self, frame_index: int) -> tuple[int, int]:
        i = self.normalize(frame_index)
        c = self.chunk_of(i)
        return c, i - int(self.starts[c])

    def locate_many(self, frame_indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        chunk = np.searchsorted(self.starts, frame_indices, side="right") - 1
        return chunk, frame_indices - self.starts[chunk]

    def index_of_frame_number(self, frame_number: int) -> int:
        fn, view = self.frame_number, self._by_number
        i = view.search(frame_number)
        if i < len(fn) and view.value(i) == frame_number:
            return view.at(i)
        raise FrameNotFoundError(
            f"frame_number {frame_number} is not in the store "
            f"(it holds {len(fn)} frames numbered {self.frame_min}..{self.frame_max})"
        )

    def nearest_frame_number(self, frame_number: float) -> int:
        return _nearest(self._by_number, frame_number)

    def nearest_frame_time(self, frame_time: float) -> int:
        return _nearest(self._by_time, frame_time)

    @property
    def frame_min(self) -> int | None:
        return int(self._by_number.value(0)) if len(self) else None

    @property
    def frame_max(self) -> int | None:
        return int(self._by_number.value(len(self) - 1)) if len(self) else None


def fps_from_times(times: np.ndarray, default: float) -> float:
    """Frames per second from frame times (the median interval), or ``default``."""
    steps = np.diff(times)
    steps = steps[np.isfinite(steps) & (steps > 0)]
    return float(1 / np.median(steps)) if len(steps) else default


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


class _SortedView:
    """Values in stable sorted order; no sort at all when they are sorted already."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values
        ordered = len(values) < 2 or bool(np.all(values[1:] >= values[:-1]))
        self.order = None if ordered else np.argsort(values, kind="stable")

    def __len__(self) -> int:
        return len(self.values)

    def at(self, j: int) -> int:
        """frame_index of the j-th smallest value (the earliest frame among equals)."""
        return int(j) if self.order is None else int(self.order[j])

    def value(self, j: int) -> np.number[Any]:
        value: np.number[Any] = self.values[self.at(j)]
        return value

    def search(self, x: float | np.number[Any], side: Literal["left", "right"] = "left") -> int:
        return int(np.searchsorted(self.values, x, side=side, sorter=self.order))


def _nearest(view: _SortedView, target: float) -> int:
    """Frame index whose value is nearest ``target``; ties go to the earliest frame."""
    if len(view) == 0:
        raise FrameNotFoundError("the store holds no frames")
    if not np.isfinite(target):
        raise FrameNotFoundError(f"cannot look up a non-finite value {target!r}")
    i = view.search(target)
    candidates = []
    for j in (i - 1, i):
        if 0 <= j < len(view):
            v = view.value(j)
            first = view.search(v, side="left")  # earliest frame with this value
            candidates.append((abs(float(v) - target), view.at(first)))
    return min(candidates)[1]


def write_index(path: Path, columns: dict[str, np.ndarray]) -> None:
    """Write a chunk index atomically: a reader sees the old state or the whole new file."""
    atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **columns))
