"""Frame-exactness of every read path, in every format, against a plain sequential decode.

Frame numbers start far from 0 and have gaps; chunks are 70 frames (H.264 keyframes every
30 fall inside them), so every path crosses chunk boundaries and seeks inside chunks.
"""

from __future__ import annotations

import numpy as np
import pytest
from _support.media import FORMAT_KINDS, LOSSLESS
from _support.oracle import oracle_decode

import framestore
from framestore.testing.frames import read_barcode

pytestmark = pytest.mark.parametrize("fmt,kind", FORMAT_KINDS, ids=[f"{f}-{k}" for f, k in FORMAT_KINDS])


@pytest.fixture
def case(recordings, fmt, kind):
    rec = recordings[(fmt, kind)]
    oracle = oracle_decode(rec.path, kind)
    store = framestore.new_for_filename(rec.path)
    yield rec, oracle, store
    store.close()


def test_oracle_matches_what_was_written(case):
    rec, oracle, store = case
    assert oracle.shape == rec.images.shape
    assert [read_barcode(f) for f in oracle] == rec.frame_numbers.tolist()
    if rec.fmt in LOSSLESS:
        np.testing.assert_array_equal(oracle, rec.images)


def test_index_and_metadata(case):
    rec, _, store = case
    assert len(store) == store.frame_count == len(rec.frame_numbers)
    np.testing.assert_array_equal(store.frame_numbers, rec.frame_numbers)
    np.testing.assert_array_equal(store.frame_times, rec.frame_times)
    assert store.frame_min == rec.frame_numbers[0] and store.frame_max == rec.frame_numbers[-1]
    assert store.image_shape == rec.shape
    assert store.user_metadata == {"rig": "test", "n": 3}
    assert store.is_complete
    md = store.get_frame_metadata()
    assert md["frame_number"] == rec.frame_numbers.tolist()


def test_sequential_iteration(case):
    _, oracle, store = case
    frames = list(store)
    assert len(frames) == len(oracle)
    np.testing.assert_array_equal(np.stack(frames), oracle)


def test_get_next_image_to_eof(case):
    rec, oracle, store = case
    for i in range(len(store)):
        image, (number, time) = store.get_next_image()
        assert number == rec.frame_numbers[i] and time == rec.frame_times[i]
        np.testing.assert_array_equal(image, oracle[i])
    with pytest.raises(EOFError):
        store.get_next_image()


def test_random_get_image_by_frame_number_and_index(case):
    rec, oracle, store = case
    rng = np.random.default_rng(7)
    for i in rng.permutation(len(store))[:60]:
        number = rec.frame_numbers[i]  # a numpy integer on purpose
        image, (got_number, got_time) = store.get_image(number)
        assert (got_number, got_time) == (number, rec.frame_times[i])
        np.testing.assert_array_equal(image, oracle[i])
        image, meta = store.get_image(None, frame_index=np.int64(i))
        assert meta == (number, rec.frame_times[i])
        np.testing.assert_array_equal(image, oracle[i])


def test_get_image_then_get_next_image(case):
    rec, oracle, store = case
    i = 68  # two frames before a chunk boundary
    store.get_image(rec.frame_numbers[i])
    for j in (i + 1, i + 2, i + 3):
        image, (number, _) = store.get_next_image()
        assert number == rec.frame_numbers[j]
        np.testing.assert_array_equal(image, oracle[j])


def test_missing_frame_number(case):
    rec, oracle, store = case
    gap = int(np.flatnonzero(np.diff(rec.frame_numbers) > 1)[0])
    missing = int(rec.frame_numbers[gap]) + 1
    with pytest.raises(framestore.FrameNotFoundError) as err:
        store.get_image(missing)
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert str(missing) in str(err.value)
    image, (number, _) = store.get_image(missing, exact_only=False)
    assert number == rec.frame_numbers[gap]  # equally near on a tie: the earlier frame
    np.testing.assert_array_equal(image, oracle[gap])


def test_nearest_image_by_time(case):
    rec, oracle, store = case
    rng = np.random.default_rng(3)
    for i in rng.permutation(len(store))[:40]:
        t = rec.frame_times[i] + rng.uniform(-0.004, 0.004)
        image, (number, time) = store.get_nearest_image(t)
        assert number == rec.frame_numbers[i] and time == rec.frame_times[i]
        np.testing.assert_array_equal(image, oracle[i])
    _, (number, _) = store.get_nearest_image(rec.frame_times[0] - 100)
    assert number == rec.frame_numbers[0]
    _, (number, _) = store.get_nearest_image(rec.frame_times[-1] + 100)
    assert number == rec.frame_numbers[-1]


def test_sequence_indexing(case):
    _, oracle, store = case
    n = len(store)
    np.testing.assert_array_equal(store[0], oracle[0])
    np.testing.assert_array_equal(store[-1], oracle[-1])
    np.testing.assert_array_equal(store[np.int32(71)], oracle[71])
    np.testing.assert_array_equal(store[60:80], oracle[60:80])
    np.testing.assert_array_equal(store[::-7], oracle[::-7])
    np.testing.assert_array_equal(store[5:140:13], oracle[5:140:13])
    picks = [149, 0, 69, 70, 70, 31, -1, 100, 29]
    np.testing.assert_array_equal(store[picks], oracle[picks])
    np.testing.assert_array_equal(store[np.array(picks)], oracle[picks])
    mask = np.zeros(n, bool)
    mask[[3, 77, 140]] = True
    np.testing.assert_array_equal(store[mask], oracle[mask])
    np.testing.assert_array_equal(store[10:20, 5:9, 3:30], oracle[10:20, 5:9, 3:30])
    assert store[[]].shape == (0, *oracle.shape[1:])
    with pytest.raises(IndexError):
        store[n]
    with pytest.raises(IndexError):
        store[[0, -n - 1]]


def test_get_frames_with_roi(case):
    _, oracle, store = case
    rng = np.random.default_rng(11)
    idx = rng.integers(0, len(store), 50)
    np.testing.assert_array_equal(store.get_frames(idx), oracle[idx])
    roi = (7, 5, 30, 20)  # x, y, width, height
    np.testing.assert_array_equal(store.get_frames(idx, roi=roi), oracle[idx, 5:25, 7:37])
    with pytest.raises(ValueError):
        store.get_frames(idx, roi=(60, 0, 30, 10))


def test_random_order_reads(case):
    """Backwards jumps, repeats and jumps within a keyframe interval."""
    _, oracle, store = case
    order = [140, 10, 11, 45, 44, 29, 30, 31, 0, 149, 69, 70, 71, 33, 33, 60, 59]
    for i in order:
        np.testing.assert_array_equal(store[i], oracle[i])


def test_extract_only_frame(case):
    rec, oracle, _ = case
    np.testing.assert_array_equal(framestore.extract_only_frame(rec.path, 75), oracle[75])
    np.testing.assert_array_equal(framestore.extract_only_frame(rec.path / "metadata.yaml", 3), oracle[3])
