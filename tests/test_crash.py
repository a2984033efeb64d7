"""Crash safety: SIGKILL a real writer process at chosen moments, then open what it left.

Each test starts ``crash_writer.py`` (a writer that records synthetic frames forever),
watches the status file it appends to after every ``add_image``, kills it with SIGKILL
and opens the store. The writer promises that a killed process loses at most what was
still queued: every frame added more than ``BOUND`` seconds (wall clock) before the kill
must be there. Frames added later may or may not be there, but whatever is there must be
exactly what was added, in order, and must decode to the right image.

Most kills follow a given add (a frame count in the status file). Two moments too short
to hit that way are held open instead: chunk 2's journal path is a FIFO (the writer
blocks creating it), or the writer runs under strace with writes to that journal delayed
(it blocks writing the journal's header). Timing only matters through the 1 s bound,
which leaves ample slack at 30 fps with a 16-frame queue, also on a loaded machine.
"""

from __future__ import annotations

import math
import os
import shutil
import stat
import subprocess
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from _support.crash import BOUND, CHUNKSIZE, FPS, HEIGHT, WIDTH, Crash, expected_numbers, run_and_kill

import framestore
from framestore._disk.layout import Layout
from framestore.codecs import resolve_format
from framestore.testing.frames import read_barcode, synthetic_frame

FORMATS = ["utvideo", "ffv1", "h264", "avc1/mp4", "mjpeg", "raw", "npy", "png"]  # utvideo: the default


def check_recovered(crash: Crash) -> framestore.StoreReader:
    """Everything the tests demand of a store whose writer was killed."""
    info = crash.describe()
    added = crash.added
    np.testing.assert_array_equal(
        added.numbers, expected_numbers(len(added)), err_msg="the writer script added unexpected numbers"
    )
    assert np.all(np.diff(added.wall) >= 0)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = framestore.new_for_filename(crash.store)
    categories = [w.category for w in caught]
    assert framestore.IncompleteStoreWarning in categories, info
    unexpected = [
        str(w.message) for w in caught if not issubclass(w.category, framestore.IncompleteStoreWarning)
    ]
    assert not unexpected, f"{info}: unexpected warnings {unexpected}"
    assert not store.is_complete, info

    n = len(store)
    assert store.frame_count == n
    numbers = np.array(store.frame_numbers)
    times = np.array(store.frame_times)
    assert len(numbers) == len(times) == n

    # The bound: every frame added more than BOUND s before the kill is there. The wall
    # clock of the adds increases, so these frames are a prefix of what was added.
    required = int(np.count_nonzero(added.wall < crash.killed_at - BOUND))
    assert n >= required, (
        f"{info}: only {n} frames recovered; frame {n} (frame_number {added.numbers[n]}) was added "
        f"{crash.killed_at - added.wall[n]:.3f}s before the kill and is lost"
    )
    # Nothing that was never added: at most the frame whose add_image returned just
    # before the kill, with its status line not yet written, is beyond the status file.
    m = len(added)
    assert n <= m + 1, f"{info}: {n} frames recovered but only {m} (+1) were added"
    k = min(n, m)
    np.testing.assert_array_equal(numbers[:k], added.numbers[:k], err_msg=f"{info}: frame_number")
    np.testing.assert_array_equal(times[:k], added.times[:k], err_msg=f"{info}: frame_time")
    if n == m + 1:
        assert numbers[m] == expected_numbers(m + 1)[m], info
        assert np.isfinite(times[m]) and (m == 0 or times[m] >= times[m - 1]), info

    # Every frame decodes, in order, and is the frame it claims to be.
    frames = list(store)
    assert len(frames) == n, info
    for i, image in enumerate(frames):
        assert image.shape == crash.shape and image.dtype == crash.dtype, (info, i, image.shape, image.dtype)
        assert read_barcode(image) == numbers[i], f"{info}: frame_index {i} carries another barcode"
        expected = synthetic_frame(int(numbers[i]), crash.shape, crash.dtype)
        if resolve_format(crash.fmt).lossless:
            if not np.array_equal(image, expected):
                bad = np.count_nonzero(image != expected)
                pytest.fail(f"{info}: frame_index {i} (frame_number {numbers[i]}): {bad} pixels differ")
        else:
            err = np.abs(image.astype(np.float64) - expected).mean()
            assert err < 12, f"{info}: frame_index {i} is far from its original (mean error {err:.1f})"

    # Random access, by frame_index and by frame_number, into every chunk including the
    # unfinished one (read from its journal).
    if n:
        rng = np.random.default_rng(n)
        order = rng.permutation(n)
        for i in order:
            np.testing.assert_array_equal(store[int(i)], frames[i], err_msg=f"{info}: store[{i}]")
        for i in order:
            image, (fn, ft) = store.get_image(int(numbers[i]))
            assert (fn, ft) == (numbers[i], times[i]), info
            np.testing.assert_array_equal(image, frames[i], err_msg=f"{info}: get_image({numbers[i]})")
        np.testing.assert_array_equal(store[-1], frames[-1])
        picked = np.sort(order[: min(n, 7)])[::-1]  # a fancy index, backwards
        np.testing.assert_array_equal(store[picked], np.stack([frames[i] for i in picked]))
        missing = int(numbers[-1]) + 1  # never added: beyond the last frame
        with pytest.raises(framestore.FrameNotFoundError):
            store.get_image(missing)
    return store


def last_chunk_frames(store: framestore.StoreReader) -> range:
    """frame_index range of the store's last chunk."""
    starts = store.chunk_starts
    return range(int(starts[-2]), int(starts[-1])) if len(starts) > 1 else range(0)


def assert_unfinished(crash: Crash, chunk: int) -> None:
    """Chunk ``chunk`` was cut short: on disk it has its journal and no index."""
    spec = resolve_format(crash.fmt)
    layout = Layout(crash.store, spec.extension, spec.image_chunks)
    assert layout.journal_path(chunk).is_file(), f"{crash.describe()}: chunk {chunk} has no journal"
    assert not layout.index_path(chunk).exists(), f"{crash.describe()}: chunk {chunk} has an index"


# -- kill moments -------------------------------------------------------------------------


def at_frame_count(count: int) -> Callable[[int, Path], bool]:
    return lambda lines, store: lines >= count


def mid_chunk_count(fps: float, chunksize: int) -> int:
    """A kill in chunk 1 late enough that the bound covers a few of its frames."""
    count = chunksize + 4 + math.ceil(fps * BOUND) + 4
    assert count < 2 * chunksize, "chunks too short for a mid-chunk kill covered by the bound"
    return count


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_kill_mid_chunk(tmp_path: Path, fmt: str) -> None:
    """Killed late in the second chunk: chunk 0 comes from its index, chunk 1 from its
    journal, and the bound reaches a few frames into chunk 1."""
    crash = run_and_kill(tmp_path, fmt, at_frame_count(mid_chunk_count(FPS, CHUNKSIZE)))
    assert_unfinished(crash, 1)
    with check_recovered(crash) as store:
        assert len(store) > CHUNKSIZE + 4, crash.describe()
        assert last_chunk_frames(store) == range(CHUNKSIZE, len(store)), crash.describe()


@pytest.mark.parametrize("fmt", FORMATS)
def test_kill_at_chunk_rollover(tmp_path: Path, fmt: str) -> None:
    """Killed as soon as the last frame of chunk 0 was added: while chunk 0 is closing."""
    crash = run_and_kill(tmp_path, fmt, at_frame_count(CHUNKSIZE))
    with check_recovered(crash) as store:
        assert len(store) >= CHUNKSIZE - math.ceil(FPS * BOUND), crash.describe()


@pytest.mark.parametrize("fmt", FORMATS)
def test_kill_before_first_chunk_completes(tmp_path: Path, fmt: str) -> None:
    """Killed early: no chunk finished, every frame comes from the first journal."""
    count = CHUNKSIZE - 4
    assert count / FPS > BOUND + 0.1  # so the bound requires some frames
    crash = run_and_kill(tmp_path, fmt, at_frame_count(count))
    assert_unfinished(crash, 0)
    with check_recovered(crash) as store:
        assert 0 < len(store) < CHUNKSIZE, crash.describe()
        assert last_chunk_frames(store) == range(0, len(store))


def journal_header_path(layout: Layout, chunk: int) -> Path:
    """Where the writer writes a new journal's header before renaming it into place."""
    journal = layout.journal_path(chunk)
    return journal.with_name(journal.name + ".tmp")


@pytest.mark.parametrize("fmt", FORMATS)
def test_kill_while_next_chunk_is_being_opened(tmp_path: Path, fmt: str) -> None:
    """Killed after the encoder thread created chunk 2's video file (or image folder) and
    before it created that chunk's journal: a kill can come at any moment, so the store
    must open then too, with chunks 0 and 1 intact.

    That moment lasts well under a millisecond, so the test holds the writer there: the
    journal's (temporary header) path is taken by a FIFO, whose open blocks until a reader comes (none
    does). The writer is killed inside that open, before it could create the journal;
    then the FIFO is removed, leaving exactly what a kill at that instant leaves.
    """
    fps, chunksize, chunk = 30.0, 10, 2
    spec = resolve_format(fmt)
    waiting_since: list[float] = []

    def held_in_journal_open(lines: int, store: Path) -> bool:
        layout = Layout(store, spec.extension, spec.image_chunks)
        journal = journal_header_path(layout, chunk)
        if lines >= 1 and not os.path.lexists(journal):
            os.mkfifo(journal)  # the store exists and chunk 0 is open: set the trap
        if lines > chunk * chunksize and os.path.lexists(layout.chunk_path(chunk)):
            waiting_since.append(time.monotonic())
            return time.monotonic() - waiting_since[0] > 0.1  # surely blocked in open by now
        return False

    crash = run_and_kill(tmp_path, fmt, held_in_journal_open, fps=fps, chunksize=chunksize)
    layout = Layout(crash.store, spec.extension, spec.image_chunks)
    journal = journal_header_path(layout, chunk)
    assert stat.S_ISFIFO(journal.lstat().st_mode), "the writer replaced the FIFO: test assumption broken"
    journal.unlink()
    assert os.path.lexists(layout.chunk_path(chunk))
    with check_recovered(crash) as store:
        assert len(store) == chunk * chunksize, crash.describe()  # chunk 2 got no frame in


def _strace_works() -> bool:
    if shutil.which("strace") is None:
        return False
    try:
        result = subprocess.run(["strace", "-qq", "-o", os.devnull, "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@pytest.mark.skipif(not _strace_works(), reason="needs strace, allowed to trace a child process")
@pytest.mark.parametrize("fmt", ["ffv1", "npy"])  # the video and the image chunk writer
def test_kill_while_next_journal_header_is_written(tmp_path: Path, fmt: str) -> None:
    """Killed after chunk 2's journal was created and before its header was written in
    it (an empty file): the store must open with chunks 0 and 1 intact.

    The writer runs under strace, which delays every write to that journal by 30 s; the
    kill comes while the first one, the header, is held.
    """
    fps, chunksize, chunk = 30.0, 10, 2
    spec = resolve_format(fmt)
    store_path = (tmp_path / "store").resolve()
    journal = journal_header_path(Layout(store_path, spec.extension, spec.image_chunks), chunk)
    strace = ["strace", "-f", "-qq", "-o", os.devnull, "-P", str(journal)]
    strace += ["-e", "trace=write", "-e", "inject=write:delay_enter=30000000"]
    waiting_since: list[float] = []

    def held_in_header_write(lines: int, store: Path) -> bool:
        if lines > chunk * chunksize and journal.exists():
            waiting_since.append(time.monotonic())
            return time.monotonic() - waiting_since[0] > 0.1
        return False

    crash = run_and_kill(tmp_path, fmt, held_in_header_write, fps=fps, chunksize=chunksize, wrapper=strace)
    assert journal.stat().st_size == 0, "the header got written: test assumption broken"
    with check_recovered(crash) as store:
        assert len(store) == chunk * chunksize, crash.describe()  # chunk 2 got no frame in


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ffv1", "h264"])
def test_kill_at_low_frame_rate(tmp_path: Path, fmt: str) -> None:
    """At 2 fps the bound still holds: each frame is in its journal long before the next
    one comes (an encoder that buffers frames would hold them for seconds)."""
    fps, chunksize = 2.0, 4
    seen: list[float] = []

    def after_7th_add(lines: int, store: Path) -> bool:
        if lines >= 7:
            seen.append(time.monotonic())
            return seen[-1] - seen[0] >= 0.25
        return False

    crash = run_and_kill(tmp_path, fmt, after_7th_add, fps=fps, chunksize=chunksize)
    assert_unfinished(crash, 1)
    with check_recovered(crash) as store:
        # adds 0.5 s apart, killed 0.25 s after the 7th: frame 4, the first of the
        # unfinished chunk 1, was added 1.25 s before the kill
        assert len(store) >= 5, crash.describe()
        assert last_chunk_frames(store) == range(chunksize, len(store)), crash.describe()


@pytest.mark.slow
def test_kill_gray16_ffv1(tmp_path: Path) -> None:
    """16-bit frames survive exactly, from the index and from the journal."""
    crash = run_and_kill(tmp_path, "ffv1", at_frame_count(mid_chunk_count(FPS, CHUNKSIZE)), kind="gray16")
    assert_unfinished(crash, 1)
    with check_recovered(crash) as store:
        assert store.dtype == np.uint16
        assert len(store) > CHUNKSIZE + 4, crash.describe()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ffv1", "h264"])
def test_kill_color(tmp_path: Path, fmt: str) -> None:
    """Color (BGR) frames, exact for FFV1, from the index and from the journal."""
    crash = run_and_kill(tmp_path, fmt, at_frame_count(mid_chunk_count(FPS, CHUNKSIZE)), kind="color")
    assert_unfinished(crash, 1)
    with check_recovered(crash) as store:
        assert store.image_shape == (HEIGHT, WIDTH, 3)
        assert len(store) > CHUNKSIZE + 4, crash.describe()
