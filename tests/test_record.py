"""Recording live sources: a generated video file, synthetic cameras at their pace, two
at once, one failing midway, and a real ``framestore record`` stopped by SIGTERM or
killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import framestore
from framestore.ingest.record import SourceStatus
from framestore.testing.frames import read_barcode, synthetic_frame
from framestore.testing.video_files import write_video_file

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (64, 96)


class PacedCamera:
    """A synthetic camera: frames carrying their number, delivered at ``fps`` like a
    camera's, numbered from ``first`` with the numbers in ``skip`` dropped; it fails
    (like an unplugged camera) after ``fail_after`` frames when that is given."""

    def __init__(
        self,
        fps: float = 50.0,
        first: int = 1000,
        shape: tuple[int, ...] = SHAPE,
        skip: tuple[int, ...] = (),
        fail_after: int | None = None,
        numbered: bool = True,
        timed: bool = False,
    ) -> None:
        self.name = f"synthetic camera {first}"
        self.fps: float | None = fps
        self._period = 1 / fps
        self._next = first
        self._shape = shape
        self._skip = set(skip)
        self._fail_after = fail_after
        self._numbered = numbered
        self._timed = timed  # gives each frame its capture time (a camera's own clock)
        self._first = first
        self._clock0 = time.time()
        self._given = 0
        self._due: float | None = None
        self.closed = False

    def read(self) -> framestore.Captured | None:
        if self._fail_after is not None and self._given == self._fail_after:
            raise framestore.SourceError(f"{self.name}: unplugged")
        while self._next in self._skip:  # the camera counted it, but it never arrived
            self._next += 1
            self._due = (self._due or time.monotonic()) + self._period
        now = time.monotonic()
        self._due = now if self._due is None else self._due
        if self._due > now:
            time.sleep(self._due - now)
        self._due += self._period
        number, self._next = self._next, self._next + 1
        self._given += 1
        image = synthetic_frame(number, self._shape)
        when = self._clock0 + (number - self._first) * self._period if self._timed else None
        return framestore.Captured(image, number if self._numbered else None, when)

    def close(self) -> None:
        self.closed = True


def command(*args: object, **popen: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(
        [sys.executable, "-m", "framestore.cli.main", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **popen,  # type: ignore[call-overload]
    )


def _open(path: Path) -> framestore.StoreReader:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        return framestore.new_for_filename(path)


def test_record_a_video_file_with_the_command(tmp_path):
    video = write_video_file(tmp_path / "cam.mp4", 90, shape=SHAPE, bframes=0)
    before = time.time()
    proc = command("record", tmp_path / "s", "--source", video, "--gray", "--chunksize", 25)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.startswith("s: 90 frames in ") and "0 dropped, source ended" in out, out
    store = framestore.new_for_filename(tmp_path / "s")
    assert (len(store), store.image_shape, store.is_complete) == (90, SHAPE, True)
    assert len(store.chunk_starts) == 5  # chunks of 25, 25, 25, 15
    np.testing.assert_array_equal(store.frame_numbers, np.arange(90))  # the file's frame positions
    times = store.frame_times
    assert before < times[0] and times[-1] < time.time() and np.all(np.diff(times) > 0)
    assert [read_barcode(img) for img in store] == list(range(90))
    assert store.user_metadata == {"recorded_from": str(video)}


def test_a_source_that_cannot_be_opened_is_one_clear_error(tmp_path):
    proc = command("record", tmp_path / "s", "--source", tmp_path / "nope.mp4", "--frames", 5)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.strip().splitlines()[-1] == (
        f"framestore: error: {tmp_path / 'nope.mp4'}: no such video file or device (a source is a "
        "camera index, a device path, a video file or a stream URL)"
    )
    assert not (tmp_path / "s").exists()
    (tmp_path / "notes.txt").write_text("not a store")
    with pytest.raises(framestore.StoreExistsError, match="already exists"):
        framestore.record(tmp_path, PacedCamera(), frames=3)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_a_camera_that_is_not_there_is_one_clear_error(tmp_path):
    with pytest.raises(framestore.SourceError, match="camera 7: cannot be opened"):
        framestore.record(tmp_path / "s", 7, frames=3)
    assert not (tmp_path / "s").exists()


def test_record_a_stream_by_url_until_it_ends(tmp_path):
    from _support.range_server import RangeServer

    (tmp_path / "served").mkdir()
    write_video_file(tmp_path / "served" / "cam.mp4", 40, shape=SHAPE, bframes=0)
    server = RangeServer(tmp_path / "served")
    try:
        url = f"{server.url}/cam.mp4"
        with pytest.warns(framestore.StoreWarning, match="the stream ended"):
            report = framestore.record(tmp_path / "s", url, gray=True)
    finally:
        server.close()
    (rec,) = report.sources
    assert (rec.source, rec.frames, rec.ended) == (url, 40, "failed")  # a stream that ends has failed
    store = framestore.new_for_filename(tmp_path / "s")
    assert store.is_complete and store.frame_numbers.tolist() == list(range(40))  # a counter
    assert [read_barcode(img) for img in store] == list(range(40))


def test_record_a_camera_at_its_pace_with_a_callback_per_frame(tmp_path):
    seen: list[tuple[str, int, float, int]] = []
    statuses: list[list[SourceStatus]] = []
    before = time.time()
    report = framestore.record(
        tmp_path / "s",
        PacedCamera(fps=50, first=1000, skip=(1010, 1011, 1040)),
        frames=60,
        chunksize=16,
        on_frame=lambda name, f: seen.append((name, f.frame_number, f.frame_time, read_barcode(f.image))),
        on_status=statuses.append,
        status_every=0.2,
    )
    after = time.time()
    assert report.ok and len(report.sources) == 1
    (rec,) = report.sources
    assert (rec.name, rec.frames, rec.dropped, rec.ended) == ("s", 60, 3, "frames")
    store = framestore.new_for_filename(tmp_path / "s")
    expected = [n for n in range(1000, 1063) if n not in (1010, 1011, 1040)]
    assert store.frame_numbers.tolist() == expected
    assert [read_barcode(img) for img in store] == expected
    assert seen == [("s", n, t, n) for n, t in zip(expected, store.frame_times.tolist(), strict=True)]
    times = store.frame_times
    assert before < times[0] and times[-1] < after
    assert 0.015 < np.median(np.diff(times)) < 0.025  # 50 fps, stamped as frames arrived
    assert store.fps == 50
    assert statuses[-1][0].frames == 60 and statuses[-1][0].state == "frames"
    assert any(s[0].state == "recording" and s[0].frames and s[0].mb_per_s > 0 for s in statuses[:-1])


def test_late_frames_of_a_camera_without_numbers_count_as_dropped(tmp_path):
    # timed: the camera's own capture times, so that a loaded test machine cannot make
    # frames late (host arrival times go through the same count)
    camera = PacedCamera(fps=50, first=0, skip=(20, 21, 22), numbered=False, timed=True)
    report = framestore.record(tmp_path / "s", camera, frames=40)
    assert report.sources[0].dropped == 3
    store = framestore.new_for_filename(tmp_path / "s")
    assert store.frame_numbers.tolist() == list(range(40))  # a counter: the camera gave no numbers
    assert np.diff(store.frame_times).max() == pytest.approx(4 / 50)


def test_two_cameras_at_once_into_sibling_stores(tmp_path):
    gray, color = PacedCamera(fps=40, first=10), PacedCamera(fps=25, first=500, shape=(*SHAPE, 3))
    report = framestore.record(tmp_path / "session", [gray, color], duration=1.5, chunksize=10)
    assert report.ok and gray.closed and color.closed
    assert [s.name for s in report.sources] == ["cam0", "cam1"]
    assert [s.ended for s in report.sources] == ["duration", "duration"]
    cam0 = framestore.new_for_filename(tmp_path / "session" / "cam0")
    cam1 = framestore.new_for_filename(tmp_path / "session" / "cam1")
    assert cam0.image_shape == SHAPE and cam1.image_shape == (*SHAPE, 3)
    assert 40 <= len(cam0) <= 62 and 25 <= len(cam1) <= 39, (len(cam0), len(cam1))
    assert cam0.frame_numbers.tolist() == list(range(10, 10 + len(cam0)))
    assert [read_barcode(img) for img in cam1] == cam1.frame_numbers.tolist()
    # recorded side by side, each on its own thread: their recordings overlap in time
    assert abs(cam0.frame_times[0] - cam1.frame_times[0]) < 0.5
    assert abs(cam0.frame_times[-1] - cam1.frame_times[-1]) < 0.5
    info = framestore.info(tmp_path / "session")
    assert info["kind"] == "dataset" and set(info["recordings"]) == {"cam0", "cam1"}


def test_a_camera_that_fails_midway_closes_its_store_and_the_other_records_on(tmp_path):
    good, bad = PacedCamera(fps=50, first=0), PacedCamera(fps=50, first=100, fail_after=20)
    with pytest.warns(framestore.StoreWarning, match=r"cam1 \(synthetic camera 100\) failed: .*unplugged"):
        report = framestore.record(tmp_path / "d", [good, bad], frames=60, chunksize=8)
    assert not report.ok and bad.closed
    assert [(s.frames, s.ended) for s in report.sources] == [(60, "frames"), (20, "failed")]
    assert "unplugged" in (report.sources[1].error or "")
    failed = framestore.new_for_filename(tmp_path / "d" / "cam1")
    assert failed.is_complete and failed.frame_numbers.tolist() == list(range(100, 120))
    assert [read_barcode(img) for img in failed] == list(range(100, 120))
    kept = framestore.new_for_filename(tmp_path / "d" / "cam0")
    assert kept.is_complete and len(kept) == 60
    assert kept.frame_times[-1] > failed.frame_times[-1] + 0.5  # went on after the failure


def test_stop_event_stops_every_source_cleanly(tmp_path):
    stop = threading.Event()
    threading.Timer(0.6, stop.set).start()
    statuses: list[list[SourceStatus]] = []
    report = framestore.record(
        tmp_path / "d",
        [PacedCamera(), PacedCamera(first=7)],
        fmt="npy",
        chunksize=8,
        stop=stop,
        on_status=statuses.append,
        status_every=0.1,
    )
    assert [s.ended for s in report.sources] == ["stopped", "stopped"]
    moved = [s[1].mb_per_s for s in statuses if s[1].state == "recording"]
    assert moved and np.median(moved) > 0.2  # 50 frames of 6 kB a second, as image files
    for name in ("cam0", "cam1"):
        store = framestore.new_for_filename(tmp_path / "d" / name)
        assert store.is_complete and 10 < len(store) < 60


def _start_recording(tmp_path: Path, chunksize: int = 20) -> tuple[subprocess.Popen[str], Path, float]:
    """``framestore record`` of a 600-frame video file replayed at 30 fps; returns once
    its store has a finished chunk. Ctrl-C's SIGINT reaches it as in a terminal (a shell
    running the tests in the background may have set it to be ignored, which children keep)."""
    video = write_video_file(tmp_path / "cam.mp4", 600, shape=SHAPE, bframes=0)
    store = tmp_path / "s"
    proc = command(
        "record", store, "--source", video, "--fps", 30, "--chunksize", chunksize,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while not (store / "000001.npz").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    return proc, store, time.time()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_stops_the_command_with_a_complete_store(tmp_path, stop):
    proc, store, _ = _start_recording(tmp_path)
    time.sleep(0.3)
    proc.send_signal(stop)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    with warnings.catch_warnings():
        warnings.simplefilter("error", framestore.IncompleteStoreWarning)
        reader = framestore.new_for_filename(store)
    assert reader.is_complete and reader.writer_state == "finished"
    n = len(reader)
    assert 40 < n < 600 and out.startswith(f"s: {n} frames in ") and "stopped" in out, out
    assert reader.frame_numbers.tolist() == list(range(n))
    assert [read_barcode(img) for img in reader] == list(range(n))
    assert not list(store.glob("*.journal")) and not (store / ".framestore-writing").exists()


def test_sigkill_loses_at_most_the_last_second(tmp_path):
    proc, store, _ = _start_recording(tmp_path)
    time.sleep(0.5)
    killed_at = time.time()
    proc.kill()
    proc.communicate(timeout=60)
    reader = _open(store)
    assert reader.writer_state == "gone" and not reader.is_complete
    n = len(reader)
    assert reader.frame_numbers.tolist() == list(range(n))
    assert [read_barcode(img) for img in reader] == list(range(n))
    assert reader.frame_times[-1] > killed_at - 1.0  # frames recorded up to a second before
    report = framestore.recover(store)
    assert report.chunks and framestore.new_for_filename(store).frame_numbers.tolist() == list(range(n))
