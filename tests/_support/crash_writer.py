"""A framestore writer that records forever until it is killed (used by test_crash.py).

Usage::

    python crash_writer.py STORE FORMAT FPS CHUNKSIZE HEIGHT WIDTH KIND STATUS_FILE

KIND is ``gray8``, ``gray16`` or ``color``. Frames are synthetic (each carries its frame
number as a barcode), numbered by :func:`frame_number_stream` (far from 0, with gaps),
and added at FPS with ``frame_time = time.time()`` taken just before ``add_image``.

After each ``add_image`` returns, one line is appended to STATUS_FILE with a single
unbuffered ``write``::

    frame_number frame_time monotonic_wallclock

``frame_time`` is written with ``repr`` so it reads back as the exact same float, and
``monotonic_wallclock`` is ``time.monotonic()`` just after ``add_image`` returned
(CLOCK_MONOTONIC is system-wide, so the test can compare it with its own clock).

The writer is never closed: the script runs until it is killed. As a safety net it also
exits by itself when its parent process goes away or after MAX_SECONDS.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator

import numpy as np

FIRST_FRAME_NUMBER = 9_000_000  # far from 0, still inside the 24-bit barcode
GAP_EVERY = 7  # a gap of 1..4 frame numbers every 7 frames, so every chunk has gaps
MAX_SECONDS = 600.0
_BLOCK = 100_000

KINDS = {
    "gray8": (None, np.uint8),
    "gray16": (None, np.uint16),
    "color": (3, np.uint8),
}


def frame_number_stream() -> Iterator[int]:
    """The frame numbers the script adds, in order (deterministic, increasing, gappy)."""
    from framestore.testing.frames import frame_numbers_with_gaps

    start = FIRST_FRAME_NUMBER
    block = 0
    while True:
        numbers = frame_numbers_with_gaps(_BLOCK, start=start, gap_every=GAP_EVERY, seed=block)
        yield from (int(n) for n in numbers)
        start = int(numbers[-1]) + 2  # one more gap between blocks
        block += 1


def image_shape_dtype(height: int, width: int, kind: str) -> tuple[tuple[int, ...], type]:
    channels, dtype = KINDS[kind]
    shape = (height, width) if channels is None else (height, width, channels)
    return shape, dtype


def main(argv: list[str]) -> int:
    if len(argv) != 8:
        print(__doc__, file=sys.stderr)
        return 2
    store, fmt, fps_s, chunksize_s, height_s, width_s, kind, status = argv
    fps = float(fps_s)
    shape, dtype = image_shape_dtype(int(height_s), int(width_s), kind)

    import framestore
    from framestore.testing.frames import synthetic_frame

    parent = os.getppid()
    writer = framestore.new_for_format(
        fmt,
        store,
        imgshape=shape,
        imgdtype=dtype,
        chunksize=int(chunksize_s),
        fps=fps,
    )
    fd = os.open(status, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    period = 1.0 / fps
    started = time.monotonic()
    due = started
    for frame_number in frame_number_stream():
        image = synthetic_frame(frame_number, shape, dtype)
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        elif now > due + period:
            due = now  # fell behind (loaded machine): keep the pace, do not burst
        due += period
        frame_time = time.time()
        writer.add_image(image, frame_number, frame_time)
        added = time.monotonic()
        os.write(fd, f"{frame_number} {frame_time!r} {added!r}\n".encode())
        if os.getppid() != parent or added - started > MAX_SECONDS:
            return 3  # orphaned or forgotten: leave the store unfinished, like a crash
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
