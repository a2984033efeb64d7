"""Pixel-format conversion for reading (codecs/pixels.py): the pooled filter graph gives
exactly the pixels of PyAV's own conversion, and a frame's array is never overwritten by
the conversion of a later frame whose output reuses pooled memory."""

from __future__ import annotations

import itertools

import av
import numpy as np
import pytest
from av.video.reformatter import VideoReformatter

from framestore.codecs.pixels import converted, to_array

DECODED_FORMATS = ["yuv420p", "yuvj420p", "yuv422p", "yuv444p", "nv12", "gbrp", "bgr0", "gray", "yuv420p10le"]


def _frame(fmt: str, width: int, height: int, seed: int, color_range: int = 0) -> av.VideoFrame:
    image = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(image, format="bgr24").reformat(format=fmt)
    frame.color_range = color_range
    return frame


def _plane_rows(frame: av.VideoFrame, bytes_per_pixel: int) -> np.ndarray:
    plane = frame.planes[0]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : frame.width * bytes_per_pixel]


@pytest.mark.parametrize(
    ("source", "target", "bytes_per_pixel"),
    [
        (source, target, size)
        for source in DECODED_FORMATS
        for target, size in [("bgr24", 3), ("gray", 1), ("gray16le", 2)]
        if source != target
    ],
)
@pytest.mark.parametrize(("width", "height"), [(64, 48), (63, 47)])
@pytest.mark.parametrize("color_range", [0, 1, 2])
def test_read_conversions_give_the_pixels_of_pyav_reformat(
    source, target, bytes_per_pixel, width, height, color_range
):
    frame = _frame(source, width, height, seed=width + color_range, color_range=color_range)
    expected = VideoReformatter().reformat(frame, format=target, threads=1)
    got = converted(frame, target)
    assert got.format.name == target
    assert np.array_equal(_plane_rows(got, bytes_per_pixel), _plane_rows(expected, bytes_per_pixel))


def test_arrays_kept_are_not_overwritten_by_later_conversions():
    frames = [_frame("yuv420p", 128, 96, seed) for seed in range(12)]
    expected = [VideoReformatter().reformat(f, format="bgr24", threads=1).to_ndarray() for f in frames]
    kept = [to_array(f, "bgr24") for f in frames]  # every array still alive: none reused
    for i in range(3):  # and some freed in turn, so that their memory is reused
        del kept[0]
        kept.append(to_array(frames[i], "bgr24"))
    for got, want in zip(kept, expected[3:] + expected[:3], strict=True):
        assert np.array_equal(got, want)


def test_frames_of_other_sizes_and_formats_in_turn_convert_each_to_its_own():
    # nine kinds of frame, twice over: more than a thread keeps graphs for
    kinds = list(itertools.product(["yuv420p", "yuv444p", "nv12"], [(64, 48), (32, 32), (80, 60)])) * 2
    for seed, (fmt, (width, height)) in enumerate(kinds):
        frame = _frame(fmt, width, height, seed)
        want = VideoReformatter().reformat(frame, format="bgr24", threads=1).to_ndarray()
        assert np.array_equal(to_array(frame, "bgr24"), want)
