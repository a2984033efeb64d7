#!/usr/bin/env python
"""framestore write rate against PyAV's own encode of the same settings (issue #19 item 5).

Per video format and image kind (gray 640x512 uint8, colour 640x512x3): framestore's
``add_image`` loop plus ``close()`` (journal, index, checksums, read-back included) against
PyAV alone encoding the same frames into the same containers, one file per chunk, with the
settings of the format's ``VideoCodec`` (the stream set up by framestore's own
``add_encoder_stream``; colour converted by PyAV's ``reformat``). A third
contender is PyAV's encode with each chunk file fsynced once closed, as framestore must
before it indexes a chunk: where that is slower than the encode alone, the disk's durable
rate, not framestore, bounds the writer. Best of ``--repeat`` each, alternating the three
so a busy neighbour hits all alike, and the median of each round's own ratios.

Usage::

    python benchmarks/bench_write.py --repeat 3
    python benchmarks/bench_write.py --formats raw/nut utvideo/avi --kinds gray --frames 1500
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

import framestore
from framestore.codecs import resolve_format
from framestore.codecs.base import ImageSpec
from framestore.codecs.video import VideoCodec, add_encoder_stream
from framestore.testing.frames import synthetic_frame

FPS = 30
SHAPES = {"gray": (512, 640), "colour": (512, 640, 3)}
VIDEO_FORMATS = ["raw/nut", "utvideo/avi", "mjpeg/avi", "ffv1/mkv", "h264/mkv"]


def framestore_write(fmt: str, path: Path, frames: np.ndarray, chunksize: int) -> float:
    """Frames per second of framestore writing ``frames`` as a new store."""
    t0 = time.perf_counter()
    writer = framestore.new_for_format(
        fmt, path, imgshape=frames.shape[1:], chunksize=chunksize, fps=FPS, overwrite=True
    )
    for i, image in enumerate(frames):
        writer.add_image(image, i, 1.7e9 + i / FPS)
    writer.close()
    return len(frames) / (time.perf_counter() - t0)


def _to_frame(image: np.ndarray, pix_fmt: str) -> av.VideoFrame:
    if image.ndim == 3:
        return av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format=pix_fmt)
    if pix_fmt in ("gray", "gray16le"):
        return av.VideoFrame.from_ndarray(image, format=pix_fmt)
    frame = av.VideoFrame(image.shape[1], image.shape[0], pix_fmt)  # luma = image, neutral chroma
    for k, plane in enumerate(frame.planes):
        rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
        if k == 0:
            rows[:, : image.shape[1]] = image
        else:
            rows[:] = 128
    return frame


def _encode_file(path: Path, frames: np.ndarray, vc: VideoCodec, pix_fmt: str) -> None:
    step = Fraction(1000, FPS) if vc.extension == ".mkv" else Fraction(1)
    with av.open(str(path), "w") as container:
        spec = ImageSpec(frames.shape[1:], frames.dtype)
        stream = add_encoder_stream(container, vc, spec, pix_fmt, FPS, None)
        for i, image in enumerate(frames):
            frame = _to_frame(image, pix_fmt)
            frame.pts = round(i * step)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def pyav_encode(fmt: str, directory: Path, frames: np.ndarray, chunksize: int, fsync: bool = False) -> float:
    """Frames per second of PyAV alone writing the same chunk files (each fsynced once
    written, with ``fsync``)."""
    vc = resolve_format(fmt).video
    assert vc is not None
    pix_fmt = vc.pix_fmt_for(ImageSpec(frames.shape[1:], frames.dtype))
    assert pix_fmt is not None
    directory.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    for start in range(0, len(frames), chunksize):
        path = directory / f"{start // chunksize:06d}{vc.extension}"
        _encode_file(path, frames[start : start + chunksize], vc, pix_fmt)
        if fsync:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    return len(frames) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=1500)
    p.add_argument("--chunksize", type=int, default=500)
    p.add_argument("--formats", nargs="+", default=VIDEO_FORMATS)
    p.add_argument("--kinds", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    p.add_argument("--repeat", type=int, default=3, help="best of N, alternating framestore and PyAV")
    args = p.parse_args(argv)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    print(
        f"framestore from {Path(framestore.__file__).parent}, commit {commit}, {args.frames} frames, "
        f"chunksize {args.chunksize}, best of {args.repeat}, PyAV {av.__version__}"
    )
    print(
        "| format | kind | framestore fps | PyAV fps | + fsync fps | write/encode | write/(+fsync) "
        "| round medians: write/encode | write/(+fsync) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    work = Path(tempfile.mkdtemp(prefix="bench_write_"))
    try:
        for kind in args.kinds:
            shape = SHAPES[kind]
            frames = np.stack([synthetic_frame(i, shape) for i in range(args.frames)])
            for fmt in args.formats:
                spec = resolve_format(fmt)
                if spec.video is None or spec.video.pix_fmt_for(ImageSpec(shape, frames.dtype)) is None:
                    continue
                rounds = []  # (framestore, PyAV, PyAV + fsync) fps, one round each
                for _ in range(args.repeat):
                    fs = framestore_write(fmt, work / "store", frames, args.chunksize)
                    shutil.rmtree(work / "store")
                    enc = pyav_encode(fmt, work / "pyav", frames, args.chunksize)
                    shutil.rmtree(work / "pyav")
                    durable = pyav_encode(fmt, work / "pyav", frames, args.chunksize, fsync=True)
                    shutil.rmtree(work / "pyav")
                    rounds.append((fs, enc, durable))
                fs, enc, durable = np.max(rounds, axis=0)
                # each round's ratio, its contenders timed minutes apart at most: steadier
                # than the ratio of bests where a neighbour's load comes and goes
                per_round = np.median([(r[0] / r[1], r[0] / r[2]) for r in rounds], axis=0)
                print(
                    f"| {fmt} | {kind} | {fs:,.0f} | {enc:,.0f} | {durable:,.0f} | {fs / enc:.2f} "
                    f"| {fs / durable:.2f} | {per_round[0]:.2f} | {per_round[1]:.2f} |",
                    flush=True,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
