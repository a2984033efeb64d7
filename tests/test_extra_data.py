"""add_extra_data / get_extra_data, as imgstore does them, and crash-cut extra data files."""

from __future__ import annotations

import numpy as np
import pytest

import framestore
from framestore._disk.extra_data import read_extra_data_file
from framestore.testing.frames import synthetic_frame


@pytest.mark.parametrize("fmt", ["utvideo", "png"])
def test_extra_data_round_trip(tmp_path, fmt):
    path = tmp_path / "s"
    with framestore.new_for_format(fmt, path, imgshape=(32, 48), chunksize=4) as w:
        for i in range(10):
            w.add_image(synthetic_frame(100 + i, (32, 48)), 100 + i, 50.0 + i)
            if i % 3 == 0:
                w.add_extra_data(temperature=20.0 + i, light=np.int64(i % 2), label=f"t{i}")
    df = framestore.new_for_filename(path).get_extra_data()
    assert df["frame_index"].tolist() == [0, 3, 6, 9]
    assert df["frame_number"].tolist() == [100, 103, 106, 109]
    assert df["frame_time"].tolist() == [50.0, 53.0, 56.0, 59.0]
    assert df["temperature"].tolist() == [20.0, 23.0, 26.0, 29.0]
    assert df["label"].tolist() == ["t0", "t3", "t6", "t9"]


def test_extra_data_must_be_json(tmp_path):
    with framestore.new_for_format("npy", tmp_path / "s", imgshape=(32, 48)) as w:
        w.add_image(synthetic_frame(1, (32, 48)), 1, 1.0)
        with pytest.raises(ValueError, match="JSON"):
            w.add_extra_data(thing=object())


@pytest.mark.parametrize(
    "text,expected",
    [
        ('[{"a": 1}, {"a": 2}]', [1, 2]),
        ('[{"a": 1}, {"a": 2}', [1, 2]),  # killed before the closing bracket
        ('[{"a": 1}, {"a": 2}, {"a": {"b": 3', [1, 2]),  # killed inside a record
        ('[{"a": 1}, {"a": 2}, ', [1, 2]),
        ("[", []),
        ("", []),
    ],
)
def test_extra_data_cut_short_by_a_crash(tmp_path, text, expected):
    path = tmp_path / "000000.extra.json"
    path.write_text(text)
    assert [r["a"] for r in read_extra_data_file(path)] == expected


def test_extra_data_that_is_not_json(tmp_path):
    path = tmp_path / "000000.extra.json"
    path.write_text("[this is not json]")
    with pytest.raises(framestore.CorruptStoreError, match="000000.extra.json"):
        read_extra_data_file(path)
