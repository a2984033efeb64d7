"""Writers killed mid-recording by SIGKILL, and what they added before the kill.

``run_and_kill`` runs ``crash_writer.py`` (this package; run as a script by path) in its
own process and kills it when a condition on its status file becomes true;
``killed_store`` kills a simpler writer of 48x64 gray frames once its second chunk is
half written.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from . import crash_writer

SCRIPT = Path(crash_writer.__file__)

BOUND = 1.0  # seconds: frames added longer ago than this before the kill must survive
HEIGHT, WIDTH = 64, 96
FPS = 30.0
CHUNKSIZE = 40  # 1.33 s per chunk at 30 fps: longer than BOUND, so the bound reaches
# into the unfinished chunk when killed mid-chunk
STARTUP_TIMEOUT = 60.0  # first frame; generous for a loaded machine
RUN_TIMEOUT = 60.0  # for the kill condition, after the first frame


@dataclass(frozen=True)
class Added:
    """What the status file says was added: one entry per ``add_image`` that returned."""

    numbers: np.ndarray  # int64
    times: np.ndarray  # float64, the frame_time passed to add_image
    wall: np.ndarray  # float64, time.monotonic() just after add_image returned

    def __len__(self) -> int:
        return len(self.numbers)


@dataclass(frozen=True)
class Crash:
    store: Path
    fmt: str
    fps: float
    chunksize: int
    shape: tuple[int, ...]
    dtype: np.dtype
    added: Added
    killed_at: float  # time.monotonic() just before SIGKILL
    lines_at_kill: int  # status lines the test had seen when it decided to kill
    stderr: str

    def describe(self) -> str:
        required = int(np.count_nonzero(self.added.wall < self.killed_at - BOUND))
        last = self.killed_at - self.added.wall[-1] if len(self.added) else math.nan
        return (
            f"{self.fmt} {self.shape} {self.dtype} fps={self.fps} chunksize={self.chunksize}: "
            f"killed after {self.lines_at_kill} status lines ({len(self.added)} in the end), "
            f"{required} added more than {BOUND}s before the kill, last add {last:.3f}s before it"
        )


def read_status(path: Path) -> Added:
    """Complete lines of the status file (a torn last line is left out)."""
    text = path.read_text(encoding="ascii") if path.exists() else ""
    lines = text.split("\n")[:-1]  # everything after the last newline is incomplete
    numbers, times, wall = [], [], []
    for line in lines:
        n, t, w = line.split()
        numbers.append(int(n))
        times.append(float(t))
        wall.append(float(w))
    return Added(
        np.array(numbers, dtype=np.int64), np.array(times, dtype=np.float64), np.array(wall, dtype=np.float64)
    )


def expected_numbers(count: int) -> np.ndarray:
    stream = crash_writer.frame_number_stream()
    return np.array([next(stream) for _ in range(count)], dtype=np.int64)


def run_and_kill(
    tmp_path: Path,
    fmt: str,
    kill_when: Callable[[int, Path], bool],
    *,
    fps: float = FPS,
    chunksize: int = CHUNKSIZE,
    kind: str = "gray8",
    poll: float = 0.0005,
    wrapper: Sequence[str] = (),
) -> Crash:
    """Run the writer until ``kill_when(status_lines, store_path)`` is true, then SIGKILL it.

    The status file is polled every ``poll`` seconds, so the kill follows the add that
    made the condition true within about a millisecond. ``wrapper`` is a command the
    writer runs under (strace); the kill goes to the writer's whole process group.
    """
    tmp_path.mkdir(parents=True, exist_ok=True)
    store = tmp_path / "store"
    status = tmp_path / "status.txt"
    errfile = tmp_path / "writer-stderr.txt"
    shape, dtype = crash_writer.image_shape_dtype(HEIGHT, WIDTH, kind)
    args = [str(store), fmt, repr(fps), str(chunksize), str(HEIGHT), str(WIDTH), kind, str(status)]
    status.touch()
    with open(errfile, "wb") as err:
        proc = subprocess.Popen(
            [*wrapper, sys.executable, str(SCRIPT), *args], stdout=err, stderr=err, start_new_session=True
        )
    try:
        lines = 0
        started = time.monotonic()
        first_line_at = math.inf
        with open(status, "rb") as st:  # the writer appends whole lines; we only read
            while True:
                new = st.read()
                if new:
                    first_line_at = min(first_line_at, time.monotonic())
                    lines += new.count(b"\n")
                if kill_when(lines, store):
                    killed_at = time.monotonic()
                    os.killpg(proc.pid, signal.SIGKILL)
                    break
                if proc.poll() is not None:
                    pytest.fail(
                        f"the writer exited by itself (code {proc.returncode}) after {lines} frames:\n"
                        + errfile.read_text(errors="replace")
                    )
                now = time.monotonic()
                if not lines and now - started > STARTUP_TIMEOUT:
                    pytest.fail(f"the writer added no frame in {STARTUP_TIMEOUT}s")
                if now - first_line_at > RUN_TIMEOUT:
                    pytest.fail(f"kill condition not reached in {RUN_TIMEOUT}s ({lines} frames added)")
                time.sleep(poll)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return Crash(
        store=store,
        fmt=fmt,
        fps=fps,
        chunksize=chunksize,
        shape=shape,
        dtype=np.dtype(dtype),
        added=read_status(status),
        killed_at=killed_at,
        lines_at_kill=lines,
        stderr=errfile.read_text(errors="replace"),
    )


_SIMPLE_WRITER = """
import sys, time
import framestore
from framestore.testing.frames import synthetic_frame
w = framestore.new_for_format(sys.argv[2], sys.argv[1], imgshape=(48, 64), chunksize=20, fps=100)
for i in range(10**6):
    w.add_image(synthetic_frame(7000 + 3 * i, (48, 64)), 7000 + 3 * i, time.time())
    time.sleep(0.004)
"""


def killed_store(path: Path, fmt: str) -> None:
    """A store at ``path`` whose writer (48x64 gray frames numbered 7000, 7003, ...,
    chunks of 20) was SIGKILLed about 0.12 s after its chunk 1 was finished."""
    proc = subprocess.Popen([sys.executable, "-c", _SIMPLE_WRITER, str(path), fmt])
    deadline = time.time() + 30
    while time.time() < deadline:  # until a chunk has finished and the next is half done
        if (path / "000001.npz").exists() or (path / "000001" / "index.npz").exists():
            break
        time.sleep(0.05)
    time.sleep(0.12)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
