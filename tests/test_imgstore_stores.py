"""Stores that imgstore 0.4.0 wrote open in framestore and read exactly as in imgstore."""

from __future__ import annotations

import datetime
import json

import av
import numpy as np
import pytest
import yaml
from _support.imgstore_stores import imgstore_frames, write_with_imgstore

import framestore
from framestore.testing.frames import frame_numbers_with_gaps, frame_times_for, read_barcode, synthetic_frame

imgstore = pytest.importorskip("imgstore")

CASES = [
    ("mjpeg", "gray"),
    ("mjpeg/avi", "gray"),
    ("mjpeg/avi", "color"),
    ("npy", "gray"),
    ("npy", "color"),
    ("png", "gray"),
    ("png", "color"),
    ("jpg", "gray"),
    ("jpg", "color"),
    ("bmp", "gray"),
    ("pgm", "gray"),
    ("ppm", "color"),
    ("tif", "gray"),
]


def edit_store_block(path, **changes):
    """Change keys of a store's ``__store`` block, as an older imgstore would have written it."""
    md_path = path / "metadata.yaml"
    md = yaml.safe_load(md_path.read_text())
    md["__store"].update(changes)
    md_path.write_text(yaml.safe_dump(md))


@pytest.mark.parametrize("fmt,kind", CASES, ids=[f"{f}-{k}" for f, k in CASES])
def test_reads_like_imgstore(tmp_path, fmt, kind):
    numbers = write_with_imgstore(tmp_path / "s", fmt, kind)
    theirs, frames, meta = imgstore_frames(tmp_path / "s")
    ours = framestore.new_for_filename(tmp_path / "s")

    np.testing.assert_array_equal(ours[:], frames)  # pixel-identical, every frame
    assert [read_barcode(f) for f in frames] == numbers.tolist()
    assert ours.frame_numbers.tolist() == [m[0] for m in meta]
    assert ours.frame_times.tolist() == [m[1] for m in meta]
    assert ours.user_metadata == theirs.user_metadata == {"animal": "m3", "session": 2}
    assert ours.get_frame_metadata() == theirs.get_frame_metadata()
    assert ours.get_extra_data().equals(theirs.get_extra_data())
    assert (ours.frame_count, ours.frame_min, ours.frame_max) == (
        theirs.frame_count,
        theirs.frame_min,
        theirs.frame_max,
    )

    rng = np.random.default_rng(5)
    for i in rng.permutation(len(ours))[:15]:
        number = int(numbers[i])
        image, m = ours.get_image(number)
        their_image, their_m = theirs.get_image(number)
        assert m == their_m
        np.testing.assert_array_equal(image, their_image)
        t = float(meta[i][1]) + 0.003
        assert ours.get_nearest_image(t)[1] == theirs.get_nearest_image(t)[1]

    gap = int(np.flatnonzero(np.diff(numbers) > 1)[0])
    missing = int(numbers[gap]) + 1
    with pytest.raises(KeyError):
        ours.get_image(missing)
    assert ours.get_image(missing, exact_only=False)[1][0] == int(numbers[gap])


@pytest.mark.parametrize("fmt", ["mjpeg/avi", "npy"])
def test_empty_trailing_chunk(tmp_path, fmt):
    """imgstore leaves an empty last chunk when the frame count is a multiple of chunksize."""
    numbers = write_with_imgstore(tmp_path / "s", fmt, "gray", count=40, chunksize=20)
    _, frames, _ = imgstore_frames(tmp_path / "s")
    ours = framestore.new_for_filename(tmp_path / "s")
    assert ours.frame_numbers.tolist() == numbers.tolist()
    np.testing.assert_array_equal(ours[:], frames)


def test_old_store_details(tmp_path):
    """A legacy .yaml chunk index, no 'extension' (mjpeg means .avi), no created_utc (taken
    from a YYYYMMDD_HHMMSS directory name, in the store's time zone) and no timezone_local."""
    path = tmp_path / "cam1_20190314_153000"
    numbers = write_with_imgstore(path, "mjpeg", "gray", count=30, chunksize=20)
    _, frames, meta = imgstore_frames(path)
    md_path = path / "metadata.yaml"
    md = yaml.safe_load(md_path.read_text())
    for key in ("extension", "created_utc", "timezone_local"):
        md["__store"].pop(key)
    md["__store"]["format"] = "mjpeg"  # as old stores wrote it
    md["timezone"] = "Europe/Vienna"
    md_path.write_text(yaml.safe_dump(md))
    with np.load(path / "000001.npz") as data:
        legacy = {"frame_number": data["frame_number"].tolist(), "frame_time": data["frame_time"].tolist()}
    (path / "000001.npz").unlink()
    (path / "000001.yaml").write_text(yaml.safe_dump(legacy))

    ours = framestore.new_for_filename(path)
    assert ours.frame_numbers.tolist() == numbers.tolist()
    np.testing.assert_array_equal(ours[:], frames)
    created, tz = ours.created
    assert str(tz) == "Europe/Vienna"
    assert created == datetime.datetime(2019, 3, 14, 14, 30, tzinfo=datetime.UTC)  # 15:30 CET
    theirs = imgstore.new_for_filename(str(path))
    assert created == theirs.created[0]


def write_motif_store(path, kind, count=45, chunksize=20):
    """A store in the layout of loopbio's Motif recorder: class VideoImgStoreFFMPEG, H.264
    chunks in MP4 with B-frames (built with PyAV: pip's OpenCV cannot write H.264), index
    files that also hold settings as byte strings."""
    path.mkdir()
    shape = (48, 64, 3) if kind == "color" else (48, 64)
    numbers = frame_numbers_with_gaps(count, start=4_000_000, gap_every=7)
    times = frame_times_for(numbers)
    for c, start in enumerate(range(0, count, chunksize)):
        with av.open(str(path / f"{c:06d}.mp4"), "w") as out:
            stream = out.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
            stream.codec_context.options = {"preset": "medium"}  # B-frames: pts order != decode order
            for k, n in enumerate(numbers[start : start + chunksize]):
                image = synthetic_frame(int(n), shape)
                bgr = image if kind == "color" else np.stack([image] * 3, axis=-1)
                frame = av.VideoFrame.from_ndarray(bgr, format="bgr24")
                frame.pts = k
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        np.savez(
            path / f"{c:06d}.npz",
            frame_number=numbers[start : start + chunksize],
            frame_time=times[start : start + chunksize],
            format=np.array(b"libx264"),
            encoder=np.array([b"x264", b"motif"]),
        )
    store = {
        "class": "VideoImgStoreFFMPEG",
        "format": "libx264",
        "chunksize": chunksize,
        "imgshape": list(shape),
        "imgdtype": "uint8",
        "encoding": None,
        "extension": ".mp4",
        "version": 2,
        "uuid": "0123abcd",
        "created_utc": "2021-05-01T08:00:00",
        "timezone_local": "Europe/Berlin",
    }
    (path / "metadata.yaml").write_text(yaml.safe_dump({"__store": store, "camera_serial": "X1"}))
    return numbers


@pytest.mark.parametrize("kind", ["gray", "color"])
def test_motif_h264_store(tmp_path, kind):
    numbers = write_motif_store(tmp_path / "s", kind)
    theirs, frames, meta = imgstore_frames(tmp_path / "s")
    ours = framestore.new_for_filename(tmp_path / "s")
    assert ours.frame_numbers.tolist() == numbers.tolist() == [m[0] for m in meta]
    np.testing.assert_array_equal(ours[:], frames)
    for i in (44, 3, 25, 19, 20, 0, 33):  # random access across chunks and B-frames
        np.testing.assert_array_equal(ours[i], frames[i])
    assert ours.user_metadata == theirs.user_metadata == {"camera_serial": "X1"}


def write_bayer_with_imgstore(path, fmt, encoding, count):
    """Raw Bayer frames under an imgstore ``encoding`` (for +color formats imgstore
    converts them on write; otherwise on read)."""
    store = imgstore.new_for_format(
        fmt,
        mode="w",
        basedir=str(path),
        imgshape=(48, 64),
        imgdtype="uint8",
        chunksize=20,
        encoding=encoding,
    )
    for i in range(count):
        store.add_image(synthetic_frame(100 + i, (48, 64)), 100 + i, 1.0 + i)
    store.close()


@pytest.mark.parametrize("fmt", ["mjpeg/avi", "npy"])
def test_bayer_encoding_is_decoded_as_imgstore_does(tmp_path, fmt):
    write_bayer_with_imgstore(tmp_path / "s", fmt, "cv_bayerbg", count=30)
    theirs, frames, _ = imgstore_frames(tmp_path / "s")
    ours = framestore.new_for_filename(tmp_path / "s")
    assert ours.image_shape == theirs.image_shape == (48, 64, 3)
    np.testing.assert_array_equal(ours[:], frames)
    np.testing.assert_array_equal(np.stack(list(ours)), frames)
    np.testing.assert_array_equal(ours.get_frames([29, 3], roi=(5, 6, 20, 10)), frames[[29, 3], 6:16, 5:25])


def test_odd_imgshape_of_an_old_video_store(tmp_path):
    write_with_imgstore(tmp_path / "s", "mjpeg/avi", "gray", count=25, chunksize=20)
    edit_store_block(tmp_path / "s", imgshape=[49, 65])  # what old stores said; videos hold 48x64
    theirs, frames, _ = imgstore_frames(tmp_path / "s")
    ours = framestore.new_for_filename(tmp_path / "s")
    assert ours.image_shape == theirs.image_shape == (48, 64)
    np.testing.assert_array_equal(ours[:], frames)


def test_extra_data_of_the_empty_trailing_chunk(tmp_path):
    """imgstore files the last frame's extra data under the new, empty chunk."""
    write_with_imgstore(tmp_path / "s", "npy", "gray", count=39, chunksize=20)
    store = imgstore.new_for_format(
        "npy", mode="w", basedir=str(tmp_path / "t"), imgshape=(48, 64), imgdtype="uint8", chunksize=20
    )
    for i in range(40):
        store.add_image(synthetic_frame(10 + i, (48, 64)), 10 + i, float(i))
        store.add_extra_data(i=i)
    store.close()
    theirs = imgstore.new_for_filename(str(tmp_path / "t"))
    ours = framestore.new_for_filename(tmp_path / "t")
    assert ours.get_extra_data().equals(theirs.get_extra_data())
    assert ours.get_extra_data()["i"].tolist() == list(range(40))


def test_motif_extra_data(tmp_path):
    write_motif_store(tmp_path / "s", "gray")
    records = [
        {"frame_index": 1, "frame_number": 4000001, "frame_time": 2.0, "sensor_time": 5, "x": 1},
        {"frame_index": 0, "frame_number": 4000000, "frame_time": 1.0, "sensor_time": 4, "x": 0},
        {"frame_index": -1, "frame_number": -1, "frame_time": 0.5, "sensor_time": 3, "x": 9},
    ]
    text = json.dumps(records)
    (tmp_path / "s" / "000000.extra_data.json").write_text(text)
    (tmp_path / "s" / "000001.extra_data.json").write_text(text[: text.rindex(",")])  # crashed
    theirs = imgstore.new_for_filename(str(tmp_path / "s")).get_extra_data(ignore_corrupt_chunks=True)
    ours = framestore.new_for_filename(tmp_path / "s").get_extra_data()
    # unnumbered samples dropped, sorted by frame; the crash-cut file keeps its 2 whole records
    assert ours["x"].tolist() == [0, 1, 0, 1]
    assert ours.iloc[:2].equals(theirs.iloc[:2])  # imgstore skips the cut file altogether


@pytest.mark.parametrize("fmt", ["png+color", "jpg+color", "bmp+color"])
def test_color_variants_encoded_on_write(tmp_path, fmt):
    write_bayer_with_imgstore(tmp_path / "s", fmt, "cv_bayerrg", count=25)
    theirs, frames, _ = imgstore_frames(tmp_path / "s")
    ours = framestore.new_for_filename(tmp_path / "s")
    assert ours.image_shape == theirs.image_shape
    np.testing.assert_array_equal(ours[:], frames)


def test_wrapped_frame_counter_and_ties_like_imgstore(tmp_path):
    """A camera counter that wraps (numbers repeat), and nearest-number lookups that tie."""
    path = tmp_path / "s"
    store = imgstore.new_for_format(
        "npy", mode="w", basedir=str(path), imgshape=(48, 64), imgdtype="uint8", chunksize=10
    )
    numbers = [65530 + i for i in range(6)] + [0, 1, 2, 4, 6, 8] + list(range(65533, 65536)) + [10, 11]
    for i, n in enumerate(numbers):
        store.add_image(synthetic_frame(i, (48, 64)), n, 100.0 + i / 30)
    store.close()
    theirs = imgstore.new_for_filename(str(path))
    with pytest.warns(framestore.StoreWarning, match="backwards or repeat"):
        ours = framestore.new_for_filename(path)
    for n in (65530, 65533, 0, 4, 11):  # 65533..65535 appear twice: the first frame wins
        image, m = ours.get_image(n)
        their_image, their_m = theirs.get_image(n)
        assert m == their_m
        np.testing.assert_array_equal(image, their_image)
    for n in (3, 5, 7, 9, 30000):  # 3, 5, 7 tie between two neighbours
        assert ours.get_image(n, exact_only=False)[1] == theirs.get_image(n, exact_only=False)[1]


def test_avc1_mp4_video_store(tmp_path):
    """imgstore's 'avc1/mp4' format: H.264 in MP4 under the VideoImgStore class."""
    numbers = write_motif_store(tmp_path / "s", "color")
    edit_store_block(tmp_path / "s", **{"class": "VideoImgStore", "format": "avc1/mp4"})
    theirs, frames, _ = imgstore_frames(tmp_path / "s")
    ours = framestore.new_for_filename(tmp_path / "s")
    assert ours.frame_numbers.tolist() == numbers.tolist()
    np.testing.assert_array_equal(ours[:], frames)
    np.testing.assert_array_equal(ours[[40, 2, 21]], frames[[40, 2, 21]])


def test_a_missing_index_is_an_error_not_a_short_store(tmp_path):
    """imgstore's get_next_image silently stops at a chunk whose index is missing."""
    write_with_imgstore(tmp_path / "s", "mjpeg/avi", "gray", count=45, chunksize=20)
    (tmp_path / "s" / "000001.npz").unlink()
    _, frames, _ = imgstore_frames(tmp_path / "s")
    assert len(frames) == 20  # imgstore: 20 of 45 frames, and no word about the rest
    with pytest.raises(framestore.CorruptStoreError, match="000001.npz"):
        framestore.new_for_filename(tmp_path / "s")


def test_h264_mkv_video_store(tmp_path):
    """imgstore's 'h264/mkv' format (OpenCV from pip cannot write it: made with PyAV)."""
    numbers = write_motif_store(tmp_path / "s", "gray")
    for mp4 in sorted((tmp_path / "s").glob("*.mp4")):
        with av.open(str(mp4)) as src, av.open(str(mp4.with_suffix(".mkv")), "w") as dst:
            stream = dst.add_stream_from_template(src.streams.video[0])
            for packet in src.demux(src.streams.video[0]):
                if packet.dts is not None:
                    packet.stream = stream
                    dst.mux(packet)
        mp4.unlink()
    edit_store_block(tmp_path / "s", **{"class": "VideoImgStore", "format": "h264/mkv", "extension": ".mkv"})
    theirs, frames, _ = imgstore_frames(tmp_path / "s")
    ours = framestore.new_for_filename(tmp_path / "s")
    assert ours.frame_numbers.tolist() == numbers.tolist()
    np.testing.assert_array_equal(ours[:], frames)
    np.testing.assert_array_equal(ours[[40, 2, 21]], frames[[40, 2, 21]])
