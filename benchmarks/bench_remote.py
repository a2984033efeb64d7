"""Requests and bytes a store read over HTTP costs: opening it (with and without its index
cache), one random frame (on a fresh reader), a full sequential read.

Writes 3000 synthetic 640x512 gray frames (chunksize 500) per format, serves them from a
local HTTP server with byte ranges (``tests/_support/range_server.py``, which counts every request
and the bytes it sent), and reads them by URL.

    python benchmarks/bench_remote.py --formats utvideo/avi h264/mkv npy
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import framestore
from framestore.testing.frames import synthetic_frame

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _support.range_server import RangeServer  # noqa: E402


def write_store(path: Path, fmt: str, frames: int, chunksize: int) -> int:
    shape = (512, 640)
    with framestore.new_for_format(fmt, path, imgshape=shape, chunksize=chunksize, fps=30) as writer:
        for i in range(frames):
            writer.add_image(synthetic_frame(10**6 + i, shape), 10**6 + i, 1.7e9 + i / 30)
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def fetched(server: RangeServer) -> tuple[int, int]:
    taken = server.take()
    return len(taken), sum(r.sent for r in taken)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--formats", nargs="+", default=["utvideo/avi", "h264/mkv", "npy"])
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--chunksize", type=int, default=500)
    parser.add_argument("--random-reads", type=int, default=20)
    args = parser.parse_args()
    print(
        "| format | store MB | open: requests / kB / ms | open without the index cache "
        "| one random frame (median): requests / kB / ms | full sequential read: requests / MB / fps |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        server = RangeServer(Path(tmp))
        rng = np.random.default_rng(12345)
        for fmt in args.formats:
            name = fmt.replace("/", "_")
            size = write_store(Path(tmp) / name, fmt, args.frames, args.chunksize)
            url = f"{server.url}/{name}"
            framestore.new_for_filename(url).close()  # the HTTP session is set up once per process
            server.take()
            t0 = time.perf_counter()
            store = framestore.new_for_filename(url)
            open_ms = (time.perf_counter() - t0) * 1e3
            open_requests, open_bytes = fetched(server)
            store.close()
            one = []
            for i in rng.integers(0, args.frames, args.random_reads):
                with framestore.new_for_filename(url) as store:  # a fresh reader: nothing cached
                    server.take()
                    t0 = time.perf_counter()
                    store[int(i)]
                    one.append((*fetched(server), (time.perf_counter() - t0) * 1e3))
            requests, nbytes, ms = (statistics.median(v) for v in zip(*one, strict=True))
            with framestore.new_for_filename(url) as store:
                server.take()
                t0 = time.perf_counter()
                count = sum(1 for _ in store)
                fps = count / (time.perf_counter() - t0)
                seq_requests, seq_bytes = fetched(server)
            (Path(tmp) / name / "framestore-index.npz").unlink()
            t0 = time.perf_counter()
            framestore.new_for_filename(url).close()
            bare_ms = (time.perf_counter() - t0) * 1e3
            bare_requests, bare_bytes = fetched(server)
            print(
                f"| {fmt} | {size / 1e6:.1f} | {open_requests} / {open_bytes / 1e3:.0f} / {open_ms:.0f} "
                f"| {bare_requests} / {bare_bytes / 1e3:.0f} / {bare_ms:.0f} "
                f"| {requests:.0f} / {nbytes / 1e3:.0f} / {ms:.1f} "
                f"| {seq_requests} / {seq_bytes / 1e6:.1f} / {fps:.0f} |"
            )
        server.close()


if __name__ == "__main__":
    main()
