"""The real viewer window under Xvfb: keys and the trackbar move it, screenshots show it.

Every check compares the window's pixels with the viewer's own drawing of the expected
position (``Scene``), and reads the frame number from the synthetic frame's barcode.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from _support.xdisplay import XServer, find, missing_tools

import framestore
from framestore.sessions.align import named_stores
from framestore.testing.frames import frame_numbers_with_gaps, frame_times_for, read_barcode, synthetic_frame
from framestore.view import Scene, render

pytestmark = pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"window tests need {' and '.join(missing_tools())} (Debian: apt-get install xvfb xdotool)",
)
SHAPE = (96, 128)
FRAMES = 150


def write_store(path: Path, numbers: np.ndarray, shape: tuple[int, ...] = SHAPE) -> Path:
    with framestore.new_for_format("npy", path, imgshape=shape, chunksize=60) as writer:
        for n, t in zip(numbers, frame_times_for(numbers, fps=30.0), strict=True):
            writer.add_image(synthetic_frame(int(n), shape), int(n), float(t))
    return path


@pytest.fixture(scope="module")
def xserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XServer]:
    server = XServer(tmp_path_factory.mktemp("xvfb"))
    yield server
    server.close()


@pytest.fixture(scope="module")
def numbers() -> np.ndarray:
    return frame_numbers_with_gaps(FRAMES, start=7000, gap_every=40)


class Viewer:
    """A framestore-view process on the test display, and what it should show."""

    def __init__(self, xserver: XServer, paths: list[Path], tmp_path: Path) -> None:
        self.x = xserver
        self.tmp_path = tmp_path
        self.origin: tuple[int, int] | None = None
        self.scene = Scene(named_stores([framestore.new_for_filename(p) for p in paths]))
        args = [sys.executable, "-m", "framestore.view", *map(str, paths), "--save-dir", str(tmp_path)]
        self.process = subprocess.Popen(
            args, env=xserver.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.window = self._wait_for_window()
        self.origin = self._wait_until(lambda shot: find(shot, self.expected(0)), "the first frame")

    def _wait_for_window(self) -> str:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()[0]
            try:
                return self.x.xdotool("search", "--name", "^framestore-view: ").split()[0]
            except (RuntimeError, IndexError):
                time.sleep(0.1)
        raise AssertionError("no viewer window appeared")

    def _wait_until(self, found: Callable[[np.ndarray], object], what: str, timeout: float = 10) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            shot = self.x.screenshot()
            result = found(shot)
            if result is not None and result is not False:
                return result
            if time.monotonic() > deadline:
                cv2.imwrite(str(self.tmp_path / "screen.png"), shot)
                raise AssertionError(
                    f"the window never showed {what} ({self.describe(shot)}; see screen.png)"
                )
            time.sleep(0.1)

    def expected(self, position: int) -> np.ndarray:
        """The frame panels and the first status line at ``position``, as drawn."""
        body = self.scene.body(position)
        width = max(body.shape[1], render.MIN_WIDTH)
        return render.compose(body, self.scene.lines(position)[:1])[:, :width]

    def view_at(self, shot: np.ndarray) -> np.ndarray:
        assert self.origin is not None
        x, y = self.origin
        h, w = self.expected(0).shape[:2]
        return shot[y : y + h, x : x + w]

    def shows(self, shot: np.ndarray, position: int) -> bool:
        return np.array_equal(self.view_at(shot), self.expected(position))

    def describe(self, shot: np.ndarray) -> str:
        if self.origin is None:
            return "no view found"
        frame = self.view_at(shot)[render.LINE_HEIGHT : render.LINE_HEIGHT + SHAPE[0], : SHAPE[1]]
        return f"it shows a frame with barcode {read_barcode(frame)}"

    def key(self, *keys: str) -> None:
        self.x.xdotool("windowfocus", "--sync", self.window)
        for k in keys:
            self.x.xdotool("key", k)

    def type(self, text: str) -> None:
        self.x.xdotool("windowfocus", "--sync", self.window)
        self.x.xdotool("type", "--delay", "30", text)

    def expect(self, position: int) -> None:
        self._wait_until(lambda shot: self.shows(shot, position), f"position {position}")
        frame = self.view_at(self.x.screenshot())[render.LINE_HEIGHT :, : SHAPE[1]][: SHAPE[0]]
        assert read_barcode(frame) == self.scene.timeline.frame_number(position)

    def position_shown(self) -> int:
        """The position whose view is on screen now (found from the frame's barcode)."""
        shot = self.x.screenshot()
        frame = self.view_at(shot)[render.LINE_HEIGHT : render.LINE_HEIGHT + SHAPE[0], : SHAPE[1]]
        position = self.scene.timeline.position_of_frame_number(read_barcode(frame))
        assert self.shows(shot, position)
        return position

    def quit(self) -> str:
        self.key("q")
        out, _ = self.process.communicate(timeout=20)
        assert self.process.returncode == 0, out
        return out

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate()


@pytest.fixture
def viewer(xserver, numbers, tmp_path) -> Iterator[Viewer]:
    v = Viewer(xserver, [write_store(tmp_path / "cam0", numbers)], tmp_path)
    yield v
    v.kill()


def test_keys_step_and_seek(viewer: Viewer, numbers: np.ndarray, tmp_path: Path) -> None:
    viewer.expect(0)
    viewer.key("Right")
    viewer.expect(1)
    viewer.key("Up")
    viewer.expect(11)
    viewer.key("Prior")  # PgUp
    viewer.expect(111)
    viewer.key("Left", "Down")
    viewer.expect(100)
    viewer.key("Next")  # PgDn
    viewer.expect(0)
    viewer.key("End")
    viewer.expect(FRAMES - 1)
    viewer.key("Home")
    viewer.expect(0)
    target = int(numbers[77])
    viewer.key("g")
    viewer.type(str(target))
    viewer.key("Return")
    viewer.expect(77)
    viewer.key("t")  # a time: two seconds after the first frame
    viewer.type("+2")
    viewer.key("Return")
    position = viewer.scene.timeline.position_of_time(float(viewer.scene.times[0]) + 2)
    viewer.expect(position)
    viewer.key("s")  # the saved PNG is the view on screen
    saved = tmp_path / f"cam0-{numbers[position]}.png"
    expected = viewer.scene.render(position)
    deadline = time.monotonic() + 10
    while (image := cv2.imread(str(saved))) is None or image.shape != expected.shape:
        assert time.monotonic() < deadline, f"{saved} was not written"
        time.sleep(0.1)
    np.testing.assert_array_equal(image, expected)
    assert viewer.position_shown() == position


def test_play_and_scrub(viewer: Viewer) -> None:
    viewer.key("space")
    time.sleep(1.0)
    viewer.key("space")
    time.sleep(0.3)
    played = viewer.position_shown()
    assert 10 <= played < FRAMES - 1  # about 30 frames a second at the recorded pace
    viewer.key("Home")
    viewer.expect(0)
    # drag the trackbar's handle (the left end of the slider below the view) to its middle
    shot = viewer.x.screenshot()
    geometry = dict(
        line.split("=") for line in viewer.x.xdotool("getwindowgeometry", "--shell", viewer.window).split()
    )
    left, top = int(geometry["X"]), int(geometry["Y"])
    bottom, right = top + int(geometry["HEIGHT"]), left + int(geometry["WIDTH"])
    view_bottom = viewer.origin[1] + viewer.scene.render(0, "").shape[0]
    band = shot[view_bottom:bottom, left:right].astype(int)
    background = np.median(band.reshape(-1, 3), axis=0)
    ys, xs = np.nonzero(np.abs(band - background).sum(axis=2) > 60)
    assert len(xs), "no trackbar below the view"
    y = view_bottom + int(np.median(ys))
    x0, x1 = left + int(xs.min()), left + int(xs.max())
    viewer.x.xdotool("mousemove", str(x0 + 4), str(y), "mousedown", "1")
    for x in np.linspace(x0 + 4, (x0 + x1) // 2, 8).astype(int):
        viewer.x.xdotool("mousemove", str(x), str(y))
        time.sleep(0.05)
    viewer.x.xdotool("mouseup", "1")
    time.sleep(0.5)
    scrubbed = viewer.position_shown()
    assert FRAMES // 4 < scrubbed < 3 * FRAMES // 4
    viewer.quit()


def test_two_stores_side_by_side(xserver, numbers, tmp_path) -> None:
    a = write_store(tmp_path / "left", numbers)
    b = write_store(tmp_path / "right", numbers[numbers % 10 != 3], shape=(*SHAPE, 3))
    viewer = Viewer(xserver, [a, b], tmp_path)
    try:
        shot = xserver.screenshot()
        scene = viewer.scene
        panels = [
            render.panel(render.to_display(s[0], c), f"{n}   frame_number {numbers[0]}")
            for (n, s), c in zip(scene.stores.items(), scene.contrasts.values(), strict=True)
        ]
        (xa, ya), (xb, yb) = find(shot, panels[0]), find(shot, panels[1])
        assert ya == yb and xb == xa + max(p.shape[1] for p in panels)  # side by side, in order
        missing = int(np.flatnonzero(numbers % 10 == 3)[0])
        viewer.key(*["Right"] * missing)
        viewer.expect(missing)  # right has no such frame: a blank panel marked missing
        assert scene.timeline.frame_indexes(missing)["right"] is None
        viewer.quit()
    finally:
        viewer.kill()
