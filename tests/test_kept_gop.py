"""H.264 readers keep the GOP they decoded last: stepping back or reading nearby frames
decodes nothing again, returns the frames a sequential read gives, and stays within
GOP_KEEP_BYTES."""

from __future__ import annotations

import numpy as np
import pytest
from _support.spies import record_calls

import framestore
import framestore.codecs.video as video
from framestore.testing.frames import synthetic_frame

SHAPE = (48, 64)


@pytest.fixture(scope="module")
def h264_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("kept") / "s"
    with framestore.new_for_format("h264/mkv", path, imgshape=SHAPE, chunksize=100) as w:
        for i in range(100):  # keyframes at 0, 30, 60, 90
            w.add_image(synthetic_frame(i, SHAPE), i, float(i))
    with framestore.new_for_filename(path) as store:
        frames = np.stack(list(store))
    return path, frames


def count_decodes(monkeypatch) -> list[int]:
    """Where every decode began (a keyframe's position)."""
    return record_calls(monkeypatch, video.VideoChunkReader, "_decode_from")


def test_stepping_back_through_a_gop_decodes_it_once(h264_store, monkeypatch):
    path, frames = h264_store
    starts = count_decodes(monkeypatch)
    with framestore.new_for_filename(path) as store:
        for i in [*range(59, 29, -1), 45, 31, 58]:
            assert np.array_equal(store[i], frames[i])
        assert starts == [30]
        assert np.array_equal(store[29], frames[29])  # the GOP before: decoded afresh
        assert starts == [30, 0]


def test_kept_frames_stay_within_the_budget(h264_store, monkeypatch):
    path, frames = h264_store
    frame_bytes = SHAPE[0] * SHAPE[1]  # gray: one plane (FFmpeg pads its rows)
    monkeypatch.setattr(video, "GOP_KEEP_BYTES", 5 * 2 * frame_bytes)
    starts = count_decodes(monkeypatch)
    with framestore.new_for_filename(path) as store:
        store[89]
        kept = sorted(store._reader(0)._kept)
        assert 1 < len(kept) < 30 and kept == list(range(90 - len(kept), 90))  # the latest
        for i in range(89, 59, -1):
            assert np.array_equal(store[i], frames[i])
        reader = store._reader(0)
        assert 0 < reader._kept_bytes <= video.GOP_KEEP_BYTES
        assert len(starts) > 1  # frames beyond the budget were decoded again


def test_a_batch_over_damaged_chunks_names_the_first_and_zeros_every_one(tmp_path):
    path = tmp_path / "s"
    with framestore.new_for_format("h264/mkv", path, imgshape=SHAPE, chunksize=30) as w:
        for i in range(120):
            w.add_image(synthetic_frame(i, SHAPE), i, float(i))
    with framestore.new_for_filename(path) as store:
        frames = np.stack(list(store))
    for n in (1, 2):  # cut the end off chunks 1 and 2
        chunk = path / f"00000{n}.mkv"
        chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    wanted = [100, 29, 85, 40, 5, 59, 70, 119]
    with framestore.new_for_filename(path) as store:
        with pytest.raises(framestore.CorruptStoreError, match="000001.mkv"):
            store.get_frames(wanted)
    with framestore.new_for_filename(path) as store:
        with pytest.warns(framestore.StoreWarning, match="frame_index 59, 85") as caught:
            got = store.get_frames(wanted, on_error="zeros")
    assert "000001.mkv" in str(caught[0].message)
    for j, i in enumerate(wanted):
        assert np.array_equal(got[j], np.zeros_like(frames[i]) if i in (59, 85) else frames[i])
