"""Uncompressed stores (raw/nut, npy) against the limits on the same bytes.

Writes 640x512 gray raw/nut and npy stores (``--frames``, chunksize 500), then measures,
best of ``--repeat`` rounds (each round runs every contender once, so load hits all alike):

* sequential: iterating a fresh reader (with and without the CRC check) against
  ``os.preadv`` of every frame's stored bytes into a new array (raw; offsets found by a
  PyAV demux beforehand), a memcpy of them from memory, and a ``np.fromfile`` loop (npy);
  the raw ones also in a fresh interpreter ("fresh process"), whose memory allocator has
  not yet been warmed by freeing large buffers as this process's has by writing the stores,
  and ("CPU") timed by this thread's CPU time, which other processes' load disturbs less;
* random: median ms of ``store[i]`` over ``--random`` indices (fresh reader, 3 warm-up
  reads) against one ``os.preadv`` of the frame's stored bytes (files kept open) and a
  PyAV seek to the stored pts + decode (raw), and ``np.fromfile`` (npy);
* batch: frames/s of ``get_frames`` of 32 random indices, 50 batches, against the same
  peers in a loop (raw also: ``os.preadv`` of each into its place in one new array).

    python benchmarks/bench_uncompressed.py --frames 3000 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

import framestore
from framestore.testing.frames import synthetic_frame

SHAPE = (512, 640)
FRAME_BYTES = SHAPE[0] * SHAPE[1]


def write_store(root: Path, fmt: str, frames: list[np.ndarray]) -> None:
    w = framestore.new_for_format(fmt, path=str(root), imgshape=SHAPE, imgdtype="uint8", chunksize=500)
    for i, image in enumerate(frames):
        w.add_image(image, i, 1.7e9 + i / 30)
    w.close()


def raw_offsets(root: Path) -> list[tuple[Path, list[int], list[int]]]:
    """Per chunk file: each packet's payload offset and pts, by a PyAV demux."""
    out = []
    for path in sorted(root.glob("*.nut")):
        with av.open(str(path)) as c:
            packets = [(p.pos, p.pts) for p in c.demux(c.streams.video[0]) if p.pts is not None]
        out.append((path, [p for p, _ in packets], [t for _, t in packets]))
    return out


def each(fn: Callable[..., object], items: object) -> None:
    """Call ``fn`` on every item, keeping no result (as a reading loop would)."""
    for item in items:  # type: ignore[attr-defined]
        fn(item)


def fps(n: int, fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    t0 = clock()
    fn()
    return n / (clock() - t0)


def seq_store(root: Path, verify: bool, clock: Callable[[], float] = time.perf_counter) -> float:
    store = framestore.new_for_filename(root, verify=verify)
    try:
        return fps(len(store), lambda: each(len, store), clock)
    finally:
        store.close()


def preadv_all(chunks: list[tuple[Path, list[int], list[int]]]) -> int:
    n = 0
    for path, offsets, _ in chunks:
        fd = os.open(path, os.O_RDONLY)
        try:
            for off in offsets:
                a = np.empty(SHAPE, np.uint8)
                os.preadv(fd, [a], off)
                n += 1
        finally:
            os.close(fd)
    return n


def fresh_process_seq(raw: Path) -> dict[str, float]:
    """The raw sequential reads, each once, in a new interpreter (this script with ``--fresh``)."""
    out = subprocess.run(
        [sys.executable, __file__, "--fresh", str(raw)], check=True, capture_output=True, text=True
    ).stdout
    return {f"{name} (fresh process)": value for name, value in json.loads(out).items()}


def fresh_main(raw: Path) -> None:
    results = {"raw seq": seq_store(raw, True), "raw seq no CRC": seq_store(raw, False)}
    chunks = raw_offsets(raw)
    results["raw seq preadv"] = fps(sum(len(o) for _, o, _ in chunks), lambda: preadv_all(chunks))
    print(json.dumps(results))


def median_ms(indices: np.ndarray, read: Callable[[int], object]) -> float:
    for i in indices[:3]:
        read(int(i))
    times = []
    for i in indices:
        t0 = time.perf_counter()
        read(int(i))
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


class PyAVSeek:
    """Chunks kept open; seek to the stored pts and decode one frame."""

    def __init__(self, chunks: list[tuple[Path, list[int], list[int]]]) -> None:
        self.containers = [av.open(str(p)) for p, _, _ in chunks]
        self.pts = [pts for _, _, pts in chunks]

    def __call__(self, i: int) -> np.ndarray:
        c, k = divmod(i, 500)
        container = self.containers[c]
        stream = container.streams.video[0]
        container.seek(self.pts[c][k], stream=stream)
        for frame in container.decode(stream):
            return frame.to_ndarray().copy()
        raise RuntimeError("no frame")

    def close(self) -> None:
        for c in self.containers:
            c.close()


class PreadvFrame:
    """Chunks kept open; one ``os.preadv`` of the frame's stored bytes into a new array."""

    def __init__(self, chunks: list[tuple[Path, list[int], list[int]]]) -> None:
        self.fds = [os.open(p, os.O_RDONLY) for p, _, _ in chunks]
        self.offsets = [offsets for _, offsets, _ in chunks]

    def __call__(self, i: int) -> np.ndarray:
        c, k = divmod(i, 500)
        a = np.empty(SHAPE, np.uint8)
        os.preadv(self.fds[c], [a], self.offsets[c][k])
        return a

    def batch(self, indices: np.ndarray) -> np.ndarray:
        """The frames at ``indices`` read into one new array, as ``get_frames`` returns them."""
        out = np.empty((len(indices), *SHAPE), np.uint8)
        for j, i in enumerate(indices.tolist()):
            c, k = divmod(i, 500)
            os.preadv(self.fds[c], [out[j]], self.offsets[c][k])
        return out

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)


def npy_files(root: Path) -> list[Path]:
    return sorted(root.glob("*/*.npy"))


def fromfile_npy(path: Path) -> np.ndarray:
    return np.fromfile(path, np.uint8, offset=128)


def batches_fps(batches: list[np.ndarray], read: Callable[[int], object]) -> float:
    return fps(32 * len(batches), lambda: each(lambda b: each(read, b.tolist()), batches))


def one_round(
    raw: Path, npy: Path, frames: list[np.ndarray], rand: np.ndarray, batches: list[np.ndarray]
) -> dict[str, float]:
    chunks = raw_offsets(raw)
    files = npy_files(npy)
    r = {
        "raw seq": seq_store(raw, True),
        "raw seq no CRC": seq_store(raw, False),
        "raw seq preadv": fps(len(frames), lambda: preadv_all(chunks)),
        "raw seq memcpy": fps(len(frames), lambda: each(np.copy, frames)),
        # the same on this thread's CPU time: steadier than wall time on a shared machine
        "raw seq CPU": seq_store(raw, True, time.thread_time),
        "raw seq no CRC CPU": seq_store(raw, False, time.thread_time),
        "raw seq preadv CPU": fps(len(frames), lambda: preadv_all(chunks), time.thread_time),
        **fresh_process_seq(raw),
        "npy seq": seq_store(npy, True),
        "npy seq no CRC": seq_store(npy, False),
        "npy seq np.fromfile": fps(len(frames), lambda: each(fromfile_npy, files)),
    }
    for name, root in (("raw", raw), ("npy", npy)):
        for verify in (True, False):
            with framestore.new_for_filename(root, verify=verify) as store:
                r[f"{name} random ms{'' if verify else ' no CRC'}"] = median_ms(rand, store.__getitem__)
                if verify:
                    r[f"{name} batch32"] = fps(32 * len(batches), lambda s=store: each(s.get_frames, batches))
    pread = PreadvFrame(chunks)
    r["raw random ms os.preadv"] = median_ms(rand, pread)
    r["raw batch32 os.preadv"] = batches_fps(batches, pread)
    r["raw batch32 os.preadv into one array"] = fps(32 * len(batches), lambda: each(pread.batch, batches))
    pread.close()
    seek = PyAVSeek(chunks)
    r["raw random ms PyAV seek"] = median_ms(rand, seek)
    r["raw batch32 PyAV seek"] = batches_fps(batches, seek)
    seek.close()
    r["npy random ms np.fromfile"] = median_ms(rand, lambda i: fromfile_npy(files[i]))
    r["npy batch32 np.fromfile"] = batches_fps(batches, lambda i: fromfile_npy(files[i]))
    return r


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--random", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--fresh", type=Path, help=argparse.SUPPRESS)  # a raw store: fresh_main
    args = parser.parse_args()
    if args.fresh:
        fresh_main(args.fresh)
        return
    frames = [synthetic_frame(i, SHAPE) for i in range(args.frames)]
    rng = np.random.default_rng(12345)
    rand = rng.integers(0, args.frames, args.random)
    batches = [rng.integers(0, args.frames, 32) for _ in range(50)]
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        raw, npy = Path(tmp, "raw"), Path(tmp, "npy")
        write_store(raw, "raw/nut", frames)
        write_store(npy, "npy", frames)
        for _ in range(args.repeat):
            for name, value in one_round(raw, npy, frames, rand, batches).items():
                results.setdefault(name, []).append(value)
    for name, values in results.items():
        best = min(values) if " ms" in name else max(values)
        print(f"{name:28s} {best:10.3f}   (all: {', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main()
