"""A one-line progress bar on stderr for the command-line tools: done of total, rate and
time left; shown by default only when stderr is a terminal."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TextIO

_WIDTH = 30


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress``: force the progress bar on or off."""
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )


def progress_bar(
    label: str,
    stream: TextIO | None = None,
    every: float = 0.2,
    show: bool | None = None,
    unit: str = "frames",
) -> Callable[[int, int], None] | None:
    """A ``progress(done, total)`` callback that redraws ``label [####    ] done/total
    unit, rate, time left`` in place at most every ``every`` seconds and ends the line with
    the time taken when ``done == total``; None (no bar) when ``show`` is False, or is None
    and the stream is not a terminal."""
    out = stream or sys.stderr
    if not (out.isatty() if show is None else show):
        return None
    start = time.monotonic()
    last = -float("inf")

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done < total and now - last < every:
            return
        last = now
        elapsed = now - start
        rate = done / elapsed if elapsed > 0 else 0.0
        bar = "#" * (_WIDTH * done // total if total else _WIDTH)
        if done >= total:
            timing = f"in {_clock(elapsed)}"
        else:
            timing = f"{_clock((total - done) / rate)} left" if rate > 0 else "time left unknown"
        line = f"\r{label} [{bar:<{_WIDTH}}] {done}/{total} {unit}, {rate:,.0f}/s, {timing}"
        print(f"{line:<80}", end="\n" if done >= total else "", file=out)
        out.flush()

    return progress


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
