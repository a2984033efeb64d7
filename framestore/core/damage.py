"""Damaged frames found from their pixels alone (wireless miniscopes and the like).

Two kinds of damage, each judged per frame against that frame's own statistics:

*check pattern*: a garbled payload is speckle, every pixel unrelated to its neighbours. Per
pixel, the absolute second difference along the row, ``|p[x-1] - 2 p[x] + p[x+1]|``, is
large there and small in any picture (smooth or with edges: an edge makes it large at two
pixels, not at most pixels of a stretch). A pixel is *speckled* when it exceeds
``speckle_factor`` times the frame's typical level (the median over live rows of each
row's mean, so sensor noise of any strength stays below the limit), kept between
``speckle_floor`` and ``speckle_ceiling`` of full scale: garbage is full-scale noise (the
second difference of random bytes averages over half of full scale), so the floor is
absolute, and the ceiling keeps wholly garbled frames (whose typical level is garbage)
found. A row is garbled when some ``window`` consecutive pixels of it are at least
``speckle_fraction`` speckled.

*blacked out*: a lost buffer or zero padding leaves a run of rows at 0, below the sensor's
offset, where live pixels never are. A row is black when at least ``black_row_fraction``
of its pixels are at or below ``black_level`` of full scale; a frame is blacked out when at
least ``min_black_rows`` rows are black and at least one row is live (under half black):
an all-dark frame (the LED not yet on) is dark, not damaged (``qc``'s ``dark_frames``).
Zero padding shorter than a row counts too: a run of ``black_run`` black pixels averaging
at most ``padding_level`` (0.8% of full scale: lost data is 0, and stays near it through
H.264, where a dark part of a real picture sits at the black level) in a row whose
neighbours hold few black pixels there (a dark part of a picture spans several rows).

Both survive lossy coding (H.264 yuv420p keeps garbled pixels far above any picture's
second differences, and lost rows near 0). Color frames are judged on the mean of their
channels. Frames are judged alone: rows that are black in every frame (a letterbox) are
flagged in every frame.

The detector alone, on frames in memory; ``tools.damage.score_damage`` runs it over a store.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np
import pandas as pd

CHECK_PATTERN = "check_pattern"
BLACKED_OUT = "blacked_out"
KINDS = (CHECK_PATTERN, BLACKED_OUT)  # kind codes 1 and 2; 0 is undamaged
_SECOND_DIFFERENCE = np.array([[1, -2, 1]], np.float32)
_BATCH_PIXELS = 4_000_000  # pixels judged at once (bounds the scratch arrays, ~40 MB)


@dataclass(frozen=True)
class DamageSettings:
    """What counts as damage. Levels are fractions of full scale (``bit_depth``)."""

    window: int = 24  # pixels of a row over which speckle is counted
    speckle_factor: float = 6.0  # speckle: |2nd difference| > this x the frame's typical row mean ...
    speckle_floor: float = 0.2  # ... and at least this (fraction of full scale) ...
    speckle_ceiling: float = 0.3  # ... the limit never above this, so wholly garbled frames count
    speckle_fraction: float = 0.5  # a row is garbled when a window of it is at least this speckled
    black_level: float = 0.02  # black: at or below this (fraction of full scale)
    black_row_fraction: float = 0.8  # a row is black when at least this fraction of it is black
    min_black_rows: int = 1  # blacked out: at least this many black rows, beside live rows ...
    live_level: float = 0.05  # ... whose median level is above this (else the frame is just dark)
    black_run: int | None = 32  # or (on its own) a stretch this long, black_row_fraction black
    # and averaging at most padding_level, in a row whose neighbours hold under half as many
    # black pixels there: padding; None: rows only
    padding_level: float = 0.008  # a padded stretch averages this at most (lost data is 0)
    bit_depth: int | None = None  # full scale 2**bit_depth - 1; None: the dtype's

    def __post_init__(self) -> None:
        if not (isinstance(self.window, int) and 3 <= self.window <= 255):
            raise ValueError(f"window must be an integer of 3 to 255 pixels, got {self.window!r}")
        if self.black_run is not None and not (
            isinstance(self.black_run, int) and 3 <= self.black_run <= 255
        ):
            raise ValueError(
                f"black_run must be None or an integer of 3 to 255 pixels, got {self.black_run!r}"
            )
        if not (isinstance(self.min_black_rows, int) and self.min_black_rows >= 1):
            raise ValueError(f"min_black_rows must be an integer of at least 1, got {self.min_black_rows!r}")
        if self.bit_depth is not None and not (isinstance(self.bit_depth, int) and 1 <= self.bit_depth <= 16):
            raise ValueError(f"bit_depth must be None or 1..16, got {self.bit_depth!r}")
        if not self.speckle_factor > 0:
            raise ValueError(f"speckle_factor must be positive, got {self.speckle_factor}")
        for name in (
            "speckle_floor",
            "speckle_ceiling",
            "speckle_fraction",
            "black_level",
            "black_row_fraction",
            "live_level",
            "padding_level",
        ):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        if self.speckle_floor > self.speckle_ceiling:
            raise ValueError(
                f"speckle_floor ({self.speckle_floor}) must not exceed "
                f"speckle_ceiling ({self.speckle_ceiling})"
            )

    def full_scale(self, dtype: np.dtype) -> int:
        """The value full scale stands for in frames of ``dtype``."""
        if self.bit_depth is not None:
            return int(2**self.bit_depth - 1)
        return int(np.iinfo(dtype).max)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def detect_damage(frames: np.ndarray, settings: DamageSettings | None = None) -> pd.DataFrame:
    """Judge each frame of ``frames`` ((n, h, w) or (n, h, w, c), uint8 or uint16).

    One row per frame: ``damaged``; ``kind`` (``"check_pattern"``, ``"blacked_out"``, or
    None; the kind with more rows when a frame has both); ``first_row`` and ``last_row`` of
    all damaged rows (NA when undamaged); ``check_rows`` and ``black_rows`` (how many rows of
    each kind); ``score``: how far the frame is toward the nearer limit (1 at the limit,
    damaged from 1 on; a continuous measure for ranking clean frames too)."""
    s = settings or DamageSettings()
    codes, first, last, check_rows, black_rows, score = judge_frames(frames, s)
    return damage_table(codes, first, last, check_rows, black_rows, score)


def damage_table(
    codes: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    check_rows: np.ndarray,
    black_rows: np.ndarray,
    score: np.ndarray,
) -> pd.DataFrame:
    damaged = codes > 0
    kind = np.array([None, *KINDS], dtype=object)[codes]
    return pd.DataFrame(
        {
            "damaged": damaged,
            "kind": kind,
            "first_row": pd.arrays.IntegerArray(first.astype(np.int64), ~damaged),
            "last_row": pd.arrays.IntegerArray(last.astype(np.int64), ~damaged),
            "check_rows": check_rows.astype(np.int32),
            "black_rows": black_rows.astype(np.int32),
            "score": score.astype(np.float32),
        }
    )


def judge_frames(frames: np.ndarray, s: DamageSettings) -> tuple[np.ndarray, ...]:
    """Per frame: kind code (0 undamaged), first and last damaged row (-1 if none), garbled
    and black row counts, score. Judges the frames in batches of bounded size."""
    frames = np.asarray(frames)
    if frames.ndim not in (3, 4) or frames.dtype not in (np.uint8, np.uint16):
        raise ValueError(
            "frames must be (n, h, w) or (n, h, w, channels) uint8 or uint16, "
            f"got {frames.shape} {frames.dtype}"
        )
    n, h, w = frames.shape[:3]
    if w < 5:
        raise ValueError(f"frames must be at least 5 pixels wide, got {w}")
    step = max(1, _BATCH_PIXELS // (h * w))
    parts = [_judge_batch(frames[a : a + step], s) for a in range(0, n, step)]
    if not parts:
        empty = np.zeros(0, np.int32)
        return empty.astype(np.int8), empty, empty, empty, empty, empty.astype(np.float32)
    return tuple(np.concatenate(p) for p in zip(*parts, strict=True))


def _judge_batch(frames: np.ndarray, s: DamageSettings) -> tuple[np.ndarray, ...]:
    full = s.full_scale(frames.dtype)
    if frames.ndim == 4:  # color: the mean of the channels
        frames = (frames.sum(axis=3, dtype=np.int32) // frames.shape[3]).astype(frames.dtype)
    n, h, w = frames.shape
    window = min(s.window, w - 2)  # the whole row, in frames narrower than a window
    rows2d = frames.reshape(n * h, w)  # every row of every frame: one image for OpenCV

    # black pixels per row; live rows (under half black), and whether the frame is lit
    black_pixels = (rows2d <= int(s.black_level * full)).view(np.uint8)
    black_count = cv2.reduce(black_pixels, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).reshape(n, h)
    black_fraction = black_count / w
    live = black_fraction < 0.5
    level = _median_of_live(cv2.reduce(rows2d, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).reshape(n, h), live)
    has_live = live.any(axis=1) & (level > s.live_level * full)

    # check pattern: speckled pixels counted in sliding windows along each row
    if frames.dtype == np.uint8:  # |second difference| saturated at 255, above any limit
        d2 = cv2.convertScaleAbs(cv2.filter2D(rows2d, cv2.CV_16S, _SECOND_DIFFERENCE))
    else:
        d2 = np.abs(cv2.filter2D(rows2d, cv2.CV_32F, _SECOND_DIFFERENCE))
    d2 = d2[:, 1:-1]  # rows' ends left out
    row_mean = cv2.reduce(d2, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).reshape(n, h)
    typical = _median_of_live(row_mean, live)  # (n,)
    limit = np.clip(s.speckle_factor * typical, s.speckle_floor * full, s.speckle_ceiling * full)
    per_row = np.repeat(np.floor(limit), h)[:, None].astype(d2.dtype)  # d2 > floor(limit): d2 > limit
    speckled = (d2 > per_row).view(np.uint8)
    counts = cv2.boxFilter(speckled, -1, (window, 1), normalize=False, borderType=cv2.BORDER_CONSTANT)
    densest = counts.max(axis=1).reshape(n, h) / window  # (n, h): the most speckled window
    garbled = densest >= s.speckle_fraction
    check_score = densest.max(axis=1) / s.speckle_fraction

    # blacked out: rows (nearly) all at or below the black level, beside live rows (garbled
    # rows are speckle, whatever share of it is black)
    black_fraction = np.where(garbled, 0.0, black_fraction)
    black = (black_fraction >= s.black_row_fraction) & has_live[:, None]
    black_rows = np.count_nonzero(black, axis=1)
    # partial rows at either end of a black run: a window's worth of black pixels
    edge = np.zeros_like(black)
    edge[:, 1:] |= black[:, :-1]
    edge[:, :-1] |= black[:, 1:]
    black_any = black | (edge & (black_count >= window))
    k = h - min(s.min_black_rows, h)  # the min_black_rows-th blackest row
    kth = np.partition(black_fraction, k, axis=1)[:, k]
    black_score = np.where(has_live, kth / s.black_row_fraction, 0.0)
    if s.black_run is not None:  # zero padding shorter than a row
        run = min(s.black_run, w)
        padded, run_score = _padding(
            rows2d, black_pixels, black_count, black, has_live, run, s, full, garbled
        )
        black_any |= padded
        black_score = np.maximum(black_score, run_score)
        black_rows = black_rows + np.count_nonzero(padded, axis=1)

    is_black = black_score >= 1
    check_rows = np.count_nonzero(garbled, axis=1)
    is_check = check_rows > 0
    codes = np.zeros(n, np.int8)
    codes[is_check] = 1
    codes[is_black & (~is_check | (black_rows >= check_rows))] = 2
    rows = (garbled & is_check[:, None]) | (black_any & is_black[:, None])
    anywhere = rows.any(axis=1)
    first = np.where(anywhere, rows.argmax(axis=1), -1)
    last = np.where(anywhere, h - 1 - rows[:, ::-1].argmax(axis=1), -1)
    score = np.maximum(check_score, black_score)
    return codes, first, last, check_rows, black_rows, score


def _padding(
    rows2d: np.ndarray,
    black_pixels: np.ndarray,
    black_count: np.ndarray,
    black: np.ndarray,
    has_live: np.ndarray,
    run: int,
    s: DamageSettings,
    full: int,
    garbled: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Rows with ``run`` consecutive pixels at least ``black_row_fraction`` black and on
    average at most ``padding_level`` (lost data is 0; a dark part of a real picture sits
    at the black level), where the rows above and below hold few black pixels (or are
    black): zero padding, not a dark part of the picture, which spans rows. Per row whether
    padded (black rows are not); per frame the blackest such stretch over the fraction (1
    at the limit)."""
    n, h = black.shape
    fraction = s.black_row_fraction
    padded = np.zeros((n, h), bool)
    score = np.zeros(n)
    candidates = np.flatnonzero((black_count >= fraction * run) & ~garbled & has_live[:, None])
    if not len(candidates):
        return padded, score
    counts = cv2.boxFilter(
        black_pixels[candidates], cv2.CV_32F, (run, 1), normalize=False, borderType=cv2.BORDER_CONSTANT
    )
    means = cv2.boxFilter(rows2d[candidates], cv2.CV_32F, (run, 1), borderType=cv2.BORDER_CONSTANT)
    counts[means > s.padding_level * full] = 0  # too bright on average for lost data
    at = counts.argmax(axis=1)  # where the stretch is
    every = np.arange(len(candidates))
    longest = counts[every, at] / (fraction * run)
    frame, row = np.divmod(candidates, h)
    alone = np.ones(len(candidates), bool)
    for beside in (row - 1, row + 1):  # beyond the frame's edges counts as quiet
        inside = (beside >= 0) & (beside < h)
        near = np.clip(beside, 0, h - 1)
        there = cv2.boxFilter(
            black_pixels[frame * h + near], -1, (run, 1), normalize=False, borderType=cv2.BORDER_CONSTANT
        )[every, at]
        alone &= ~inside | (there < run // 2) | black[frame, near]
    found = np.where(alone, longest, 0.0)
    np.maximum.at(score, frame, found)
    padded[frame, row] = (found >= 1) & ~black[frame, row]  # black rows are counted as such
    return padded, score


def _median_of_live(values: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Per frame, the median of ``values`` (n, h) over its live rows (all rows if none)."""
    n, h = values.shape
    live_count = np.count_nonzero(live, axis=1)
    use = np.where(live_count[:, None] > 0, live, True)
    count = np.where(live_count > 0, live_count, h)
    ordered = np.sort(np.where(use, values, -np.inf), axis=1)  # the rows left out sort first
    middle: np.ndarray = ordered[np.arange(n), h - count + (count - 1) // 2]
    return middle


class BatchJudge:
    """Collects frames one at a time and judges them a bounded batch at a time."""

    def __init__(self, settings: DamageSettings, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.settings = settings
        size = max(1, _BATCH_PIXELS // int(np.prod(shape[:2])))
        self._batch = np.empty((size, *shape), dtype)
        self._filled = 0
        self._parts: list[tuple[np.ndarray, ...]] = []

    def add(self, image: np.ndarray) -> None:
        self._batch[self._filled] = image
        self._filled += 1
        if self._filled == len(self._batch):
            self._flush()

    def _flush(self) -> None:
        if self._filled:
            self._parts.append(judge_frames(self._batch[: self._filled], self.settings))
            self._filled = 0

    def finish(self) -> tuple[np.ndarray, ...]:
        """(kind code, first row, last row, garbled rows, black rows, score) per frame added."""
        self._flush()
        if not self._parts:
            return judge_frames(self._batch[:0], self.settings)
        return tuple(np.concatenate(p) for p in zip(*self._parts, strict=True))
