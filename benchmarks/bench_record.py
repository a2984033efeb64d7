#!/usr/bin/env python
"""framestore benchmark: how many live 30 fps cameras one machine records in real time,
per format, and how late a follower in another process sees each frame.

Capacity: ``framestore.record`` records N synthetic cameras at once (one capture thread
and one writer each, as with real cameras), for N = 1, 2, 3, ... until a run drops a
frame. Each camera is modelled on a real one: it makes a frame every 1/30 s whether or
not anyone reads it, keeps the last ``--buffer`` (4, like a V4L2 driver's queue) unread,
and drops the oldest when the queue is full; the dropped frame's number is skipped, so the
recorder counts it (``dropped``). A source count is real-time when every camera of the
run dropped nothing over ``--seconds`` (60 by default; shorter for a quick look). Two
kinds of camera: 640x512 gray and 1280x1024 color, their frames generated beforehand
(``framestore.testing.frames``: moving shapes, noise) so that making frames costs
nothing during the run.

Latency: this process writes one 640x512 gray camera at 30 fps (default format) and
records when each ``add_image`` returned (CLOCK_MONOTONIC, which all processes share);
a second process follows the store with ``StoreReader.follow(poll=...)`` and records when
it got each frame. The difference, per frame, is the latency from ``add_image``
returning to the frame being readable in another process; one run per ``--polls`` value.

Usage::

    python benchmarks/bench_record.py                          # 60 s per run
    python benchmarks/bench_record.py --seconds 10 --formats utvideo/avi h264/mkv
    python benchmarks/bench_record.py --skip-capacity --polls 0.002 0.01 0.05
    python benchmarks/bench_record.py --kinds "640x512 gray" --sources 8 --max-sources 8
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np

import framestore
from framestore.ingest.record import RecordReport
from framestore.testing.frames import synthetic_frame

FPS = 30.0
KINDS = {"640x512 gray": (512, 640), "1280x1024 color": (1024, 1280, 3)}
DEFAULT_FORMATS = ["utvideo/avi", "h264/mkv", "mjpeg/avi", "ffv1/mkv", "raw/nut"]
DISTINCT_FRAMES = 60  # generated per kind, cycled
MAX_SOURCES = 8


class BufferedCamera:
    """A camera making a frame every 1/fps s from when it is first read, keeping at most
    ``buffer`` unread frames: older ones are dropped, and their numbers never appear."""

    def __init__(self, frames: list[np.ndarray], name: str, fps: float = FPS, buffer: int = 4) -> None:
        self.name = name
        self.fps: float | None = fps
        self._frames = frames
        self._buffer = buffer
        self._start: float | None = None
        self._next = 0  # the next frame number to hand out

    def read(self) -> framestore.Captured:
        now = time.monotonic()
        if self._start is None:
            self._start = now
        made = math.floor((now - self._start) * FPS) + 1  # frames 0 .. made - 1 exist
        if made - self._next > self._buffer:
            self._next = made - self._buffer  # the queue overflowed: the oldest are lost
        if self._next >= made:  # wait for the next frame to be made
            time.sleep(self._start + self._next / FPS - now)
        number = self._next
        self._next += 1
        return framestore.Captured(self._frames[number % len(self._frames)], number)

    def close(self) -> None:
        pass


def record_run(
    root: Path, fmt: str, frames: list[np.ndarray], sources: int, seconds: float, buffer: int
) -> RecordReport:
    cameras = [BufferedCamera(frames, f"camera {k}", buffer=buffer) for k in range(sources)]
    path = root / f"run-{fmt.replace('/', '_')}-{sources}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", framestore.StoreWarning)
            return framestore.record(path, cameras, fmt=fmt, duration=seconds, fps=FPS, chunksize=500)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def capacity(
    root: Path, formats: list[str], kinds: list[str], seconds: float, buffer: int, first: int, most: int
) -> list[str]:
    """Per kind and format: record ``first``, ``first + 1``, ... cameras, up to ``most``,
    until a run drops a frame."""
    rows = [
        "| format | camera | real-time sources | runs: sources -> frames dropped (of frames recorded) |",
        "|---|---|---|---|",
    ]
    for kind in kinds:
        frames = [synthetic_frame(k, KINDS[kind]) for k in range(DISTINCT_FRAMES)]
        for fmt in formats:
            runs, best = [], 0
            for n in range(first, most + 1):
                report = record_run(root, fmt, frames, n, seconds, buffer)
                dropped = sum(s.dropped for s in report.sources)
                recorded = sum(s.frames for s in report.sources)
                runs.append(f"{n} -> {dropped} ({recorded})")
                print(f"  {fmt} {kind}: {n} source(s): {dropped} dropped of {recorded}", flush=True)
                if dropped or not report.ok:
                    break
                best = n
            shown = f"{best} or more (the most tried)" if best == most else str(best or f"under {first}")
            rows.append(f"| {fmt} | {kind} | {shown} | {'; '.join(runs)} |")
    return rows


FOLLOWER = textwrap.dedent(
    """
    import os, sys, time, warnings
    import framestore
    store, out, poll, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    while not os.path.exists(os.path.join(store, "metadata.yaml")):
        time.sleep(0.001)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reader = framestore.new_for_filename(store)
    open(ready, "w").close()
    lines = []
    for f in reader.follow(timeout=30, start=0, poll=poll):
        lines.append(f"{f.frame_number} {time.monotonic()!r}")
    with open(out, "w") as fh:
        fh.write("\\n".join(lines) + "\\n")
    """
)


def latency_run(root: Path, poll: float, seconds: float) -> np.ndarray:
    store, out, ready = (root / f"latency-{poll}{suffix}" for suffix in ("", ".txt", ".ready"))
    frames = [synthetic_frame(k, KINDS["640x512 gray"]) for k in range(DISTINCT_FRAMES)]
    args = [str(store), str(out), repr(poll), str(ready)]
    follower = subprocess.Popen([sys.executable, "-c", FOLLOWER, *args])
    added = []
    with framestore.new_for_format(framestore.DEFAULT_FORMAT, store, imgshape=frames[0].shape, fps=FPS) as w:
        while not ready.exists():  # the follower has started and opened the store
            if follower.poll() is not None:
                raise RuntimeError("the follower exited before it began")
            time.sleep(0.01)
        start = time.monotonic()
        for k in range(int(seconds * FPS)):
            delay = start + k / FPS - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            w.add_image(frames[k % len(frames)], k, time.time())
            added.append(time.monotonic())
    follower.wait(timeout=60)
    got = dict(line.split() for line in out.read_text().split("\n") if line)
    if len(got) != len(added):
        raise RuntimeError(f"the follower got {len(got)} frames of {len(added)}")
    shutil.rmtree(store)
    return np.array([float(got[str(k)]) - t for k, t in enumerate(added)]) * 1000


def latency(root: Path, polls: list[float], seconds: float) -> list[str]:
    rows = ["| poll (s) | frames | median ms | p95 ms | p99 ms | max ms |", "|---|---|---|---|---|---|"]
    for poll in polls:
        ms = latency_run(root, poll, seconds)
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        rows.append(f"| {poll:g} | {len(ms)} | {p50:.1f} | {p95:.1f} | {p99:.1f} | {ms.max():.1f} |")
        print(f"  poll {poll:g}: median {p50:.1f} ms, p95 {p95:.1f} ms, max {ms.max():.1f} ms", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run (default 60)")
    parser.add_argument("--formats", nargs="+", default=DEFAULT_FORMATS)
    parser.add_argument("--buffer", type=int, default=4, help="frames a camera keeps unread (default 4)")
    parser.add_argument("--kinds", nargs="+", choices=list(KINDS), default=list(KINDS))
    parser.add_argument("--sources", type=int, default=1, help="cameras in the first run (default 1)")
    parser.add_argument(
        "--max-sources", type=int, default=MAX_SOURCES, help=f"cameras in the last run ({MAX_SOURCES})"
    )
    parser.add_argument("--polls", nargs="+", type=float, default=[0.01], help="follow(poll=) values")
    parser.add_argument("--skip-capacity", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args()
    lines = [
        f"# bench_record: {time.strftime('%Y-%m-%d %H:%M')}, {platform.node()}, {os.cpu_count()} cores, "
        f"{args.seconds:g} s per run, camera buffer {args.buffer}",
        "",
    ]
    with tempfile.TemporaryDirectory(prefix="bench-record-") as tmp:
        root = Path(tmp)
        if not args.skip_capacity:
            print("capacity (30 fps cameras recorded with no frame dropped):", flush=True)
            rows = capacity(
                root, args.formats, args.kinds, args.seconds, args.buffer, args.sources, args.max_sources
            )
            lines += ["## Real-time capacity", "", *rows, ""]
        if not args.skip_latency:
            print(f"follower latency ({framestore.DEFAULT_FORMAT}, 640x512 gray, 30 fps):", flush=True)
            lines += ["## Follower latency", "", *latency(root, args.polls, args.seconds), ""]
    report = "\n".join(lines)
    print("\n" + report)
    if args.out:
        args.out.write_text(report + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
