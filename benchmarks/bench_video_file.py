"""A plain H.264 .mp4 opened with ``framestore.open_video``: opening (demux index built,
then from the user cache), random-frame latency and sequential speed, against OpenCV
(``CAP_PROP_POS_FRAMES``) and torchcodec's exact seek mode on the same file; then ``framestore
import`` with and without ``--copy``.

torchcodec runs in its own interpreter (``--torchcodec-python``, a venv with torch and
torchcodec; skipped with a message when absent) so that this process never imports torch:
``VideoDecoder(path, seek_mode="exact", dimension_order="NHWC")``, each frame taken out as
an RGB HWC uint8 numpy array (``.numpy()``, zero-copy, counted in the time), once with
torchcodec's default ``num_ffmpeg_threads=1`` and once with ``0`` (FFmpeg picks, as
framestore's reader does).

Writes 640x512 synthetic frames (gray content, yuv420p) as H.264 with B-frames and a
keyframe every 250 frames, like a behaviour camera's file.

Readers take turns for ``--repeat`` rounds and each keeps its best; then the file is
opened by URL from a local server with byte ranges (bytes fetched to open and to read).

    python benchmarks/bench_video_file.py --frames 3000 --repeat 3 --torchcodec-python /tmp/tc/bin/python
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

import numpy as np

import framestore
from framestore.testing.frames import read_barcode
from framestore.testing.video_files import write_video_file

_TORCHCODEC_SCRIPT = r"""
import json, statistics, sys, time
import numpy as np
from torchcodec.decoders import VideoDecoder
path, order, threads, out = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t = time.perf_counter()
decoder = VideoDecoder(path, seek_mode="exact", dimension_order="NHWC", num_ffmpeg_threads=threads)
opened = time.perf_counter() - t
decoder[0].numpy()
times = []
for i in order:
    t = time.perf_counter()
    decoder[i].numpy()
    times.append((time.perf_counter() - t) * 1000)
np.save(out, np.stack([decoder[i].numpy()[:, :, ::-1] for i in order[:20]]))  # BGR, checked by the caller
decoder = VideoDecoder(path, seek_mode="exact", dimension_order="NHWC", num_ffmpeg_threads=threads)
t = time.perf_counter()
n = sum(1 for f in decoder if f.numpy() is not None)
fps = n / (time.perf_counter() - t)
print(json.dumps({"median": statistics.median(times), "p95": float(np.percentile(times, 95)),
                  "fps": fps, "open_ms": opened * 1000}))
"""


Result = tuple[float, float, float, int]  # random median ms, random p95 ms, sequential fps, wrong


def torchcodec_peer(python: str, video: Path, order: np.ndarray, threads: int) -> Result | None:
    out = video.with_name(f"torchcodec-{threads}.npy")
    done = subprocess.run(
        [python, "-c", _TORCHCODEC_SCRIPT, str(video), json.dumps(order.tolist()), str(threads), str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        print(f"torchcodec failed: {done.stderr.strip().splitlines()[-1:]}")
        return None
    r = json.loads(done.stdout.strip().splitlines()[-1])
    wrong = sum(read_barcode(f) != i for f, i in zip(np.load(out), order[:20], strict=True))
    return r["median"], r["p95"], r["fps"], wrong


def latency(read, indices: np.ndarray) -> tuple[float, float]:
    times = []
    for i in indices:
        t = time.perf_counter()
        read(int(i))
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), float(np.percentile(times, 95))


def framestore_reader(location: str | Path, order: np.ndarray, gray: bool) -> Result:
    s = framestore.open_video(location, gray=gray)
    s[0]
    med, p95 = latency(lambda i: s[i], order)
    wrong = sum(read_barcode(s[int(i)]) != i for i in order[:20])
    t = time.perf_counter()
    n = sum(1 for _ in s)
    fps = n / (time.perf_counter() - t)
    s.close()
    return med, p95, fps, wrong


def opencv_reader(video: Path, order: np.ndarray) -> Result:
    import cv2

    cap = cv2.VideoCapture(str(video))

    def cv_read(i: int) -> np.ndarray:
        cap.set(cv2.CAP_PROP_POS_FRAMES, i)
        return cap.read()[1]

    med, p95 = latency(cv_read, order)
    wrong = sum(read_barcode(cv_read(int(i))) != i for i in order[:20])
    cap.release()
    cap = cv2.VideoCapture(str(video))
    t = time.perf_counter()
    n = 0
    while cap.read()[0]:
        n += 1
    return med, p95, n / (time.perf_counter() - t), wrong


def over_http(video: Path, order: np.ndarray) -> None:
    """Open the file by URL from a local server with byte ranges; what opening and one
    random frame fetch."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from _support.range_server import RangeServer
    except ImportError:
        print("URL: tests/_support not found; skipped")
        return
    server = RangeServer(video.parent)
    try:
        url = f"{server.url}/{video.name}"
        t = time.perf_counter()
        with framestore.open_video(url) as remote:
            opened = time.perf_counter() - t
            taken = server.take()
            mb = sum(r.sent for r in taken) / 1e6
            print(f"URL open (index from the file's header): {opened * 1000:.0f} ms, {len(taken)} "
                  f"requests, {mb:.2f} MB of {video.stat().st_size / 1e6:.1f} MB")  # fmt: skip
            for i in order[:5]:
                t = time.perf_counter()
                remote[int(i)]
                ms = (time.perf_counter() - t) * 1000
                taken = server.take()
                print(f"  URL frame {int(i)}: {ms:.0f} ms, {len(taken)} requests, "
                      f"{sum(r.sent for r in taken) / 1e6:.2f} MB")  # fmt: skip
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--reads", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every reader, best kept")
    parser.add_argument(
        "--torchcodec-python",
        default="/tmp/tc/bin/python",
        help="an interpreter with torch and torchcodec ('' skips torchcodec)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-video-file-") as directory:
        run(args, Path(directory))


def run(args: argparse.Namespace, tmp: Path) -> None:
    """Write the file, then time every reader on it (all files under ``tmp``)."""
    os.environ["FRAMESTORE_CACHE_DIR"] = str(tmp / "cache")
    video = tmp / "cam.mp4"
    t = time.perf_counter()
    write_video_file(video, args.frames, shape=(512, 640), gop=250, bframes=2, options={"preset": "veryfast"})
    print(f"wrote {video.name}: {args.frames} frames 640x512 H.264 (B-frames, gop 250), "
          f"{video.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - t:.1f} s")  # fmt: skip
    rng = np.random.default_rng(12345)
    order = rng.integers(0, args.frames, args.reads)

    t = time.perf_counter()
    framestore.open_video(video).close()
    first = time.perf_counter() - t
    t = time.perf_counter()
    framestore.open_video(video).close()
    cached = time.perf_counter() - t
    print(f"open: {first * 1000:.0f} ms building the demux index, {cached * 1000:.1f} ms cached")
    readers: dict[str, Callable[[], Result | None]] = {
        "framestore `open_video`, BGR": lambda: framestore_reader(video, order, False),
        "framestore `open_video(gray=True)` (luma plane)": lambda: framestore_reader(video, order, True),
        "OpenCV `CAP_PROP_POS_FRAMES`, BGR": lambda: opencv_reader(video, order),
    }
    if args.torchcodec_python and Path(args.torchcodec_python).exists():
        for threads in (1, 0):
            readers[f"torchcodec exact, RGB, num_ffmpeg_threads={threads}"] = lambda threads=threads: (
                torchcodec_peer(args.torchcodec_python, video, order, threads)
            )
    else:
        print(f"torchcodec: {args.torchcodec_python!r} not found; skipped (needs its own venv)")
    results: dict[str, list[Result]] = {name: [] for name in readers}
    for _ in range(args.repeat):  # readers take turns, so load from elsewhere hits all alike
        for name, read in readers.items():
            result = read()
            if result is not None:
                results[name].append(result)
    print(f"\nbest of {args.repeat} rounds | random median ms | random p95 ms | sequential fps | wrong of 20")
    best = {name: (min(r[0] for r in rs), min(r[1] for r in rs), max(r[2] for r in rs), max(r[3] for r in rs))
            for name, rs in results.items() if rs}  # fmt: skip
    for name, (med, p95, fps, wrong) in best.items():
        print(f"{name} | {med:.1f} | {p95:.1f} | {fps:.0f} | {wrong}")
    peers = [b for name, b in best.items() if name.startswith("torchcodec")]
    if peers:
        tc_med, tc_fps = min(b[0] for b in peers), max(b[2] for b in peers)
        for name, (med, _, fps, _) in best.items():
            if name.startswith("framestore"):
                print(f"{name}: random {med / tc_med:.2f}x the better torchcodec's time, "
                      f"sequential {fps / tc_fps:.2f}x its rate")  # fmt: skip
    over_http(video, order)

    for copy in (True, False):
        out = tmp / ("copied" if copy else "imported")
        t = time.perf_counter()
        framestore.import_videos([video], out, copy=copy)
        seconds = time.perf_counter() - t
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
        how = "--copy" if copy else f"re-encoded ({framestore.DEFAULT_FORMAT})"
        print(f"import {how}: {args.frames / seconds:.0f} frames/s, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
