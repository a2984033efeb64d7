"""Reading a store while it is written: refresh(), follow(), the writer's state, and a
follower in another process that must see every frame once, in order."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from _support import crash, follower

import framestore
from framestore._disk.journal import JournalWriter, read_journal
from framestore.testing.frames import read_barcode, synthetic_frame

SHAPE = (64, 96)
ROOT = Path(__file__).resolve().parent.parent


def _open(path: Path) -> framestore.StoreReader:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        return framestore.new_for_filename(path)


def _files(path: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``path`` with its size and modification time."""
    return {
        str(p.relative_to(path)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_read_journal_goes_on_from_where_it_stopped(tmp_path):
    path = tmp_path / "000000.journal"
    journal = JournalWriter(path, {"columns": [["gain", "int16"]]})
    for k in range(3):
        journal.append(100 + k, 1.7e9 + k, k, k == 0, bytes([k]) * (10 + k), columns=np.int16(k).tobytes())
    first = read_journal(path)
    with open(path, "ab") as f:  # a record being written: only its start is there yet
        f.write(b"\x00FSJ")
    torn = read_journal(path, after=first)
    assert len(torn) == 3 and torn.end == first.end
    with open(path, "r+b") as f:  # the writer's append completes it
        f.truncate(first.end)
    for k in range(3, 6):
        journal.append(100 + k, 1.7e9 + k, k, False, bytes([k]) * (10 + k), columns=np.int16(k).tobytes())
    journal.close()
    on = read_journal(path, after=torn)
    whole = read_journal(path)
    assert on.end == whole.end == path.stat().st_size
    for name in ("frame_number", "frame_time", "pts", "keyframe", "payload_offset", "payload_size"):
        np.testing.assert_array_equal(getattr(on, name), getattr(whole, name), err_msg=name)
    np.testing.assert_array_equal(on.columns["gain"], np.arange(6))
    assert on.read_payloads(4, 5) == [bytes([4]) * 14]


@pytest.mark.parametrize("fmt", ["utvideo/avi", "h264/mkv", "npy"])
def test_refresh_picks_up_frames_and_chunks_written_since(tmp_path, fmt):
    writer = framestore.new_for_format(fmt, tmp_path / "s", imgshape=SHAPE, chunksize=7, fps=30)
    numbers = 5000 + 2 * np.arange(30)
    times = 1.7e9 + np.arange(30) / 30

    def add(frames: range) -> None:
        for k in frames:
            writer.add_image(synthetic_frame(int(numbers[k]), SHAPE), numbers[k], times[k])
        deadline = time.monotonic() + 10  # until the encoder has put them in the journal
        while len(_open(tmp_path / "s")) < frames.stop and time.monotonic() < deadline:
            time.sleep(0.01)

    add(range(0, 3))
    reader = _open(tmp_path / "s")
    state = (len(reader), reader.writer_state, reader.is_live, reader.is_complete)
    assert state == (3, "writing", True, False)
    assert read_barcode(reader[2]) == numbers[2]
    assert reader.refresh() == 0
    add(range(3, 17))  # the open chunk grows, two chunks finish, a third begins
    assert reader.refresh() == 14
    assert reader.refresh() == 0
    assert len(reader) == 17
    np.testing.assert_array_equal(reader.frame_numbers, numbers[:17])
    np.testing.assert_array_equal(reader.frame_times, times[:17])
    some = [2, 3, 6, 7, 13, 14, 16]
    assert [read_barcode(reader[k]) for k in some] == list(numbers[some])
    assert reader.get_image(int(numbers[15]))[1] == (numbers[15], times[15])
    add(range(17, 30))
    writer.close()
    assert reader.refresh() == 13
    assert (reader.writer_state, reader.is_live, reader.is_complete) == ("finished", False, True)
    np.testing.assert_array_equal(reader.frame_numbers, numbers)
    assert [read_barcode(img) for img in reader] == list(numbers)


def test_refresh_after_a_read_found_the_chunk_finished_under_it(tmp_path):
    path = tmp_path / "s"
    writer = framestore.new_for_format("utvideo", path, imgshape=SHAPE, chunksize=7, fps=30)
    for k in range(3):
        writer.add_image(synthetic_frame(k, SHAPE), k, 1.7e9 + k)
    while len(_open(path)) < 3:
        time.sleep(0.01)
    reader = _open(path)
    for k in range(3, 8):  # chunk 0 is finished, chunk 1 begun
        writer.add_image(synthetic_frame(k, SHAPE), k, 1.7e9 + k)
    while (path / "000000.journal").exists() or not (path / "000001.journal").exists():
        time.sleep(0.01)
    assert read_barcode(reader[1]) == 1  # read from the finished chunk: the reader knew 3 of its frames
    assert len(reader) == 3
    assert reader.refresh() >= 4
    assert reader.frame_numbers.tolist()[:7] == list(range(7))
    assert [read_barcode(reader[k]) for k in range(7)] == list(range(7))
    writer.close()


def test_follow_yields_each_new_frame_and_ends_when_the_writer_closes(tmp_path):
    writer = framestore.new_for_format("utvideo", tmp_path / "s", imgshape=SHAPE, chunksize=10, fps=60)
    writer.add_image(synthetic_frame(0, SHAPE), 0, 1.7e9)
    time.sleep(0.2)
    reader = _open(tmp_path / "s")

    def write() -> None:
        for k in range(1, 45):
            writer.add_image(synthetic_frame(k, SHAPE), k, 1.7e9 + k / 60)
            time.sleep(1 / 60)
        writer.close()

    thread = threading.Thread(target=write)
    thread.start()
    followed = reader.follow(timeout=10)
    got = [(f.frame_index, f.frame_number, f.frame_time, read_barcode(f.image)) for f in followed]
    thread.join()
    assert got == [(k, k, 1.7e9 + k / 60, k) for k in range(1, 45)]  # new frames: from the second on
    assert list(reader.follow()) == []  # a finished store: nothing to wait for
    assert [f.frame_number for f in _open(tmp_path / "s").follow(start=40)] == [40, 41, 42, 43, 44]


def test_follow_times_out_clearly_when_no_frame_comes(tmp_path):
    with framestore.new_for_format("npy", tmp_path / "s", imgshape=SHAPE) as writer:
        writer.add_image(synthetic_frame(0, SHAPE), 0, 1.7e9)
        reader = _open(tmp_path / "s")
        started = time.monotonic()
        with pytest.raises(framestore.FollowTimeoutError, match=r"no new frame for 0.3 s .*is writing"):
            list(reader.follow(timeout=0.3, start=0))
        assert time.monotonic() - started < 3
    with pytest.raises(framestore.FrameIndexError):
        next(reader.follow(start=-1))


def _follower(store: Path, out: Path, timeout: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, follower.__file__, str(store), str(out), str(timeout)],
        env=env,
        stderr=subprocess.PIPE,
    )


def _received(out: Path) -> tuple[list[tuple[int, int, float, int]], np.ndarray, str]:
    lines = out.read_text().splitlines()
    rows = [line.split() for line in lines if not line.startswith("END")]
    frames = [(int(i), int(n), float(t), int(b)) for i, n, t, b, _ in rows]
    received = np.array([float(r[4]) for r in rows])
    return frames, received, lines[-1] if lines else ""


@pytest.mark.parametrize("fmt", ["utvideo/avi", "npy"])
def test_a_follower_in_another_process_gets_every_frame_once_in_order(tmp_path, fmt):
    store, out = tmp_path / "s", tmp_path / "followed.txt"
    proc = _follower(store, out, timeout=30)
    numbers = 9_000_000 + np.cumsum(np.r_[0, np.ones(149, int) + (np.arange(149) % 11 == 5)])
    added = []
    writer = framestore.new_for_format(fmt, store, imgshape=SHAPE, chunksize=20, fps=60)
    for n in numbers:  # 150 frames at 60 fps: seven chunk boundaries
        t = time.time()
        writer.add_image(synthetic_frame(int(n), SHAPE), int(n), t)
        added.append((t, time.monotonic()))
        time.sleep(1 / 60)
    writer.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    frames, received, end = _received(out)
    assert end == "END finished"
    assert frames == [(k, int(n), added[k][0], int(n)) for k, n in enumerate(numbers)]
    latency = received - np.array([a[1] for a in added])
    # live, not at the end (the writer runs ~1 s); benchmarks/bench_record.py times it
    assert np.median(latency) < 2.0, np.percentile(latency, [50, 90, 100])


def test_a_follower_keeps_every_frame_of_a_writer_that_dies_and_says_it_is_gone(tmp_path):
    store, out = tmp_path / "w" / "store", tmp_path / "followed.txt"
    proc = _follower(store, out, timeout=60)
    killed = crash.run_and_kill(tmp_path / "w", "utvideo/avi", lambda lines, _: lines >= 100)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    frames, _, end = _received(out)
    assert end == "END WriterGoneError", killed.describe()
    before = _files(store)
    reader = _open(store)  # what the store holds after the kill: the follower got all of it
    assert reader.writer_state == "gone"
    assert [f[1] for f in frames] == reader.frame_numbers.tolist()
    assert [f[2] for f in frames] == reader.frame_times.tolist()
    assert all(f[1] == f[3] for f in frames)
    required = killed.added.numbers[killed.added.wall < killed.killed_at - crash.BOUND]
    assert len(frames) >= len(required) and len(reader.chunk_starts) > 3, killed.describe()
    with pytest.raises(framestore.WriterGoneError, match="writer is gone.*framestore recover"):
        list(reader.follow(start=len(reader) - 2))
    assert _files(store) == before  # readers never change a store


def test_info_and_qc_report_a_store_being_written_as_live(tmp_path, capsys):
    from framestore.cli.main import main

    path = tmp_path / "s"
    writer = framestore.new_for_format("utvideo", path, imgshape=SHAPE, chunksize=8, fps=30)
    for k in range(20):
        writer.add_image(synthetic_frame(k, SHAPE), k, 1.7e9 + k / 30)
    deadline = time.monotonic() + 10
    while len(_open(path)) < 20 and time.monotonic() < deadline:
        time.sleep(0.01)
    summary = framestore.info(path)
    assert (summary["live"], summary["writer_state"], summary["frames"]) == (True, "writing", 20)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "LIVE (being recorded now)" in out and "frames     20 so far of (64, 96) uint8" in out
    report = framestore.qc(path, workers=1)
    assert report.writer_state == "writing" and report.frames == 20 and report.to_dict()["live"] is True
    assert report.lines()[0] == f"{path}: 20 frames so far (LIVE: being recorded now)"
    writer.close()
    assert framestore.info(path)["live"] is False
    assert framestore.qc(path, pixels=False).lines()[0] == f"{path}: 20 frames"
