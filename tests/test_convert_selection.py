"""``convert`` keeping part of a store: a range given as frame numbers, indexes or
times, every n-th frame, a rectangle; recorded in the new store's ``derived_from``."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from _support.media import write_recording

import framestore
from framestore.cli.main import main as cli
from framestore.testing.video_files import decode_all, write_video_file
from framestore.tools.selection import Selection, frame_index_at


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return write_recording(
        tmp_path_factory.mktemp("sel") / "src", "utvideo/avi", "gray8", count=120, chunksize=50
    )


def test_moments_name_frames(source):
    with framestore.new_for_filename(source.path) as store:
        numbers, times = store.frame_numbers, store.frame_times
        assert frame_index_at(store, str(numbers[30])) == 30
        assert frame_index_at(store, "#42") == 42
        assert frame_index_at(store, "+1.0") == int(np.searchsorted(times, times[0] + 1.0))
        local = datetime.datetime.fromtimestamp(times[60] - 0.001, store.timezone)  # just before it
        assert frame_index_at(store, local.isoformat()) == 60
        assert frame_index_at(store, local.strftime("%H:%M:%S.%f")) == 60
        with pytest.raises(ValueError, match="not a frame or a time: 'soon'"):
            frame_index_at(store, "soon")


def test_convert_a_clip_every_third_frame_cropped(source, tmp_path):
    with framestore.new_for_filename(source.path) as store:
        start = str(store.frame_numbers[20])
        expected = store[20:100:3, 5:25, 10:40]
        numbers = store.frame_numbers[20:100:3]
    args = ["convert", str(source.path), str(tmp_path / "clip"), "--start", start, "--stop", "#100"]
    assert cli([*args, "--every", "3", "--roi", "10,5,30,20", "--workers", "1"]) == 0
    with framestore.new_for_filename(tmp_path / "clip") as clip:
        np.testing.assert_array_equal(clip[:], expected)
        np.testing.assert_array_equal(clip.frame_numbers, numbers)
        derived = clip.metadata.derived_from
    assert derived["method"] == "convert" and derived["every"] == 3 and derived["roi"] == [10, 5, 30, 20]
    assert (derived["frame_index_start"], derived["frame_index_stop"]) == (20, 99)


def test_convert_a_video_file(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMESTORE_CACHE_DIR", str(tmp_path / "cache"))
    video = write_video_file(tmp_path / "cam.mp4", 40, gop=10)
    framestore.convert(video, tmp_path / "out", "utvideo/avi", workers=1, selection=Selection(start="#5"))
    with framestore.new_for_filename(tmp_path / "out") as out:
        np.testing.assert_array_equal(out[:], decode_all(video)[5:])
        assert out.chunksize == 500
