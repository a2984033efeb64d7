"""Batches of random frames (``get_frames``) with chunks decoded concurrently, against the
same reads one chunk at a time and against a plain PyAV loop.

For each format, writes ``--frames`` 640x512 gray synthetic frames in chunks of
``--chunksize`` and reads ``--batches`` batches of 32 random frames (seed 3), best of
``--repeat`` rounds, each round timing every contender on a fresh reader:

* ``threads``: ``get_frames`` as it is (one thread per core, a few chunks at a time);
* ``1 thread``: the same with ``os.cpu_count`` reporting 1 (chunk after chunk);
* ``PyAV``: video formats, every chunk open, the batch sorted, each frame a seek to its
  stored pts and a decode forward (reusing the decoder when the next frame is ahead in the
  same GOP), frames copied out.

    python benchmarks/bench_batch.py --formats utvideo/avi mjpeg/avi h264/mkv ffv1/mkv raw/nut npy
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

import av
import numpy as np

import framestore
from framestore.testing.frames import synthetic_frame

SHAPE = (512, 640)


def write_store(root: Path, fmt: str, frames: int, chunksize: int) -> None:
    with framestore.new_for_format(fmt, root, imgshape=SHAPE, chunksize=chunksize) as w:
        for i in range(frames):
            w.add_image(synthetic_frame(i, SHAPE), i, 1.7e9 + i / 30)


def store_fps(root: Path, batches: list[np.ndarray], cores: int | None) -> float:
    with mock.patch("framestore.core.reader.os.cpu_count", return_value=cores or os.cpu_count()):
        with framestore.new_for_filename(root) as store:
            t0 = time.perf_counter()
            for b in batches:
                store.get_frames(b)
            return 32 * len(batches) / (time.perf_counter() - t0)


def pyav_fps(root: Path, batches: list[np.ndarray], chunksize: int) -> float:
    files = sorted(p for p in root.iterdir() if p.suffix in (".mkv", ".avi", ".nut"))
    containers = [av.open(str(p)) for p in files]
    pts = []
    for p in files:
        with av.open(str(p)) as scan:
            pts.append(sorted(q.pts for q in scan.demux(scan.streams.video[0]) if q.pts is not None))
    t0 = time.perf_counter()
    for b in batches:
        for i in sorted(b.tolist()):
            c, k = divmod(i, chunksize)
            container = containers[c]
            stream = container.streams.video[0]
            container.seek(pts[c][k], stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts == pts[c][k]:
                    np.frombuffer(frame.planes[0], np.uint8).copy()
                    break
    rate = 32 * len(batches) / (time.perf_counter() - t0)
    for c in containers:
        c.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--formats", nargs="+", default=["utvideo/avi", "mjpeg/avi", "h264/mkv", "raw/nut"])
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--chunksize", type=int, default=250)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    batches = [rng.integers(0, args.frames, 32) for _ in range(args.batches)]
    print(
        f"{'format':12s} {'threads':>9s} {'1 thread':>9s} {'PyAV':>9s}  ratio",
        f"(frames/s, best of {args.repeat})",
    )
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats:
            root = Path(tmp, fmt.replace("/", "_"))
            write_store(root, fmt, args.frames, args.chunksize)
            best = {"threads": 0.0, "1 thread": 0.0, "PyAV": 0.0}
            for _ in range(args.repeat):
                best["threads"] = max(best["threads"], store_fps(root, batches, None))
                best["1 thread"] = max(best["1 thread"], store_fps(root, batches, 1))
                if fmt not in ("npy",):
                    best["PyAV"] = max(best["PyAV"], pyav_fps(root, batches, args.chunksize))
            ratio = best["threads"] / best["1 thread"]
            print(
                f"{fmt:12s} {best['threads']:9.0f} {best['1 thread']:9.0f} {best['PyAV']:9.0f}  {ratio:.2f}x"
            )


if __name__ == "__main__":
    main()
