"""framestore-view without a window: --export (PNG contact sheet, MP4 clip), no display."""

from __future__ import annotations

import os
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest

import framestore
from framestore.testing.frames import frame_times_for, read_barcode, synthetic_frame
from framestore.view import Scene, render
from framestore.view.cli import display_problem, main
from framestore.view.export import SHEET_GAP

SHAPE = (64, 96)
NUMBERS = list(range(500, 560))


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "cam"
    with framestore.new_for_format("npy", path, imgshape=SHAPE, chunksize=25) as writer:
        for n, t in zip(NUMBERS, frame_times_for(np.array(NUMBERS), fps=20.0), strict=True):
            writer.add_image(synthetic_frame(n, SHAPE), n, float(t))
    return path


def test_contact_sheet(store_path, tmp_path, capsys):
    sheet = tmp_path / "sheet.png"
    assert (
        main([str(store_path), "--export", str(sheet), "--frames", "4", "--start", "510", "--stop", "540"])
        == 0
    )
    assert "contact sheet of 4 views" in capsys.readouterr().out
    image = cv2.imread(str(sheet))
    scene = Scene({"cam": framestore.new_for_filename(store_path)})
    views = [scene.render(p) for p in (10, 20, 30, 40)]  # evenly spaced from 510 to 540
    h, w = views[0].shape[:2]
    assert image.shape == (2 * h + SHEET_GAP, 2 * w + SHEET_GAP, 3)
    tiles = [image[:h, :w], image[:h, -w:], image[-h:, :w], image[-h:, -w:]]
    for tile, view in zip(tiles, views, strict=True):
        np.testing.assert_array_equal(tile, view)  # the same drawing as the window


def test_clip_between_times_and_numbers(store_path, tmp_path, capsys):
    clip = tmp_path / "clip.mp4"
    assert main([str(store_path), "--export", str(clip), "--start", "+0.5", "--stop", "529"]) == 0
    assert "20 frames" in capsys.readouterr().out  # 0.5 s at 20 fps is frame 510; 510..529
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and float(stream.average_rate) == pytest.approx(
            20, rel=0.01
        )
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 20
    assert frames[0].shape[0] % 2 == 0 and frames[0].shape[1] % 2 == 0  # padded to even sizes for x264
    top = render.LINE_HEIGHT
    assert [read_barcode(f[top : top + SHAPE[0], : SHAPE[1]]) for f in frames] == list(range(510, 530))


def test_clip_with_odd_sizes_and_options(store_path, tmp_path):
    clip = tmp_path / "zoom.mp4"
    args = [str(store_path), "--export", str(clip), "--roi", "1,0,95,63", "--scale", "2", "--fps", "5"]
    assert main([*args, "--stop", "504"]) == 0
    with av.open(str(clip)) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(5)
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 5 and frames[0].shape[0] >= 2 * 63 + render.LINE_HEIGHT


def test_errors_and_no_display(store_path, tmp_path, capsys, monkeypatch):
    assert main([str(store_path), "--export", str(tmp_path / "x.gif")]) == 1
    assert ".png or .mp4" in capsys.readouterr().err
    assert main([str(tmp_path / "nothing"), "--export", str(tmp_path / "x.png")]) == 1
    assert "framestore-view: error:" in capsys.readouterr().err
    assert main([str(store_path), "--roi", "50,0,50,10", "--export", str(tmp_path / "x.png")]) == 1
    assert "does not fit" in capsys.readouterr().err  # refused before anything is drawn
    monkeypatch.delenv("DISPLAY", raising=False)
    assert main([str(store_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no display available" in err[0] and "--export" in err[0]
    assert display_problem({}) == "DISPLAY is not set"
    assert "cannot reach" in display_problem({"DISPLAY": ":4242"})


def test_export_shows_a_damaged_frame(store_path, tmp_path, capsys):
    damaged = store_path / "000000" / "000012.npy"  # frame_number 512
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(data)
    clip = tmp_path / "clip.mp4"
    assert main([str(store_path), "--export", str(clip), "--start", "510", "--stop", "514"]) == 0
    out = capsys.readouterr().out
    assert "5 frames" in out and "1 damaged frame(s) shown as DAMAGED, first cam frame_index 12" in out
    assert "000012.npy" in out and "CRC32" in out
    with av.open(str(clip)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    top = render.LINE_HEIGHT
    assert [read_barcode(f[top : top + SHAPE[0], : SHAPE[1]]) for f in frames[3:]] == [513, 514]
    sheet = tmp_path / "sheet.png"
    assert (
        main([str(store_path), "--export", str(sheet), "--frames", "1", "--start", "512", "--stop", "512"])
        == 0
    )
    scene = Scene({"cam": framestore.new_for_filename(store_path)})
    expected = scene.render(12)
    assert ("cam", 12) in scene.damaged
    np.testing.assert_array_equal(cv2.imread(str(sheet)), expected)  # the DAMAGED panel, exactly


def run_view(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "framestore.view", *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, "DISPLAY": ""}
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--start", "99999999"],
            "--start 99999999: frame_number 99999999 is outside the recording (frame_number 500..559)",
        ),
        (["--stop", "499"], "--stop 499: frame_number 499 is outside the recording (frame_number 500..559)"),
        (["--start", "25:00:00"], "--start 25:00:00: not a time of day (hour must be in 0..23)"),
        (["--stop", "+4"], "--stop +4: outside the recording, which runs from "),
        (["--start", "540", "--stop", "510"], "--stop 510 comes before --start 540"),
    ],
)
def test_start_and_stop_outside_the_recording(store_path, tmp_path, options, message):
    clip = tmp_path / "x.mp4"
    done = run_view(str(store_path), "--export", str(clip), *options)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"framestore-view: error: {message}"), done.stderr
    assert not clip.exists()


def test_start_and_stop_at_the_ends_of_the_recording(store_path, tmp_path):
    clip = tmp_path / "x.mp4"
    done = run_view(str(store_path), "--export", str(clip), "--start", "+2.9", "--stop", "559")
    assert done.returncode == 0, done.stderr  # the last frame is 2.95 s after the first
    assert "2 frames" in done.stdout
