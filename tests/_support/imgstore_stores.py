"""Stores written by imgstore 0.4.0 itself, and what imgstore reads back from them.

Callers skip when imgstore is not installed (``pytest.importorskip("imgstore")``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from framestore.testing.frames import frame_numbers_with_gaps, frame_times_for, synthetic_frame

FIRST_FRAME_NUMBER = 3_000_000
USER_METADATA = {"animal": "m3", "session": 2}


def write_with_imgstore(path: Path, fmt: str, kind: str, count: int = 45, chunksize: int = 20) -> np.ndarray:
    """``count`` synthetic 48x64 frames (``kind`` gray or color) numbered from 3,000,000
    with gaps, times from :func:`frame_times_for`, extra data on every third frame number;
    returns the frame numbers."""
    import imgstore

    shape = (48, 64, 3) if kind == "color" else (48, 64)
    numbers = frame_numbers_with_gaps(count, start=FIRST_FRAME_NUMBER, gap_every=7)
    times = frame_times_for(numbers)
    store = imgstore.new_for_format(
        fmt,
        mode="w",
        basedir=str(path),
        imgshape=shape,
        imgdtype="uint8",
        chunksize=chunksize,
        metadata=USER_METADATA,
    )
    for n, t in zip(numbers, times, strict=True):
        store.add_image(synthetic_frame(int(n), shape), int(n), float(t))
        if n % 3 == 0:
            store.add_extra_data(temperature=float(n % 17), note=f"n{n}")
    store.close()
    return numbers


def imgstore_frames(path: Path):
    """imgstore's reader of the store at ``path``, every frame it returns through
    ``get_next_image`` until ``EOFError``, and their ``(frame_number, frame_time)``."""
    import imgstore

    store = imgstore.new_for_filename(str(path))
    frames, meta = [], []
    while True:
        try:
            image, m = store.get_next_image()
        except EOFError:
            return store, np.stack(frames), meta
        frames.append(image)
        meta.append(m)
