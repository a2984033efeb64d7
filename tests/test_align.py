"""align(): the alignment map by frame number and by time, and reading through it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import framestore
from framestore.testing.frames import read_barcode, synthetic_frame


def make_store(path, numbers, times=None):
    times = np.asarray(numbers, float) / 20.0 + 1.7e9 if times is None else times
    with framestore.new_for_format("npy", path, imgshape=(32, 48), chunksize=8) as w:
        for n, t in zip(numbers, times, strict=True):
            w.add_image(synthetic_frame(int(n), (32, 48)), int(n), float(t))
    return framestore.new_for_filename(path)


@pytest.fixture
def three(tmp_path):
    a = list(range(100, 120))
    b = [n for n in a if n not in (105, 110, 111, 112)]
    c = [103, 104, 104, 106, 107, 108, 109, 110, 111, 112, 113, 114]  # 104 twice
    with pytest.warns(framestore.StoreWarning, match="repeat"):  # c's 104 twice
        c_store = make_store(tmp_path / "c", c)
    return {"a": make_store(tmp_path / "a", a), "b": make_store(tmp_path / "b", b), "c": c_store}


def test_by_frame_number_keeps_every_frame_in_order(three, tmp_path):
    with pytest.warns(framestore.StoreWarning, match="repeat"):
        table = framestore.align(three, by="frame_number", write=tmp_path / "alignment_map.csv")
    assert table["frame_number"].tolist() == list(range(100, 120))
    assert table["index"].tolist() == list(range(20))
    assert table["a"].tolist() == list(range(20))  # nothing of a moves for b's gaps
    b = table["b"]
    assert b.isna().tolist() == [n in (105, 110, 111, 112) for n in range(100, 120)]
    assert b.dropna().tolist() == list(range(16))
    assert table.attrs["duplicates"] == {"c": [2]}  # the second 104 is left out
    assert table.loc[table.frame_number == 104, "c"].item() == 1
    assert table.loc[table.frame_number == 105, "c"].isna().item()  # c has no 105
    for _, row in table.iterrows():  # every mapped frame carries the row's number
        for name, store in three.items():
            if not pd.isna(row[name]):
                assert store.frame_numbers[int(row[name])] == row["frame_number"]
    saved = pd.read_csv(tmp_path / "alignment_map.csv")
    assert saved["b"].isna().sum() == 4 and saved["frame_number"].tolist() == list(range(100, 120))


def test_by_frame_time_matches_one_to_one_within_tolerance(tmp_path):
    rng = np.random.default_rng(0)
    a_numbers = np.arange(50)
    t = 1.7e9 + a_numbers * 0.05
    b_keep = np.array([i for i in range(50) if i not in (7, 8, 30)])
    a = make_store(tmp_path / "a", a_numbers, t + rng.uniform(-0.004, 0.004, 50))
    b = make_store(tmp_path / "b", b_keep + 1000, t[b_keep] + 0.01 + rng.uniform(-0.004, 0.004, len(b_keep)))
    table = framestore.align([a, b], by="frame_time", tolerance=0.02)
    assert len(table) == 50
    assert table["a"].tolist() == list(range(50))
    assert table["b"].isna().tolist() == [i in (7, 8, 30) for i in range(50)]
    matched = table.dropna()
    assert (b.frame_numbers[matched["b"].astype(int)] - 1000 == matched["a"].astype(int)).all()


def test_aligned_reading_policies(three):
    with pytest.warns(framestore.StoreWarning):
        table = framestore.align(three)
    stores = {"a": three["a"], "b": three["b"]}
    blank = framestore.AlignedFrames(stores, table, missing="blank")
    assert len(blank) == 20
    row5 = blank[5]  # frame number 105: b has none
    assert read_barcode(row5["a"]) == 105 and not row5["b"].any()
    hold = framestore.AlignedFrames(stores, table, missing="hold")
    assert read_barcode(hold[5]["b"]) == 104 and read_barcode(hold[12]["b"]) == 109
    drop = framestore.AlignedFrames(stores, table, missing="drop")
    assert len(drop) == 16
    assert [read_barcode(r["a"]) for r in drop] == [read_barcode(r["b"]) for r in drop]
    with pytest.raises(ValueError, match="missing"):
        framestore.AlignedFrames(stores, table, missing="guess")


def test_each_policy_from_its_first_use_unlike_imgstores_aligner(three):
    """imgstore's StoreAligner applies the *previous* call's policy: its first 'drop' keeps
    every frame, and a 'hold' after a 'drop' drops. Here the policy is the one asked for."""
    imgstore = pytest.importorskip("imgstore")
    from imgstore.align import StoreAligner

    with pytest.warns(framestore.StoreWarning):
        table = framestore.align(three)
    stores = {"a": three["a"], "b": three["b"]}
    common = sorted(set(three["a"].frame_numbers) & set(three["b"].frame_numbers))
    drop = framestore.AlignedFrames(stores, table, missing="drop")  # the first and only use
    assert [read_barcode(r["a"]) for r in drop] == common
    assert len(framestore.AlignedFrames(stores, table, missing="hold")) == 20

    theirs = StoreAligner(*(imgstore.new_for_filename(str(s.path)) for s in stores.values()))
    assert len(theirs.extract_common_frames(StoreAligner.MISSING_POLICY_DROP)) == 20  # not dropped
    assert len(theirs.extract_common_frames(StoreAligner.MISSING_POLICY_HOLD)) == len(common)  # dropped
