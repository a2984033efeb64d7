"""framestore info: a store or a dataset at a glance, as text or JSON."""

from __future__ import annotations

import datetime
import json

import pytest
from _support.media import write_recording

from framestore.cli.main import main
from framestore.sessions.dataset import Dataset
from framestore.tools.info import info


def test_store_info(tmp_path, capsys):
    rec = write_recording(tmp_path / "s", "ffv1/mkv", "gray8", count=45, chunksize=20)
    summary = info(tmp_path / "s")
    assert summary["kind"] == "store" and summary["format"] == "ffv1/mkv"
    assert (summary["frames"], summary["chunks"], summary["shape"], summary["dtype"]) == (
        45,
        3,
        [48, 72],
        "uint8",
    )
    assert summary["first_frame_number"] == rec.frame_numbers[0] == 5_000_000
    assert summary["last_frame_number"] == rec.frame_numbers[-1]
    first = datetime.datetime.fromisoformat(summary["first_time"])
    assert first.timestamp() == pytest.approx(rec.frame_times[0], abs=1e-6)
    assert summary["duration_s"] == pytest.approx(rec.frame_times[-1] - rec.frame_times[0])
    assert summary["fps_measured"] == pytest.approx(30, rel=0.05) and summary["fps_nominal"] == 30
    on_disk = sum(p.stat().st_size for p in (tmp_path / "s").rglob("*") if p.is_file())
    assert summary["bytes_on_disk"] == on_disk
    assert summary["bytes_per_frame"] == pytest.approx(on_disk / 45, abs=0.1)
    assert summary["user_metadata"] == {"rig": "test", "n": 3} and summary["derived_from"] is None

    assert main(["info", str(tmp_path / "s")]) == 0
    text = capsys.readouterr().out
    for expected in (
        "ffv1/mkv, 3 chunks of up to 20",
        "45 of (48, 72) uint8",
        "5000000 ..",
        "30 nominal",
        "'rig'",
    ):
        assert expected in text
    assert main(["info", "--json", str(tmp_path / "s" / "metadata.yaml")]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(summary))


def test_dataset_info(tmp_path, capsys):
    write_recording(tmp_path / "ds" / "cam0", "npy", "gray8", count=10)
    write_recording(tmp_path / "ds" / "cam1", "npy", "gray8", count=12)
    dataset = Dataset.from_directory(tmp_path / "ds")
    dataset.align()
    dataset.add_segment("cam1", "trial", 5_000_000, 5_000_005, by="frame_number")
    summary = info(tmp_path / "ds")
    assert summary["kind"] == "dataset" and list(summary["recordings"]) == ["cam0", "cam1"]
    assert summary["recordings"]["cam1"]["frames"] == 12
    assert summary["alignment_map"] == "alignment_map.csv" and summary["segments"] == 1
    assert main(["info", str(tmp_path / "ds")]) == 0
    text = capsys.readouterr().out
    assert "stores    cam0, cam1" in text and text.count("store      ") == 2


def test_info_of_nothing_is_one_error_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "absent")]) == 1
    assert capsys.readouterr().err.startswith("framestore: error:")
