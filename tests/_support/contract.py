"""The read contract: every read path of a store reader against a full sequential decode.

In the spirit of zarr's ``testing/store.py`` ``StoreTests``: :class:`ReadContract` holds
the tests, and a test class per kind of source subclasses it, supplying only a
``source`` fixture: where the store is and what reading it must give (:class:`Source`).
Sources are built once per session (see ``conftest.py``); the oracle is a plain full
sequential decode of the store's files that does not use framestore's reader (PyAV,
numpy, OpenCV, or imgstore itself for stores imgstore wrote).

Every source has frame numbers far from 0 with gaps, and several chunks: each test reads
on both sides of every chunk boundary.
"""

from __future__ import annotations

import pickle
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import framestore
from framestore.testing.frames import read_barcode

ROI = (7, 5, 30, 20)  # x, y, width, height: fits every source's frames (48x64 or larger)


@dataclass(frozen=True)
class Source:
    """A store to read, and what every read of it must return."""

    location: Path | str
    """What ``framestore.new_for_filename`` is given: a directory or a URL."""
    oracle: np.ndarray
    """Every frame, ``(n, h, w[, c])``, by a full sequential decode without framestore."""
    frame_numbers: np.ndarray
    """The frame numbers the writer was given, by frame_index."""
    frame_times: np.ndarray
    """The frame times the writer was given, by frame_index."""
    chunksize: int
    """Frames per chunk: the chunks start at multiples of it."""
    written: np.ndarray
    """The images the writer was given: the oracle has their shape and type, and is near
    them (lossy formats) or equal to them."""
    exact: np.ndarray | None
    """What the oracle must equal pixel for pixel (``written`` for lossless stores; for a
    lossy store converted losslessly, the frames of the lossy store), or None."""
    user_metadata: dict[str, Any] = field(default_factory=dict)
    complete: bool = True
    """False for a store whose writer was killed (it opens with IncompleteStoreWarning)."""

    def __post_init__(self) -> None:
        n = len(self.oracle)
        if not (len(self.frame_numbers) == len(self.frame_times) == n):
            raise ValueError(f"{self.location}: {n} frames, {len(self.frame_numbers)} numbers")
        if int(self.frame_numbers[0]) < 1000 or self.chunksize >= n:
            raise ValueError(f"{self.location}: frame numbers must start far from 0 and chunks be crossed")

    def __len__(self) -> int:
        return len(self.oracle)

    @property
    def chunk_starts(self) -> list[int]:
        """frame_index of each chunk's first frame, and the frame count at the end."""
        return [*range(0, len(self), self.chunksize), len(self)]

    @property
    def boundaries(self) -> list[int]:
        """frame_index of the first frame of every chunk but the first."""
        return self.chunk_starts[1:-1]

    def around_boundaries(self, before: int = 2, after: int = 2) -> list[int]:
        """frame_indexes from ``before`` frames before to ``after`` frames after the start
        of every chunk but the first (the chunk's first frame included)."""
        picks = {i for b in self.boundaries for i in range(b - before, b + after + 1)}
        return sorted(i for i in picks if 0 <= i < len(self))

    def metadata_yaml(self) -> Path | str:
        """The location of the store's metadata.yaml."""
        if isinstance(self.location, Path):
            return self.location / "metadata.yaml"
        return self.location.rstrip("/") + "/metadata.yaml"


def open_source(source: Source) -> framestore.StoreReader:
    """The source opened with ``framestore.new_for_filename``, checking the warnings it
    gives: none for a finished store, IncompleteStoreWarning for an unfinished one."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = framestore.new_for_filename(source.location)
    categories = [w.category for w in caught]
    if source.complete:
        assert not caught, [str(w.message) for w in caught]
    else:
        assert categories == [framestore.IncompleteStoreWarning], [str(w.message) for w in caught]
    return store


def nearest(values: np.ndarray, target: float) -> int:
    """Index of the value nearest ``target``, the earliest on a tie."""
    return int(np.argmin(np.abs(values.astype(np.float64) - target)))


def assert_frames(got: np.ndarray, expected: np.ndarray, what: str = "") -> None:
    assert got.shape == expected.shape and got.dtype == expected.dtype, (what, got.shape, got.dtype)
    np.testing.assert_array_equal(got, expected, err_msg=what)


class ReadContract:
    """Read-path tests every source runs. Subclasses define the ``source`` fixture."""

    @pytest.fixture
    def source(self) -> Source:
        raise NotImplementedError("a read contract subclass supplies the source fixture")

    @pytest.fixture
    def store(self, source: Source):
        store = open_source(source)
        yield store
        store.close()

    # -- the source itself -------------------------------------------------------------
    def test_oracle_is_what_was_written(self, source: Source) -> None:
        oracle, written = source.oracle, source.written
        assert oracle.shape == written.shape and oracle.dtype == written.dtype
        assert [read_barcode(f) for f in oracle] == source.frame_numbers.tolist()
        error = np.abs(oracle.astype(np.float64) - written).mean(axis=tuple(range(1, oracle.ndim)))
        assert error.max() < 12, f"frame_index {error.argmax()} is far from what was written"
        if source.exact is not None:
            assert_frames(oracle, source.exact)

    # -- description and index ---------------------------------------------------------
    def test_description(self, source: Source, store: framestore.StoreReader) -> None:
        n = len(source)
        assert len(store) == store.frame_count == n
        assert store.image_shape == source.oracle.shape[1:]
        assert store.dtype == source.oracle.dtype
        assert store.frame_min == source.frame_numbers.min() and store.frame_max == source.frame_numbers.max()
        assert store.user_metadata == source.user_metadata
        assert store.is_complete is source.complete
        assert store.chunk_starts.tolist() == source.chunk_starts

    def test_frame_numbers_and_times(self, source: Source, store: framestore.StoreReader) -> None:
        np.testing.assert_array_equal(store.frame_numbers, source.frame_numbers)
        np.testing.assert_array_equal(store.frame_times, source.frame_times)
        assert not store.frame_numbers.flags.writeable and not store.frame_times.flags.writeable
        md = store.get_frame_metadata()
        assert md["frame_number"] == source.frame_numbers.tolist()
        assert md["frame_time"] == source.frame_times.tolist()

    def test_index_dataframe(self, source: Source, store: framestore.StoreReader) -> None:
        df = store.index_dataframe()
        assert df.index.equals(pd.RangeIndex(len(source), name="frame_index"))
        assert df.index.name == "frame_index"
        np.testing.assert_array_equal(df["frame_number"].to_numpy(), source.frame_numbers)
        np.testing.assert_array_equal(df["frame_time"].to_numpy(), source.frame_times)

    # -- sequential reads --------------------------------------------------------------
    def test_iteration(self, source: Source, store: framestore.StoreReader) -> None:
        frames = list(store)
        assert len(frames) == len(source)
        assert_frames(np.stack(frames), source.oracle)
        assert_frames(next(iter(store)), source.oracle[0], "a second iteration starts over")

    def test_iter_frames(self, source: Source, store: framestore.StoreReader) -> None:
        n = len(source)
        ranges = [(0, None), (n - 2, n + 10), (n, None)]
        for b in source.boundaries:
            ranges += [(b - 3, b + 3), (b, b + 1), (b - 1, b), (b, b), (b, None)]
        for start, stop in ranges:
            frames = list(store.iter_frames(start, stop))
            expected = source.oracle[start:stop]
            assert len(frames) == len(expected), (start, stop)
            if frames:
                assert_frames(np.stack(frames), expected, f"iter_frames({start}, {stop})")
        assert_frames(np.stack(list(store.iter_frames(n - 3))), source.oracle[n - 3 :])

    def test_iter_frames_with_negative_bounds(self, source: Source, store: framestore.StoreReader) -> None:
        n = len(source)
        b = source.boundaries[-1]
        for start, stop in [(-3, None), (b - n - 2, b - n + 2), (0, -(n - 2)), (-n - 5, 3)]:
            frames = list(store.iter_frames(start, stop))
            expected = source.oracle[start:stop]
            assert len(frames) == len(expected), f"iter_frames({start}, {stop})"
            assert_frames(np.stack(frames), expected, f"iter_frames({start}, {stop})")

    def test_get_next_image_to_eof(self, source: Source, store: framestore.StoreReader) -> None:
        for i in range(len(source)):
            image, (number, time) = store.get_next_image()
            assert (number, time) == (source.frame_numbers[i], source.frame_times[i]), i
            assert_frames(image, source.oracle[i], f"get_next_image #{i}")
        with pytest.raises(EOFError):
            store.get_next_image()
        with pytest.raises(EOFError):
            store.get_next_image()

    def test_get_next_image_after_a_lookup(self, source: Source, store: framestore.StoreReader) -> None:
        """A lookup by number, index or time moves the cursor: the next frames follow it
        across the chunk boundary."""
        n = len(source)
        for b in source.boundaries:
            lookups = [
                lambda i: store.get_image(source.frame_numbers[i]),
                lambda i: store.get_image(None, frame_index=i),
                lambda i: store.get_nearest_image(source.frame_times[i]),
            ]
            for lookup in lookups:
                lookup(b - 2)
                for j in range(b - 1, min(b + 2, n)):
                    image, (number, _) = store.get_next_image()
                    assert number == source.frame_numbers[j]
                    assert_frames(image, source.oracle[j], f"next after a lookup of {b - 2}")
        store.get_image(None, frame_index=n - 1)
        with pytest.raises(EOFError):
            store.get_next_image()

    # -- the sequence over frame_index -------------------------------------------------
    def test_int_indexes(self, source: Source, store: framestore.StoreReader) -> None:
        n, oracle = len(source), source.oracle
        for i in [0, n - 1, *source.around_boundaries()]:
            assert_frames(store[i], oracle[i], f"store[{i}]")
            assert_frames(store[i - n], oracle[i], f"store[{i - n}]")
        b = source.boundaries[0]
        assert_frames(store[np.int32(b)], oracle[b])
        assert_frames(store[np.uint64(b - 1)], oracle[b - 1])
        for bad in (n, n + 1, -n - 1):
            with pytest.raises(IndexError):
                store[bad]

    def test_slices(self, source: Source, store: framestore.StoreReader) -> None:
        n, oracle = len(source), source.oracle
        slices = [
            slice(None),
            slice(None, None, -7),
            slice(5, n - 10, 13),
            slice(None, None, 2),
            slice(n - 1, 0, -3),
            slice(-20, None),
            slice(n - 3, n + 50),
            slice(n, None),
            slice(3, 3),
        ]
        for b in source.boundaries:
            slices += [slice(b - 5, b + 5), slice(b + 4, b - 4, -1), slice(b - 6, b + 7, 3), slice(b, b)]
        for s in slices:
            assert_frames(store[s], oracle[s], f"store[{s}]")

    def test_lists_and_arrays(self, source: Source, store: framestore.StoreReader) -> None:
        n, oracle = len(source), source.oracle
        b = source.boundaries
        picks = [n - 1, 0, b[0] - 1, b[0], b[0], 31 % n, -1, b[-1], b[-1] - 1, -n, 29]
        assert_frames(store[picks], oracle[picks])
        assert_frames(store[np.array(picks)], oracle[picks])
        assert_frames(store[np.array(picks, dtype=np.int32)], oracle[picks])
        assert_frames(store[source.around_boundaries()[::-1]], oracle[source.around_boundaries()[::-1]])
        assert_frames(store[[b[0]]], oracle[[b[0]]])
        assert store[[]].shape == (0, *oracle.shape[1:])
        for bad in ([0, -n - 1], [n], [b[0], n + 5]):
            with pytest.raises(IndexError):
                store[bad]
        with pytest.raises(TypeError):
            store[np.array([0.5, 1.0])]

    def test_boolean_masks(self, source: Source, store: framestore.StoreReader) -> None:
        n, oracle = len(source), source.oracle
        mask = np.zeros(n, bool)
        mask[[3, n - 1, *source.around_boundaries(1, 1)]] = True
        assert_frames(store[mask], oracle[mask])
        assert_frames(store[~mask], oracle[~mask])
        assert store[np.zeros(n, bool)].shape == (0, *oracle.shape[1:])
        for bad in (np.ones(n - 1, bool), np.ones(n + 1, bool)):
            with pytest.raises(IndexError):
                store[bad]

    def test_tuple_indexes_with_roi(self, source: Source, store: framestore.StoreReader) -> None:
        oracle = source.oracle
        b = source.boundaries[0]
        keys: list[tuple[Any, ...]] = [
            (slice(b - 3, b + 3), slice(5, 9), slice(3, 30)),
            (slice(None, None, 9), slice(None, None, 2), slice(1, None, 3)),
            ([b, b - 1, 0], slice(10, 30)),
            (np.arange(b - 2, b + 2), 7),
            (b, slice(5, 25), slice(7, 37)),
            (b - 1, 4, 9),
            (-1, slice(None, None, -1)),
        ]
        if oracle.ndim == 4:  # color: channels too
            keys += [(slice(b - 2, b + 2), slice(None), slice(None), 0), (b, 3, 4, slice(None, None, -1))]
        for key in keys:
            assert_frames(np.asarray(store[key]), oracle[key], f"store[{key}]")

    def test_index_arrays_keep_their_shape(self, source: Source, store: framestore.StoreReader) -> None:
        b = source.boundaries[0]
        for key in (np.array([[b - 1, b], [0, -1]]), np.array(b)):
            assert_frames(np.asarray(store[key]), source.oracle[key], f"store[{key!r}]")

    def test_two_index_arrays_pair_up_as_in_numpy(
        self, source: Source, store: framestore.StoreReader
    ) -> None:
        b = source.boundaries[0]
        key = ([b - 1, b], [3, 4])
        assert_frames(np.asarray(store[key]), source.oracle[key], f"store[{key}]")

    def test_get_frames_with_roi(self, source: Source, store: framestore.StoreReader) -> None:
        n, oracle = len(source), source.oracle
        rng = np.random.default_rng(11)
        idx = np.concatenate([rng.integers(-n, n, 50), source.around_boundaries()[::-1]])
        assert_frames(store.get_frames(idx), oracle[idx])
        assert_frames(store.get_frames(list(idx)), oracle[idx])
        x, y, w, h = ROI
        assert_frames(store.get_frames(idx, roi=ROI), oracle[idx, y : y + h, x : x + w])
        height, width = oracle.shape[1:3]
        assert_frames(store.get_frames(idx[:5], roi=(0, 0, width, height)), oracle[idx[:5]])
        corner = (width - 1, height - 1, 1, 1)
        assert_frames(store.get_frames(idx[:5], roi=corner), oracle[idx[:5], -1:, -1:])
        assert store.get_frames([], roi=ROI).shape == (0, h, w, *oracle.shape[3:])
        for bad in [(width - 10, 0, 30, 10), (0, height - 5, 10, 10), (-1, 0, 5, 5), (0, 0, 0, 5)]:
            with pytest.raises(ValueError):
                store.get_frames(idx, roi=bad)
        with pytest.raises(IndexError):
            store.get_frames([0, n])

    def test_random_order_reads(self, source: Source, store: framestore.StoreReader) -> None:
        """Backwards jumps, repeats, and jumps to either side of every chunk boundary,
        one frame at a time."""
        n = len(source)
        order = [n - 1, 10, 11, n // 2, n // 2 - 1, 0, n - 1, 29, 30, 31, 33, 33]
        for b in source.boundaries:
            order += [b + 1, b - 2, b, b - 1, b + 2, b - 3, b, b]
        order += [i for i in range(n - 1, -1, -max(1, n // 11))]
        for i in order:
            i = min(max(i, 0), n - 1)
            assert_frames(store[i], source.oracle[i], f"store[{i}] in {order}")

    # -- lookups by frame_number and frame_time ----------------------------------------
    def test_get_image_by_frame_number(self, source: Source, store: framestore.StoreReader) -> None:
        rng = np.random.default_rng(7)
        n = len(source)
        for i in [*source.around_boundaries(), *rng.permutation(n)[:60].tolist(), 0, n - 1]:
            number = source.frame_numbers[i]  # a numpy integer on purpose
            image, (got_number, got_time) = store.get_image(number)
            assert (got_number, got_time) == (number, source.frame_times[i])
            assert type(got_number) is int and type(got_time) is float
            assert_frames(image, source.oracle[i], f"get_image({number})")
            assert store.get_image(int(number), exact_only=False)[1][0] == number

    def test_get_image_by_frame_index(self, source: Source, store: framestore.StoreReader) -> None:
        n = len(source)
        rng = np.random.default_rng(5)
        for i in [n - 1, 0, *source.around_boundaries(), *rng.permutation(n)[:60].tolist()]:
            meta = (source.frame_numbers[i], source.frame_times[i])
            image, got = store.get_image(None, frame_index=np.int64(i))
            assert got == meta
            assert_frames(image, source.oracle[i], f"get_image(frame_index={i})")
            image, got = store.get_image(int(source.frame_numbers[i]), frame_index=i)
            assert got == meta
            assert_frames(image, source.oracle[i])
        with pytest.raises(ValueError):
            store.get_image(int(source.frame_numbers[1]), frame_index=0)
        for bad in (n, -1, -n - 1):  # imgstore's contract: no counting from the end here
            with pytest.raises(IndexError) as raised:
                store.get_image(None, frame_index=bad)
            assert isinstance(raised.value, ValueError)

    def test_get_image_by_nearest_frame_number(self, source: Source, store: framestore.StoreReader) -> None:
        numbers = source.frame_numbers
        gaps = np.flatnonzero(np.diff(numbers) > 1)
        assert len(gaps), "the source's frame numbers have no gap"
        missing = [int(numbers[g]) + d for g in gaps[:6] for d in range(1, int(numbers[g + 1] - numbers[g]))]
        missing += [int(numbers[0]) - 3, int(numbers[-1]) + 2]
        for number in missing:
            with pytest.raises(framestore.FrameNotFoundError) as err:
                store.get_image(number)
            assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
            assert str(number) in str(err.value)
            i = nearest(numbers, number)  # equally near on a tie: the earlier frame
            image, (got, time) = store.get_image(number, exact_only=False)
            assert (got, time) == (numbers[i], source.frame_times[i]), number
            assert_frames(image, source.oracle[i], f"get_image({number}, exact_only=False)")

    def test_get_nearest_image_by_time(self, source: Source, store: framestore.StoreReader) -> None:
        times = source.frame_times
        n = len(source)
        # half the time to the nearer neighbour: within it, the frame itself is the nearest
        spacing = np.diff(times)
        reach = np.minimum(np.r_[np.inf, spacing], np.r_[spacing, np.inf]) * 0.45
        rng = np.random.default_rng(3)
        for i in [*source.around_boundaries(), *rng.permutation(n)[:40].tolist(), 0, n - 1]:
            for t in (times[i], times[i] + rng.uniform(-1, 1) * min(reach[i], 1.0)):
                assert nearest(times, t) == i
                image, (number, time) = store.get_nearest_image(t)
                assert (number, time) == (source.frame_numbers[i], times[i]), (i, t)
                assert_frames(image, source.oracle[i], f"get_nearest_image({t!r})")
        for t in (times[0] - 100, times[-1] + 100):
            image, (number, _) = store.get_nearest_image(t)
            assert number == source.frame_numbers[nearest(times, t)]
            assert_frames(image, source.oracle[nearest(times, t)])
        b = source.boundaries[0]
        middle = (times[b - 1] + times[b]) / 2  # between the two, on either side of the boundary
        assert store.get_nearest_image(middle)[1][0] == source.frame_numbers[nearest(times, middle)]

    # -- parallel and out-of-process reads ---------------------------------------------
    def test_to_dask(self, source: Source, store: framestore.StoreReader) -> None:
        pytest.importorskip("dask")
        if not source.complete:  # each block's reader warns again, as the store's did
            warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        n, oracle = len(source), source.oracle
        array = store.to_dask()
        assert array.shape == oracle.shape and array.dtype == oracle.dtype
        assert array.chunks[0] == tuple(np.diff(source.chunk_starts).tolist())
        for b in source.boundaries:  # one block on either side, then across
            assert_frames(array[b - 2 : b].compute(scheduler="sync"), oracle[b - 2 : b])
            assert_frames(array[b : b + 2].compute(scheduler="sync"), oracle[b : b + 2])
            assert_frames(array[b - 1 : b + 1].compute(scheduler="sync"), oracle[b - 1 : b + 1])
        assert_frames(array.compute(scheduler="threads"), oracle)
        blocks = store.to_dask(block_frames=source.chunksize // 2 + 3)
        assert blocks.chunks[0][0] == source.chunksize // 2 + 3 and sum(blocks.chunks[0]) == n
        picks = source.around_boundaries(1, 1)
        assert_frames(blocks[picks].compute(scheduler="sync"), oracle[picks])

    def test_pickled_reader(self, source: Source, store: framestore.StoreReader) -> None:
        picks = [len(source) - 1, *source.around_boundaries(1, 1), 0]
        before = store[picks]  # decoders now open on every chunk
        copy = pickle.loads(pickle.dumps(store))
        assert len(copy) == len(source)
        np.testing.assert_array_equal(copy.frame_numbers, source.frame_numbers)
        assert_frames(copy[picks[::-1]], source.oracle[picks[::-1]], "read from the copy")
        image, meta = copy.get_image(source.frame_numbers[picks[1]])
        assert meta == (source.frame_numbers[picks[1]], source.frame_times[picks[1]])
        assert_frames(image, source.oracle[picks[1]])
        copy.close()  # closes the copy's own decoders, not the original's
        assert_frames(store[picks], before, "the original after the copy was closed")
        with open_source(source) as unread:  # a reader that has opened no decoder yet
            fresh = pickle.loads(pickle.dumps(unread))
        first, last = picks[1], picks[-2] + 1
        assert_frames(np.stack(list(fresh.iter_frames(first, last))), source.oracle[first:last])
        fresh.close()

    def test_extract_only_frame(self, source: Source) -> None:
        b = source.boundaries[-1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
            assert_frames(framestore.extract_only_frame(source.location, b), source.oracle[b])
            assert_frames(framestore.extract_only_frame(source.metadata_yaml(), 3), source.oracle[3])
            assert_frames(framestore.extract_only_frame(source.location, -1), source.oracle[-1])

    def test_closed_reader_refuses_reads(self, source: Source) -> None:
        store = open_source(source)
        store[0]
        store.close()
        for read in (lambda: store[1], lambda: store.get_next_image(), lambda: list(store)):
            with pytest.raises(framestore.StoreClosedError):
                read()
