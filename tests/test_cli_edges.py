"""The edges a lab member touches every day, through the real commands (subprocesses)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import framestore
from framestore.cli.main import main
from framestore.cli.progress import progress_bar
from framestore.cli.stitch import main as stitch_main
from framestore.testing.frames import synthetic_frame
from framestore.testing.miniscope import FPS, make_session

ROOT = Path(__file__).resolve().parent.parent
T0 = 1.7e9


def command(tool: str, *args: object) -> subprocess.CompletedProcess[str]:
    """Run ``framestore`` (or ``framestore-stitch``) as a user would, stderr not a terminal."""
    module = {"framestore": "framestore.cli.main", "framestore-stitch": "framestore.cli.stitch"}[tool]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True, env=env, timeout=120
    )


def steady_store(path: Path, count: int = 60, shape: tuple[int, int] = (24, 32), **kwargs: object) -> Path:
    """A store of ``count`` frames at a steady 30 fps (npy: one file per frame)."""
    with framestore.new_for_format("npy", path, imgshape=shape, chunksize=25, **kwargs) as writer:
        for i in range(count):
            writer.add_image(synthetic_frame(1000 + i, shape), 1000 + i, T0 + i / 30)
    return path


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_qc_and_verify_refuse_a_folder_without_stores(tmp_path):
    empty, raw = tmp_path / "empty", tmp_path / "raw"
    empty.mkdir()
    raw.mkdir()
    (raw / "cam0.avi").write_bytes(b"RIFF....AVI ")
    for tool, folder in (("qc", empty), ("verify", raw)):
        done = command("framestore", tool, folder)
        assert done.returncode == 2 and done.stdout == ""
        assert "no store found (expected a store" in one_line(done.stderr)
    for tool, folder in (("qc", raw), ("verify", empty)):
        assert main([tool, str(folder)]) == 2
    done = command("framestore", "qc", "--json", "--allow-empty", empty)
    assert done.returncode == 0 and json.loads(done.stdout) == {"passed": True, "stores": {}}
    assert command("framestore", "verify", "--allow-empty", raw).returncode == 0


def test_qc_reports_an_unreadable_frame_and_carries_on(tmp_path):
    path = steady_store(tmp_path / "cam", fps=30)
    damaged = path / "000001" / "000007.npy"  # frame_index 32
    data = bytearray(damaged.read_bytes())
    data[-5] ^= 0xFF
    damaged.write_bytes(bytes(data))
    done = command("framestore", "qc", "--json", "--workers", "1", path)
    assert done.returncode == 1, done.stderr
    checks = json.loads(done.stdout)["stores"]["cam"]["checks"]
    unreadable = checks["unreadable_frames"]
    assert unreadable["passed"] is False and unreadable["count"] == 1
    place = unreadable["where"][0]
    assert (place["frame_index"], place["frame_number"], place["file"]) == (32, 1032, str(damaged))
    assert "CRC" in place["error"] or "crc" in place["error"]
    # the other checks were made, on every other frame, and found nothing else
    assert checks["dark_frames"]["passed"] and checks["frozen_frames"]["passed"]
    assert checks["fps"]["passed"] and checks["clock_drift"]["passed"]
    text = command("framestore", "qc", "--workers", "1", path)
    assert text.returncode == 1 and "unreadable_frames    FAIL" in text.stdout
    assert "unreadable_frames at frame_number 1032 (index 32, file " in text.stdout
    assert command("framestore", "verify", "--workers", "1", path).returncode == 1


def two_receivers_named_alike(tmp_path: Path) -> list[Path]:
    """Two receivers' recordings, each PC's ``receiver0.avi`` (+ CSV) in its own folder."""
    session = make_session(tmp_path / "session", receivers=2, frames=100, seed=2)
    videos = []
    for folder, receiver in zip(("rxA", "rxB"), session.receivers, strict=True):
        (tmp_path / folder).mkdir()
        for suffix in (".avi", ".csv"):
            source = session.video(receiver.stem).with_suffix(suffix)
            shutil.copy(source, tmp_path / folder / f"receiver0{suffix}")
        videos.append(tmp_path / folder / "receiver0.avi")
    return videos


def test_stitch_receivers_whose_videos_share_a_name(tmp_path):
    videos = two_receivers_named_alike(tmp_path)
    out = tmp_path / "out"
    done = command("framestore-stitch", *videos, "-o", out)
    assert done.returncode == 0, done.stderr
    assert "from rxA/receiver0:" in done.stdout and "from rxB/receiver0:" in done.stdout
    scores = pd.read_csv(out / "scores.csv")
    assert set(scores["chosen"]) <= {"rxA/receiver0", "rxB/receiver0"}
    # every column named for what it holds; buffers received count up
    for name in ("rxA/receiver0", "rxB/receiver0"):
        received = scores[f"{name}_buffers_received"].dropna()
        assert len(received) and (received > 0).all()
    assert not [c for c in scores.columns if "missing" in c]
    store = framestore.new_for_filename(out)
    assert [s["name"] for s in store.metadata.derived_from["sources"]] == ["rxA/receiver0", "rxB/receiver0"]
    # the stitched store states the device's rate by its frame-number clock, against
    # which qc finds no drift
    assert store.fps == pytest.approx(FPS, rel=0.01)
    qc = command("framestore", "qc", "--no-pixels", "--json", "--max-stalls", "100", out)
    checks = json.loads(qc.stdout)["stores"]["out"]["checks"]
    assert checks["clock_drift"]["passed"] and checks["fps"]["passed"], checks


def test_stitch_refuses_inputs_of_different_shapes_and_leaves_nothing(tmp_path):
    small = steady_store(tmp_path / "small", shape=(24, 32))
    large = steady_store(tmp_path / "large", shape=(48, 64))
    out = tmp_path / "out"
    done = command("framestore-stitch", small, large, "-o", out)
    assert done.returncode == 1 and done.stdout == ""
    line = one_line(done.stderr)
    assert "small 24x32 uint8" in line and "large 48x64 uint8" in line
    assert not out.exists()
    # a run that fails while writing removes what it made, never a directory that was there
    stores = [framestore.new_for_filename(small), framestore.new_for_filename(steady_store(tmp_path / "b"))]

    def fail(done: int, total: int) -> None:
        raise RuntimeError("stopped")

    for target in (out, tmp_path / "there"):
        existed = target == tmp_path / "there"
        if existed:
            target.mkdir()
        with pytest.raises(RuntimeError, match="stopped"):
            framestore.stitch(stores, target, progress=fail, workers=1, chunksize=10)
        assert target.exists() == existed
    assert command("framestore-stitch", small, tmp_path / "b", "-o", out).returncode == 0


def test_the_command_line_speaks_its_own_words(tmp_path, capsys):
    helped = command("framestore", "--help")
    assert helped.returncode == 0
    assert "``" not in helped.stdout and "library" not in helped.stdout.split("\n\n")[1]
    stitch_help = command("framestore-stitch", "--help").stdout
    for text in ("a receiver's video", "the store to write", "by the device's frame number", "side by side"):
        assert text in stitch_help
    for sub in ("info", "qc", "verify", "convert", "recover"):
        with pytest.raises(SystemExit):
            main([sub, "--help"])
        usage = capsys.readouterr().out
        positional = usage.split("positional arguments:")[1].split("options:")[0]
        assert all(len(line.split()) > 1 for line in positional.strip().splitlines()), usage

    store = steady_store(tmp_path / "cam", count=20, fps=30)
    refused = command("framestore", "convert", store, store)
    assert refused.returncode == 1
    expected = f"framestore: error: {store}: already exists; pass --force to replace it"
    assert one_line(refused.stderr) == expected

    info = command("framestore", "info", store)
    assert "1 chunk of up to 25" in info.stdout

    # a warning is one line in the tool's words, once, without Python's file and line
    repeats = tmp_path / "repeats"
    with framestore.new_for_format("npy", repeats, imgshape=(8, 8), chunksize=2) as writer:
        for i, n in enumerate([1, 2, 2, 3, 3, 4]):
            writer.add_image(np.zeros((8, 8), np.uint8), n, T0 + i)
    warned = command("framestore", "info", repeats)
    assert warned.returncode == 0
    assert one_line(warned.stderr).startswith("framestore: warning: frame numbers go backwards or repeat")
    assert ".py:" not in warned.stderr

    missing = command("framestore", "verify", tmp_path / "nowhere")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert one_line(missing.stderr).startswith("framestore: error: ")
    detailed = command("framestore", "verify", "-v", tmp_path / "nowhere")
    assert "Traceback" in detailed.stderr and detailed.stderr.strip().endswith(one_line(missing.stderr))


def test_a_store_without_a_stated_rate_is_judged_by_its_measured_one(tmp_path):
    store = steady_store(tmp_path / "cam")  # no fps given; frames come at 30 fps
    metadata = yaml.safe_load((store / "metadata.yaml").read_text())
    assert metadata["__store"]["framestore"]["fps"] is None
    done = command("framestore", "qc", "--no-pixels", "--json", store)
    assert done.returncode == 0, done.stdout
    checks = json.loads(done.stdout)["stores"]["cam"]["checks"]
    assert checks["clock_drift"]["passed"] and "30 fps measured" in checks["clock_drift"]["summary"]
    assert checks["fps"]["passed"] is None and "none stated" in checks["fps"]["summary"]


def test_progress_bar_shows_rate_and_time_left_in_a_terminal_only(tmp_path):
    assert progress_bar("qc cam", stream=io.StringIO()) is None  # not a terminal
    stream = io.StringIO()
    bar = progress_bar("qc cam", stream=stream, show=True, every=0)
    assert bar is not None
    bar(50, 100)
    bar(100, 100)
    lines = stream.getvalue().split("\r")
    assert "50/100 frames" in lines[1] and "/s" in lines[1] and "left" in lines[1]
    assert "100/100 frames" in lines[2] and " in " in lines[2] and lines[2].endswith("\n")
    store = steady_store(tmp_path / "cam", count=20, fps=30)
    assert "qc cam [" not in command("framestore", "qc", "--workers", "1", store).stderr
    assert "qc cam [" in command("framestore", "qc", "--workers", "1", "--progress", store).stderr


def test_demo_removes_its_temporary_directory_and_keeps_dir(tmp_path, monkeypatch, capsys):
    """Without --dir the demo says where its stores are and removes them at the end."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    assert main(["demo", "--frames", "20", "--format", "raw/nut"]) == 0
    out = capsys.readouterr().out
    assert f"demo stores in {tmp_path}" in out and "removed at the end" in out
    assert list(tmp_path.iterdir()) == []
    assert main(["demo", "--frames", "20", "--format", "raw/nut", "--dir", str(tmp_path / "kept")]) == 0
    assert {p.name for p in (tmp_path / "kept").iterdir()} >= {"demo-store", "stitched"}


def test_stitch_imports_inside_its_output_and_removes_them(tmp_path, monkeypatch):
    """Receivers' videos are imported into the output's scratch folder, not the temp
    directory; one a killed run left is removed by a rerun with --force."""
    videos = [str(v) for v in two_receivers_named_alike(tmp_path)]
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    out = tmp_path / "out"
    (out / ".framestore-scratch" / "000-receiver0").mkdir(parents=True)  # a killed run's
    assert stitch_main([*videos, "-o", str(out)]) == 1  # the output exists
    assert stitch_main([*videos, "-o", str(out), "--force"]) == 0
    assert not (out / ".framestore-scratch").exists() and list(temp.iterdir()) == []
    assert len(framestore.new_for_filename(out)) > 0
