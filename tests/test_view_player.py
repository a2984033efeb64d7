"""Playback state with a fake clock: recorded pace, speed, skipping frames when late."""

from __future__ import annotations

import numpy as np
import pytest

from framestore.view import Player


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_plays_at_the_recorded_pace():
    clock = Clock()
    times = 1.7e9 + np.array([0.0, 0.1, 0.2, 1.2, 1.3])  # a one-second pause in the recording
    player = Player(times, clock=clock)
    assert player.tick() == 0 and player.due_in() is None  # paused
    player.toggle()
    assert player.due_in() == pytest.approx(0.1)
    clock.now += 0.15
    assert player.tick() == 1
    clock.now += 0.1
    assert player.tick() == 2
    assert player.due_in() == pytest.approx(0.95)  # the recorded gap is kept
    clock.now += 0.9
    assert player.tick() == 2
    clock.now += 0.1
    assert player.tick() == 3
    clock.now += 5
    assert player.tick() == 4 and not player.playing  # pauses on the last frame
    player.toggle()
    assert player.position == 0 and player.playing  # playing again starts over


def test_late_display_skips_frames_instead_of_drifting():
    clock = Clock()
    player = Player(np.arange(100) / 30, clock=clock)
    player.toggle()
    clock.now += 1.0  # drawing took a whole second
    assert player.tick() == 30  # the frame due now, not the next one
    clock.now += 0.04
    assert player.tick() == 31


def test_speed_fixed_fps_steps_and_seeks():
    clock = Clock()
    player = Player(np.arange(100) / 30, fps=10, clock=clock)
    player.toggle()
    clock.now += 1.0
    assert player.tick() == 10  # --fps replaces the recorded pace
    assert player.faster() == 2.0
    clock.now += 1.0
    assert player.tick() == 30
    assert player.slower() == 1.0 and player.slower() == 0.5
    player.seek(50)
    clock.now += 1.0
    assert player.tick() == 55  # playing goes on from where it was sent
    assert player.step(-1000) == 0 and player.step(1000) == 99  # clamped
    assert player.faster() == 1.0
    for _ in range(20):
        player.faster()
    assert player.speed == 16.0


def test_measured_fps_and_description():
    clock = Clock()
    player = Player(np.arange(100) / 30, clock=clock)
    assert player.measured_fps is None and player.describe() == "paused   speed x1"
    player.toggle()
    for _ in range(11):
        player.shown()
        clock.now += 0.04
    assert player.measured_fps == pytest.approx(25.0)
    assert player.describe() == "playing   speed x1   25.0 fps"
    with pytest.raises(ValueError, match="fps"):
        Player(np.arange(3.0), fps=0)
    with pytest.raises(ValueError, match="no frames"):
        Player(np.array([]))


def test_following_a_live_recording_pause_seek_back_and_follow_again():
    clock = Clock()
    times = 1.7e9 + np.arange(10) / 10
    player = Player(times[:4], clock=clock, live=True)
    assert (player.position, player.following, player.playing) == (3, True, False)
    assert player.describe().startswith("LIVE")
    player.grow(times[:6])  # new frames: the newest is shown
    assert (len(player), player.tick()) == (6, 5)
    player.toggle()  # space pauses on the frame shown, and the recording goes on
    assert (player.following, player.playing, player.position) == (False, False, 5)
    player.grow(times[:8])
    assert player.tick() == 5 and "End: back to live" in player.describe()
    player.seek(1)  # back, while the recording goes on
    player.grow(times[:9])
    assert player.tick() == 1
    player.toggle()  # playing at the recorded pace catches up and follows again
    clock.now += 2.0
    assert (player.tick(), player.following) == (8, True)
    player.grow(times)
    assert player.tick() == 9
    player.step(-3)
    assert (player.position, player.following) == (6, False)
    player.follow()  # the End key
    assert (player.position, player.following) == (9, True)
    player.live = False  # the recording ended: the last frame stays, End no longer follows
    player.follow()
    assert (player.position, player.following) == (9, False)
