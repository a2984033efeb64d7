"""Which frames of a store a rewrite keeps: a range, every n-th frame, a rectangle."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.reader import Roi, StoreReader
from ..errors import FrameNotFoundError

_SECONDS = re.compile(r"\+\d+(\.\d*)?")
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d*)?)?")


@dataclass(frozen=True)
class Selection:
    """Frames ``start <= frame_index < stop``, every ``every``-th of them, cropped to
    ``roi`` (x, y, width, height) when given."""

    start: str | None = None
    stop: str | None = None
    every: int = 1
    roi: Roi | None = None

    def __post_init__(self) -> None:
        if int(self.every) < 1:
            raise ValueError(f"every must be at least 1, got {self.every}")

    @property
    def is_everything(self) -> bool:
        return self.start is None and self.stop is None and self.every == 1 and self.roi is None

    def indices(self, store: StoreReader) -> np.ndarray:
        """The frame indexes of ``store`` selected, in order."""
        first = 0 if self.start is None else frame_index_at(store, self.start)
        end = len(store) if self.stop is None else frame_index_at(store, self.stop)
        return np.arange(first, max(first, end), int(self.every), dtype=np.int64)

    def to_dict(self, store: StoreReader) -> dict[str, Any]:
        """What ``derived_from`` records of it: as given, and as frame indexes."""
        idx = self.indices(store)
        return {
            "start": self.start,
            "stop": self.stop,
            "every": int(self.every),
            "roi": None if self.roi is None else [int(v) for v in self.roi],
            "frame_index_start": int(idx[0]) if len(idx) else None,
            "frame_index_stop": int(idx[-1]) + 1 if len(idx) else None,
        }


def parse_roi(text: str) -> Roi:
    """``x,y,w,h`` as a region of interest."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"not a region x,y,width,height: {text!r}") from None
    return x, y, w, h


def frame_index_at(store: StoreReader, text: str) -> int:
    """The first frame_index at or after a moment given as a frame number (``12345``), a
    frame index (``#120``), seconds from the first frame (``+12.5``), a local time of day
    (``HH:MM:SS[.f]``, in the store's time zone, on the recording's first day) or an ISO
    date and time (without a zone: the store's)."""
    text = text.strip()
    if text.startswith("#") and text[1:].isdigit():
        return min(int(text[1:]), len(store))
    if re.fullmatch(r"-?\d+", text):
        return _first_at_or_after(store.frame_numbers, int(text), "frame_number")
    times = store.frame_times
    if not len(times):
        return 0
    if _SECONDS.fullmatch(text):
        return _first_at_or_after(times, float(times[0]) + float(text), "frame_time")
    zone = store.timezone
    if _TIME_OF_DAY.fullmatch(text):
        day = datetime.datetime.fromtimestamp(float(times[0]), zone).date()
        of_day = datetime.time.fromisoformat(text if text.index(":") == 2 else "0" + text)
        return _first_at_or_after(
            times, datetime.datetime.combine(day, of_day, zone).timestamp(), "frame_time"
        )
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"not a frame or a time: {text!r} (a frame number, #frame_index, +SECONDS, HH:MM:SS[.f] "
            "or an ISO date and time)"
        ) from None
    moment = (when if when.tzinfo else when.replace(tzinfo=zone)).timestamp()
    return _first_at_or_after(times, moment, "frame_time")


def _first_at_or_after(values: np.ndarray, target: float, what: str) -> int:
    if len(values) > 1 and np.any(np.diff(values) < 0):
        raise FrameNotFoundError(
            f"the store's {what}s do not increase, so a range of them is not one stretch"
        )
    return int(np.searchsorted(values, target, side="left"))
