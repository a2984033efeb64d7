"""What a video chunk writer stores: each gray image as given, even through an encoder that
keeps its input frames (frame threads) while the writer fills its one frame again, and the
timestamps the ``Fraction`` formulas give, computed in integers."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction

import av
import numpy as np
import pytest

from framestore.codecs import resolve_format
from framestore.codecs.base import ImageSpec
from framestore.codecs.video import VideoChunkWriter, round_half_even

SHAPE = (48, 64)


def luma(frame: av.VideoFrame) -> np.ndarray:
    plane = frame.planes[0]
    return np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, -1)[:, : SHAPE[1]]


@pytest.mark.parametrize("fmt", ["utvideo/avi", "mjpeg/avi"])
def test_an_encoder_holding_its_input_frames_still_gets_each_image(tmp_path, fmt):
    """Frame threads keep several input frames at once: refilling the writer's frame in
    place would change frames not yet encoded (it did, before make_writable)."""
    video = resolve_format(fmt).video
    assert video is not None
    codec = replace(video, encode_thread_type="FRAME", encode_threads=4)
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, SHAPE, dtype=np.uint8) for _ in range(24)]
    spec = ImageSpec(SHAPE, np.uint8)
    writer = VideoChunkWriter(tmp_path / "c.avi", tmp_path / "c.journal", codec, spec, 30.0)
    for i, image in enumerate(images):
        writer.add(image, i, float(i))
    writer.close()
    with av.open(str(tmp_path / "c.avi")) as container:
        got = [luma(f).astype(int) for f in container.decode(video=0)]
    assert len(got) == len(images)
    for i, frame in enumerate(got):
        errors = [np.abs(frame - image).mean() for image in images]
        assert int(np.argmin(errors)) == i  # each frame is its own image, not a later one
        if codec.lossless:
            assert errors[i] == 0


@pytest.mark.parametrize("fmt", ["h264/mkv", "mjpeg/avi", "ffv1/mkv"])
@pytest.mark.parametrize("fps", [16.0, 29.97, 30.0, 7.5, 240.0])
def test_timestamps_in_integers_are_those_of_the_fraction_formulas(tmp_path, fmt, fps):
    video = resolve_format(fmt).video
    assert video is not None
    spec = ImageSpec(SHAPE, np.uint8)
    writer = VideoChunkWriter(tmp_path / f"c{video.extension}", tmp_path / "c.j", video, spec, fps)
    try:
        for i in range(500):
            codec_pts = writer._next_pts()
            assert codec_pts == round(i * writer._step)
            assert writer._in_stream(codec_pts) == math.floor(codec_pts * writer._to_stream + Fraction(1, 2))
    finally:
        writer.abort()


def test_round_half_even_is_rounds_of_a_fraction():
    for den in (1, 2, 3, 4, 7, 1001):
        for num in range(-3 * den, 40 * den):
            assert round_half_even(num, den) == round(Fraction(num, den)), (num, den)
