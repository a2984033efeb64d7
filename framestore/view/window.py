"""The viewer's window: OpenCV highgui, the timeline strip to scrub, the keyboard.

Only this module opens a window; everything it shows is drawn by ``Scene.view``. Keys
come from the X display (``x11``) when there is one, else from ``cv2.waitKeyEx``.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from . import render
from .player import Player
from .scene import Scene
from .x11 import XDisplay

SMALL_STEP, BIG_STEP = 10, 100
MESSAGE_SECONDS = 4.0
SYSTEM_FONTS = "/usr/share/fonts"
_MAX_WAIT = 0.05  # seconds between checks of the window while paused
_FIND_TIME = 5.0  # seconds spent looking for the new window on the X display
FOLLOW_EVERY = 0.05  # seconds between looks for new frames of a store being recorded
SCREEN_MARGIN = (16, 72)  # (width, height) left free on the screen around the window

# cv2.waitKeyEx codes: X11 keysyms (OpenCV's Qt and GTK backends on Linux), then Windows'
_KEYS = {
    "left": (65361, 2424832),
    "right": (65363, 2555904),
    "up": (65362, 2490368),
    "down": (65364, 2621440),
    "page_up": (65365, 2162688),
    "page_down": (65366, 2228224),
    "home": (65360, 2359296),
    "end": (65367, 2293760),
    "enter": (13, 10, 65293, 65421),
    "backspace": (8, 127, 65288),
    "escape": (27,),
}
_ACTIONS = {code: name for name, codes in _KEYS.items() for code in codes}
_PROMPT_CHARS = re.compile(r"[0-9:.+\- T]")


@dataclass
class _Prompt:
    kind: str  # "frame_number" or "time"
    text: str = ""

    def line(self) -> str:
        hint = "HH:MM:SS or seconds from the start" if self.kind == "time" else "a frame number"
        return f"go to {self.kind}: {self.text}_   ({hint}; Enter to go, Esc to cancel)"


def fit_limit(screen: tuple[int, int]) -> tuple[int, int]:
    """The largest view (width, height) for a screen of ``screen`` pixels: room is left
    for a window manager's title bar and frame, and a desktop panel."""
    return screen[0] - SCREEN_MARGIN[0], screen[1] - SCREEN_MARGIN[1]


class Window:
    """``scene`` in a window titled ``title``, played by ``player``; ``s`` saves PNGs in
    ``save_dir``.

    The window opens as large as the view, shrunk to fit the screen; when the user
    resizes it, the view is drawn again at the new size (the panels scaled, the status
    bar and the timeline strip at their own size, so they always show). Clicking or
    dragging on the timeline strip moves to that position.
    """

    def __init__(self, scene: Scene, player: Player, title: str, save_dir: Path) -> None:
        """``player.live``: the stores are being recorded; their new frames are shown as
        they come (the timeline strip grows)."""
        self.scene = scene
        self.player = player
        self.title = title
        self.save_dir = save_dir
        self._prompt: _Prompt | None = None
        self._message = ("", 0.0)  # (text, shown until)
        self._size: tuple[int, int] | None = None  # (width, height) the view is drawn at
        self._dragging = False
        self._looked = 0.0  # when a live recording was last looked at

    def run(self) -> None:
        """Show the window until ``q``/Esc or the window is closed."""
        _use_system_fonts()
        _use_opencv_qt_plugins()
        display = XDisplay.open()
        try:
            self._run(display)
        finally:
            if display is not None:
                display.close()

    def _run(self, display: XDisplay | None) -> None:
        cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_FREERATIO | cv2.WINDOW_GUI_NORMAL)
        body = self.scene.body(self.player.position)
        natural = (max(body.shape[1], render.MIN_WIDTH), body.shape[0])
        below = self.scene.bars_height()
        limit = fit_limit(display.screen_size()) if display is not None else (natural[0], natural[1] + below)
        self._size = render.fit_size(natural, below, limit)
        cv2.resizeWindow(self.title, *self._size)
        cv2.setMouseCallback(self.title, self._on_mouse)
        if display is not None:
            self._watch_keys(display)
        shown: tuple[object, ...] | None = None
        try:
            while True:
                if self.player.live and time.monotonic() - self._looked > FOLLOW_EVERY:
                    self._look_for_frames()
                position = self.player.tick()
                # the frame count too: a recording grows while paused, and its strip with it
                state = (position, self._playback_line(), self._size, len(self.player))
                if state != shown:
                    cv2.imshow(self.title, self.scene.view(position, state[1], self._size))
                    if shown is None or position != shown[0]:
                        self.player.shown()
                    shown = state
                keys = self._keys(display)
                for key in keys:
                    if not self._on_key(key):
                        return
                if not keys and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                    return  # closed by the window manager
                _, _, width, height = cv2.getWindowImageRect(self.title)
                if width > 0 and height > 0:
                    self._size = (width, height)  # the user resized the window
        finally:
            cv2.destroyWindow(self.title)

    def _look_for_frames(self) -> None:
        """Take the frames recorded since the last look; say when the recording ended."""
        self._looked = time.monotonic()
        recording = self.scene.recording()  # asked first: frames written before it ended are read
        if self.scene.refresh():
            self.player.grow(self.scene.times)
        if not recording:
            self.player.live = self.player.following = False
            self._say(f"the recording ended ({len(self.player)} frames)")

    def _watch_keys(self, display: XDisplay) -> None:
        """Have X copy the window's keys, before its first frame is drawn, so that every
        key pressed once a picture shows is copied (not found: OpenCV's keys only)."""
        deadline = time.monotonic() + _FIND_TIME
        while time.monotonic() < deadline:
            cv2.waitKey(10)  # lets OpenCV create and map the window
            window = display.find_window(self.title, os.getpid())
            if window is not None:
                display.watch_keys(window)
                return

    def _keys(self, display: XDisplay | None) -> list[int]:
        """Every key pressed since the last call, in order: wait for one (at most until
        the next frame is due), then take all that are pending, so none is lost however
        fast they come or however long drawing took."""
        due = self.player.due_in()
        wait = _MAX_WAIT if due is None else min(due, _MAX_WAIT)
        key = cv2.waitKeyEx(max(1, int(wait * 1000)))  # also lets OpenCV run the window
        if display is not None and display.watched is not None:
            return display.keys()  # X's copy: OpenCV keeps only the last of keys that came together
        keys = []
        while key != -1:
            keys.append(key)
            key = cv2.waitKeyEx(1)
        return keys

    def _on_mouse(self, event: int, x: int, y: int, flags: int, param: object) -> None:
        """A press or drag on the timeline strip (the view's bottom rows) seeks there."""
        if self._size is None:
            return
        width, height = self._size
        on_strip = height - render.STRIP_HEIGHT <= y < height
        if event == cv2.EVENT_LBUTTONDOWN:
            self._dragging = on_strip
        elif event == cv2.EVENT_LBUTTONUP:
            self._dragging = False
        self._looked = 0.0  # when a live recording was last looked at
        if self._dragging and event in (cv2.EVENT_LBUTTONDOWN, cv2.EVENT_MOUSEMOVE):
            self.player.seek(render.position_at(x, len(self.player), width))

    def _playback_line(self) -> str:
        if self._prompt is not None:
            return self._prompt.line()
        text, until = self._message
        message = f"   {text}" if text and time.monotonic() < until else ""
        return self.player.describe() + message

    def _say(self, text: str) -> None:
        self._message = (text, time.monotonic() + MESSAGE_SECONDS)

    def _on_key(self, key: int) -> bool:
        """Act on ``key``; False to quit."""
        action = _ACTIONS.get(key)
        if self._prompt is not None:
            self._on_prompt_key(key, action)
            return True
        char = chr(key) if 32 <= key < 127 else ""
        player = self.player
        if char == "q" or action == "escape":
            return False
        steps = {"left": -1, "right": 1, "up": SMALL_STEP, "down": -SMALL_STEP}
        steps |= {"page_up": BIG_STEP, "page_down": -BIG_STEP}
        if action in steps:
            player.step(steps[action])
        elif action == "home":
            player.seek(0)
        elif action == "end" and player.live:
            player.follow()
        elif action == "end":
            player.seek(len(player) - 1)
        elif char == " ":
            player.toggle()
        elif char in ("+", "="):
            player.faster()
        elif char in ("-", "_"):
            player.slower()
        elif char == "g":
            self._prompt = _Prompt("frame_number")
        elif char == "t":
            self._prompt = _Prompt("time")
        elif char == "s":
            self._save()
        elif char == "c":
            auto = self.scene.toggle_contrast(player.position)
            self._say("auto contrast" if auto else "contrast held")
        elif char in ("d", "D"):
            self._to_damaged(1 if char == "d" else -1)
        return True

    def _to_damaged(self, step: int) -> None:
        """Go to the next (``step`` 1) or previous (-1) damaged frame."""
        if self.scene.damage_mask is None:
            self._say("d / D go to damaged frames: that needs --damage (open the viewer with it)")
            return
        position = self.scene.next_damaged(self.player.position, step)
        if position is None:
            self._say(f"no damaged frame {'after' if step > 0 else 'before'} this one")
        else:
            self.player.seek(position)

    def _on_prompt_key(self, key: int, action: str | None) -> None:
        prompt = self._prompt
        assert prompt is not None
        if action == "escape":
            self._prompt = None
        elif action == "backspace":
            prompt.text = prompt.text[:-1]
        elif action == "enter":
            self._prompt = None
            self._go(prompt)
        elif 32 <= key < 127 and _PROMPT_CHARS.fullmatch(chr(key)):
            prompt.text += chr(key)

    def _go(self, prompt: _Prompt) -> None:
        timeline = self.scene.timeline
        try:
            if prompt.kind == "frame_number":
                if not re.fullmatch(r"-?\d+", prompt.text):
                    raise ValueError(f"not a frame number: {prompt.text!r}")
                number = int(prompt.text)
                position = timeline.position_of_frame_number(number)
                if timeline.frame_number(position) != number:
                    self._say(f"no frame_number {number}: the nearest shown")
            else:
                position = self.scene.position_of_time(prompt.text)
        except ValueError as exc:
            self._say(str(exc))
            return
        self.player.seek(position)

    def _save(self) -> None:
        position = self.player.position
        number = self.scene.timeline.frame_number(position)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", "+".join(self.scene.stores))
        path = self.save_dir / f"{name}-{position if number is None else number}.png"
        if cv2.imwrite(str(path), self.scene.render(position)):
            self._say(f"saved {path}")
        else:
            self._say(f"could not write {path}")


def _use_opencv_qt_plugins() -> None:
    """Point OpenCV's Qt at the plugins in its wheel, as importing cv2 does (``import
    framestore`` takes that back, for other Qt applications in the process)."""
    plugins = os.path.join(os.path.dirname(cv2.__file__), "qt", "plugins")
    if "QT_QPA_PLATFORM_PLUGIN_PATH" not in os.environ and os.path.isdir(plugins):
        os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"] = plugins


def _use_system_fonts() -> None:
    """opencv-python points Qt at a font directory its wheel does not ship (Qt then
    warns on every start); use the system's fonts instead when there are any."""
    if not os.path.isdir(os.environ.get("QT_QPA_FONTDIR", "")) and os.path.isdir(SYSTEM_FONTS):
        os.environ["QT_QPA_FONTDIR"] = SYSTEM_FONTS
