"""Stores framestore writes open in imgstore 0.4.0 with the same frames and metadata."""

from __future__ import annotations

import numpy as np
import pytest
from _support.media import write_recording

import framestore

imgstore = pytest.importorskip("imgstore")

# Formats imgstore reads exactly. (Ut Video opens too, but OpenCV converts its gray luma
# through limited-range YUV, so imgstore's pixels differ: see the README.)
FORMATS = ["mjpeg/avi", "npy", "png", "jpg", "tif", "bmp", "ffv1/mkv", "h264/mkv", "avc1/mp4"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["gray8", "color"])
def test_imgstore_reads_our_store(tmp_path, fmt, kind):
    rec = write_recording(tmp_path / "s", fmt, kind, count=45, chunksize=20)
    ours = framestore.new_for_filename(rec.path)
    theirs = imgstore.new_for_filename(str(rec.path))
    assert theirs.frame_count == len(ours)
    assert theirs.user_metadata == ours.user_metadata == {"rig": "test", "n": 3}
    frames, numbers, times = [], [], []
    while True:
        try:
            image, (number, time) = theirs.get_next_image()
        except EOFError:
            break
        frames.append(image)
        numbers.append(number)
        times.append(time)
    np.testing.assert_array_equal(np.stack(frames), ours[:])
    assert numbers == ours.frame_numbers.tolist()
    assert times == ours.frame_times.tolist()
    for i in (44, 3, 20, 19):
        image, (number, _) = theirs.get_image(int(ours.frame_numbers[i]))
        assert number == ours.frame_numbers[i]
        np.testing.assert_array_equal(image, ours[i])
