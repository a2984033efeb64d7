"""Batches of random frames (``get_frames``) with chunks decoded concurrently, against the
same reads one chunk at a time and against a plain PyAV loop.

For each format, writes ``--frames`` 640x512 gray synthetic frames in chunks of
``--chunksize`` and reads ``--batches`` batches of 32 random frames (seed 3), best of
``--repeat`` rounds, each round timing every contender on a fresh reader (``threads`` and
``1 thread`` in alternating order: whichever ran first in a round was measured slower, up to
2x for the very same code on raw/nut):

* ``threads``: ``get_frames`` as it is (formats with ``VideoCodec.batch_threads``: the
  batch's GOPs, one frame each for intra-only chunks, taken in turn by one thread per core,
  each with single-threaded decoders of its own);
* ``1 thread``: the same with ``os.sched_getaffinity`` reporting 1 core (chunk after chunk, each
  decoder with FFmpeg's slice threads where the codec has them);
* ``PyAV``: video formats, every chunk open, the batch sorted, each frame a seek to its
  stored pts and a decode forward (reusing the decoder when the next frame is ahead in the
  same GOP), frames copied out;
* ``torchcodec``: video formats, in its own interpreter (``--torchcodec-python``, skipped
  with a message when absent; this process never imports torch): one
  ``VideoDecoder(chunk_file, seek_mode="exact", dimension_order="NHWC")`` per chunk file of
  the store, opened before the clock starts (as the PyAV loop's containers), and per batch
  one ``get_frames_at(indices)`` per chunk the batch touches, taken out with ``.numpy()``
  (zero-copy). torchcodec returns RGB (it cannot return the gray/luma plane framestore
  returns), so it also converts to RGB; shown with ``num_ffmpeg_threads`` 1 (its default)
  and 0 (FFmpeg picks), its best of ``--repeat`` rounds in one process.

    python benchmarks/bench_batch.py --formats utvideo/avi mjpeg/avi h264/mkv ffv1/mkv raw/nut npy \
        --torchcodec-python /tmp/tc/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from unittest import mock

import av
import numpy as np

import framestore
from framestore.testing.frames import read_barcode, synthetic_frame

SHAPE = (512, 640)

_TORCHCODEC_SCRIPT = r"""
import json, sys, time
import numpy as np
from torchcodec.decoders import VideoDecoder
job = json.load(open(sys.argv[1]))
size, best = job["chunksize"], 0.0
for _ in range(job["repeat"]):
    decoders = [VideoDecoder(f, seek_mode="exact", dimension_order="NHWC",
                             num_ffmpeg_threads=job["threads"]) for f in job["files"]]
    t0 = time.perf_counter()
    for b in job["batches"]:
        by_chunk = {}
        for i in b:
            by_chunk.setdefault(i // size, []).append(i % size)
        for c, local in by_chunk.items():
            decoders[c].get_frames_at(local).data.numpy()
    best = max(best, 32 * len(job["batches"]) / (time.perf_counter() - t0))
b = job["batches"][0]
first = [decoders[i // size].get_frames_at([i % size]).data.numpy()[0, :, :, 0] for i in b]
np.save(job["out"], np.stack(first))
print(json.dumps({"fps": best}))
"""


def write_store(root: Path, fmt: str, frames: int, chunksize: int) -> None:
    with framestore.new_for_format(fmt, root, imgshape=SHAPE, chunksize=chunksize) as w:
        for i in range(frames):
            w.add_image(synthetic_frame(i, SHAPE), i, 1.7e9 + i / 30)


def store_fps(root: Path, batches: list[np.ndarray], cores: int | None) -> float:
    every = os.sched_getaffinity(0)
    with mock.patch("os.sched_getaffinity", return_value=set(sorted(every)[:cores]) if cores else every):
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


def torchcodec_fps(
    python: str, root: Path, batches: list[np.ndarray], chunksize: int, repeat: int, threads: int
) -> float | None:
    """Best frames/s of torchcodec's batch API over the store's chunk files (another interpreter);
    ``None`` when it failed or returned wrong frames."""
    files = sorted(str(p) for p in root.iterdir() if p.suffix in (".mkv", ".avi", ".nut"))
    job = root / "torchcodec.json"
    out = root / "torchcodec.npy"
    job.write_text(json.dumps({
        "files": files, "chunksize": chunksize, "repeat": repeat, "threads": threads,
        "batches": [b.tolist() for b in batches], "out": str(out),
    }))  # fmt: skip
    done = subprocess.run(
        [python, "-c", _TORCHCODEC_SCRIPT, str(job)], capture_output=True, text=True, check=False
    )
    if done.returncode:
        print(f"torchcodec failed on {root.name}: {done.stderr.strip().splitlines()[-1:]}")
        return None
    wrong = sum(read_barcode(f) != i for f, i in zip(np.load(out), batches[0].tolist(), strict=True))
    if wrong:
        print(f"torchcodec on {root.name}: {wrong} wrong frames of 32")
        return None
    return float(json.loads(done.stdout.strip().splitlines()[-1])["fps"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--formats", nargs="+", default=["utvideo/avi", "mjpeg/avi", "h264/mkv", "raw/nut"])
    parser.add_argument("--frames", type=int, default=1500)
    parser.add_argument("--chunksize", type=int, default=250)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--torchcodec-python",
        default="/tmp/tc/bin/python",
        help="an interpreter with torch and torchcodec ('' skips torchcodec)",
    )
    args = parser.parse_args()
    has_tc = bool(args.torchcodec_python) and Path(args.torchcodec_python).exists()
    if not has_tc:
        print(f"torchcodec: {args.torchcodec_python!r} not found; skipped (needs its own venv)")
    rng = np.random.default_rng(3)
    batches = [rng.integers(0, args.frames, 32) for _ in range(args.batches)]
    print(
        f"{'format':12s} {'threads':>9s} {'1 thread':>9s} {'PyAV':>9s} {'tc 1thr':>9s} {'tc auto':>9s}  ratio"
        "  vs tc",
        f"(frames/s, best of {args.repeat})",
    )
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats:
            root = Path(tmp, fmt.replace("/", "_"))
            write_store(root, fmt, args.frames, args.chunksize)
            best = {"threads": 0.0, "1 thread": 0.0, "PyAV": 0.0}
            for r in range(args.repeat):
                for key in ("threads", "1 thread")[:: 1 if r % 2 else -1]:  # neither always first
                    best[key] = max(best[key], store_fps(root, batches, None if key == "threads" else 1))
                if fmt not in ("npy",):
                    best["PyAV"] = max(best["PyAV"], pyav_fps(root, batches, args.chunksize))
            tc = [None, None]
            if has_tc and fmt != "npy":
                tc = [
                    torchcodec_fps(
                        args.torchcodec_python, root, batches, args.chunksize, args.repeat, threads
                    )
                    for threads in (1, 0)
                ]
            ratio = best["threads"] / best["1 thread"]
            tc_best = max((v for v in tc if v is not None), default=None)
            vs = f"{best['threads'] / tc_best:.2f}x" if tc_best else "–"
            cells = " ".join(f"{v:9.0f}" if v is not None else f"{'–':>9s}" for v in tc)
            print(
                f"{fmt:12s} {best['threads']:9.0f} {best['1 thread']:9.0f} {best['PyAV']:9.0f} {cells}"
                f"  {ratio:.2f}x  {vs}"
            )


if __name__ == "__main__":
    main()
