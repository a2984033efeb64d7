"""Readers pickle without decoder state: they reopen their chunk files on demand in each
process, so they work in multiprocessing pools and PyTorch DataLoader workers."""

from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest
from _support.workers import read_in_forked_workers

import framestore

CASES = [
    ("utvideo/avi", "gray8"),
    ("h264/mkv", "color"),
    ("ffv1/mkv", "gray16"),
    ("npy", "gray8"),
    ("png", "color"),
]


def _frames(store, indices):
    return store.get_frames(indices), [store.get_image(None, frame_index=i)[1] for i in indices]


@pytest.mark.parametrize("fmt,kind", CASES, ids=[f"{f}-{k}" for f, k in CASES])
def test_reader_pickles_without_decoders(recordings, fmt, kind):
    rec = recordings[(fmt, kind)]
    with framestore.new_for_filename(rec.path) as store:
        before = store[[3, 80, 145]]  # decoders now open on three chunks
        assert store._open
        copy = pickle.loads(pickle.dumps(store))
        assert not copy._open  # nothing of the decoders crossed over
        np.testing.assert_array_equal(copy[[145, 3]], store[[145, 3]])
        copy.close()  # closes the copy's own decoders, not the original's
        np.testing.assert_array_equal(store[[3, 80, 145]], before)


def test_readers_in_a_spawned_pool(recordings):
    stores = [framestore.new_for_filename(recordings[case].path) for case in CASES]
    indices = [149, 0, 71, 69, 70]
    expected = [_frames(store, indices) for store in stores]  # every reader has open decoders
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = pool.starmap(_frames, [(store, indices) for store in stores])
    for (images, meta), (want_images, want_meta) in zip(results, expected, strict=True):
        np.testing.assert_array_equal(images, want_images)
        assert meta == want_meta
    for store in stores:
        store.close()


@pytest.mark.parametrize("fmt,kind", [("h264/mkv", "color"), ("ffv1/mkv", "gray16")])
def test_forked_workers_open_their_own_decoders(recordings, fmt, kind):
    """A reader inherited through fork (PyTorch's DataLoader on Linux) with decoders
    already open: the workers leave the parent's decoders alone (their threads live only
    in the parent, their files share its offsets) and read the same frames."""
    indices = [140, 2, 75, 71]
    with framestore.new_for_filename(recordings[(fmt, kind)].path) as store:
        expected = store[indices]
        first, second = read_in_forked_workers(store, indices)
        np.testing.assert_array_equal(first, expected)
        np.testing.assert_array_equal(second, expected[::-1])
        np.testing.assert_array_equal(store[indices], expected)  # the parent's decoders still work
