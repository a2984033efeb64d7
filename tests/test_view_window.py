"""The real viewer window under Xvfb: keys and the trackbar move it, screenshots show it.

Every check compares the window's pixels with the viewer's own drawing of the expected
position (``Scene``), and reads the frame number from the synthetic frame's barcode.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from _support.xdisplay import XServer, find, missing_tools

import framestore
from framestore.sessions.dataset import Dataset
from framestore.testing.frames import frame_numbers_with_gaps, frame_times_for, read_barcode, synthetic_frame
from framestore.view import Scene, render
from framestore.view.cli import open_paths
from framestore.view.window import fit_limit
from framestore.view.x11 import XDisplay

pytestmark = pytest.mark.skipif(
    bool(missing_tools()),
    reason=f"window tests need {' and '.join(missing_tools())} (Debian: apt-get install xvfb xdotool)",
)
SHAPE = (96, 128)
FRAMES = 150


def write_store(path: Path, numbers: np.ndarray, shape: tuple[int, ...] = SHAPE, fmt: str = "npy") -> Path:
    with framestore.new_for_format(fmt, path, imgshape=shape, chunksize=60) as writer:
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
    """A framestore-view process on the test display, and what it should show: the view
    as large as the Scene draws it, shrunk to fit the screen."""

    def __init__(
        self, xserver: XServer, paths: list[Path], tmp_path: Path, damage: bool = False, follow: bool = False
    ) -> None:
        self.x = xserver
        self.tmp_path = tmp_path
        self.origin: tuple[int, int] | None = None
        stores, segments = open_paths(paths)
        self.scene = Scene(stores, segments=segments)
        if damage:
            self.scene.find_damage()
        body = self.scene.body(0)
        natural = (max(body.shape[1], render.MIN_WIDTH), body.shape[0])
        self.size = render.fit_size(natural, self.scene.bars_height(), fit_limit(xserver.screen))
        self.scaled = self.size[1] - self.scene.bars_height() != body.shape[0]
        args = [sys.executable, "-m", "framestore.view", *map(str, paths), "--save-dir", str(tmp_path)]
        args += ["--damage"] if damage else []
        args += ["--follow"] if follow else []
        self.process = subprocess.Popen(
            args, env=xserver.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.window = self._wait_for_window()
        first = len(self.scene) - 1 if follow else 0  # following: the newest frame
        self.origin = self._wait_until(lambda shot: find(shot, self.expected(first)), "the first frame")

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
        """The frame panels and the status lines but the playback line at ``position``, as drawn."""
        rows = self.size[1] - render.STRIP_HEIGHT - render.LINE_HEIGHT
        return self.scene.view(position, "", self.size)[:rows]

    def strip(self, position: int) -> np.ndarray:
        """The timeline strip at the bottom of the window at ``position``."""
        return self.scene.view(position, "", self.size)[-render.STRIP_HEIGHT :]

    def geometry(self) -> dict[str, int]:
        out = self.x.xdotool("getwindowgeometry", "--shell", self.window)
        return {k: int(v) for k, v in (line.split("=") for line in out.split())}

    def view_at(self, shot: np.ndarray) -> np.ndarray:
        assert self.origin is not None
        x, y = self.origin
        h, w = self.expected(0).shape[:2]
        return shot[y : y + h, x : x + w]

    def shows(self, shot: np.ndarray, position: int) -> bool:
        return np.array_equal(self.view_at(shot), self.expected(position))

    def describe(self, shot: np.ndarray) -> str:
        if self.origin is None or self.scaled:
            return "no view found" if self.origin is None else "another view"
        frame = self.view_at(shot)[render.LINE_HEIGHT : render.LINE_HEIGHT + SHAPE[0], : SHAPE[1]]
        return f"it shows a frame with barcode {read_barcode(frame)}"

    def key(self, *keys: str) -> None:
        self.x.xdotool("windowfocus", "--sync", self.window)
        for k in keys:
            self.x.xdotool("key", k)

    def type(self, text: str, delay_ms: int = 30) -> None:
        self.x.xdotool("windowfocus", "--sync", self.window)
        self.x.xdotool("type", "--delay", str(delay_ms), text)

    def expect(self, position: int) -> None:
        self._wait_until(lambda shot: self.shows(shot, position), f"position {position}")
        damaged = any(
            (n, i) in self.scene.damaged for n, i in self.scene.timeline.frame_indexes(position).items()
        )
        if not self.scaled and not damaged:
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
    # the timeline strip: at the bottom of the window, as wide as the window
    window = viewer.geometry()
    x0, y0 = find(viewer.x.screenshot(), viewer.strip(0))
    assert (x0, y0) == (window["X"], window["Y"] + window["HEIGHT"] - render.STRIP_HEIGHT)
    assert viewer.strip(0).shape[1] == window["WIDTH"] == viewer.size[0]
    y = y0 + render.STRIP_HEIGHT // 2
    click = window["WIDTH"] * 3 // 4  # a click goes to that point of the recording
    viewer.x.xdotool("mousemove", str(x0 + click), str(y), "click", "1")
    clicked = render.position_at(click, FRAMES, window["WIDTH"])
    assert 3 * FRAMES // 4 - 2 <= clicked <= 3 * FRAMES // 4 + 2
    viewer.expect(clicked)
    # drag from the start of the track to its middle
    start = render.STRIP_MARGIN
    viewer.x.xdotool("mousemove", str(x0 + start), str(y), "mousedown", "1")
    for x in np.linspace(start, window["WIDTH"] // 2, 8).astype(int):
        viewer.x.xdotool("mousemove", str(x0 + x), str(y))
        time.sleep(0.05)
    viewer.x.xdotool("mouseup", "1")
    viewer.expect(render.position_at(window["WIDTH"] // 2, FRAMES, window["WIDTH"]))
    viewer.quit()


def test_resized_by_the_user(viewer: Viewer) -> None:
    viewer.expect(0)
    assert not viewer.scaled and viewer.geometry()["WIDTH"] == viewer.size[0]
    viewer.x.xdotool("windowsize", viewer.window, "900", "700")
    viewer.size, viewer.scaled = (900, 700), True  # drawn again at the new size
    viewer.expect(0)
    viewer.key("Right")
    viewer.expect(1)
    x, y = find(viewer.x.screenshot(), viewer.strip(1))
    assert (x, y) == (viewer.origin[0], viewer.origin[1] + 700 - render.STRIP_HEIGHT)
    viewer.quit()


def test_damaged_frame_is_shown_not_fatal(xserver, numbers, tmp_path) -> None:
    path = write_store(tmp_path / "cam0", numbers)
    damaged = path / "000000" / "000005.npy"
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(data)
    viewer = Viewer(xserver, [path], tmp_path)
    try:
        viewer.key(*["Right"] * 5)
        viewer.expect(5)
        error = viewer.scene.damaged[("cam0", 5)]
        assert "000005.npy" in error and "CRC32" in error
        frame = viewer.view_at(viewer.x.screenshot())[render.LINE_HEIGHT :][: SHAPE[0], : SHAPE[1]]
        orange = np.all(frame == render.DAMAGED_COLOR, axis=2)
        assert orange[0].all() and orange[:, 0].all()  # outlined in the damaged colour
        viewer.key("Right")
        viewer.expect(6)  # and on it goes
        viewer.quit()
    finally:
        viewer.kill()


def test_d_goes_to_damaged_frames(xserver, numbers, tmp_path) -> None:
    path = tmp_path / "cam0"
    with framestore.new_for_format("npy", path, imgshape=SHAPE, chunksize=60) as writer:
        for k, (n, t) in enumerate(zip(numbers, frame_times_for(numbers, fps=30.0), strict=True)):
            image = synthetic_frame(int(n), SHAPE)
            if k in (20, 90):
                image[60:70] = 0  # blacked-out rows, under the barcode
            writer.add_image(image, int(n), float(t))
    viewer = Viewer(xserver, [path], tmp_path, damage=True)
    try:
        assert np.flatnonzero(viewer.scene.damage_mask).tolist() == [20, 90]
        marks = (viewer.strip(0) == render.DAMAGE_MARK_COLOR).all(axis=2)
        assert marks.any(axis=0).sum() == 2  # the strip on screen (expect compares it) marks both
        # a damaged frame's view has one status line more, so its panel is scaled: compare
        # the whole view on screen, not the frame's barcode
        for key, position in (("d", 20), ("d", 90), ("D", 20)):
            viewer.key(key)
            viewer._wait_until(lambda shot, p=position: viewer.shows(shot, p), f"position {position}")
        assert viewer.scene.lines(20)[-1] == "damage   blacked_out rows 60..69 (score 1.2)"
        viewer.key("Right")
        viewer.expect(21)
        out = viewer.quit()
        assert "2 positions show a damaged frame" in out
    finally:
        viewer.kill()


@pytest.fixture(scope="module")
def small_screen(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XServer]:
    server = XServer(tmp_path_factory.mktemp("xvfb-small"), screen=(1280, 800))
    yield server
    server.close()


def test_dataset_of_four_stores_fits_a_small_screen(small_screen, tmp_path) -> None:
    numbers = np.arange(12345670, 12345690)
    for k in range(4):
        write_store(tmp_path / "session" / f"cam{k}", numbers, shape=(360, 640), fmt="png")
    Dataset.from_directory(tmp_path / "session").add_segment(
        "cam1", "reach", 12345675, 12345680, by="frame_number"
    )
    viewer = Viewer(small_screen, [tmp_path / "session"], tmp_path)
    try:
        assert viewer.scaled  # four 640x360 panels and the bars would be taller than the screen
        window = viewer.geometry()
        assert (window["WIDTH"], window["HEIGHT"]) == viewer.size
        assert window["X"] + window["WIDTH"] <= 1280 and window["Y"] + window["HEIGHT"] <= 800
        shot = small_screen.screenshot()
        x, y = find(shot, viewer.strip(0))  # the timeline strip is on the screen, at the bottom
        assert y == window["Y"] + window["HEIGHT"] - render.STRIP_HEIGHT and y + render.STRIP_HEIGHT <= 800
        status = viewer.expected(0)[-render.LINE_HEIGHT * 2 :]  # the status lines, on the screen
        assert find(shot, status) is not None
        # a fast typist: every digit arrives, however long drawing four panels takes
        viewer.key("g")
        viewer.type("12345678", delay_ms=5)
        viewer.key("Return")
        viewer.expect(8)
        assert viewer.scene.lines(8)[-1] == "segment   reach (cam1)"
        viewer.quit()
    finally:
        viewer.kill()


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


def test_x_display(xserver) -> None:
    display = XDisplay.open(xserver.display)
    assert display is not None
    try:
        assert display.screen_size() == xserver.screen
        assert display.find_window("framestore-view: no such window", os.getpid()) is None
        display.watch_keys(0x7FFFFF)  # no such window: X's BadWindow error must not end the process
        assert display.keys() == []
    finally:
        display.close()
    assert XDisplay.open(":4242") is None  # no X server there


def test_follow_a_store_being_recorded(xserver, tmp_path) -> None:
    path = tmp_path / "live"
    writer = framestore.new_for_format("npy", path, imgshape=SHAPE, chunksize=25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        probe = framestore.new_for_filename(path)

    def record(count: int) -> None:
        """Record ``count`` more frames and wait until they are readable."""
        start = len(probe)
        for n in range(7000 + start, 7000 + start + count):
            writer.add_image(synthetic_frame(n, SHAPE), n, 1.7e9 + (n - 7000) / 30)
        deadline = time.monotonic() + 10
        while len(probe) < start + count and time.monotonic() < deadline:
            probe.refresh()
            time.sleep(0.02)

    record(30)
    viewer = Viewer(xserver, [path], tmp_path, follow=True)
    try:
        viewer.expect(29)  # the newest frame
        record(30)  # the viewer shows each new frame as it comes: the newest, across a chunk
        viewer.scene.refresh()
        viewer.expect(59)
        viewer.key("space")  # pause: the recording goes on, the view stays
        time.sleep(0.3)
        record(20)
        viewer.scene.refresh()
        time.sleep(0.5)
        assert viewer.position_shown() == 59
        viewer.key("Home")  # back to the start while recording
        viewer.expect(0)
        viewer.key("Right")
        viewer.expect(1)
        viewer.key("End")  # following again
        viewer.expect(79)
        record(10)
        viewer.scene.refresh()
        viewer.expect(89)
        strip = viewer.strip(89)  # the timeline strip drawn for all 90 frames
        viewer._wait_until(lambda shot: find(shot, strip) is not None, "the grown timeline strip")
        writer.close()
        time.sleep(0.5)
        viewer.quit()
    finally:
        viewer.kill()
        writer.close()
