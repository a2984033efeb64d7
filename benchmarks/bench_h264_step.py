"""Stepping through an H.264 store (a viewer's Left/Right keys) and single random frames.

Writes an h264/mkv store (keyframe every 30 frames) of ``--frames`` synthetic frames,
640x512 gray (``--color``: 1280x1024 BGR), then, best of ``--repeat`` rounds:

* step back: median ms of ``store[i]`` for i going down one frame at a time over
  ``--steps`` frames, in a fresh reader; ``kept GOP off`` is the same with
  ``framestore.codecs.video.GOP_KEEP_BYTES = 0`` (every step decodes its GOP again), and
  ``PyAV`` a hand-rolled seek to the keyframe and decode forward per step;
* nearby: median ms of random frames within +-15 of a wandering position;
* random: median ms of single random frames, framestore (as configured, and with its
  single-frame decoders forced to AUTO and to SLICE) and PyAV seek + decode with frame
  threads (AUTO) and with slice threads (SLICE), each chunk kept open;
* sequential: ms per frame of ``iter_frames`` over the whole store, against PyAV decoding
  every chunk file with frame threads and taking nothing out (decode-only, the limit issue
  #19 names) and the same loop taking each frame out as framestore does (gray: the luma
  plane copied; color: ``to_ndarray(format="bgr24")``).

    python benchmarks/bench_h264_step.py --frames 600 --repeat 3
    python benchmarks/bench_h264_step.py --frames 300 --color --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

import framestore
import framestore.codecs.video as video
from framestore.testing.frames import synthetic_frame

CHUNK = 300


def write_store(root: Path, frames: int, shape: tuple[int, ...]) -> None:
    with framestore.new_for_format("h264/mkv", root, imgshape=shape, chunksize=CHUNK) as w:
        gray = synthetic_frame(0, shape[:2])
        for i in range(frames):
            image = synthetic_frame(i, shape[:2]) if len(shape) == 2 else None
            if image is None:
                image = np.dstack([np.roll(gray, i, axis=1), np.roll(gray, 2 * i, axis=0), gray])
            w.add_image(image, i, 1.7e9 + i / 30)


def median_ms(indices: list[int], read: Callable[[int], object]) -> float:
    times = []
    for i in indices:
        t0 = time.perf_counter()
        read(i)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


class PyAVReader:
    """Every chunk open; seek to the keyframe before frame i, decode forward to it."""

    def __init__(self, root: Path, thread_type: str, color: bool) -> None:
        self.containers = []
        self.pts: list[list[int]] = []
        for path in sorted(root.glob("*.mkv")):
            c = av.open(str(path))
            c.streams.video[0].thread_type = thread_type
            self.containers.append(c)
            with av.open(str(path)) as scan:
                self.pts.append(sorted(p.pts for p in scan.demux(scan.streams.video[0]) if p.pts is not None))
        self.color = color

    def __call__(self, i: int) -> np.ndarray:
        c, k = divmod(i, CHUNK)
        container = self.containers[c]
        stream = container.streams.video[0]
        container.seek(self.pts[c][k], stream=stream, backward=True)
        for frame in container.decode(stream):
            if frame.pts == self.pts[c][k]:
                if self.color:
                    return frame.to_ndarray(format="bgr24")
                return np.frombuffer(frame.planes[0], np.uint8).copy()
        raise RuntimeError(f"frame {i} not found")

    def close(self) -> None:
        for c in self.containers:
            c.close()


def sequential_ms(root: Path, frames: int) -> dict[str, float]:
    """ms per frame of a whole-store read: framestore's, PyAV decode-only, PyAV taking frames
    out; each must yield every frame."""
    r: dict[str, float] = {}

    def record(label: str, t0: float, count: int) -> None:
        if count != frames:
            raise RuntimeError(f"{label.strip() or 'framestore'} read {count} frames of {frames}")
        r[f"sequential ms/frame{label}"] = 1000 * (time.perf_counter() - t0) / count

    with framestore.new_for_filename(root) as store:
        color = len(store.image_shape) == 3
        t0 = time.perf_counter()
        record("", t0, sum(1 for _ in store.iter_frames()))
    for label, take in ((" PyAV decode-only", False), (" PyAV taken out", True)):
        t0, count = time.perf_counter(), 0
        for path in sorted(root.glob("*.mkv")):
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for frame in container.decode(stream):
                    count += 1
                    if take and color:
                        frame.to_ndarray(format="bgr24")
                    elif take:
                        np.frombuffer(frame.planes[0], np.uint8).copy()
        record(label, t0, count)
    return r


def one_round(root: Path, frames: int, steps: int, color: bool) -> dict[str, float]:
    rng = np.random.default_rng(7)
    back = list(range(min(frames - 1, frames // 2 + steps), frames // 2, -1))
    centre, nearby = frames // 2, []
    for _ in range(steps):
        centre = int(np.clip(centre + rng.integers(-3, 4), 15, frames - 16))
        nearby.append(centre + int(rng.integers(-15, 16)))
    rand = rng.integers(0, frames, 100).tolist()
    r: dict[str, float] = {}
    for label, keep in (("", video.GOP_KEEP_BYTES), (" kept GOP off", 0)):
        saved, video.GOP_KEEP_BYTES = video.GOP_KEEP_BYTES, keep
        try:
            for name, indices in (("step back", back), ("nearby", nearby), ("random", rand)):
                with framestore.new_for_filename(root) as store:
                    store[indices[0]]
                    r[f"{name} ms{label}"] = median_ms(indices, store.__getitem__)
        finally:
            video.GOP_KEEP_BYTES = saved
    for thread_type in ("AUTO", "SLICE"):  # framestore's single-frame decoders forced to one
        with framestore.new_for_filename(root) as store:
            for c in range(len(store.chunks)):
                store._reader(c)._thread_type = thread_type  # type: ignore[attr-defined]
            store[rand[0]]
            r[f"random ms {thread_type}"] = median_ms(rand, store.__getitem__)
        peer = PyAVReader(root, thread_type, color)
        peer(back[0])
        r[f"step back ms PyAV {thread_type}"] = median_ms(back, peer)
        r[f"random ms PyAV {thread_type}"] = median_ms(rand, peer)
        peer.close()
    r.update(sequential_ms(root, frames))
    return r


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--steps", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--color", action="store_true", help="1280x1024 BGR instead of 640x512 gray")
    args = parser.parse_args()
    shape = (1024, 1280, 3) if args.color else (512, 640)
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp, "h264")
        write_store(root, args.frames, shape)
        for _ in range(args.repeat):
            for name, value in one_round(root, args.frames, args.steps, args.color).items():
                results.setdefault(name, []).append(value)
    for name, values in results.items():
        print(f"{name:28s} {min(values):9.3f}   (all: {', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main()
