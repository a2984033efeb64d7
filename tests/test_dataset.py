"""Dataset: stores of one session in one directory, derived links, alignment, segments."""

from __future__ import annotations

import datetime
import json
import shutil
import warnings

import av
import numpy as np
import pandas as pd
import pytest
from _support.media import write_recording

import framestore
from framestore.sessions.dataset import ALIGNMENT_MAP, ALIGNMENT_STAMP, SEGMENTS, Dataset, select
from framestore.testing.miniscope import make_session


@pytest.fixture
def receivers_dataset(tmp_path):
    session = make_session(tmp_path / "session", receivers=2, frames=50, seed=3)
    before = sorted(p.name for p in session.directory.iterdir())
    dataset = Dataset.from_directory(tmp_path / "ds", create=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)  # the session's planted oddities
        for rec in session.receivers:
            dataset.add(session.video(rec.stem))  # its buffer CSV found beside it
    assert sorted(p.name for p in session.directory.iterdir()) == before  # nothing beside the inputs
    return dataset, [rec.stem for rec in session.receivers]


def test_add_stitch_and_find_the_stitched_store(receivers_dataset, tmp_path):
    dataset, names = receivers_dataset
    assert list(dataset.recordings) == names
    assert "num_buffers" in dataset.recordings[names[0]].index_dataframe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        stitched = dataset.stitch(names)
    assert stitched.path == tmp_path / "ds" / f"stitched_{names[0]}_{names[1]}"
    assert (stitched.path / "scores.csv").is_file()
    assert dataset.get_stitched(names) is stitched
    assert dataset.get_stitched(names[::-1]) is stitched
    assert dataset.sources(stitched.path.name) == names
    with pytest.raises(
        KeyError, match=f"stitched ones: {stitched.path.name} \\(from {names[0]}, {names[1]}\\)"
    ):
        dataset.get_stitched(names[:1])

    # the link lives in the derived store's metadata, not in its directory name
    dataset.close()
    stitched.path.rename(tmp_path / "ds" / "best")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        again = Dataset.from_directory(tmp_path / "ds")
    assert again.get_stitched(names).path.name == "best"
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == sorted([*names, "best"])


def test_get_stitched_when_there_is_none(tmp_path):
    write_recording(tmp_path / "ds" / "cam0", "npy", "gray8", count=10)
    with pytest.raises(KeyError, match="stitched ones: none"):
        Dataset.from_directory(tmp_path / "ds").get_stitched(["cam0"])
    with pytest.raises(framestore.StoreNotFoundError, match="is a store, not a dataset"):
        Dataset.from_directory(tmp_path / "ds" / "cam0")


def test_alignment_map_is_reused_only_while_valid(tmp_path, monkeypatch):
    write_recording(tmp_path / "ds" / "a", "npy", "gray8", count=30)
    write_recording(tmp_path / "ds" / "b", "npy", "gray8", count=20)
    dataset = Dataset.from_directory(tmp_path / "ds")
    table = dataset.align(["a", "b"])
    assert (tmp_path / "ds" / ALIGNMENT_MAP).is_file()
    stamp = json.loads((tmp_path / "ds" / ALIGNMENT_STAMP).read_text())
    assert (
        stamp["stores"]["a"]["frames"] == 30 and stamp["stores"]["b"]["uuid"] == dataset.recordings["b"].uuid
    )

    calls = []
    module = framestore.sessions.dataset
    real = module.align_stores
    monkeypatch.setattr(module, "align_stores", lambda *a, **k: calls.append(a) or real(*a, **k))
    reused = dataset.align(["a", "b"])
    assert calls == []  # read back, not recomputed
    pd.testing.assert_frame_equal(reused, table)
    dataset.align(["a", "b"], by="frame_time")  # other settings: recomputed
    assert len(calls) == 1
    dataset.align(["a", "b"], by="frame_time", write=False)  # the stored one (by time) is valid
    assert len(calls) == 1
    dataset.align(["a"], write=False)
    assert len(calls) == 2

    # a store rewritten with other frames invalidates the map
    dataset.close()
    shutil.rmtree(tmp_path / "ds" / "b")
    write_recording(tmp_path / "ds" / "b", "npy", "gray8", count=25)
    dataset = Dataset.from_directory(tmp_path / "ds")
    dataset.align(["a", "b"], by="frame_time")
    assert len(calls) == 3
    assert json.loads((tmp_path / "ds" / ALIGNMENT_STAMP).read_text())["stores"]["b"]["frames"] == 25


def test_time_windows_and_frame_number_ranges(tmp_path):
    rec = write_recording(tmp_path / "ds" / "cam", "ffv1/mkv", "gray8", count=60, chunksize=25)
    dataset = Dataset.from_directory(tmp_path / "ds")
    store = dataset.recordings["cam"]
    numbers, times = rec.frame_numbers, rec.frame_times  # start at 5,000,000, with gaps

    lo, hi = int(numbers[10]), int(numbers[40])
    idx = dataset.select("cam", lo, hi, by="frame_number")
    assert idx.tolist() == list(range(10, 40))
    np.testing.assert_array_equal(dataset.frames("cam", lo, hi, by="frame_number"), rec.images[10:40])

    t0, t1 = float(times[5]), float(times[30])
    assert dataset.select("cam", t0, t1).tolist() == list(range(5, 30))
    as_dates = dataset.select("cam", datetime.datetime.fromtimestamp(t0, datetime.UTC), None)
    assert as_dates.tolist() == list(range(5, 60))
    assert select(store, None, numbers[3], by="frame_number").tolist() == [0, 1, 2]
    assert dataset.select("cam", 0, 10, by="frame_number").size == 0
    with pytest.raises(KeyError, match="no recording 'nope'"):
        dataset.select("nope", 0, 1)
    with pytest.raises(ValueError, match="by must be one of"):
        dataset.select("cam", 0, 1, by="frame_index")


def test_labelled_segments(tmp_path):
    recs = {n: write_recording(tmp_path / "ds" / n, "png", "gray8", count=40) for n in ("cam0", "cam1")}
    dataset = Dataset.from_directory(tmp_path / "ds")
    n0, t1 = recs["cam0"].frame_numbers, recs["cam1"].frame_times
    trial1 = dataset.add_segment("cam0", "trial", n0[2], n0[12], by="frame_number")
    dataset.add_segment("cam1", "trial", t1[20], t1[30])
    dataset.add_segment("cam1", "stimulus", t1[0], t1[5])
    with pytest.raises(ValueError, match="start < stop"):
        dataset.add_segment("cam1", "bad", t1[5], t1[0])

    again = Dataset.from_directory(tmp_path / "ds")  # kept in the dataset's segments.csv
    assert (tmp_path / "ds" / SEGMENTS).is_file()
    assert [s.label for s in again.segments()] == ["trial", "trial", "stimulus"]
    # frame numbers stay integers in the file, times keep every digit
    saved = (tmp_path / "ds" / SEGMENTS).read_text().splitlines()
    assert saved[1] == f"cam0,trial,{n0[2]},{n0[12]},frame_number"
    assert again.segments(recording="cam1")[0].start == float(t1[20])
    with pytest.raises(ValueError, match="must be an integer"):
        dataset.add_segment("cam0", "bad", 5.5, 9, by="frame_number")
    trials = again.segments(label="trial")
    assert [s.recording for s in trials] == ["cam0", "cam1"]
    assert again.segments(recording="cam1", label="stimulus")[0].by == "frame_time"
    assert trials[0] == trial1

    np.testing.assert_array_equal(again.load(trials[0]), recs["cam0"].images[2:12])
    np.testing.assert_array_equal(again.load(trials[1]), recs["cam1"].images[20:30])
    target = again.viewer_target(trials[1])
    assert target.path == tmp_path / "ds" / "cam1"
    assert (target.first, target.last) == (recs["cam1"].frame_numbers[20], recs["cam1"].frame_numbers[29])
    assert target.command == [
        "framestore-view",
        str(target.path),
        "--start",
        str(target.first),
        "--stop",
        str(target.last),
    ]
    # the viewer plays exactly the segment: its clip holds the segment's ten frames
    from framestore.view.cli import main as view_main

    clip = tmp_path / "segment.mp4"
    assert view_main([*target.command[1:], "--export", str(clip)]) == 0
    with av.open(str(clip)) as container:
        assert container.streams.video[0].frames == 10


def test_add_a_plain_video_and_a_store(tmp_path):
    import av

    video = tmp_path / "in" / "cam.mkv"
    video.parent.mkdir()
    with av.open(str(video), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "gray"
        for k in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64), 10 * k, np.uint8), format="gray")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    pd.DataFrame({"frame_number": np.arange(100, 112), "frame_time": 1e9 + np.arange(12) / 30}).to_csv(
        tmp_path / "in" / "cam.csv", index=False
    )
    write_recording(tmp_path / "in" / "store", "npy", "gray8", count=10)
    dataset = Dataset.from_directory(tmp_path / "ds", create=True)
    cam = dataset.add(video)
    assert cam.frame_numbers.tolist() == list(range(100, 112))
    assert cam[5].mean() == 50
    copied = dataset.add(tmp_path / "in" / "store", name="side")
    assert copied.path == tmp_path / "ds" / "side" and len(copied) == 10
    with pytest.raises(framestore.StoreExistsError, match="overwrite=True"):
        dataset.add(video)
    with pytest.raises(ValueError, match="plain directory name"):
        dataset.add(video, name="../escape")
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["cam.csv", "cam.mkv", "store"]


def test_a_failed_import_leaves_nothing_in_the_dataset(tmp_path, monkeypatch):
    from framestore.core.writer import StoreWriter

    session = make_session(tmp_path / "session", receivers=1, frames=30)
    video = session.video(session.receivers[0].stem)
    add_image = StoreWriter.add_image

    def disk_full_at_frame_10(self, img, frame_number, frame_time, **columns):
        if self.frame_count == 10:
            raise OSError(28, "No space left on device")
        add_image(self, img, frame_number, frame_time, **columns)

    monkeypatch.setattr(StoreWriter, "add_image", disk_full_at_frame_10)
    dataset = Dataset.from_directory(tmp_path / "ds", create=True)
    with pytest.raises(OSError, match="No space"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset.add(video, name="rx")
    assert not (tmp_path / "ds" / "rx").exists() and "rx" not in dataset.recordings
