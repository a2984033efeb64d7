"""Time opening a store of many frames, and lookups in it, from its indexes alone.

Writes the chunk indexes (no video) of a store of ``--frames`` frames in chunks of
``--chunksize``, then times ``new_for_filename`` with the one-file index cache and
without it, each open in a fresh process whose peak RSS is the open's memory (beside
that of a process that only imports framestore), and 10,000 lookups by frame_number,
frame_index and nearest frame_time.

    python benchmarks/bench_open.py --frames 1000000 --chunksize 500
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import framestore
from framestore._disk.index import write_index
from framestore._disk.index_cache import write_index_cache
from framestore._disk.layout import Layout
from framestore._disk.metadata import StoreMetadata, write_metadata


def make_store(root: Path, frames: int, chunksize: int) -> Layout:
    md = StoreMetadata.new(
        format="utvideo/avi",
        store_class="VideoImgStore",
        chunksize=chunksize,
        imgshape=(512, 640),
        imgdtype="uint8",
        extension=".avi",
        fps=30.0,
    )
    write_metadata(root, md)
    rng = np.random.default_rng(0)
    numbers = 10**6 + np.cumsum(rng.integers(1, 3, frames))
    for c, start in enumerate(range(0, frames, chunksize)):
        fn = numbers[start : start + chunksize]
        n = len(fn)
        write_index(
            root / f"{c:06d}.npz",
            {
                "frame_number": fn,
                "frame_time": 1.7e9 + fn / 30.0,
                "video_pts": np.arange(n, dtype=np.int64),
                "video_keyframe": np.ones(n, bool),
                "crc32": np.zeros(n, np.uint32),
            },
        )
        (root / f"{c:06d}.avi").touch()
    return Layout(root, ".avi", False)


# VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts at its parent's RSS at fork
_OPEN = """
import re, sys, time
import framestore
t = time.perf_counter()
if sys.argv[1]:
    framestore.new_for_filename(sys.argv[1]).close()
status = open("/proc/self/status").read()
print(time.perf_counter() - t, re.search(r"VmHWM:\\s*(\\d+)", status).group(1))
"""


def time_open(root: Path | None, repeats: int = 5) -> tuple[float, float]:
    """Median seconds to open the store at ``root`` (nothing: None) in a fresh process
    importing the framestore this script imported, and the largest peak RSS (MB)."""
    runs = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-c", _OPEN, str(root or "")],
            check=True,
            capture_output=True,
            text=True,
            cwd=Path(framestore.__file__).parents[1],  # python -c puts its cwd first on sys.path
        ).stdout.split()
        runs.append((float(out[0]), int(out[1]) / 1024))
    return statistics.median(t for t, _ in runs), max(m for _, m in runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--chunksize", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        layout = make_store(root, args.frames, args.chunksize)
        _, imported = time_open(None, 1)
        without, without_mb = time_open(root)
        write_index_cache(layout)
        with_cache, with_cache_mb = time_open(root)
        store = framestore.new_for_filename(root)
        rng = np.random.default_rng(1)
        picks = rng.integers(0, len(store), 10_000)
        numbers, times = store.frame_numbers[picks], store.frame_times[picks] + 0.001
        index = store._index
        t0 = time.perf_counter()
        for n in numbers:
            index.index_of_frame_number(int(n))
        by_number = (time.perf_counter() - t0) / len(picks)
        t0 = time.perf_counter()
        for t in times:
            index.nearest_frame_time(float(t))
        by_time = (time.perf_counter() - t0) / len(picks)
        t0 = time.perf_counter()
        for i in picks:
            index.locate(int(i))
        by_index = (time.perf_counter() - t0) / len(picks)
    chunks = -(-args.frames // args.chunksize)
    print(
        "| frames | chunks | open, index cache | open, chunk indexes | lookup frame_number | "
        "nearest frame_time | frame_index -> chunk |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.frames:,} | {chunks:,} | {with_cache * 1e3:.0f} ms, {with_cache_mb:.0f} MB | "
        f"{without * 1e3:.0f} ms, {without_mb:.0f} MB | {by_number * 1e6:.1f} µs | "
        f"{by_time * 1e6:.1f} µs | {by_index * 1e6:.1f} µs |"
    )
    print(f"(peak RSS of a process that only imports framestore: {imported:.0f} MB)")


if __name__ == "__main__":
    main()
