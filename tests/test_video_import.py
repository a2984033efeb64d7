"""``framestore import``: one store from several video files, re-encoded or with their
original packets kept (``--copy``), read back frame-exactly."""

from __future__ import annotations

import av
import numpy as np
import pytest

import framestore
from framestore.cli.main import main as cli
from framestore.testing.video_files import decode_all, write_video_file


@pytest.fixture(autouse=True)
def user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FRAMESTORE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def cameras(tmp_path_factory):
    root = tmp_path_factory.mktemp("cameras")
    return [
        write_video_file(root / "part1.mp4", 90, gop=20, bframes=2),
        write_video_file(root / "part2.mp4", 50, gop=20, bframes=2),
    ]


def packets(path):
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def test_copy_keeps_the_original_packets_split_at_keyframes(cameras, tmp_path, capsys):
    out = tmp_path / "copied"
    args = ["import", *map(str, cameras), str(out), "--copy", "--chunksize", "30"]
    assert cli(args) == 0
    expected = np.concatenate([decode_all(c) for c in cameras])
    with framestore.new_for_filename(out) as store:
        assert store.format == "copy/mkv" and len(store) == 140
        assert list(store.chunk_starts) == [0, 40, 80, 90, 130, 140]  # whole GOPs of 20, per source
        np.testing.assert_array_equal(store[:], expected)
        for i in np.random.default_rng(4).permutation(140)[:40]:
            np.testing.assert_array_equal(store[int(i)], expected[i])
        np.testing.assert_array_equal(store.frame_numbers, np.arange(140))
        assert np.all(np.diff(store.frame_times) > 0)
        assert store.metadata.derived_from["method"] == "copy"
        chunks = sorted(out.glob("*.mkv"))
    assert [p for c in chunks for p in packets(c)] == packets(cameras[0]) + packets(cameras[1])
    report = framestore.verify(out, workers=1)
    assert report.ok and report.checksums_checked == 5 and report.frames_decoded == 140


def test_import_reencodes_in_the_default_format_with_times(cameras, tmp_path):
    times = 1.7e9 + np.arange(140) / 30
    np.save(tmp_path / "t.npy", times)
    out = framestore.import_videos(cameras, tmp_path / "s", times=tmp_path / "t.npy")
    with framestore.new_for_filename(out) as store:
        assert store.format == framestore.DEFAULT_FORMAT and len(store) == 140
        np.testing.assert_array_equal(store.frame_times, times)
        np.testing.assert_array_equal(store[95], decode_all(cameras[1])[5])


def test_import_refuses_what_it_cannot_do(cameras, tmp_path, capsys):
    odd = write_video_file(tmp_path / "odd.mp4", 10, shape=(32, 32))
    assert cli(["import", str(cameras[0]), str(odd), str(tmp_path / "x")]) == 1
    assert "odd.mp4" in capsys.readouterr().err
    avi = write_video_file(tmp_path / "b.avi", 10, bframes=2)  # AVI: no trustworthy pts
    assert cli(["import", str(avi), str(tmp_path / "y"), "--copy"]) == 1
    assert "without --copy" in capsys.readouterr().err
    trimmed = write_video_file(tmp_path / "trimmed.mp4", 20, first_pts=-4)  # an edit list hides 4
    assert cli(["import", str(trimmed), str(tmp_path / "z"), "--copy"]) == 1
    assert "edit list hides 4" in capsys.readouterr().err
    assert cli(["import", str(trimmed), str(tmp_path / "z")]) == 0
    with framestore.new_for_filename(str(tmp_path / "z")) as store:
        np.testing.assert_array_equal(store[:], decode_all(trimmed))


def test_the_copy_format_is_never_written_frame_by_frame(tmp_path):
    with pytest.raises(framestore.UnknownFormatError, match="'copy/mkv' is read here, never written"):
        framestore.new_for_format("copy/mkv", tmp_path / "s", imgshape=(48, 64))
    assert not (tmp_path / "s").exists()
