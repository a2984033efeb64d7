"""Synthetic recordings written into stores: the (format, kind) pairs every read path is
tested on, and what was written (the ground truth reads are checked against)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import framestore
from framestore.testing.frames import frame_numbers_with_gaps, frame_times_for, synthetic_frame

# (format, kind) pairs every read path is tested on
FORMAT_KINDS = [
    ("utvideo/avi", "gray8"),
    ("utvideo/avi", "color"),
    ("ffv1/mkv", "gray8"),
    ("ffv1/mkv", "gray16"),
    ("ffv1/mkv", "color"),
    ("raw/nut", "gray8"),
    ("raw/nut", "gray16"),
    ("raw/nut", "color"),
    ("h264/mkv", "gray8"),
    ("h264/mkv", "color"),
    ("avc1/mp4", "gray8"),
    ("avc1/mp4", "color"),
    ("mjpeg/avi", "gray8"),
    ("mjpeg/avi", "color"),
    ("npy", "gray8"),
    ("npy", "gray16"),
    ("npy", "color"),
    ("png", "gray8"),
    ("png", "gray16"),
    ("png", "color"),
    ("jpg", "gray8"),
    ("jpg", "color"),
    ("tif", "gray16"),
    ("bmp", "gray8"),
    ("pgm", "gray8"),
    ("ppm", "color"),
]
# the cases read by URL (file:// and HTTP, both through fsspec): every chunk codec, each
# pixel kind, video and image-file chunks
URL_CASES = [
    ("utvideo/avi", "gray8"),
    ("utvideo/avi", "color"),
    ("h264/mkv", "gray8"),
    ("h264/mkv", "color"),
    ("ffv1/mkv", "gray16"),
    ("raw/nut", "gray8"),
    ("mjpeg/avi", "color"),
    ("npy", "gray8"),
    ("png", "gray16"),
    ("png", "color"),
    ("jpg", "gray8"),
]
LOSSLESS = {"utvideo/avi", "ffv1/mkv", "raw/nut", "npy", "png", "tif", "bmp", "pgm", "ppm"}
FRAMES = 150
CHUNKSIZE = 70  # chunks of 70, 70, 10; H.264's keyframe every 30 falls inside chunks
FIRST_FRAME_NUMBER = 5_000_000
USER_METADATA = {"rig": "test", "n": 3}


def case_id(fmt: str, kind: str) -> str:
    return f"{fmt}-{kind}"


def kind_shape_dtype(kind: str, height: int = 48, width: int = 72) -> tuple[tuple[int, ...], type]:
    if kind == "color":
        return (height, width, 3), np.uint8
    return (height, width), (np.uint16 if kind == "gray16" else np.uint8)


class Recording:
    """What was written to a store: the ground truth the reads are checked against."""

    def __init__(self, path: Path, fmt: str, shape: tuple[int, ...], dtype: type, count: int):
        self.path = path
        self.fmt = fmt
        self.shape = shape
        self.dtype = dtype
        self.frame_numbers = frame_numbers_with_gaps(count, start=FIRST_FRAME_NUMBER, gap_every=7)
        self.frame_times = frame_times_for(self.frame_numbers, fps=30.0)
        self.images = np.stack([synthetic_frame(int(n), shape, dtype) for n in self.frame_numbers])


def write_recording(
    path: Path, fmt: str, kind: str, count: int = FRAMES, chunksize: int = CHUNKSIZE, **shape_kw: int
) -> Recording:
    """A store of ``count`` synthetic frames (numbered from 5,000,000 with gaps, 30 fps)."""
    shape, dtype = kind_shape_dtype(kind, **shape_kw)
    rec = Recording(path, fmt, shape, dtype, count)
    with framestore.new_for_format(
        fmt,
        path,
        imgshape=shape,
        imgdtype=dtype,
        chunksize=chunksize,
        fps=30,
        metadata=USER_METADATA,
    ) as writer:
        for image, n, t in zip(rec.images, rec.frame_numbers, rec.frame_times, strict=True):
            writer.add_image(image, n, t)
    return rec
