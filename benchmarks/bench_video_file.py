"""A plain H.264 .mp4 opened with ``framestore.open_video``: opening (demux index built,
then from the user cache), random-frame latency and sequential speed, against OpenCV
(``CAP_PROP_POS_FRAMES``) and torchcodec's exact mode when importable; then ``framestore
import`` with and without ``--copy``.

Writes 640x512 synthetic frames (gray content, yuv420p) as H.264 with B-frames and a
keyframe every 250 frames, like a behaviour camera's file.

    python benchmarks/bench_video_file.py --frames 3000
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import framestore
from framestore.testing.frames import read_barcode
from framestore.testing.video_files import write_video_file


def latency(read, indices: np.ndarray) -> tuple[float, float]:
    times = []
    for i in indices:
        t = time.perf_counter()
        read(int(i))
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), float(np.percentile(times, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=3000)
    parser.add_argument("--reads", type=int, default=100)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-video-file-"))
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
    for gray in (False, True):
        s = framestore.open_video(video, gray=gray)
        s[0]
        med, p95 = latency(lambda i, s=s: s[i], order)
        bad = sum(read_barcode(s[int(i)]) != i for i in order[:20])
        t = time.perf_counter()
        n = sum(1 for _ in s)
        fps = n / (time.perf_counter() - t)
        label = "gray (luma)" if gray else "BGR"
        print(f"framestore {label}: random median {med:.1f} ms, p95 {p95:.1f} ms ({bad} wrong of 20); "
              f"sequential {fps:.0f} fps")  # fmt: skip
        s.close()

    try:
        import cv2

        cap = cv2.VideoCapture(str(video))

        def cv_read(i: int) -> np.ndarray:
            cap.set(cv2.CAP_PROP_POS_FRAMES, i)
            ok, frame = cap.read()
            return frame

        med, p95 = latency(cv_read, order)
        wrong = sum(read_barcode(cv_read(int(i))) != i for i in order[:20])
        cap.release()
        cap = cv2.VideoCapture(str(video))
        t = time.perf_counter()
        n = 0
        while cap.read()[0]:
            n += 1
        print(f"OpenCV BGR: random median {med:.1f} ms, p95 {p95:.1f} ms ({wrong} wrong of 20); "
              f"sequential {n / (time.perf_counter() - t):.0f} fps")  # fmt: skip
    except ImportError:
        print("OpenCV: not installed")
    try:
        from torchcodec.decoders import VideoDecoder

        decoder = VideoDecoder(str(video), seek_mode="exact")
        med, p95 = latency(lambda i: decoder[i], order)
        print(f"torchcodec exact: random median {med:.1f} ms, p95 {p95:.1f} ms")
    except ImportError:
        print("torchcodec: not importable here (CPU wheels newer than 0.12 need CUDA)")

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
