"""The viewer's window: OpenCV highgui, a trackbar to scrub, the keyboard.

Only this module opens a window; everything it shows is drawn by ``Scene.render``.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from .player import Player
from .scene import Scene

SMALL_STEP, BIG_STEP = 10, 100
MESSAGE_SECONDS = 4.0
SYSTEM_FONTS = "/usr/share/fonts"
_MAX_WAIT = 0.05  # seconds between checks of the window while paused

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


class Window:
    """``scene`` in a window titled ``title``, played by ``player``; ``s`` saves PNGs in
    ``save_dir``."""

    def __init__(self, scene: Scene, player: Player, title: str, save_dir: Path) -> None:
        self.scene = scene
        self.player = player
        self.title = title
        self.save_dir = save_dir
        self._prompt: _Prompt | None = None
        self._message = ("", 0.0)  # (text, shown until)

    def run(self) -> None:
        """Show the window until ``q``/Esc or the window is closed."""
        _use_system_fonts()
        cv2.namedWindow(self.title, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        cv2.createTrackbar("frame", self.title, 0, max(1, len(self.player) - 1), self._on_trackbar)
        shown: tuple[int, str] | None = None
        try:
            while True:
                position = self.player.tick()
                state = (position, self._playback_line())
                if state != shown:
                    cv2.imshow(self.title, self.scene.render(*state))
                    if shown is None or position != shown[0]:
                        self.player.shown()
                        cv2.setTrackbarPos("frame", self.title, position)
                    shown = state
                due = self.player.due_in()
                wait = _MAX_WAIT if due is None else min(due, _MAX_WAIT)
                key = cv2.waitKeyEx(max(1, int(wait * 1000)))
                if key == -1:
                    if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                        return  # closed by the window manager
                elif not self._on_key(key):
                    return
        finally:
            cv2.destroyWindow(self.title)

    def _on_trackbar(self, value: int) -> None:
        if value != self.player.position:  # moved by hand, not by playback
            self.player.seek(value)

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
        return True

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


def _use_system_fonts() -> None:
    """opencv-python points Qt at a font directory its wheel does not ship (Qt then
    warns on every start); use the system's fonts instead when there are any."""
    if not os.path.isdir(os.environ.get("QT_QPA_FONTDIR", "")) and os.path.isdir(SYSTEM_FONTS):
        os.environ["QT_QPA_FONTDIR"] = SYSTEM_FONTS
