"""Shared fixtures: synthetic stores in every format, and a PyAV/file-level oracle."""

from __future__ import annotations

import warnings
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import framestore
from framestore.ingest.miniscope import import_recording
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
LOSSLESS = {"utvideo/avi", "ffv1/mkv", "raw/nut", "npy", "png", "tif", "bmp", "pgm", "ppm"}
FRAMES = 150
CHUNKSIZE = 70  # chunks of 70, 70, 10; H.264's keyframe every 30 falls inside chunks


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
        self.frame_numbers = frame_numbers_with_gaps(count, start=5_000_000, gap_every=7)
        self.frame_times = frame_times_for(self.frame_numbers, fps=30.0)
        self.images = np.stack([synthetic_frame(int(n), shape, dtype) for n in self.frame_numbers])


def write_recording(
    path: Path, fmt: str, kind: str, count: int = FRAMES, chunksize: int = CHUNKSIZE, **shape_kw: int
) -> Recording:
    shape, dtype = kind_shape_dtype(kind, **shape_kw)
    rec = Recording(path, fmt, shape, dtype, count)
    with framestore.new_for_format(
        fmt,
        path,
        imgshape=shape,
        imgdtype=dtype,
        chunksize=chunksize,
        fps=30,
        metadata={"rig": "test", "n": 3},
    ) as writer:
        for image, n, t in zip(rec.images, rec.frame_numbers, rec.frame_times, strict=True):
            writer.add_image(image, n, t)
    return rec


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Recording]:
    """One store per (format, kind), written once per test session."""
    root = tmp_path_factory.mktemp("stores")
    return {
        (fmt, kind): write_recording(root / f"{fmt.replace('/', '_')}-{kind}", fmt, kind)
        for fmt, kind in FORMAT_KINDS
    }


def _oracle_frame(frame: av.VideoFrame, kind: str) -> np.ndarray:
    if kind == "color":
        return frame.to_ndarray(format="bgr24")
    if kind == "gray16":
        return frame.to_ndarray(format="gray16le")
    if frame.format.name == "gray":
        return frame.to_ndarray(format="gray").copy()
    # gray content in a YUV frame: the luma plane is the image
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : frame.width].copy()


def oracle_decode(path: Path, kind: str) -> np.ndarray:
    """Every frame of a store by a plain full sequential decode of its chunk files,
    with PyAV (video) or cv2/numpy (image files), without framestore's reader."""
    frames: list[np.ndarray] = []
    video = sorted(p for p in path.iterdir() if p.suffix in (".mkv", ".avi", ".nut", ".mp4"))
    if video:
        for chunk in video:
            with av.open(str(chunk)) as container:
                frames.extend(_oracle_frame(f, kind) for f in container.decode(video=0))
        return np.stack(frames)
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        for file in sorted(folder.glob("[0-9]*.*")):
            if file.suffix == ".npy":
                frames.append(np.load(file))
            else:
                flag = {"color": cv2.IMREAD_COLOR, "gray8": cv2.IMREAD_GRAYSCALE}.get(
                    kind, cv2.IMREAD_UNCHANGED
                )
                frames.append(cv2.imread(str(file), flag))
    return np.stack(frames)


def import_receivers(session, root: Path) -> dict[str, framestore.StoreReader]:
    """Each receiver of a generated miniscope session imported into a store under
    ``root``, by name (the warnings about trailing and split frames silenced)."""
    stores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        for rec in session.receivers:
            import_recording(session.video(rec.stem), root / rec.stem)
            stores[rec.stem] = framestore.new_for_filename(root / rec.stem)
    return stores
