"""The store index: every chunk's frame numbers and times, loaded once into numpy arrays.

frame_index -> (chunk, offset) is a ``searchsorted`` over chunk starts; frame_number and
frame_time lookups are ``searchsorted`` over stable argsorts. Nothing scans.
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .codecs.base import FRAME_NUMBER, FRAME_TIME, RESERVED_COLUMNS
from .errors import CorruptStoreError, FrameIndexError, FrameNotFoundError, StoreWarning
from .journal import JournalContents


@dataclass(frozen=True)
class ChunkIndex:
    """One chunk's index columns and where they came from."""

    number: int
    source: Path  # the index file, or the journal of an unfinished chunk
    columns: dict[str, np.ndarray]
    journal: JournalContents | None = None

    @property
    def count(self) -> int:
        return len(self.columns[FRAME_NUMBER])

    @property
    def complete(self) -> bool:
        return self.journal is None


def load_npz_index(number: int, path: Path) -> ChunkIndex:
    """Read ``NNNNNN.npz``, checking that it holds equal-length frame columns."""
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            columns = {key: np.asarray(data[key]) for key in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CorruptStoreError(f"{path}: unreadable chunk index ({exc})") from None
    return checked_chunk_index(number, path, columns)


def checked_chunk_index(
    number: int,
    path: Path,
    columns: dict[str, np.ndarray],
    journal: JournalContents | None = None,
) -> ChunkIndex:
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
        columns[FRAME_NUMBER] = columns[FRAME_NUMBER].astype(np.int64, casting="same_kind")
        columns[FRAME_TIME] = columns[FRAME_TIME].astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise CorruptStoreError(f"{path}: frame_number/frame_time of the wrong type ({exc})") from None
    return ChunkIndex(number, path, columns, journal)


@dataclass
class StoreIndex:
    """All chunk indexes of a store, concatenated in chunk order."""

    chunks: list[ChunkIndex]
    frame_number: np.ndarray = field(init=False)
    frame_time: np.ndarray = field(init=False)
    starts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        counts = np.array([c.count for c in self.chunks], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.frame_number = _concat([c.columns[FRAME_NUMBER] for c in self.chunks], np.int64)
        self.frame_time = _concat([c.columns[FRAME_TIME] for c in self.chunks], np.float64)
        self._fn_order = np.argsort(self.frame_number, kind="stable")
        self._ft_order = np.argsort(self.frame_time, kind="stable")
        self._warn_irregular()

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _warn_irregular(self) -> None:
        steps = np.diff(self.frame_number)
        bad = np.flatnonzero(steps <= 0)
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
        if len(self.frame_time) and not np.all(np.isfinite(self.frame_time)):
            warnings.warn(
                f"{np.count_nonzero(~np.isfinite(self.frame_time))} frame times are not finite",
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
        fn = self.frame_number
        i = int(np.searchsorted(fn, frame_number, sorter=self._fn_order))
        if i < len(fn) and fn[self._fn_order[i]] == frame_number:
            return int(self._fn_order[i])
        raise FrameNotFoundError(
            f"frame_number {frame_number} is not in the store "
            f"(it holds {len(fn)} frames numbered {self.frame_min}..{self.frame_max})"
        )

    def nearest_frame_number(self, frame_number: float) -> int:
        return _nearest(self.frame_number, self._fn_order, frame_number)

    def nearest_frame_time(self, frame_time: float) -> int:
        return _nearest(self.frame_time, self._ft_order, frame_time)

    @property
    def frame_min(self) -> int | None:
        return int(self.frame_number[self._fn_order[0]]) if len(self) else None

    @property
    def frame_max(self) -> int | None:
        return int(self.frame_number[self._fn_order[-1]]) if len(self) else None


def _concat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def _nearest(values: np.ndarray, order: np.ndarray, target: float) -> int:
    """Frame index whose value is nearest ``target``; ties go to the earliest frame."""
    if len(values) == 0:
        raise FrameNotFoundError("the store holds no frames")
    if not np.isfinite(target):
        raise FrameNotFoundError(f"cannot look up a non-finite value {target!r}")
    i = int(np.searchsorted(values, target, sorter=order))
    candidates = []
    for j in (i - 1, i):
        if 0 <= j < len(values):
            v = values[order[j]]
            first = int(np.searchsorted(values, v, side="left", sorter=order))
            candidates.append((abs(float(v) - target), int(order[first])))  # stable sort
    return min(candidates)[1]
