"""A one-line progress bar on stderr for the command-line tools."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

_WIDTH = 30


def progress_bar(label: str, stream: TextIO | None = None, every: float = 0.2) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback that redraws ``label [####    ] done/total`` in
    place at most every ``every`` seconds, and ends the line when ``done == total``."""
    last = -float("inf")

    def progress(done: int, total: int) -> None:
        nonlocal last
        now = time.monotonic()
        if done < total and now - last < every:
            return
        last = now
        out = stream or sys.stderr
        bar = "#" * (_WIDTH * done // total if total else _WIDTH)
        print(f"\r{label} [{bar:<{_WIDTH}}] {done}/{total}", end="\n" if done >= total else "", file=out)
        out.flush()

    return progress
