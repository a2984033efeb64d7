"""Positions of the viewer: one store's frames, or the rows of several stores' alignment map."""

from __future__ import annotations

import warnings

import numpy as np

from ..core.reader import StoreReader
from ..errors import StoreWarning
from ..sessions.align import By, align


class Timeline:
    """Position ``0 .. len - 1`` -> the frame_index each store shows there (None: missing).

    One store: positions are its frame indexes. Several: the rows of
    ``framestore.align(stores, by, tolerance)``, so a frame one store lacks is missing
    there and nothing of the others moves.
    """

    def __init__(
        self, stores: dict[str, StoreReader], by: By = "frame_number", tolerance: float | None = None
    ) -> None:
        self.names = list(stores)
        first = stores[self.names[0]]
        if len(stores) == 1:
            self._columns = {self.names[0]: np.arange(len(first), dtype=np.float64)}
            self._numbers = first.frame_numbers
            self._numbered = np.ones(len(first), bool)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", StoreWarning)  # repeated numbers: first one shown
                table = align(stores, by=by, tolerance=tolerance)
            self._columns = {n: table[n].to_numpy(dtype="float64", na_value=np.nan) for n in stores}
            if by == "frame_number":
                self._numbers = table["frame_number"].to_numpy()
                self._numbered = np.ones(len(table), bool)
            else:  # rows of stores aligned by time are numbered as the first store numbers them
                column = self._columns[self.names[0]]
                self._numbered = ~np.isnan(column)
                self._numbers = np.zeros(len(table), dtype=np.int64)
                self._numbers[self._numbered] = first.frame_numbers[column[self._numbered].astype(np.int64)]
        if len(self) == 0:
            raise ValueError(f"nothing to show: {', '.join(self.names)} hold no frames")
        self.times = self._row_times(stores)

    def _row_times(self, stores: dict[str, StoreReader]) -> np.ndarray:
        """Each position's earliest frame_time among the stores that have a frame there."""
        times = np.full(len(self), np.inf)
        for name, column in self._columns.items():
            present = ~np.isnan(column)
            store_times = stores[name].frame_times[column[present].astype(np.int64)]
            times[present] = np.minimum(times[present], store_times)
        return times

    def __len__(self) -> int:
        return len(self._columns[self.names[0]])

    def frame_indexes(self, position: int) -> dict[str, int | None]:
        """The frame_index of every store at ``position`` (None where it has no frame)."""
        return {n: None if np.isnan(c[position]) else int(c[position]) for n, c in self._columns.items()}

    def frame_number(self, position: int) -> int | None:
        """The frame_number at ``position`` (None where the numbering store has no frame)."""
        return int(self._numbers[position]) if self._numbered[position] else None

    def number_range(self) -> tuple[int, int]:
        """The smallest and largest frame_number shown."""
        numbers = self._numbers[self._numbered]
        return int(numbers.min()), int(numbers.max())

    def positions_of(self, name: str, frame_indexes: np.ndarray) -> np.ndarray:
        """The positions, in order, where store ``name`` shows one of ``frame_indexes``."""
        return np.flatnonzero(np.isin(self._columns[name], np.asarray(frame_indexes, dtype=np.float64)))

    def position_of_frame_number(self, number: int) -> int:
        """The first position showing ``number``, else the one with the nearest frame_number."""
        numbers = np.where(self._numbered, self._numbers.astype(np.float64), np.inf)
        exact = np.flatnonzero(numbers == number)
        return int(exact[0]) if len(exact) else int(np.argmin(np.abs(numbers - number)))

    def position_of_time(self, frame_time: float) -> int:
        """The position whose time is nearest ``frame_time`` (earliest on a tie)."""
        return int(np.argmin(np.abs(self.times - frame_time)))
