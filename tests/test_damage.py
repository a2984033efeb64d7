"""Damaged frames found from their pixels: every generated damage flagged with its kind and
rows, no clean frame flagged (miniscope-like, behaviour-camera-like, gray and color), the
same verdicts after H.264, and the store-level scores and qc's check at exact frames."""

from __future__ import annotations

import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd
import pytest

import framestore
from framestore.core.noise_scores import SCORES_FILENAME
from framestore.errors import IncompleteStoreWarning
from framestore.testing.damage import (
    BLACKED_OUT,
    CHECK_PATTERN,
    SIZES,
    clean_frames,
    damage_frame,
    damaged_recording,
    through_h264,
)
from framestore.testing.frames import synthetic_frame
from framestore.tools.damage import DamageSettings, detect_damage, score_damage
from framestore.tools.qc import qc


@pytest.fixture(scope="module")
def recording():
    """600 frames, about 30% damaged, kinds and sizes at random; and its H.264 version."""
    frames, truth = damaged_recording(600, seed=7)
    return frames, truth, through_h264(frames)


def rows_off(found, truth):
    """How many rows the found first/last damaged rows are off the truth, per frame."""
    first = np.abs(found.first_row.to_numpy(float) - truth.first_row.to_numpy(float))
    last = np.abs(found.last_row.to_numpy(float) - truth.last_row.to_numpy(float))
    return np.maximum(first, last)


def test_every_damaged_frame_flagged_with_its_kind_and_rows(recording):
    frames, truth, _ = recording
    assert truth.damaged.sum() > 150 and set(truth.kind.dropna()) == {CHECK_PATTERN, BLACKED_OUT}
    found = detect_damage(frames)
    assert (found.damaged == truth.damaged).all()
    damaged = truth.damaged.to_numpy()
    assert (found.kind[damaged] == truth.kind[damaged]).all()
    # a run's first or last row may hold fewer damaged pixels than a window, and garbage in
    # every other row leaves the run's last row flat: two rows off at most
    assert rows_off(found[damaged], truth[damaged]).max() <= 2
    assert found.kind[~damaged].isna().all() and found.first_row[~damaged].isna().all()
    assert (found.score[damaged] >= 1).all() and (found.score[~damaged] < 1).all()


def test_the_same_verdicts_after_h264(recording):
    frames, truth, lossy = recording
    assert np.abs(lossy.astype(int) - frames).mean() > 1  # really lossy
    lossless, found = detect_damage(frames), detect_damage(lossy)
    assert (found.damaged == lossless.damaged).all() and (found.damaged == truth.damaged).all()
    damaged = truth.damaged.to_numpy()
    assert (found.kind[damaged] == truth.kind[damaged]).all()
    assert rows_off(found[damaged], truth[damaged]).max() <= 3


@pytest.mark.parametrize("kind", [CHECK_PATTERN, BLACKED_OUT])
def test_each_size_at_random_rows(kind):
    rng = np.random.default_rng(3)
    base = clean_frames(40, seed=11)[1:]
    for size in SIZES[kind]:
        frames = base.copy()
        pieces = [damage_frame(image, kind, size, rng) for image in frames]
        found = detect_damage(frames)
        assert found.damaged.all() and (found.kind == kind).all(), size
        first = np.array([min(p.start for p in ps) // 200 for ps in pieces])
        last = np.array([max(p.stop - 1 for p in ps) // 200 for ps in pieces])
        assert np.abs(found.first_row.to_numpy(int) - first).max() <= 1, size
        assert np.abs(found.last_row.to_numpy(int) - last).max() <= 1, size
        if size == "blocks":
            assert min(len(ps) for ps in pieces) >= 2


def test_no_flag_on_5000_clean_miniscope_frames():
    scores = []
    # five recordings: brightness, cells, noise, motion differ; one with the sensor's offset
    # at 0 (dark parts clip to 0), one with strong shot noise
    extremes = [{}, {}, {}, {"offset": 0.0}, {"shot_noise": 1.5}]
    for seed, extreme in enumerate(extremes):
        frames = clean_frames(1000, seed=100 + seed, **extreme)
        assert frames[0].mean() < 25 < frames[1:].mean()  # the dark first frame
        assert "offset" not in extreme or np.count_nonzero(frames[0] == 0) > 10_000  # clipped at 0
        found = detect_damage(frames)
        assert not found.damaged.any(), found[found.damaged]
        scores.append(found.score.to_numpy())
    assert 0 < np.concatenate(scores).max() < 0.9  # a continuous score, short of the limit


def smooth_scene(count, shape, seed=0):
    """Natural-looking frames: a smooth textured scene panning, with a dark moving object."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    big = cv2.GaussianBlur(rng.uniform(0, 255, (h + 64, w + 64)).astype(np.float32), (0, 0), 6)
    big = cv2.normalize(big, None, 20, 235, cv2.NORM_MINMAX)
    out = []
    for k in range(count):
        dy, dx = int(32 + 30 * np.sin(k / 15)), int(32 + 30 * np.cos(k / 23))
        image = big[dy : dy + h, dx : dx + w].copy()
        cv2.circle(image, (int(w / 2 + w / 3 * np.sin(k / 7)), int(h / 2)), h // 8, 15.0, -1)
        image += rng.normal(0, 2, image.shape).astype(np.float32)
        image = np.clip(image, 0, 255).astype(np.uint8)
        out.append(np.stack([image, np.roll(image, 3, 1), 255 - image], -1) if len(shape) == 3 else image)
    return np.stack(out)


@pytest.mark.parametrize("shape", [(200, 200), (240, 320, 3)])
def test_behaviour_camera_like_frames_raise_no_flag(shape):
    synthetic = np.stack([synthetic_frame(n, shape) for n in range(1000, 1150)])
    smooth = smooth_scene(150, shape)
    lossy = through_h264(synthetic if len(shape) == 2 else synthetic[..., 0])
    for frames in (synthetic, smooth, lossy):
        found = detect_damage(frames)
        assert not found.damaged.any(), found[found.damaged]
    garbled = smooth.copy()  # color is judged on its gray: damage is still found
    rng = np.random.default_rng(0)
    garbled[5, 50:60] = rng.integers(0, 256, garbled[5, 50:60].shape, dtype=np.uint8)
    garbled[9, 100:140] = 0
    found = detect_damage(garbled)
    assert found.index[found.damaged].tolist() == [5, 9]
    assert found.kind[5] == CHECK_PATTERN and (found.first_row[5], found.last_row[5]) == (50, 59)
    assert found.kind[9] == BLACKED_OUT and (found.first_row[9], found.last_row[9]) == (100, 139)


def test_padding_is_told_from_dark_parts_of_the_picture():
    frames = clean_frames(3, seed=1)[1:].copy()
    frames[0, 50:70, 20:80] = 0  # a black object 20 rows high: a picture, not damage
    frames[1, 120, 150:] = 0  # zero padding: the last 50 pixels of one row
    found = detect_damage(frames)
    assert found.damaged.tolist() == [False, True]
    assert found.kind[1] == BLACKED_OUT and found.first_row[1] == found.last_row[1] == 120
    assert not detect_damage(frames, DamageSettings(black_run=None)).damaged.any()


def test_a_dark_picture_at_the_black_level_is_not_padding():
    # a real miniscope's dark field sits at 1-3% of full scale, with row noise: stretches of
    # a row at or below the black level, but never at 0 like lost data
    rng = np.random.default_rng(4)
    frames = clean_frames(40, seed=2)
    dark = np.clip(rng.normal(6, 1.2, (40, 200, 120)) + rng.normal(0, 0.8, (40, 200, 1)), 0, 255)
    frames[:, :, 80:] = dark.astype(np.uint8)
    assert not detect_damage(frames).damaged.any()
    assert not detect_damage(through_h264(frames)).damaged.any()
    # judged at the black level, as runs were before, the dark field is "padding"
    assert detect_damage(frames, DamageSettings(padding_level=0.02)).damaged.any()
    frames[5, 120, :50] = 0  # while zero padding beside it is still found, lossless or not
    for judged in (frames, through_h264(frames)):
        found = detect_damage(judged)
        assert found.damaged.tolist() == [k == 5 for k in range(40)]
        assert found.first_row[5] == found.last_row[5] == 120


def test_mostly_black_speckle_is_a_check_pattern():
    frames = clean_frames(2, seed=3)[1:].copy()
    rng = np.random.default_rng(0)
    frames[0, 60, 40:160] = (rng.random(120) < 0.15) * 255  # white specks on black
    found = detect_damage(frames)
    assert found.kind[0] == CHECK_PATTERN and found.black_rows[0] == 0 and found.first_row[0] == 60


def test_dark_and_black_frames_are_not_damage():
    frames = np.zeros((4, 64, 64), np.uint8)
    frames[1] = 4  # LED off: everything at the sensor's offset
    frames[2] = np.random.default_rng(0).normal(6, 2, (64, 64)).clip(0, 255).astype(np.uint8)
    frames[3] = 255
    assert not detect_damage(frames).damaged.any()


def test_sixteen_bit_frames_and_bit_depth():
    frames, truth = damaged_recording(120, (100, 120), seed=2)
    twelve_bit = frames.astype(np.uint16) * 16  # 12-bit data in 16-bit frames
    found = detect_damage(twelve_bit, DamageSettings(bit_depth=12))
    assert (found.damaged == truth.damaged).all()
    assert (found.kind[truth.damaged] == truth.kind[truth.damaged]).all()


@pytest.mark.parametrize(
    "bad",
    [
        {"window": 2},
        {"speckle_floor": 0.5, "speckle_ceiling": 0.3},
        {"black_level": 0},
        {"bit_depth": 17},
        {"min_black_rows": 0},
    ],
)
def test_settings_are_validated_up_front(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        DamageSettings(**bad)


def test_frames_must_be_integer_gray_or_color():
    with pytest.raises(ValueError, match="uint8 or uint16"):
        detect_damage(np.zeros((2, 50, 50), np.float32))
    assert len(detect_damage(np.zeros((0, 50, 50), np.uint8))) == 0
    narrow = np.full((2, 30, 12), 80, np.uint8)  # narrower than a window: the row is the window
    narrow[1, 10:14] = np.random.default_rng(0).integers(0, 256, (4, 12), dtype=np.uint8)
    assert detect_damage(narrow).damaged.tolist() == [False, True]
    with pytest.raises(ValueError, match="5 pixels wide"):
        detect_damage(np.zeros((1, 8, 4), np.uint8))


@pytest.fixture(scope="module")
def damaged_store(tmp_path_factory):
    """300 miniscope frames in chunks of 100, damage planted at known frames."""
    frames = clean_frames(300, seed=5)
    rng = np.random.default_rng(1)
    planted = {17: CHECK_PATTERN, 99: BLACKED_OUT, 100: CHECK_PATTERN, 250: BLACKED_OUT}
    for i, kind in planted.items():
        damage_frame(frames[i], kind, "rows", rng)
    path = tmp_path_factory.mktemp("damage") / "scope"
    with framestore.new_for_format("npy", path, imgshape=(200, 200), chunksize=100, fps=20.0) as writer:
        for k, image in enumerate(frames):
            writer.add_image(image, 5000 + 2 * k, 1.7e9 + k / 20)
    return path, planted


def test_score_damage_scores_every_frame_by_chunk(damaged_store):
    path, planted = damaged_store
    seen = []
    table = score_damage(path, progress=lambda done, total: seen.append(done), workers=1)
    assert table.index.name == "frame_index" and len(table) == 300 and seen == [100, 200, 300]
    assert list(table.columns[:2]) == ["frame_number", "damaged"]
    assert table.index[table.damaged].tolist() == sorted(planted)
    assert table.kind[table.damaged].tolist() == [planted[i] for i in sorted(planted)]
    assert table.frame_number[99] == 5198
    assert (table.first_row[table.damaged] <= table.last_row[table.damaged]).all()


def test_qc_finds_planted_damage_at_its_frame(damaged_store):
    path, planted = damaged_store
    report = qc(path, workers=1)
    check = report.check("damaged_frames")
    assert check.passed is False and check.count == 4 and check.value == pytest.approx(4 / 300)
    assert [p["frame_index"] for p in check.where] == sorted(planted)
    assert [p["kind"] for p in check.where] == [planted[i] for i in sorted(planted)]
    assert check.where[1]["frame_number"] == 5198 and len(check.where[1]["rows"]) == 2
    assert qc(path, framestore.Thresholds(max_damaged=0.02), workers=1).check("damaged_frames").passed
    assert "damaged_frames" not in qc(path, pixels=False).to_dict()["checks"]
    assert report.damage_kind is not None
    assert np.flatnonzero(report.damage_kind).tolist() == sorted(planted)


def test_qc_plot_marks_damaged_frames_by_kind(damaged_store, tmp_path):
    from dataclasses import replace

    from framestore.tools.qc import plot

    report = qc(damaged_store[0], workers=1)
    assert report.damage_kind is not None

    def red_pixels(report, name):
        image = cv2.imread(str(plot(report, tmp_path, name)[1]))
        b, g, r = np.moveaxis(image.astype(int), 2, 0)
        return int(np.count_nonzero((r > g + 50) & (r > b + 50)))  # reddish, as the lines blend

    undamaged = replace(report, damage_kind=np.zeros_like(report.damage_kind))
    assert red_pixels(report, "damaged") > 50 and red_pixels(undamaged, "clean") == 0


def _copy_store(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    (dst / SCORES_FILENAME).unlink(missing_ok=True)
    return dst


def test_scores_are_kept_in_the_store_and_reused_while_they_describe_it(damaged_store, tmp_path):
    path = _copy_store(damaged_store[0], tmp_path / "scope")
    store = framestore.new_for_filename(path)
    judged: list[int] = []
    table = store.score_noise(progress=lambda done, total: judged.append(done))
    assert judged[-1] == 300 and (path / SCORES_FILENAME).is_file()
    pd.testing.assert_frame_equal(table, score_damage(path, workers=1, recompute=True))
    again: list[int] = []
    kept = framestore.new_for_filename(path).score_noise(progress=lambda done, total: again.append(done))
    assert again == []  # read from damage_scores.csv, nothing decoded
    pd.testing.assert_frame_equal(kept, table)
    assert pd.isna(kept.kind[0]) and kept.first_row.isna()[0]
    # other settings are another table: judged again, and kept instead
    strict = DamageSettings(speckle_factor=3.0)
    store.score_noise(strict, progress=lambda done, total: again.append(done))
    assert again[-1] == 300
    assert framestore.Dataset.from_directory(tmp_path).score_noise("scope", strict).equals(
        store.score_noise(strict)
    )


def test_stale_or_damaged_kept_scores_are_never_used(damaged_store, tmp_path):
    path = _copy_store(damaged_store[0], tmp_path / "scope")
    table = score_damage(path, workers=1)
    kept = path / SCORES_FILENAME
    header, body = kept.read_text().split("\n", 1)
    # the same table claiming another store's index: stale, judged again
    kept.write_text(header.replace('"index_sha256": "', '"index_sha256": "0') + "\n" + body)
    seen: list[int] = []
    assert score_damage(path, workers=1, progress=lambda d, t: seen.append(d)).equals(table)
    assert seen and kept.read_text().split("\n", 1)[0] == header
    # a cut-short file is judged again and replaced
    kept.write_text(header + "\n" + body[: len(body) // 2])
    seen.clear()
    assert score_damage(path, workers=1, progress=lambda d, t: seen.append(d)).equals(table)
    assert seen and kept.read_text() == header + "\n" + body
    # a store rewritten in place (new uuid, one frame changed) does not match the old table
    frames = framestore.new_for_filename(path)[:]
    damage_frame(frames[3], CHECK_PATTERN, "rows", np.random.default_rng(3))
    with framestore.new_for_format("npy", path, imgshape=(200, 200), chunksize=100, overwrite=True) as w:
        for k, image in enumerate(frames):
            w.add_image(image, 5000 + 2 * k, 1.7e9 + k / 20)
    kept.write_text(header + "\n" + body)  # the old store's table
    fresh = framestore.new_for_filename(path).score_noise()
    assert fresh.damaged[3] and not table.damaged[3]


def test_scores_are_never_written_beside_a_live_store_or_a_video_file(tmp_path):
    frames = clean_frames(40, seed=2)
    live = tmp_path / "live"
    writer = framestore.new_for_format("npy", live, imgshape=(200, 200), chunksize=10)
    for k, image in enumerate(frames):
        writer.add_image(image, k, 1.7e9 + k / 20)
    try:
        with pytest.warns(IncompleteStoreWarning, match="being written"):
            reader = framestore.new_for_filename(live)
        assert len(reader) > 0 and len(reader.score_noise()) == len(reader)
        assert not (live / SCORES_FILENAME).exists()
    finally:
        writer.close()
    video = tmp_path / "clip.avi"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("ffv1", rate=20)
        stream.width, stream.height, stream.pix_fmt = 200, 200, "gray"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="gray")))
        container.mux(stream.encode())
    before = sorted(tmp_path.iterdir())
    assert len(framestore.new_for_filename(video).score_noise()) == 40
    assert sorted(tmp_path.iterdir()) == before
