"""The index: lookups, the one-file cache and its invalidation."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from _support.media import write_recording

import framestore
import framestore._disk.index_cache
from framestore._disk.index import ChunkIndex, StoreIndex


def index_of(numbers, times=None) -> StoreIndex:
    numbers = np.asarray(numbers, dtype=np.int64)
    times = np.asarray(times if times is not None else numbers / 10.0, dtype=np.float64)
    cols = {"frame_number": numbers, "frame_time": times}
    return StoreIndex([ChunkIndex(0, Path("x.npz"), cols)])


def test_nearest_ties_go_to_the_earliest_frame():
    idx = index_of([10, 12, 14])
    assert idx.nearest_frame_number(11) == 0
    assert idx.nearest_frame_number(13) == 1
    assert idx.nearest_frame_number(-100) == 0 and idx.nearest_frame_number(100) == 2


def test_lookups_on_unsorted_numbers_and_times():
    with pytest.warns(framestore.StoreWarning):
        idx = index_of([5, 3, 9, 3, 7], times=[0.5, 0.1, 0.9, 0.3, 0.2])
    assert idx.index_of_frame_number(3) == 1  # first of the duplicates
    assert idx.index_of_frame_number(9) == 2
    assert idx.nearest_frame_time(0.21) == 4
    assert idx.nearest_frame_number(8) == 2  # 7 and 9 tie: frame_index 2 comes first
    assert idx.frame_min == 3 and idx.frame_max == 9
    with pytest.raises(framestore.FrameNotFoundError, match="numbered 3..9"):
        idx.index_of_frame_number(4)


def test_locate_across_chunks():
    chunks = [
        ChunkIndex(
            n,
            Path(f"{n}.npz"),
            {"frame_number": np.arange(a, b), "frame_time": np.arange(a, b) * 1.0},
        )
        for n, (a, b) in enumerate([(0, 5), (5, 12), (12, 13)])
    ]
    idx = StoreIndex(chunks)
    assert [idx.locate(i) for i in (0, 4, 5, 11, 12, -1)] == [(0, 0), (0, 4), (1, 0), (1, 6), (2, 0), (2, 0)]
    with pytest.raises(framestore.FrameIndexError):
        idx.locate(13)


@pytest.fixture
def rec(tmp_path):
    return write_recording(tmp_path / "s", "ffv1", "gray8", count=50, chunksize=10)


def test_a_closed_store_opens_from_its_index_cache(rec, monkeypatch):
    assert (rec.path / "framestore-index.npz").is_file()

    def no_chunk_reads(*args):
        raise AssertionError("read a chunk index although the cache is valid")

    monkeypatch.setattr(framestore._disk.index_cache, "load_npz_index", no_chunk_reads)
    store = framestore.new_for_filename(rec.path)
    np.testing.assert_array_equal(store.frame_numbers, rec.frame_numbers)
    np.testing.assert_array_equal(store[[0, 25, 49]], rec.images[[0, 25, 49]])


def test_a_stale_cache_is_never_used(rec):
    path = rec.path / "000002.npz"
    with np.load(path) as data:
        cols = {k: data[k].copy() for k in data.files}
    cols["frame_number"] += 1_000_000
    np.savez(path, **cols)
    with pytest.warns(framestore.StoreWarning, match="000003.npz"):  # numbers now go backwards
        store = framestore.new_for_filename(rec.path)
    np.testing.assert_array_equal(store.frame_numbers[20:30], rec.frame_numbers[20:30] + 1_000_000)


def test_a_damaged_cache_only_slows_opening(rec):
    (rec.path / "framestore-index.npz").write_bytes(b"not a zip")
    store = framestore.new_for_filename(rec.path)
    np.testing.assert_array_equal(store.frame_numbers, rec.frame_numbers)


def _chunk_index_reads(monkeypatch) -> list[int]:
    """Numbers of the chunk index files read from now on (none while the cache is used)."""
    reads: list[int] = []
    real = framestore._disk.index_cache.load_npz_index

    def counting(number, *args):
        reads.append(number)
        return real(number, *args)

    monkeypatch.setattr(framestore._disk.index_cache, "load_npz_index", counting)
    return reads


@pytest.mark.parametrize("fmt", ["ffv1", "png"])
def test_the_cache_is_used_for_video_and_image_chunks(tmp_path, monkeypatch, fmt):
    rec = write_recording(tmp_path / "s", fmt, "gray8", count=30, chunksize=10)
    reads = _chunk_index_reads(monkeypatch)
    store = framestore.new_for_filename(rec.path)
    assert reads == []
    np.testing.assert_array_equal(store.frame_numbers, rec.frame_numbers)
    np.testing.assert_array_equal(store[[0, 15, 29]], rec.images[[0, 15, 29]])


@pytest.mark.parametrize("change", ["mtime", "size", "journal", "added", "cut short"])
def test_a_changed_chunk_or_cache_sends_the_open_to_the_chunk_indexes(rec, monkeypatch, change):
    index, cache = rec.path / "000003.npz", rec.path / "framestore-index.npz"
    if change == "mtime":
        st = index.stat()
        os.utime(index, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    elif change == "size":
        with np.load(index) as data:
            np.savez(index, **{k: data[k] for k in data.files}, more=data["frame_time"] * 0)
        os.utime(index, ns=(cache.stat().st_atime_ns, _cached_mtime(rec.path, 3)))
    elif change == "journal":
        (rec.path / "000003.journal").write_bytes(b"")
    elif change == "added":
        shutil.copy(rec.path / "000004.npz", rec.path / "000005.npz")
    else:
        cache.write_bytes(cache.read_bytes()[:-100])
    reads = _chunk_index_reads(monkeypatch)
    store = framestore.new_for_filename(rec.path)
    assert reads
    np.testing.assert_array_equal(store.frame_numbers[:50], rec.frame_numbers)


def _cached_mtime(root: Path, n: int) -> int:
    with np.load(root / "framestore-index.npz") as data:
        return int(data["stamp_mtime_ns"][list(data["chunk_number"]).index(n)])


@pytest.mark.parametrize("fmt", ["ffv1", "png"])
def test_a_linked_chunk_index_is_refused_although_cached(tmp_path, fmt):
    rec = write_recording(tmp_path / "s", fmt, "gray8", count=30, chunksize=10)
    name = "000001.npz" if fmt == "ffv1" else "000001"
    (rec.path / name).rename(tmp_path / name)
    (rec.path / name).symlink_to(tmp_path / name)
    with pytest.raises(framestore.CorruptStoreError, match="symbolic link"):
        framestore.new_for_filename(rec.path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(chunk_count=d["chunk_count"][:-1]),
        lambda d: d.update(chunk_count=d["chunk_count"].astype(float)),
        lambda d: d.update(chunk_number=d["chunk_number"].astype(float)),
        lambda d: d.pop("column:frame_number"),
        lambda d: d.update({"column:frame_time": d["column:frame_time"][:-1]}),
    ],
    ids=["counts short", "float counts", "float numbers", "no frame_number", "times short"],
)
def test_a_cache_whose_arrays_do_not_fit_together_is_not_used(rec, monkeypatch, damage):
    cache = rec.path / "framestore-index.npz"
    with np.load(cache) as data:
        arrays = {k: data[k] for k in data.files}
    damage(arrays)
    np.savez(cache, **arrays)
    reads = _chunk_index_reads(monkeypatch)
    store = framestore.new_for_filename(rec.path)
    assert reads
    np.testing.assert_array_equal(store.frame_numbers, rec.frame_numbers)
