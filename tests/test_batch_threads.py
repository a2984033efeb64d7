"""Batches decoded on one thread per core (``VideoCodec.batch_threads``): each thread
decodes independent units (a GOP, or one frame of an intra-only chunk) with readers of
its own, single-threaded, bounded, closed with the store and left alone after fork; the
frames are those a sequential read gives, in the order asked. Batches of frames read at
stored offsets (raw/nut, npy) are read in two halves on two threads."""

from __future__ import annotations

import os
import threading
from unittest import mock

import numpy as np
import pytest
from _support.spies import record_calls
from _support.workers import read_in_forked_workers

import framestore
import framestore.codecs.video as video
from framestore.codecs.cores import usable_cores
from framestore.testing.frames import synthetic_frame

SHAPE = (48, 64)
PICKS = [71, 3, 44, 44, 118, 0, 90, 3, 61, 59, 119, 30]


def write(path, fmt, frames=120, chunksize=40):
    with framestore.new_for_format(fmt, path, imgshape=SHAPE, chunksize=chunksize) as w:
        for i in range(frames):
            w.add_image(synthetic_frame(i, SHAPE), i, float(i))
    with framestore.new_for_filename(path) as store:
        return np.stack(list(store))


def two_cores():
    return mock.patch("os.sched_getaffinity", return_value={0, 1})


@pytest.mark.parametrize("fmt", ["h264/mkv", "ffv1/mkv"])
def test_threads_read_the_frames_in_the_order_asked(tmp_path, fmt):
    frames = write(tmp_path / "s", fmt)
    with framestore.new_for_filename(tmp_path / "s") as store, two_cores():
        assert store._store.format.video.batch_threads
        assert np.array_equal(store.get_frames(PICKS), frames[PICKS])
        assert np.array_equal(store.get_frames(PICKS, roi=(3, 2, 20, 10)), frames[PICKS][:, 2:12, 3:23])
        assert np.array_equal(store.get_frames([-1, 5, -120]), frames[[119, 5, 0]])
        assert len(store._batch_open) == 2
        readers = [r for slot in store._batch_open for r in slot.values()]
        assert readers and all(r._decode_threads == 1 for r in readers)
        assert all(r._decode_threads == 0 for r in store._open.values())


def test_each_gop_of_a_batch_is_decoded_once(tmp_path, monkeypatch):
    frames = write(tmp_path / "s", "h264/mkv", frames=100, chunksize=100)  # keyframes 0, 30, 60, 90
    starts = record_calls(monkeypatch, video.VideoChunkReader, "_decode_from")
    picks = [95, 31, 2, 58, 40, 7, 99, 33]
    with framestore.new_for_filename(tmp_path / "s") as store, two_cores():
        assert np.array_equal(store.get_frames(picks), frames[picks])
    assert sorted(starts) == [0, 30, 90]  # GOPs 0, 30 and 90, on whichever thread took them


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this system")
def test_a_process_held_to_one_core_reads_batches_on_one_thread(tmp_path):
    """Threads are counted from the cores the process may use (taskset, a cluster job's
    cpuset), not from the cores the machine has."""
    frames = write(tmp_path / "s", "h264/mkv")
    every = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(every)})
    try:
        with framestore.new_for_filename(tmp_path / "s") as store:
            assert usable_cores() == 1
            assert np.array_equal(store.get_frames(PICKS), frames[PICKS])
            assert store._batch_open == []  # no batch thread, no readers of its own
    finally:
        os.sched_setaffinity(0, every)


def test_thread_readers_are_bounded_and_closed_with_the_store(tmp_path):
    frames = write(tmp_path / "s", "ffv1/mkv", frames=120, chunksize=10)
    store = framestore.new_for_filename(tmp_path / "s")
    store._batch_open_limit = 4  # each of the two threads keeps at most 2 chunks open
    with two_cores():
        picks = list(range(0, 120, 7))
        assert np.array_equal(store.get_frames(picks), frames[picks])
    assert all(1 <= len(slot) <= 2 for slot in store._batch_open)
    readers = [r for slot in store._batch_open for r in slot.values()]
    store.close()
    assert not any(store._batch_open) and all(r._container is None for r in readers)
    with pytest.raises(framestore.StoreClosedError):
        store.get_frames(picks)


def test_h264_thread_readers_keep_no_gop_so_a_store_of_many_chunks_stays_open(tmp_path, monkeypatch):
    """A batch thread's reader only reads forward, so it keeps no GOP, and as many of them
    stay open as their decoders' memory allows: each thread opens each of 12 chunks once."""
    frames = write(tmp_path / "s", "h264/mkv", frames=120, chunksize=10)
    opened = record_calls(monkeypatch, video.VideoChunkReader, "_open_stream")
    picks = list(range(5, 120, 10)) + list(range(9, 120, 10))
    with framestore.new_for_filename(tmp_path / "s") as store, two_cores():
        for _ in range(6):
            assert np.array_equal(store.get_frames(picks), frames[picks])
        assert 12 <= len(opened) <= 2 * 12
        readers = [r for slot in store._batch_open for r in slot.values()]
        assert readers and not any(r._kept for r in readers)
        assert store[118] is not None and store._reader(11)._kept  # the store's own reader keeps its GOP


def test_forked_workers_leave_the_thread_readers_alone(tmp_path):
    frames = write(tmp_path / "s", "h264/mkv")
    indices = [110, 2, 75, 71]
    with framestore.new_for_filename(tmp_path / "s") as store, two_cores():
        assert np.array_equal(store.get_frames(PICKS), frames[PICKS])  # thread readers open
        first, second = read_in_forked_workers(store, indices)
        assert np.array_equal(first, frames[indices])
        assert np.array_equal(second, frames[indices[::-1]])
        assert np.array_equal(store.get_frames(PICKS), frames[PICKS])  # the parent's still work


def test_the_first_damaged_chunk_is_named_whichever_thread_fails_first(tmp_path):
    write(tmp_path / "s", "ffv1/mkv", frames=120, chunksize=30)
    for n in (1, 3):  # both fail; chunk 1 comes first in chunk order, not in the batch
        chunk = tmp_path / "s" / f"00000{n}.mkv"
        chunk.write_bytes(chunk.read_bytes()[: chunk.stat().st_size // 2])
    with framestore.new_for_filename(tmp_path / "s") as store, two_cores():
        with pytest.raises(framestore.CorruptStoreError, match="000001.mkv"):
            store.get_frames([119, 118, 117, 116, 59, 2])


@pytest.mark.parametrize("fmt", ["raw/nut", "npy"])
def test_batches_read_at_stored_offsets_are_read_in_two_halves(tmp_path, fmt, monkeypatch):
    frames = write(tmp_path / "s", fmt)
    threads: set[int] = set()
    with framestore.new_for_filename(tmp_path / "s") as store, two_cores():
        reader_class = type(store._reader(0))
        original = reader_class.read_into

        def spy(self, k, out):
            threads.add(threading.get_ident())
            return original(self, k, out)

        monkeypatch.setattr(reader_class, "read_into", spy)
        assert np.array_equal(store.get_frames(PICKS), frames[PICKS])  # repeats, 4 chunks
        assert len(threads) == 2
        assert np.array_equal(store.get_frames(PICKS, roi=(3, 2, 20, 10)), frames[PICKS][:, 2:12, 3:23])
        picks = list(range(40, 80)) * 2  # one chunk, split between the threads
        assert np.array_equal(store.get_frames(picks), frames[picks])


def test_a_damaged_frame_of_a_raw_batch_names_the_first_chunk_in_order_and_zeros_only_its_frames(tmp_path):
    frames = write(tmp_path / "s", "raw/nut", frames=120, chunksize=30)
    for n in (1, 3):  # one frame of each damaged: chunk 1 in the first half, chunk 3 in the second
        chunk = tmp_path / "s" / f"00000{n}.nut"
        data = bytearray(chunk.read_bytes())
        data[len(data) // 2] ^= 0xFF
        chunk.write_bytes(bytes(data))
    picks = list(range(120))[::-1]
    with framestore.new_for_filename(tmp_path / "s") as store, two_cores():
        with pytest.raises(framestore.CorruptStoreError, match="000001.nut"):
            store.get_frames(picks)
        with pytest.warns(framestore.StoreWarning):
            got = store.get_frames(picks, on_error="zeros")
    damaged = [i for i in range(120) if not np.array_equal(got[119 - i], frames[i])]
    assert len(damaged) == 2 and 30 <= damaged[0] < 60 and 90 <= damaged[1] < 120
    assert all(not got[119 - i].any() for i in damaged)
