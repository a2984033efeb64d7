"""stitch(): the best copy of every frame of several receivers, with a scores table."""

from __future__ import annotations

import warnings

import av
import numpy as np
import pandas as pd
import pytest
from _support.receivers import import_receivers

import framestore
from framestore.sessions.stitch import stitch
from framestore.testing.damage import BLACKED_OUT, CHECK_PATTERN
from framestore.testing.miniscope import GLITCH_FRAME_NUM, make_session
from framestore.tools.damage import DamageSettings


@pytest.mark.parametrize("receivers", [2, 3, 4])
def test_stitch_synthetic_session(tmp_path, receivers):
    session = make_session(tmp_path / "session", receivers=receivers, frames=150, seed=receivers)
    stores = import_receivers(session, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)  # the glitch frame
        scores = stitch(stores, tmp_path / "stitched")
        out = framestore.new_for_filename(tmp_path / "stitched")

    # no frame any receiver has is lost, and the order is kept; the glitch frame (one stray
    # buffer under an out-of-range frame_num) is reported, never written
    seen = sorted(set().union(*(r.frame_nums for r in session.receivers)) - {GLITCH_FRAME_NUM})
    assert out.frame_numbers.tolist() == seen == scores["frame_number"].tolist()
    assert [g["frame_number"] for g in scores.attrs["glitches"]] == [GLITCH_FRAME_NUM]
    assert pd.read_csv(tmp_path / "stitched" / "glitches.csv")["frame_number"].tolist() == [GLITCH_FRAME_NUM]

    # frame by frame, the chosen copy is the least damaged one (fewest pixels differing from
    # the clean frame), within 1% of a buffer: copies closer than that are alike to any
    # evidence. A clean copy always wins.
    damage = {r.stem: r.damaged for r in session.receivers}
    best_chosen = clean_right = 0
    for k, row in scores.iterrows():
        candidates = {
            n: damage[n][int(row[f"{n}_frame_index"])]
            for n in damage
            if f"{n}_frame_index" in row and not pd.isna(row[f"{n}_frame_index"])
        }
        chosen = candidates[row["chosen"]]
        if min(candidates.values()) == 0:
            assert chosen == 0, (row["frame_number"], candidates, row["reason"])
        best_chosen += chosen <= min(candidates.values()) + 50
        clean_right += row["clean"] == (chosen == 0)
        source = stores[row["chosen"]]
        np.testing.assert_array_equal(out[k], source[int(row[f"{row['chosen']}_frame_index"])])  # bit-exact
    assert best_chosen >= 0.99 * len(scores), (best_chosen, len(scores))
    # "clean" (no damage shown) is right but for garbage no other copy can check
    assert clean_right >= 0.98 * len(scores), (clean_right, len(scores))

    # the scores table is in the store, and the store says what it was derived from
    saved = pd.read_csv(tmp_path / "stitched" / "scores.csv")
    assert saved["chosen"].tolist() == scores["chosen"].tolist()
    derived = out.metadata.derived_from
    assert [s["uuid"] for s in derived["sources"]] == [s.uuid for s in stores.values()]
    assert derived["method"] == "framestore.stitch/2"
    sources = out.index_dataframe()["source"].tolist()
    assert [list(stores)[s] for s in sources] == scores["chosen"].tolist()


def test_framestore_stitch_command(tmp_path, capsys):
    from framestore.cli.stitch import main

    session = make_session(tmp_path / "session", receivers=2, frames=60)
    before = sorted(p.name for p in session.directory.iterdir())
    videos = [str(session.video(r.stem)) for r in session.receivers]
    assert main([*videos, "-o", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "frames out: 60" in printed and "frames seen by only one receiver" in printed
    assert f"glitch frames left out: 1 (frame_num {GLITCH_FRAME_NUM}" in printed
    assert sorted(p.name for p in session.directory.iterdir()) == before  # nothing beside the inputs
    size = (tmp_path / "out" / "scores.csv").stat().st_size
    assert main([*videos, "-o", str(tmp_path / "out")]) == 1  # refused, untouched
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "out" / "scores.csv").stat().st_size == size
    assert main([*videos, "-o", str(tmp_path / "out"), "--force", "--format", "npy"]) == 0
    out = framestore.new_for_filename(tmp_path / "out")
    assert out.format == "npy"
    sources = out.metadata.derived_from["sources"]
    assert [s["source_video"] for s in sources] == [str(session.video(r.stem)) for r in session.receivers]
    assert [s["source_csv"] for s in sources] == [
        str(session.video(r.stem).with_suffix(".csv")) for r in session.receivers
    ]


def test_debug_video(tmp_path):
    from framestore.cli.stitch import main

    session = make_session(tmp_path / "session", receivers=3, frames=40)
    videos = [str(session.video(r.stem)) for r in session.receivers]
    debug = tmp_path / "debug.avi"
    assert main([*videos, "-o", str(tmp_path / "out"), "--debug-video", str(debug)]) == 0
    with av.open(str(debug)) as container:
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    assert len(frames) == 40
    assert frames[0].shape[1] == 3 * 200  # three candidates side by side
    scores = pd.read_csv(tmp_path / "out" / "scores.csv")
    k = int(np.flatnonzero(scores["differing_px"] > 1000)[0])
    red = (frames[k][..., 2] > 200) & (frames[k][..., 1] < 60) & (frames[k][..., 0] < 60)
    assert red.sum() > 500  # differing pixels are marked


def test_stitch_by_receive_time(tmp_path):
    session = make_session(tmp_path / "session", receivers=2, frames=80, seed=9)
    stores = import_receivers(session, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        scores = stitch(stores, tmp_path / "stitched", by="frame_time", tolerance=0.02)
        # host stalls deliver several frames at once: by receive time, device frame numbers
        # can come out of order (the StoreWarning says so); by frame_number they cannot
        out = framestore.new_for_filename(tmp_path / "stitched")
    seen = sorted(set().union(*(r.frame_nums for r in session.receivers)) - {GLITCH_FRAME_NUM})
    assert sorted(set(out.frame_numbers.tolist())) == seen  # every device frame, none invented
    assert (np.diff(out.frame_times) > 0).all()  # in time order
    assert [g["frame_number"] for g in scores.attrs["glitches"]] == [GLITCH_FRAME_NUM]


def _frame(seed: int = 0) -> np.ndarray:
    """A smooth, never-zero image: what a miniscope frame looks like at pixel scale."""
    y, x = np.mgrid[0:80, 0:64]
    return (100 + 40 * np.sin(x / 9.0 + seed) + 30 * np.cos(y / 7.0)).astype(np.uint8)


def test_garbled_payload_under_clean_metadata_loses_to_a_padded_copy():
    from framestore.sessions.stitch_scoring import choose, score_candidates

    clean = _frame()
    garbled = clean.copy()
    garbled[20:30:2] = np.random.default_rng(1).integers(1, 256, (5, 64), dtype=np.uint8)
    padded = clean.copy()
    padded[79, -40:] = 0  # 40 px of padding at the end of the last buffer
    scores = score_candidates([garbled, padded], num_buffers=[8, 8], padding_px=[0, 40])
    assert choose(scores) == (1, "smoother where the copies conflict (Sobel edge energy)")
    assert scores["conflict_px"][0] == np.count_nonzero(garbled != clean) and scores["zeroed_px"][1] == 40
    # metadata decides only where the pixels cannot: two copies missing different, equal parts
    a, b = clean.copy(), clean.copy()
    a[0:10], b[10:20] = 0, 0
    assert choose(score_candidates([a, b], num_buffers=[7, 6], padding_px=[0, 0])) == (
        0,
        "more buffers received",
    )


def test_consensus_outvotes_a_copy_with_clean_metadata():
    from framestore.sessions.stitch_scoring import choose, score_candidates

    clean = _frame(2)
    garbled = clean.copy()
    garbled[40:50] = 255 - garbled[40:50]
    lost = clean.copy()
    lost[0:10] = 0
    scores = score_candidates([garbled, lost, clean], num_buffers=[8, 7, 8], padding_px=[0, 0, 0])
    assert scores["outvoted_px"].tolist() == [640, 0, 0] and scores["zeroed_px"].tolist() == [0, 640, 0]
    assert choose(scores) == (2, "agrees with the other copies")  # the runner-up is the garbled one
    same = score_candidates([clean, clean], num_buffers=[8, 8], padding_px=[0, 0])
    assert choose(same) == (0, "identical scores: first source")


def test_the_viewer_shows_candidates_of_a_store_stitched_from_videos(tmp_path):
    """framestore-stitch imports receiver videos into scratch stores it deletes; the viewer
    imports them again from the videos derived_from names, and shows the same copies."""
    from framestore.cli.stitch import main
    from framestore.view.stitched import Stitched

    session = make_session(tmp_path / "session", receivers=2, frames=30, seed=5)
    videos = [str(session.video(r.stem)) for r in session.receivers]
    assert main([*videos, "-o", str(tmp_path / "out")]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        stitched = Stitched.of(framestore.new_for_filename(tmp_path / "out"))
        sources = stitched.open_sources()
    fresh = import_receivers(session, tmp_path)
    assert set(sources) == set(fresh) and all(sources.values())
    for k in range(len(stitched.store)):
        for name, i in stitched.candidate_indexes(k).items():
            if i is not None:
                np.testing.assert_array_equal(sources[name][i], fresh[name][i])


def _receivers_with_planted_damage(tmp_path):
    """Two stores of one 12-frame miniscope recording (frames 100..111; ``b`` from 104 on):
    101 is seen by ``a`` only, garbled; 106 differs only by rows ``b`` lost; both copies of
    108 are damaged."""
    from framestore.testing.damage import clean_frames, damage_frame

    frames = clean_frames(12, shape=(64, 96), seed=3, dark_first=False)
    a, b = frames.copy(), frames.copy()
    rng = np.random.default_rng(0)
    damage_frame(a[1], CHECK_PATTERN, "rows", rng)
    damage_frame(b[6], BLACKED_OUT, "rows", rng)
    damage_frame(a[8], CHECK_PATTERN, "block", rng)
    damage_frame(b[8], BLACKED_OUT, "rows", rng)
    stores = {}
    for name, images, first in (("a", a, 0), ("b", b, 4)):
        with framestore.new_for_format("npy", tmp_path / name, imgshape=(64, 96), chunksize=5) as w:
            for k in range(first, 12):
                w.add_image(images[k], 100 + k, 1.7e9 + k / 20)
        stores[name] = framestore.new_for_filename(tmp_path / name)
    return stores, a


def test_the_damage_detector_judges_single_copies_and_ranks_copies(tmp_path):
    from framestore.sessions.stitch import write_stitched

    stores, a = _receivers_with_planted_damage(tmp_path)
    scores = stitch(stores, tmp_path / "out").set_index("frame_number")
    assert scores.loc[101, "candidates"] == 1 and not scores.loc[101, "clean"]  # seen once, garbled
    assert scores.loc[101, "a_damage_kind"] == CHECK_PATTERN and scores.loc[101, "a_damage_score"] >= 1
    assert scores.loc[[100, 102, 103], "clean"].all()
    # the copies differ only by rows b lost: the detector decides, and says so
    assert scores.loc[106, "chosen"] == "a"
    assert scores.loc[106, "reason"] == "the damage detector flags the other (blacked_out)"
    assert scores.loc[106, "b_damage_kind"] == BLACKED_OUT and pd.isna(scores.loc[106, "a_damage_kind"])
    assert not scores.loc[108, "clean"]
    summary = write_stitched(stores, tmp_path / "out2")
    assert summary.all_damaged == 2 and summary.frames == 12 and not summary.dropped
    assert "frames whose every copy is damaged: 2" in summary.lines()

    # dropping them is asked for, and reported
    dropped = stitch(stores, tmp_path / "dropped", drop_damaged=True, workers=2)
    out = framestore.new_for_filename(tmp_path / "dropped")
    assert out.frame_numbers.tolist() == [n for n in range(100, 112) if n not in (101, 108)]
    assert dropped["frame_number"].tolist() == out.frame_numbers.tolist()
    assert dropped.attrs["dropped"] == [101, 108]
    assert pd.read_csv(tmp_path / "dropped" / "dropped.csv")["frame_number"].tolist() == [101, 108]
    np.testing.assert_array_equal(out[0], a[0])

    # the detector's limits are the caller's: blind to speckle, it flags only lost rows,
    # on the serial path and on workers alike, and the output records them
    blind = DamageSettings(speckle_floor=1.0, speckle_ceiling=1.0)
    for workers in (1, 2):
        scores = stitch(stores, tmp_path / f"blind{workers}", damage=blind, workers=workers)
        scores = scores.set_index("frame_number")
        assert scores.a_damage_kind.isna().all() and scores.loc[101, "clean"]
        assert scores.loc[106, "b_damage_kind"] == BLACKED_OUT
        derived = framestore.new_for_filename(tmp_path / f"blind{workers}").metadata.derived_from
        assert derived is not None and derived["parameters"]["damage"]["speckle_floor"] == 1.0


def test_framestore_stitch_drop_damaged(tmp_path, capsys):
    from framestore.cli.stitch import main

    stores, _ = _receivers_with_planted_damage(tmp_path)
    inputs = [str(s.path) for s in stores.values()]
    assert main([*inputs, "-o", str(tmp_path / "kept")]) == 0
    printed = capsys.readouterr().out
    assert "frames out: 12" in printed and "frames whose every copy is damaged: 2" in printed
    assert "left out" not in printed
    assert main([*inputs, "-o", str(tmp_path / "out"), "--drop-damaged"]) == 0
    printed = capsys.readouterr().out
    assert "frames out: 10" in printed and "frames whose every copy is damaged: 2" in printed
    assert "damaged frames left out: 2 (frame_num 101, 108; see dropped.csv)" in printed
