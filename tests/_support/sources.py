"""The sources the read contract runs over, each with its oracle (see ``contract.py``).

Each builder writes or finds a store and returns a :class:`Source`: the store's location
and, independently of framestore's reader, what every read of it must return.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import warnings
from pathlib import Path

import numpy as np

import framestore
from framestore._disk.layout import Layout
from framestore.codecs import resolve_format
from framestore.testing.frames import synthetic_frame

from . import crash_writer
from .contract import Source
from .crash import HEIGHT, WIDTH, expected_numbers, run_and_kill
from .imgstore_stores import USER_METADATA as IMGSTORE_METADATA
from .imgstore_stores import imgstore_frames, write_with_imgstore
from .media import CHUNKSIZE, LOSSLESS, USER_METADATA, Recording
from .oracle import oracle_decode


def written_source(rec: Recording, kind: str) -> Source:
    """A store :func:`media.write_recording` wrote, its oracle a decode of its files."""
    return Source(
        location=rec.path,
        oracle=oracle_decode(rec.path, kind),
        frame_numbers=rec.frame_numbers,
        frame_times=rec.frame_times,
        chunksize=CHUNKSIZE,
        written=rec.images,
        exact=rec.images if rec.fmt in LOSSLESS else None,
        user_metadata=USER_METADATA,
    )


def at(source: Source, location: Path | str) -> Source:
    """The same store read from another location (a URL of it)."""
    return dataclasses.replace(source, location=location)


# imgstore formats the contract reads: a video format (OpenCV's MJPEG) and two image formats
IMGSTORE_CASES = [("mjpeg/avi", "color"), ("npy", "gray"), ("png", "color")]
IMGSTORE_LOSSLESS = {"npy", "png"}
IMGSTORE_COUNT, IMGSTORE_CHUNKSIZE = 45, 20  # chunks of 20, 20, 5


def imgstore_source(path: Path, fmt: str, kind: str) -> Source:
    """A store imgstore 0.4.0 wrote; its oracle is what imgstore's own reader returns."""
    numbers = write_with_imgstore(path, fmt, kind, count=IMGSTORE_COUNT, chunksize=IMGSTORE_CHUNKSIZE)
    _, frames, meta = imgstore_frames(path)
    shape = (48, 64, 3) if kind == "color" else (48, 64)
    written = np.stack([synthetic_frame(int(n), shape) for n in numbers])
    return Source(
        location=path,
        oracle=frames,
        frame_numbers=np.array([m[0] for m in meta], dtype=np.int64),
        frame_times=np.array([m[1] for m in meta], dtype=np.float64),
        chunksize=IMGSTORE_CHUNKSIZE,
        written=written,
        exact=written if fmt in IMGSTORE_LOSSLESS else None,
        user_metadata=IMGSTORE_METADATA,
    )


# killed writers: (format, kind) of crash_writer.py, SIGKILLed in chunk 2 (of 30 frames at
# 40 fps) once a live reader sees a few of that chunk's frames in its journal
KILLED_CASES = [("h264", "color"), ("ffv1", "gray16"), ("png", "gray8")]
KILLED_FPS, KILLED_CHUNKSIZE = 40.0, 30
KILLED_IN_JOURNAL = 4  # frames of chunk 2 a live reader must see before the kill


def _journal_holds_frames(lines: int, store: Path) -> bool:
    """The kill condition: chunk 2 has been written to for a while, and a reader opened
    now reads a few frames of it (from its journal)."""
    if lines < 2 * KILLED_CHUNKSIZE + KILLED_IN_JOURNAL + 2:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        with framestore.new_for_filename(store) as live:
            return len(live) >= 2 * KILLED_CHUNKSIZE + KILLED_IN_JOURNAL


def killed_sources(root: Path, fmt: str, kind: str) -> tuple[Source, Source]:
    """A store whose writer process was SIGKILLed mid-chunk (its last chunk only in its
    journal), and a copy of it finished by ``framestore.recover``.

    The oracle of both is a decode of the recovered copy's files (``recover`` remuxes the
    journal's packets without re-encoding); frame numbers and times are those the killed
    writer reported adding. The one frame a writer may add after its last report (killed
    between ``add_image`` and the report) takes its time from the recovered index.
    """
    crash = run_and_kill(
        root / "killed",
        fmt,
        _journal_holds_frames,
        fps=KILLED_FPS,
        chunksize=KILLED_CHUNKSIZE,
        kind=kind,
    )
    spec = resolve_format(fmt)
    layout = Layout(crash.store, spec.extension, spec.image_chunks)
    assert layout.journal_path(2).is_file() and not layout.index_path(2).exists(), crash.describe()
    recovered = root / "recovered"
    shutil.copytree(crash.store, recovered)
    framestore.recover(recovered)
    oracle = oracle_decode(recovered, kind)
    n, m = len(oracle), len(crash.added)
    assert 2 * KILLED_CHUNKSIZE + KILLED_IN_JOURNAL <= n <= m + 1, f"{crash.describe()}: {n} frames kept"
    times = crash.added.times[:n]
    if n > m:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            times = np.r_[times, framestore.new_for_filename(recovered).frame_times[m]]
    shape, dtype = crash_writer.image_shape_dtype(HEIGHT, WIDTH, kind)
    numbers = expected_numbers(n)
    written = np.stack([synthetic_frame(int(k), shape, dtype) for k in numbers])
    killed = Source(
        location=crash.store,
        oracle=oracle,
        frame_numbers=numbers,
        frame_times=times,
        chunksize=KILLED_CHUNKSIZE,
        written=written,
        exact=written if spec.lossless else None,
        complete=False,
    )
    return killed, at(dataclasses.replace(killed, complete=True), recovered)


# conversions: (source (format, kind), target format, chunksize, workers); the second
# writes its parts in two processes
CONVERSIONS = [
    (("png", "gray16"), "ffv1", 33, 1),
    (("h264/mkv", "color"), "utvideo", 40, 2),
]


def converted_source(
    source: Source, kind: str, dst: Path, target: str, chunksize: int, workers: int
) -> Source:
    """``source`` converted by ``framestore.convert`` into ``target`` with other chunks;
    a lossless target keeps the source's frames exactly."""
    framestore.convert(source.location, dst, target, chunksize=chunksize, workers=workers)
    assert math.ceil(len(source) / chunksize) > 2
    return dataclasses.replace(
        source,
        location=dst,
        oracle=oracle_decode(dst, kind),
        chunksize=chunksize,
        exact=source.oracle if resolve_format(target).lossless else None,
    )
