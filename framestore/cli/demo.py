"""The built-in demo: write a synthetic recording, read it back, show what it holds."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.factory import new_for_filename, new_for_format
from ..testing.frames import frame_numbers_with_gaps, frame_times_for, read_barcode, synthetic_frame


def run_demo(
    directory: Path,
    fmt: str = "ffv1/mkv",
    frames: int = 300,
    shape: tuple[int, int] = (256, 320),
    chunksize: int = 100,
    out: Callable[[str], object] = print,
) -> Path:
    """Write ``frames`` synthetic frames to a store in ``directory``, read them back and
    check each one."""
    path = Path(directory) / "demo-store"
    numbers = frame_numbers_with_gaps(frames, start=1_000_000)
    times = frame_times_for(numbers, fps=30.0, t0=time.time())
    images = [synthetic_frame(int(n), shape) for n in numbers]

    t0 = time.perf_counter()
    with new_for_format(
        fmt,
        path,
        imgshape=shape,
        chunksize=chunksize,
        fps=30,
        overwrite=True,
        metadata={"experiment": "demo", "camera": "synthetic"},
    ) as writer:
        for image, n, t in zip(images, numbers, times, strict=True):
            writer.add_image(image, int(n), float(t))
    write_s = time.perf_counter() - t0

    with new_for_filename(path) as store:
        t0 = time.perf_counter()
        wrong = sum(read_barcode(img) != n for img, n in zip(store, numbers, strict=True))
        read_s = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        out(f"store      {path}")
        chunks = len(store.chunk_starts) - 1
        out(f"format     {store.format}  ({chunks} chunk{'s' * (chunks != 1)} of {store.chunksize})")
        out(f"frames     {len(store)} of {store.image_shape} {store.dtype}")
        out(f"numbers    {store.frame_min} .. {store.frame_max} (with gaps)")
        first = store.convert_frame_time_to_datetime(store.frame_times[0])
        out(f"recorded   {first:%Y-%m-%d %H:%M:%S} {first.tzname()}")
        out(f"metadata   {store.user_metadata}")
        out(f"on disk    {size / 1e6:.1f} MB, {size / len(store) / 1e3:.1f} kB per frame")
        rates = f"write {frames / write_s:.0f} frames/s, sequential read {frames / read_s:.0f} frames/s"
        out(f"speed      {rates}")
        target = int(numbers[frames // 2])
        image, (number, when) = store.get_image(target)
        out(f"get_image  frame_number {target} -> frame carrying number {read_barcode(image)}")
        image, (number, when) = store.get_nearest_image(float(times[frames // 3]) + 0.001)
        out(f"nearest    time {times[frames // 3] + 0.001:.3f} -> frame_number {number}")
        batch = store[[0, -1, len(store) // 2]]
        out(f"batch      store[[0, -1, n//2]] -> array {batch.shape}")
        lossless_ok = all(
            np.array_equal(store[i], images[i]) for i in range(0, len(store), max(1, len(store) // 20))
        )
        out(
            f"check      {frames - wrong}/{frames} frames carry their own number; pixels exact: {lossless_ok}"
        )
    return path


def run_stitch_demo(
    directory: Path, receivers: int = 3, frames: int = 200, out: Callable[[str], object] = print
) -> Path:
    """Generate a wireless-miniscope session recorded by several receivers, each losing
    different packets, into ``directory``; stitch it, and show the summary."""
    import warnings

    from ..errors import StoreWarning
    from ..ingest.miniscope import import_recording
    from ..sessions.stitch import SCORES_FILE, write_stitched
    from ..testing.miniscope import make_session

    root = Path(directory)
    session = make_session(root / "session", receivers=receivers, frames=frames)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)
        stores = {}
        for rec in session.receivers:
            import_recording(session.video(rec.stem), root / "stores" / rec.stem)
            stores[rec.stem] = new_for_filename(root / "stores" / rec.stem)
        summary = write_stitched(stores, root / "stitched", overwrite=True)
    clean = sum(d == 0 for r in session.receivers for d in r.damaged)
    total = sum(len(r.damaged) for r in session.receivers)
    out(f"stitched   {receivers} receivers of {frames} frames -> {root / 'stitched'}")
    out(f"receivers  {clean}/{total} received frames were clean; the rest lost or garbled packets")
    for line in summary.lines():
        out(f"           {line}")
    reasons = pd.read_csv(root / "stitched" / SCORES_FILE)["reason"].value_counts()
    out("why       " + "; ".join(f"{n}x {reason}" for reason, n in reasons.items()))
    return root / "stitched"
