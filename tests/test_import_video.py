"""Importing a plain video, with and without a timestamps CSV."""

from __future__ import annotations

import av
import numpy as np
import pandas as pd
import pytest

import framestore
from framestore.ingest.video import import_video
from framestore.testing.frames import read_barcode, synthetic_frame


def write_video(path, count=30, color=False):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "bgr0" if color else "gray"
        for k in range(count):
            image = synthetic_frame(k, (48, 64, 3) if color else (48, 64))
            frame = av.VideoFrame.from_ndarray(image, format="bgr24" if color else "gray")
            frame.pts = k
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def test_import_plain_video_with_timestamps(tmp_path):
    write_video(tmp_path / "cam.mkv")
    pd.DataFrame({"frame_number": np.arange(30) * 2 + 100, "frame_time": 1.7e9 + np.arange(30) / 30}).to_csv(
        tmp_path / "cam.csv", index=False
    )
    import_video(tmp_path / "cam.mkv", tmp_path / "s", timestamps=tmp_path / "cam.csv")
    store = framestore.new_for_filename(tmp_path / "s")
    assert store.frame_numbers.tolist() == list(range(100, 160, 2))
    assert [read_barcode(f) for f in store[:]] == list(range(30))
    np.testing.assert_array_equal(store[7], synthetic_frame(7, (48, 64)))


def test_import_plain_color_video_without_timestamps(tmp_path):
    write_video(tmp_path / "cam.mkv", color=True)
    import_video(tmp_path / "cam.mkv", tmp_path / "s")
    store = framestore.new_for_filename(tmp_path / "s")
    assert store.image_shape == (48, 64, 3) and store.frame_numbers.tolist() == list(range(30))
    assert np.allclose(np.diff(store.frame_times), 1 / 30, atol=0.001)  # Matroska keeps ms
    np.testing.assert_array_equal(store[3], synthetic_frame(3, (48, 64, 3)))


def test_timestamps_that_do_not_match(tmp_path):
    write_video(tmp_path / "cam.mkv")
    pd.DataFrame({"frame_time": np.arange(29.0)}).to_csv(tmp_path / "cam.csv", index=False)
    with pytest.raises(framestore.CorruptStoreError, match="cam.csv: expected 30 rows"):
        import_video(tmp_path / "cam.mkv", tmp_path / "s", timestamps=tmp_path / "cam.csv")
