"""Plain video files opened as read-only stores: every read path against a full
sequential PyAV decode, in mp4/avi/mkv/mov, with B-frames, open GOPs, variable frame
rate and broken or missing container timestamps; times files; the user cache; URLs."""

from __future__ import annotations

import functools
import http.server
import json
import os
import pickle
import threading

import numpy as np
import pandas as pd
import pytest

import framestore
import framestore.codecs.video_file
from framestore.cli.main import main as cli
from framestore.testing.frames import read_barcode
from framestore.testing.video_files import decode_all, write_video_file, write_with_broken_pts

COUNT = 60
QUIET_X265 = {"x265-params": "log-level=none"}
# name -> (file name, how it is written, trusted pts)
VIDEOS = {
    "h264-bframes.mp4": dict(bframes=2),
    "h264-bframes.mkv": dict(bframes=2),
    "h264-bframes.mov": dict(bframes=2),
    "h264-bframes.avi": dict(bframes=2),  # AVI has no pts: B-frames make its stamps wrong
    "h264-open-gop.mp4": dict(bframes=2, open_gop=True),
    "h264-vfr.mkv": dict(bframes=2, intervals_ms=[33, 33, 50, 17]),
    "h264-vfr.mp4": dict(bframes=2, intervals_ms=[33, 33, 50, 17]),
    "h264-edit-list.mp4": dict(bframes=2, first_pts=-5),  # its first 5 frames hidden
    "h264.h264": dict(bframes=2),  # a raw stream: no timestamps at all
    "mjpeg.avi": dict(codec="mjpeg", pix_fmt="yuvj420p"),
    "ffv1.mkv": dict(codec="ffv1", gop=10),
    "ffv1-gray.mkv": dict(codec="ffv1", pix_fmt="gray", gop=10),
    "hevc.mp4": dict(codec="libx265", gop=12, options=QUIET_X265),
}


@pytest.fixture(autouse=True)
def user_cache(tmp_path_factory, monkeypatch):
    directory = tmp_path_factory.getbasetemp() / "user-cache"
    monkeypatch.setenv("FRAMESTORE_CACHE_DIR", str(directory))
    return directory


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    made = {}
    for name, how in VIDEOS.items():
        try:
            made[name] = write_video_file(root / name, COUNT, **how)
        except Exception as exc:  # an encoder this PyAV wheel lacks (HEVC)
            if name == "hevc.mp4":
                continue
            raise exc
    made["broken-pts.mkv"] = write_with_broken_pts(made["mjpeg.avi"], root / "broken-pts.mkv")
    return made


@pytest.fixture(scope="module")
def oracle(videos):
    return {name: decode_all(path, gray="gray" in name) for name, path in videos.items()}


@pytest.mark.parametrize("name", [*VIDEOS, "broken-pts.mkv"])
def test_every_read_path_matches_a_sequential_decode(videos, oracle, name):
    if name not in videos:
        pytest.skip("this PyAV wheel has no HEVC encoder")
    expected = oracle[name]
    hidden = -VIDEOS.get(name, {}).get("first_pts", 0)  # frames an edit list hides
    count = COUNT - hidden
    with framestore.new_for_filename(videos[name]) as store:
        assert isinstance(store, framestore.StoreReader)
        assert len(store) == count == len(expected) and store.image_shape == expected.shape[1:]
        if "avi" not in name and "h264.h264" != name and "broken" not in name:
            assert store.description.dialect.index.by_pts
        np.testing.assert_array_equal(store[:], expected)
        np.testing.assert_array_equal(np.stack(list(store)), expected)
        np.testing.assert_array_equal(np.stack(list(store.iter_frames(17, 41))), expected[17:41])
        order = np.random.default_rng(7).permutation(count)
        for i in order:  # one frame at a time, jumping around: every seek exact
            np.testing.assert_array_equal(store[int(i)], expected[i])
        assert [read_barcode(store[int(i)]) for i in order[:5]] == list(order[:5] + hidden)
        np.testing.assert_array_equal(store[::-7], expected[::-7])
        np.testing.assert_array_equal(store[-1], expected[-1])
        roi = (8, 4, 30, 20)
        np.testing.assert_array_equal(store.get_frames(order, roi=roi), expected[order, 4:24, 8:38])
        image, (number, t) = store.get_image(33)
        assert number == 33 and t == store.frame_times[33]
        np.testing.assert_array_equal(image, expected[33])
        image, meta = store.get_image(None, frame_index=12)
        np.testing.assert_array_equal(image, expected[12])
        image, meta = store.get_nearest_image(float(store.frame_times[45]) + 1e-4)
        assert meta[0] == 45
        np.testing.assert_array_equal(store.frame_numbers, np.arange(count))
        assert np.all(np.diff(store.frame_times) > 0) and store.frame_times[0] == 0


def test_variable_frame_rate_times_are_the_container_timestamps(videos):
    store = framestore.open_video(videos["h264-vfr.mkv"])
    steps = np.round(np.diff(store.frame_times) * 1000).astype(int)
    assert list(steps[:8]) == [33, 33, 50, 17, 33, 33, 50, 17]


def test_times_from_npy_and_csv(videos, oracle, tmp_path):
    video = videos["h264-bframes.mp4"]
    times = 1.7e9 + np.cumsum(np.full(COUNT, 1 / 30))
    np.save(tmp_path / "cam.times.npy", times)
    store = framestore.new_for_filename(video, times=tmp_path / "cam.times.npy")
    np.testing.assert_array_equal(store.frame_times, times)
    image, meta = store.get_nearest_image(times[20])
    assert meta == (20, times[20])
    np.testing.assert_array_equal(image, oracle["h264-bframes.mp4"][20])
    pd.DataFrame({"frame_number": 1000 + 2 * np.arange(COUNT), "frame_time": times}).to_csv(
        tmp_path / "cam.csv", index=False
    )
    store = framestore.open_video(video, times=tmp_path / "cam.csv")
    np.testing.assert_array_equal(store.get_image(1040)[0], oracle["h264-bframes.mp4"][20])
    store = framestore.open_video(video, times=times, frame_numbers=np.arange(COUNT) + 7)
    assert store.frame_min == 7
    with pytest.raises(framestore.CorruptStoreError, match=r"cam\.short\.npy.*59 frame times.*60 frames"):
        np.save(tmp_path / "cam.short.npy", times[:-1])
        framestore.open_video(video, times=tmp_path / "cam.short.npy")


def test_random_reads_deep_in_a_gop_leave_unreferenced_frames_undecoded(tmp_path):
    path = write_video_file(tmp_path / "long-gop.mp4", 240, gop=120, bframes=3)
    oracle = decode_all(path)
    index = framestore.codecs.video_file.demux_index(path)
    reader = framestore.codecs.video_file.video_file_reader(path, index.spec(None), index)
    np.testing.assert_array_equal(reader.read(110), oracle[110])
    decoded = sorted(reader._kept)  # frames of the GOP decoded on the way, kept for stepping back
    assert decoded[-17:] == list(range(94, 111)) and len(decoded) < 100  # B-frames before 94 skipped
    order = [109, 100, 60, 230, 229, 121, 3, 200, 199, 198, 150, 119]
    for k in order:  # steps back, jumps across GOPs, forward runs: every frame exact
        np.testing.assert_array_equal(reader.read(k), oracle[k])
    np.testing.assert_array_equal(np.stack(list(reader.iter_from(100, 140))), oracle[100:140])
    reader.close()


def test_gray_reads_the_luma_plane(videos):
    store = framestore.open_video(videos["h264-bframes.mp4"], gray=True)
    assert store.image_shape == (48, 64) and store.dtype == np.uint8
    np.testing.assert_array_equal(store[:], decode_all(videos["h264-bframes.mp4"], gray=True))


def test_the_index_is_cached_once_outside_the_input(videos, user_cache, monkeypatch):
    video = videos["mjpeg.avi"]
    beside = sorted(os.listdir(video.parent))
    framestore.open_video(video).close()
    assert sorted(os.listdir(video.parent)) == beside  # nothing written beside the input
    assert list((user_cache / "video-index-v1").glob("*.npz"))

    def no_demux(path):
        raise AssertionError("demuxed again")

    monkeypatch.setattr(framestore.codecs.video_file, "demux_index", no_demux)
    monkeypatch.setattr("framestore.core.video_file.demux_index", no_demux)
    with framestore.open_video(video) as store:  # from the cache
        assert len(store) == COUNT
    os.utime(video, ns=(1, 1))  # a changed file is indexed again
    with pytest.raises(AssertionError, match="demuxed again"):
        framestore.open_video(video)


def test_tools_work_on_a_video_file(videos, capsys):
    video = str(videos["h264-bframes.mp4"])
    assert cli(["info", "--json", video]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == COUNT and summary["format"] == "h264/mp4"
    meta = summary["video"]
    assert (meta["length"], meta["width"], meta["height"]) == (COUNT, 64, 48)
    assert meta["fps"] == 30 and meta["size"] == os.path.getsize(video)
    assert meta["duration"] == pytest.approx((COUNT - 1) / 30)
    assert cli(["verify", video]) == 0
    out = capsys.readouterr().out
    assert "60 frames, 60 decoded" in out and "absent" not in out
    assert cli(["qc", "--workers", "1", "--json", video]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    assert next(iter(report["stores"].values()))["frames"] == COUNT
    report = framestore.verify(video, workers=1)
    assert report.ok and report.frames_decoded == COUNT


def test_tools_take_the_frame_times_of_a_video_file(videos, oracle, tmp_path, capsys):
    from framestore.view.cli import open_paths

    video = str(videos["h264-bframes.mp4"])
    times = 1.7e9 + np.arange(COUNT) / 30
    times[40:] += 2.0  # a stall the container's timestamps do not show
    np.save(tmp_path / "cam.times.npy", times)
    with_times = ["--times", str(tmp_path / "cam.times.npy")]
    assert cli(["info", "--json", video, *with_times]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == COUNT and summary["duration_s"] == pytest.approx(times[-1] - times[0])
    assert cli(["qc", "--workers", "1", "--json", "--no-pixels", video, *with_times]) == 1
    stalls = next(iter(json.loads(capsys.readouterr().out)["stores"].values()))["checks"]["stalls"]
    assert [s["frame_index"] for s in stalls["where"]] == [40]
    converted = ["convert", video, str(tmp_path / "out"), "--format", "npy", "--workers", "1"]
    assert cli([*converted, *with_times]) == 0
    out = framestore.new_for_filename(tmp_path / "out")
    np.testing.assert_array_equal(out.frame_times, times)
    np.testing.assert_array_equal(out[:], oracle["h264-bframes.mp4"])
    stores, _ = open_paths([video], str(tmp_path / "cam.times.npy"))
    np.testing.assert_array_equal(next(iter(stores.values())).frame_times, times)
    # a store's frames have their times: --times is refused, naming the store
    assert cli(["info", str(tmp_path / "out"), *with_times]) == 1
    assert "are for a plain video file" in capsys.readouterr().err
    with pytest.raises(framestore.FramestoreError, match="one video file"):
        open_paths([video, video], str(tmp_path / "cam.times.npy"))


def test_a_damaged_video_file_is_named(videos, tmp_path):
    damaged = tmp_path / "damaged.avi"
    data = bytearray(videos["mjpeg.avi"].read_bytes())
    store = framestore.open_video(videos["mjpeg.avi"])
    damaged.write_bytes(bytes(data))
    index = framestore.open_video(damaged).description.dialect.index
    data[len(data) // 2] ^= 0xFF
    stamp = damaged.stat()
    damaged.write_bytes(bytes(data))
    os.utime(damaged, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # same size and time: cache kept
    assert len(index) == len(store)
    with framestore.open_video(damaged) as store:
        with pytest.raises(framestore.CorruptStoreError, match=r"damaged\.avi.*CRC32"):
            store[:]
    assert not framestore.verify(damaged, workers=1).ok


def test_dask_align_and_viewer_export(videos, oracle, tmp_path):
    pytest.importorskip("dask")
    a = framestore.open_video(videos["h264-bframes.mp4"])
    np.testing.assert_array_equal(
        a.to_dask(block_frames=25).compute(scheduler="sync"), oracle["h264-bframes.mp4"]
    )
    b = framestore.open_video(videos["mjpeg.avi"])
    table = framestore.align([a, b], by="frame_number")
    assert len(table) == COUNT
    from framestore.view.cli import main as view

    assert (
        view([str(videos["h264-bframes.mp4"]), "--export", str(tmp_path / "sheet.png"), "--frames", "4"]) == 0
    )
    assert (tmp_path / "sheet.png").stat().st_size > 0


def test_not_a_video_is_a_clear_error(tmp_path):
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(framestore.CorruptStoreError, match=r"notes\.mp4"):
        framestore.new_for_filename(junk)
    with pytest.raises(framestore.StoreNotFoundError, match=r"gone\.mp4"):
        framestore.open_video(tmp_path / "gone.mp4")


@pytest.fixture(scope="module")
def served(videos):
    pytest.importorskip("fsspec")
    pytest.importorskip("aiohttp")
    from _support.range_server import RangeServer

    server = RangeServer(next(iter(videos.values())).parent)
    yield server
    server.close()


@pytest.mark.parametrize(
    "name", ["h264-bframes.mp4", "h264-bframes.avi", "h264-vfr.mkv", "h264-edit-list.mp4"]
)
def test_a_video_url_reads_like_the_file(videos, oracle, served, name):
    with framestore.open_video(f"{served.url}/{name}") as remote:
        assert isinstance(remote.path, framestore._disk.storage.RemotePath)
        np.testing.assert_array_equal(remote[:], oracle[name])
        order = np.random.default_rng(2).permutation(len(oracle[name]))[:15]
        np.testing.assert_array_equal(
            remote.get_frames(order, roi=(0, 0, 32, 16)), oracle[name][order, :16, :32]
        )
    served.take()
    with framestore.new_for_filename(f"{served.url}/{name}") as remote:  # index cached: no demux
        remote[30]
    requests = served.take()
    assert all(r.status in (200, 206) for r in requests) and len(requests) <= 6
    assert sum(r.sent for r in requests) <= videos[name].stat().st_size


def test_an_mp4_url_opens_from_its_header_and_fetches_only_what_a_read_needs(served, tmp_path):
    name = "long.mp4"  # lossless H.264 with B-frames: big frames, its sample tables at the end
    lossless = {"qp": "0", "preset": "ultrafast"}
    path = write_video_file(served.root / name, 300, shape=(240, 320), gop=100, bframes=2, options=lossless)
    oracle = decode_all(path)
    served.take()
    with framestore.open_video(f"{served.url}/{name}") as remote:
        opened = sum(r.sent for r in served.take())
        assert opened < path.stat().st_size / 10
        index = remote._store.dialect.index
        local = framestore.codecs.video_file.demux_index(path)
        for column in ("pts", "dts", "keyframe", "packet_size"):
            np.testing.assert_array_equal(getattr(index, column), getattr(local, column))
        assert not index.checksummed and local.checksummed
        np.testing.assert_array_equal(remote[150], oracle[150])
        gop = local.packet_size[100:201].sum()  # the read decodes from keyframe 100
        assert sum(r.sent for r in served.take()) < gop + 2 * 2**18
        np.testing.assert_array_equal(remote.get_frames([299, 0, 120]), oracle[[299, 0, 120]])


def test_a_server_without_ranges_is_one_clear_error(tmp_path):
    pytest.importorskip("fsspec")
    pytest.importorskip("aiohttp")
    write_video_file(tmp_path / "big.avi", 12, codec="mjpeg", pix_fmt="yuvj420p")

    class Quiet(http.server.SimpleHTTPRequestHandler):  # ignores Range: always the whole file
        def log_message(self, *args: object) -> None:
            pass

        def handle(self) -> None:
            try:
                super().handle()
            except (BrokenPipeError, ConnectionResetError):
                pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=tmp_path))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(
            framestore.UnsupportedServerError, match=r"big\.avi: the server ignores HTTP Range"
        ):
            framestore.open_video(f"http://127.0.0.1:{server.server_address[1]}/big.avi")
    finally:
        server.shutdown()
        server.server_close()


def test_get_frames_gives_zeros_for_frames_that_cannot_be_read(videos, tmp_path):
    data = bytearray(videos["mjpeg.avi"].read_bytes())
    store = framestore.open_video(videos["mjpeg.avi"])
    damaged = tmp_path / "damaged.avi"
    damaged.write_bytes(bytes(data))
    framestore.open_video(damaged).close()  # indexed while whole
    stamp = damaged.stat()
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    os.utime(damaged, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # looks unchanged: the CRC finds it
    expected = store[:]
    with framestore.open_video(damaged) as broken, pytest.raises(framestore.CorruptStoreError):
        broken.get_frames(range(COUNT))
    with framestore.open_video(damaged) as broken:
        with pytest.warns(framestore.StoreWarning, match=r"could not be read and are zeros: frame_index \d+"):
            frames = broken.get_frames(range(COUNT), on_error="zeros")
    bad = [i for i in range(COUNT) if not np.array_equal(frames[i], expected[i])]
    assert bad and all(not frames[i].any() for i in bad)
    with pytest.raises(ValueError, match="on_error"):
        store.get_frames([0], on_error="skip")


def test_workers_reopen_a_video_file_with_its_options(videos):
    pytest.importorskip("dask")
    store = framestore.open_video(videos["h264-bframes.mp4"], gray=True)
    frames = store.to_dask(block_frames=20).compute(scheduler="sync")
    np.testing.assert_array_equal(frames, decode_all(videos["h264-bframes.mp4"], gray=True))
    report = framestore.qc(store, workers=1)
    assert report.frames == COUNT
    copy = pickle.loads(pickle.dumps(store))
    np.testing.assert_array_equal(copy[7], frames[7])


def test_tools_take_a_video_url(served, tmp_path, capsys):
    url = f"{served.url}/mjpeg.avi"
    assert cli(["info", "--json", url]) == 0
    assert json.loads(capsys.readouterr().out)["video"]["length"] == COUNT
    assert cli(["verify", url]) == 0
    from framestore.view.cli import main as view

    assert view([url, "--export", str(tmp_path / "sheet.png"), "--frames", "2"]) == 0


def test_an_unwritable_cache_only_warns(videos, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("FRAMESTORE_CACHE_DIR", str(blocker))
    with pytest.warns(framestore.StoreWarning, match="cannot write framestore's cache"):
        store = framestore.open_video(videos["ffv1.mkv"])
    assert len(store) == COUNT
