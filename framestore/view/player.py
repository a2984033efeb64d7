"""Playback state: position, play/pause, speed, and which frame is due now.

Playing follows the recorded pace (the frames' times) or a fixed ``fps``, measured
against a clock: when drawing a frame takes longer than the time between frames, the
frames whose moment has passed are skipped, so playback never drifts behind. A store
being recorded grows (``grow``); the player follows its newest frame until the user
pauses or moves back, and again from ``follow`` (the End key) or when playing catches up.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import numpy as np

SPEEDS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0, 4.0, 8.0, 16.0)
_FPS_WINDOW = 30  # frames the measured fps is averaged over


class Player:
    """Where playback is, for positions with media ``times`` (seconds, any origin).

    ``fps`` replaces the recorded pace with a fixed one; ``clock`` (seconds) is
    ``time.monotonic`` unless a test gives its own. ``live``: the frames are a recording
    still going on (more come with ``grow``); the player starts following the newest.
    """

    def __init__(
        self,
        times: np.ndarray,
        fps: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        live: bool = False,
    ) -> None:
        if len(times) == 0:
            raise ValueError("nothing to play: no frames")
        if fps is not None and not fps > 0:
            raise ValueError(f"fps must be > 0, got {fps}")
        self._fps = fps
        self._times = self._pace(times)
        self._clock = clock
        self._shown: deque[float] = deque(maxlen=_FPS_WINDOW)
        self.position = 0
        self.playing = False
        self.speed = 1.0
        self._anchor = (0.0, 0.0)  # (clock, media time) when playback last (re)started
        self.live = live
        self.following = False  # showing each newest frame as it comes
        if live:
            self.follow()

    def _pace(self, times: np.ndarray) -> np.ndarray:
        """Seconds from the first frame, never going back (clock jumps in a recording)."""
        times = np.asarray(times, dtype=np.float64)
        return np.arange(len(times)) / self._fps if self._fps else np.maximum.accumulate(times - times[0])

    def grow(self, times: np.ndarray) -> None:
        """The recording now has ``times`` (the old ones and new ones after them); a
        player following it goes to the newest frame."""
        self._times = self._pace(times)
        if self.following:
            self.position = len(self) - 1

    def follow(self) -> None:
        """Show the newest frame, and each one that comes after it."""
        self.seek(len(self) - 1)
        self.playing = False
        self.following = self.live

    def __len__(self) -> int:
        return len(self._times)

    def _restart(self) -> None:
        self._anchor = (self._clock(), float(self._times[self.position]))

    def seek(self, position: int) -> int:
        """Go to ``position`` (clamped to the frames there are); playing goes on from there.
        A player following a recording stops following (``follow`` starts again)."""
        self.position = int(np.clip(position, 0, len(self) - 1))
        self.following = False
        self._restart()
        return self.position

    def step(self, frames: int) -> int:
        """Move ``frames`` positions forward (negative: back)."""
        return self.seek(self.position + frames)

    def toggle(self) -> bool:
        """Play or pause; playing from the last frame starts again at the first. Following
        a recording, this pauses on the frame shown."""
        if self.following:
            self.following = False
            self.playing = True  # paused just below
        elif not self.playing and self.position == len(self) - 1:
            self.position = 0
        self.playing = not self.playing
        self._shown.clear()  # measure the new run only
        self._restart()
        return self.playing

    def faster(self) -> float:
        return self._set_speed(min((s for s in SPEEDS if s > self.speed), default=self.speed))

    def slower(self) -> float:
        return self._set_speed(max((s for s in SPEEDS if s < self.speed), default=self.speed))

    def _set_speed(self, speed: float) -> float:
        self.speed = speed
        self._restart()
        return speed

    def tick(self) -> int:
        """The position due now: when playing, the last frame whose moment has come
        (frames in between are skipped); at the end playback pauses on the last frame, or
        follows a live recording from there."""
        if self.playing:
            start, media = self._anchor
            now = media + (self._clock() - start) * self.speed
            self.position = max(self.position, int(np.searchsorted(self._times, now, side="right")) - 1)
            if self.position >= len(self) - 1:
                self.position = len(self) - 1
                self.playing = False
                self.following = self.live
        return self.position

    def due_in(self) -> float | None:
        """Seconds until the next frame is due (None when paused)."""
        if not self.playing or self.position >= len(self) - 1:
            return None
        start, media = self._anchor
        due = start + (float(self._times[self.position + 1]) - media) / self.speed
        return max(0.0, due - self._clock())

    def shown(self) -> None:
        """Record that a frame was put on screen now (for ``measured_fps``)."""
        self._shown.append(self._clock())

    @property
    def measured_fps(self) -> float | None:
        """Frames put on screen per second, over the last few (None before two)."""
        if len(self._shown) < 2 or self._shown[-1] <= self._shown[0]:
            return None
        return (len(self._shown) - 1) / (self._shown[-1] - self._shown[0])

    def describe(self) -> str:
        """``playing x2 29.8 fps`` / ``paused x1`` / ``LIVE: following the recording``."""
        if self.following:
            return "LIVE: following the recording   (space pauses)"
        fps = self.measured_fps
        measured = f"   {fps:.1f} fps" if self.playing and fps is not None else ""
        live = "   (End: back to live)" if self.live else ""
        return f"{'playing' if self.playing else 'paused'}   speed x{self.speed:g}{measured}{live}"
