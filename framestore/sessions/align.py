"""Aligning several stores on a common index, by frame number or by time.

``align`` returns the alignment map: a DataFrame with a common ``index`` and, per store,
the frame_index that store holds at that moment (``<NA>`` where it has none).
``AlignedFrames`` reads through such a map with a policy for missing frames.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal, TypeVar, get_args

import numpy as np
import pandas as pd

from ..core.reader import StoreReader
from ..errors import FrameIndexError, StoreWarning

Stores = Mapping[str, StoreReader] | Sequence[StoreReader | str | os.PathLike[str]]
By = Literal["frame_number", "frame_time"]
"""What frames are matched or selected by."""
BY: tuple[By, ...] = get_args(By)
MissingPolicy = Literal["drop", "hold", "blank"]
"""What :class:`AlignedFrames` gives where a store has no frame."""
MISSING_POLICIES: tuple[MissingPolicy, ...] = get_args(MissingPolicy)
Mode = TypeVar("Mode", bound=str)


def checked_mode(name: str, value: str, allowed: tuple[Mode, ...]) -> Mode:
    """``value`` of the argument ``name`` if it is one of ``allowed``; else ``ValueError``
    naming them."""
    for mode in allowed:
        if value == mode:
            return mode
    raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def named_stores(stores: Stores) -> dict[str, StoreReader]:
    """Stores by name: a dict as given, or a list named by directory (made unique)."""
    if isinstance(stores, Mapping):
        named = dict(stores)
    else:
        named = {}
        for store in stores:
            reader = store if isinstance(store, StoreReader) else StoreReader(store)
            name, k = reader.path.name, 2
            while name in named:
                name, k = f"{reader.path.name}_{k}", k + 1
            named[name] = reader
    if len(named) < 1:
        raise ValueError("align needs at least one store")
    return named


def align(
    stores: Stores,
    by: By = "frame_number",
    tolerance: float | None = None,
    write: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """The alignment map of ``stores`` (a list of stores or paths, or a name -> store dict).

    ``by="frame_number"``: one row per frame number any store has, in increasing order;
    a store that lacks a number gets ``<NA>`` there, and nothing of the others moves.
    A number that one store holds twice maps to its first frame with that number; the
    later ones are listed in ``result.attrs["duplicates"]`` and warned about.

    ``by="frame_time"``: frames of different stores whose times lie within ``tolerance``
    seconds of the row's first frame share a row, one frame per store at most; default
    tolerance: half the median frame interval of the stores.

    ``write``: also save the map as CSV there (``alignment_map.csv`` by convention).
    """
    by = checked_mode("by", by, BY)
    named = named_stores(stores)
    table = _by_frame_number(named) if by == "frame_number" else _by_frame_time(named, tolerance)
    if write is not None:
        table.to_csv(Path(write), index=False)
    return table


def _by_frame_number(named: dict[str, StoreReader]) -> pd.DataFrame:
    numbers = np.unique(np.concatenate([s.frame_numbers for s in named.values()]))
    table = pd.DataFrame({"index": np.arange(len(numbers)), "frame_number": numbers})
    duplicates: dict[str, list[int]] = {}
    for name, store in named.items():
        fn = store.frame_numbers
        order = np.argsort(fn, kind="stable")
        first = np.ones(len(fn), bool)
        first[1:] = fn[order][1:] != fn[order][:-1]
        keep = order[first]  # the first frame_index of every number
        dup = np.sort(order[~first])
        if len(dup):
            duplicates[name] = dup.tolist()
        column = pd.array(np.full(len(numbers), pd.NA), dtype="Int64")
        column[np.searchsorted(numbers, fn[keep])] = keep
        table[name] = column
    table.attrs["duplicates"] = duplicates
    if duplicates:
        warnings.warn(
            "frame numbers repeat within a store; each maps to its first frame, the later "
            f"frame indexes are left out: {duplicates}",
            StoreWarning,
            stacklevel=3,
        )
    return table


def _by_frame_time(named: dict[str, StoreReader], tolerance: float | None) -> pd.DataFrame:
    names = list(named)
    times = [named[n].frame_times for n in names]
    if tolerance is None:
        steps = np.concatenate([np.diff(t) for t in times if len(t) > 1] or [np.array([1.0])])
        steps = steps[steps > 0]
        tolerance = float(np.median(steps)) / 2 if len(steps) else 0.0
    all_t = np.concatenate(times)
    who = np.concatenate([np.full(len(t), k) for k, t in enumerate(times)])
    idx = np.concatenate([np.arange(len(t)) for t in times])
    order = np.lexsort((who, all_t))
    rows: list[dict[int, int]] = []
    starts: list[float] = []
    for j in order:
        k, t = int(who[j]), float(all_t[j])
        if not rows or t - starts[-1] > tolerance or k in rows[-1]:
            rows.append({})
            starts.append(t)
        rows[-1][k] = int(idx[j])
    table = pd.DataFrame({"index": np.arange(len(rows)), "frame_time": starts})
    for k, name in enumerate(names):
        table[name] = pd.array([row.get(k, pd.NA) for row in rows], dtype="Int64")
    table.attrs["tolerance"] = tolerance
    return table


class AlignedFrames:
    """Frames of several stores, row by row of an alignment map.

    ``missing``: ``"blank"`` (a zero frame where a store has none), ``"hold"`` (that
    store's last frame before; blank before its first) or ``"drop"`` (rows where any
    store is missing are skipped).
    """

    def __init__(self, stores: Stores, table: pd.DataFrame, missing: MissingPolicy = "blank") -> None:
        missing = checked_mode("missing", missing, MISSING_POLICIES)
        self.stores = named_stores(stores)
        absent = [n for n in self.stores if n not in table.columns]
        if absent:
            raise KeyError(f"the alignment map has no column for {absent}")
        self.missing = missing
        columns = {n: table[n].to_numpy(dtype="float64", na_value=np.nan) for n in self.stores}
        if missing == "drop":
            keep = np.all([~np.isnan(c) for c in columns.values()], axis=0)
            columns = {n: c[keep] for n, c in columns.items()}
        elif missing == "hold":
            columns = {n: pd.Series(c).ffill().to_numpy() for n, c in columns.items()}
        self._columns = columns

    def __len__(self) -> int:
        return len(next(iter(self._columns.values())))

    def frame_indexes(self, row: int) -> dict[str, int | None]:
        if not -len(self) <= row < len(self):
            raise FrameIndexError(f"row {row} out of range for {len(self)} aligned rows")
        return {n: None if np.isnan(c[row]) else int(c[row]) for n, c in self._columns.items()}

    def __getitem__(self, row: int) -> dict[str, np.ndarray]:
        """The frame of every store at ``row``, by store name."""
        out = {}
        for name, i in self.frame_indexes(row).items():
            store = self.stores[name]
            out[name] = store[i] if i is not None else np.zeros(store.image_shape, store.dtype)
        return out

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for row in range(len(self)):
            yield self[row]
