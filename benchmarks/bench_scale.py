"""Speed-up of chunk-parallel work from 1 to 2 workers: conversion and stitching, serial,
on a local process pool, and on a Dask LocalCluster of two worker processes, in one run.

    python benchmarks/bench_scale.py --frames 3000

Conversion: a Ut Video store of ``--frames`` synthetic 640x512 gray frames (chunks of 250)
converted to FFV1 (the lossless format that costs the most CPU per frame). Stitching: two
generated receivers of ``--frames`` 200x200 frames, imported once, stitched into FFV1
chunks of 250. Every parallel output is checked to hold the serial output's frames.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import framestore
from framestore.ingest.miniscope import import_recording
from framestore.sessions.stitch import stitch
from framestore.testing.frames import synthetic_frame
from framestore.testing.miniscope import make_session
from framestore.tools.convert import convert

CHUNK = 250


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def source_store(path: Path, frames: int) -> Path:
    with framestore.new_for_format("utvideo/avi", path, imgshape=(512, 640), chunksize=CHUNK, fps=30) as w:
        for k in range(frames):
            w.add_image(synthetic_frame(1000 + k, (512, 640), noise=4.0), 1000 + k, 1.7e9 + k / 30)
    return path


def receivers(root: Path, frames: int) -> list[Path]:
    session = make_session(
        root / "session", receivers=2, frames=frames, split_frame=False, glitch_frame=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        return [
            import_recording(session.video(r.stem), root / r.stem, fmt="utvideo/avi")
            for r in session.receivers
        ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=3000)
    args = parser.parse_args()
    from dask.distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = Path(tmp)
        src = source_store(root / "src", args.frames)
        inputs = receivers(root, args.frames)
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        runs = {
            "serial (workers=1)": {"workers": 1},
            "process pool (workers=2)": {"workers": 2},
            "Dask LocalCluster (2 workers)": {"scheduler": client},
        }
        rows = []
        for label, how in runs.items():
            tag = label.split()[0]
            c = timed(lambda how=how, tag=tag: convert(src, root / f"c-{tag}", "ffv1/mkv", **how))
            s = timed(lambda how=how, tag=tag: stitch(inputs, root / f"s-{tag}", chunksize=CHUNK, **how))
            rows.append((label, c, s))
        client.close()
        cluster.close()
        reference = [
            framestore.new_for_filename(root / "c-serial"),
            framestore.new_for_filename(root / "s-serial"),
        ]
        for tag in ("process", "Dask"):
            for ref, out in zip(reference, (root / f"c-{tag}", root / f"s-{tag}"), strict=True):
                assert np.array_equal(ref[:], framestore.new_for_filename(out)[:]), out
    print(
        f"{args.frames} frames, chunks of {CHUNK}; "
        "convert: utvideo 640x512 -> ffv1, stitch: 2 receivers 200x200"
    )
    print("| run | convert s | convert speed-up | stitch s | stitch speed-up |")
    print("|---|---|---|---|---|")
    c1, s1 = rows[0][1], rows[0][2]
    for label, c, s in rows:
        print(f"| {label} | {c:.1f} | {c1 / c:.2f}x | {s:.1f} | {s1 / s:.2f}x |")


if __name__ == "__main__":
    main()
