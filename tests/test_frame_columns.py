"""Per-frame metadata columns: declared at creation, kept in every chunk index, by the
journal of an unfinished chunk, by recover and by convert."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import framestore
from framestore.testing.frames import synthetic_frame
from framestore.tools.convert import convert
from framestore.tools.recover import recover

COLUMNS = {"num_buffers": "int16", "black_padding_px": "int32", "first_recv_time": "float64", "clean": "bool"}


def values(i):
    return {
        "num_buffers": 8 - i % 3,
        "black_padding_px": 7 * i,
        "first_recv_time": 1.7e9 + i / 20,
        "clean": i % 3 == 0,
    }


@pytest.mark.parametrize("fmt", ["utvideo", "png"])
def test_columns_round_trip(tmp_path, fmt):
    with framestore.new_for_format(
        fmt, tmp_path / "s", imgshape=(32, 48), chunksize=7, frame_columns=COLUMNS
    ) as w:
        for i in range(20):
            w.add_image(synthetic_frame(i, (32, 48)), 500 + i, 10.0 + i, **values(i))
    store = framestore.new_for_filename(tmp_path / "s")
    df = store.index_dataframe()
    assert list(df.columns) == ["frame_number", "frame_time", *COLUMNS]
    assert df["num_buffers"].tolist() == [values(i)["num_buffers"] for i in range(20)]
    assert df["num_buffers"].dtype == np.int16 and df["clean"].dtype == bool
    assert df["first_recv_time"].tolist() == [values(i)["first_recv_time"] for i in range(20)]
    assert store.metadata.frame_columns == COLUMNS

    convert(tmp_path / "s", tmp_path / "c", "npy")
    assert framestore.new_for_filename(tmp_path / "c").index_dataframe().equals(df)


def test_columns_are_checked(tmp_path):
    w = framestore.new_for_format("npy", tmp_path / "s", imgshape=(32, 48), frame_columns=COLUMNS)
    with pytest.raises(framestore.InvalidFrameError, match="exactly"):
        w.add_image(synthetic_frame(1, (32, 48)), 1, 1.0, num_buffers=8)
    with pytest.raises(framestore.InvalidFrameError, match="column value"):
        w.add_image(synthetic_frame(1, (32, 48)), 1, 1.0, **{**values(1), "num_buffers": "many"})
    w.close()
    with pytest.raises(ValueError, match="numeric or boolean"):
        framestore.new_for_format("npy", tmp_path / "t", imgshape=(32, 48), frame_columns={"note": "U10"})
    with pytest.raises(ValueError, match="not one of"):
        framestore.new_for_format(
            "npy", tmp_path / "u", imgshape=(32, 48), frame_columns={"frame_time": "f8"}
        )


WRITER = """
import sys, time
import framestore
from framestore.testing.frames import synthetic_frame
cols = {"num_buffers": "int16", "first_recv_time": "float64"}
w = framestore.new_for_format(sys.argv[2], sys.argv[1], imgshape=(32, 48), chunksize=15, frame_columns=cols)
for i in range(10**6):
    w.add_image(synthetic_frame(i, (32, 48)), i, time.time(), num_buffers=i % 9, first_recv_time=i / 2)
    time.sleep(0.004)
"""


@pytest.mark.parametrize("fmt", ["ffv1", "npy"])
def test_columns_survive_a_killed_writer(tmp_path, fmt):
    path = tmp_path / "s"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), fmt])
    deadline = time.time() + 30
    while time.time() < deadline and not (
        (path / "000001.npz").exists() or (path / "000001" / "index.npz").exists()
    ):
        time.sleep(0.05)
    time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with pytest.warns(framestore.IncompleteStoreWarning):
        df = framestore.new_for_filename(path).index_dataframe()
    assert len(df) > 30  # two finished chunks and part of the third, from its journal
    assert df["num_buffers"].tolist() == [i % 9 for i in df["frame_number"]]
    assert df["first_recv_time"].tolist() == [i / 2 for i in df["frame_number"]]
    recover(path)
    assert framestore.new_for_filename(path).index_dataframe().equals(df)
