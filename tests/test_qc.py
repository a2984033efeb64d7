"""qc(): planted problems are found at the right frame; a clean store passes."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import framestore
from framestore.cli.main import main
from framestore.testing.frames import synthetic_frame
from framestore.tools.qc import Thresholds, qc

SHAPE = (48, 64)
T0 = 1.7e9


def write_store(path, numbers, times, images=None, fps=30.0):
    with framestore.new_for_format("npy", path, imgshape=SHAPE, chunksize=100, fps=fps) as writer:
        for k, (n, t) in enumerate(zip(numbers, times, strict=True)):
            image = images[k] if images is not None else synthetic_frame(int(n), SHAPE)
            writer.add_image(image, int(n), float(t))
    return path


def clean(count, start=7_000_000, fps=30.0):
    rng = np.random.default_rng(1)
    return np.arange(count) + start, T0 + np.arange(count) / fps + rng.uniform(0, 0.001, count)


def where(report, name, key="frame_index"):
    return [p[key] for p in report.check(name).where]


@pytest.fixture
def index_problems(tmp_path):
    numbers, times = clean(300)
    numbers[50:] += 5  # 5 dropped before index 50
    numbers[120] = numbers[119]  # a repeat at 120 (so frame 121 follows a gap of one)
    numbers[200:] -= 3  # backwards at 200
    times[150:] += 0.5  # a half-second stall before 150
    times[250] = times[249] - 0.01  # time goes backwards at 250
    return write_store(tmp_path / "index_problems", numbers, times)


def test_index_problems_found_where_planted(index_problems):
    with pytest.warns(framestore.StoreWarning):  # the reader warns of the misordered numbers
        report = qc(index_problems, pixels=False)
    assert not report.passed
    dropped = report.check("dropped_frames")
    assert where(report, "dropped_frames") == [50, 121] and [p["missing"] for p in dropped.where] == [5, 1]
    assert (
        dropped.where[0]["frame_number"] == 7_000_055 and dropped.where[0]["after_frame_number"] == 7_000_049
    )
    assert where(report, "frame_number_order") == [120, 200]
    assert report.check("frame_number_order").summary == "1 repeated, 1 backwards"
    assert where(report, "stalls") == [150]
    assert report.check("stalls").where[0]["interval_s"] == pytest.approx(0.5 + 1 / 30, abs=0.002)
    assert where(report, "time_order") == [250]
    assert report.check("clock_drift").passed is None  # not with misordered frame numbers
    assert report.check("fps").passed
    assert not report.pixels_checked and "dark_frames" not in report.to_dict()["checks"]


def test_thresholds_decide_and_exit_code_gates(index_problems, capsys):
    with pytest.warns(framestore.StoreWarning):
        assert main(["qc", "--no-pixels", str(index_problems)]) == 1
    text = capsys.readouterr().out
    assert "dropped_frames       FAIL" in text and "FAILED" in text
    assert "dropped_frames at frame_number 7000055 (index 50, missing 5" in text
    relaxed = [
        "--max-dropped",
        "0.05",
        "--max-misordered",
        "2",
        "--max-stalls",
        "1",
        "--max-time-backwards",
        "1",
    ]
    with pytest.warns(framestore.StoreWarning):
        assert main(["qc", "--no-pixels", "--json", *relaxed, str(index_problems)]) == 0
    result = json.loads(capsys.readouterr().out)
    checks = result["stores"]["index_problems"]["checks"]
    assert result["passed"] and checks["dropped_frames"]["threshold"] == 0.05
    assert set(checks["stalls"]) == {"passed", "value", "threshold", "count", "summary", "where"}


def test_clock_drift_and_nominal_fps(tmp_path):
    numbers, times = clean(600)
    drifting = write_store(tmp_path / "drift", numbers, T0 + (times - T0) * 1.005)  # +5000 ppm
    report = qc(drifting, pixels=False)
    drift = report.check("clock_drift")
    assert drift.passed is False and drift.value == pytest.approx(5000, rel=0.05)
    assert "gain" in drift.summary and report.check("fps").passed  # 0.5% is within 2%
    assert qc(drifting, Thresholds(max_drift_ppm=6000), pixels=False).passed

    wrong_nominal = write_store(tmp_path / "nominal", numbers, times, fps=25)
    fps = qc(wrong_nominal, pixels=False).check("fps")
    assert fps.passed is False and fps.value == pytest.approx(0.2, abs=0.01)


def test_pixel_problems_found_where_planted(tmp_path):
    numbers, times = clean(150)
    images = np.stack([synthetic_frame(int(n), SHAPE) for n in numbers])
    images[10] = 3  # dark
    images[30] = 255  # saturated
    images[60] = images[59]  # frozen
    images[90, 20:28] = 0  # eight rows lost
    path = write_store(tmp_path / "pixels", numbers, times, images)
    seen = []
    report = qc(path, progress=lambda done, total: seen.append((done, total)))
    assert where(report, "dark_frames") == [10]
    assert where(report, "saturated_frames") == [30]
    assert where(report, "frozen_frames") == [60]
    assert where(report, "zeroed_rows") == [90] and report.check("zeroed_rows").where[0]["zero_rows"] == 8
    assert where(report, "damaged_frames") == [90]  # the lost rows: blacked out, not the dark frame
    assert [c.name for c in report.checks if c.passed is False] == [
        "dark_frames",
        "saturated_frames",
        "frozen_frames",
        "zeroed_rows",
        "damaged_frames",
    ]
    assert seen[-1] == (150, 150)
    assert report.brightness[30] == 1.0


def test_a_clean_store_passes_and_plots(tmp_path, capsys):
    numbers, times = clean(240, start=123_456)
    path = write_store(tmp_path / "cam", numbers, times)
    assert main(["qc", str(path), "--plot", str(tmp_path / "plots"), "--progress"]) == 0
    out = capsys.readouterr()
    assert "PASSED" in out.out and "qc cam [" in out.err  # the progress bar
    for name in ("cam_intervals.png", "cam_brightness.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_dataset_is_checked_store_by_store(tmp_path, capsys):
    numbers, times = clean(100)
    write_store(tmp_path / "ds" / "good", numbers, times)
    numbers[40:] += 2
    write_store(tmp_path / "ds" / "gappy", numbers, times)
    assert main(["qc", "--json", "--no-pixels", str(tmp_path / "ds")]) == 1
    result = json.loads(capsys.readouterr().out)
    assert {n: s["passed"] for n, s in result["stores"].items()} == {"gappy": False, "good": True}


def test_plot_without_matplotlib_is_one_error_line(tmp_path, monkeypatch, capsys):
    numbers, times = clean(20)
    path = write_store(tmp_path / "cam", numbers, times)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    assert main(["qc", str(path), "--plot", str(tmp_path / "plots")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "framestore: error: plots need matplotlib: pip install 'framestore[plot]'"
    assert not (tmp_path / "plots").exists()


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["qc", str(tmp_path / "absent")]) == 2
    assert main(["qc", "--max-stalls", "-1", str(tmp_path)]) == 2
    assert "must not be negative" in capsys.readouterr().err
