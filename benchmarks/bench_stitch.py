"""Stitching two receivers: framestore-stitch against the miniscope project's ``mio process
stitch`` on the same generated recording, in one run.

    python benchmarks/bench_stitch.py --frames 2000 --mio /path/to/venv-with-mio/bin/mio

``mio`` (PyPI ``mio``) needs the ``ffmpeg`` program; it is run in its own environment.
The recording has no split or glitch frames, which ``mio`` cannot align. Reports wall time,
frames/s, peak memory of each, and how many output frames are a least-damaged copy.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from framestore.testing.miniscope import make_session

_MEASURE = (
    "import resource, subprocess, sys; "
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def run(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a command, measured from a process of its own."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURE, *cmd], check=True, capture_output=True, text=True)
    return time.perf_counter() - t0, int(done.stdout.split()[-1]) / 1024


def damage(frames: list[np.ndarray], numbers: list[int], truth: dict[int, np.ndarray]) -> list[int]:
    return [int(np.count_nonzero(f != truth[n])) for f, n in zip(frames, numbers, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--mio", default="/tmp/venv-mio/bin/mio")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        session = make_session(
            root / "s", receivers=2, frames=args.frames, split_frame=False, glitch_frame=False
        )
        videos = [str(session.video(r.stem)) for r in session.receivers]
        fs_s, fs_mb = run([sys.executable, "-m", "framestore.cli.stitch", *videos, "-o", str(root / "fs")])
        mio_s, mio_mb = run(
            [args.mio, "process", "stitch", "-i", videos[0], "-i", videos[1], "-o", str(root / "mio")]
        )
        import framestore

        out = framestore.new_for_filename(root / "fs")
        fs_damage = damage(list(out), out.frame_numbers.tolist(), session.truth)
        mio_video = next((root / "mio").glob("*.avi"))
        with av.open(str(mio_video)) as container:
            mio_frames = [f.to_ndarray(format="gray") for f in container.decode(video=0)]
        best = {}
        for rec in session.receivers:
            for n, d in zip(rec.frame_nums, rec.damaged, strict=True):
                best[n] = min(best.get(n, d), d)
        numbers = out.frame_numbers.tolist()
    n = len(numbers)
    print(f"two receivers, {args.frames} device frames of 200x200, {n} frames out")
    print(
        "| stitcher | seconds | frames/s | peak RSS MB | frames out | least-damaged copy | mean damaged px |"
    )
    print("|---|---|---|---|---|---|---|")
    fs_best = sum(d == best[k] for d, k in zip(fs_damage, numbers, strict=True))
    fs_row = [f"{fs_s:.1f}", f"{n / fs_s:.0f}", f"{fs_mb:.0f}", n, fs_best, f"{np.mean(fs_damage):.0f}"]
    mio_row = [f"{mio_s:.1f}", f"{len(mio_frames) / mio_s:.0f}", f"{mio_mb:.0f}", len(mio_frames), "–", "–"]
    print("| framestore-stitch | " + " | ".join(map(str, fs_row)) + " |")
    print("| mio process stitch | " + " | ".join(map(str, mio_row)) + " |")
    print(f"speed ratio, output frames/s: {(n / fs_s) / (len(mio_frames) / mio_s):.1f}x")
    print(f"speed ratio, same input (wall time): {mio_s / fs_s:.1f}x")


if __name__ == "__main__":
    main()
