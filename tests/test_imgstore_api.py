"""imgstore's API on framestore beyond what imgstore's own suite checks
(tests/test_imgstore_suite.py): its names, its errors, the attributes its users call, and
each deliberate difference in README's "Coming from imgstore" table, shown against
imgstore 0.4.0 itself."""

from __future__ import annotations

import math
import shutil
import time
import warnings
from types import ModuleType

import av
import cv2
import numpy as np
import pytest

import framestore
from framestore import stores

imgstore = pytest.importorskip("imgstore")


def _write(path, fmt="npy", count=6, chunksize=2, shape=(16, 16), first=10, extra=False):
    with framestore.new_for_format(fmt, path, imgshape=shape, chunksize=chunksize) as w:
        for i in range(count):
            w.add_image(np.full(shape, i * 10, np.uint8), first + i, 100.0 + i)
            if extra:
                w.add_extra_data(value=i)
    return path


def test_the_names_of_imgstore_and_imgstore_stores():
    for name in ("new_for_filename", "new_for_format", "get_supported_formats", "extract_only_frame",
                 "STORE_MD_FILENAME", "STORE_LOCK_FILENAME", "STORE_MD_KEY", "VideoImgStore",
                 "DirectoryImgStore"):  # fmt: skip
        assert hasattr(stores, name), name
    top_level = {n for n, v in vars(imgstore).items() if n[0] != "_" and not isinstance(v, ModuleType)}
    apps = {"main_test", "test"}  # imgstore's command-line test runner, imgstore-test
    assert top_level - apps <= set(framestore.__all__)
    assert set(imgstore.stores.get_supported_formats()) - {"pgm"} <= set(stores.get_supported_formats())
    assert "utvideo/avi" in stores.VideoImgStore.supported_formats()
    assert "png+color" in stores.DirectoryImgStore.supported_formats()


def test_isinstance_tells_readers_and_writers_by_kind(tmp_path):
    with framestore.new_for_format("npy", tmp_path / "d", imgshape=(4, 4)) as writer:
        assert isinstance(writer, stores.DirectoryImgStore)
        assert not isinstance(writer, stores.VideoImgStore)
    assert isinstance(framestore.new_for_filename(tmp_path / "d"), framestore.DirectoryImgStore)
    _write(tmp_path / "v", "mjpeg")
    reader = stores.VideoImgStore(basedir=str(tmp_path / "v"), mode="r")
    assert isinstance(reader, framestore.StoreReader) and isinstance(reader, stores.VideoImgStore)
    with pytest.raises(ValueError, match="VideoImgStore"):
        stores.DirectoryImgStore(basedir=str(tmp_path / "v"), mode="r")
    with pytest.raises(ValueError, match="writes the formats"):
        stores.DirectoryImgStore(basedir=str(tmp_path / "x"), mode="w", imgshape=(4, 4), format="mjpeg")


def test_get_image_index_errors_are_value_errors_and_the_sequence_keeps_index_errors(tmp_path):
    store = framestore.new_for_filename(_write(tmp_path / "s"))
    for bad in (-1, 6):
        with pytest.raises(ValueError):
            store.get_image(None, frame_index=bad)
        with pytest.raises(IndexError):
            store.get_image(None, frame_index=bad)
    np.testing.assert_array_equal(store[-1], store.get_image(None, frame_index=5)[0])
    with pytest.raises(IndexError):
        store[6]


def test_a_missing_store_is_a_value_error(tmp_path):
    for call in (framestore.new_for_filename, stores.new_for_filename, framestore.extract_only_frame):
        with pytest.raises(ValueError):
            call(tmp_path / "nothing", *([0] if call is framestore.extract_only_frame else []))
        with pytest.raises(FileNotFoundError):
            call(tmp_path / "nothing", *([0] if call is framestore.extract_only_frame else []))


def test_an_empty_store_as_imgstore_describes_it(tmp_path):
    framestore.new_for_format("npy", tmp_path / "s", imgshape=(4, 4)).close()
    ours, theirs = framestore.new_for_filename(tmp_path / "s"), imgstore.new_for_filename(str(tmp_path / "s"))
    assert math.isnan(ours.frame_min) and math.isnan(ours.frame_max)
    assert math.isnan(theirs.frame_min) and math.isnan(theirs.frame_max)
    assert (ours.duration, ours.chunks, ours.frame_count) == (theirs.duration, theirs.chunks, 0)
    assert ours.frame_time_min is None and not ours.has_extra_data


def test_the_attributes_imgstore_users_call(tmp_path):
    path = tmp_path / "s"
    w = stores.new_for_format("mjpeg", mode="w", basedir=str(path), imgshape=(16, 16), imgdtype=np.uint8,
                              chunksize=2, metadata={"animal": "m1"})  # fmt: skip
    assert (w.mode, w.filename, w.full_path) == ("w", str(path), str(path / "metadata.yaml"))
    assert (path / stores.STORE_LOCK_FILENAME).exists()
    assert math.isnan(w.frame_min) and w.duration == 0.0
    for n in (7, 3, 9):
        w.add_image(np.zeros((16, 16), np.uint8), n, float(n))
        w.add_extra_data(n=n)
    assert (w.frame_min, w.frame_max, w.frame_time_min, w.frame_time_max, w.duration) == (3, 9, 3.0, 9.0, 6.0)
    assert w.user_metadata == {"animal": "m1"} and not w.lossless and w.created[0] is not None
    w.close(save_index=True)
    assert w.chunks == [0, 1] and not (path / stores.STORE_LOCK_FILENAME).exists()
    ours = stores.new_for_format(None, path=str(path / "metadata.yaml"), mode="r")
    theirs = imgstore.new_for_filename(str(path))
    for name in ("mode", "filename", "full_path", "frame_time_min", "frame_time_max", "duration",
                 "has_extra_data", "chunks", "lossless", "frame_min", "frame_max",
                 "user_metadata"):  # fmt: skip
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.find_extra_data_files() == theirs.find_extra_data_files()
    assert ours.created == theirs.created
    assert ours.get_next_framenumber() == theirs.get_next_framenumber() == 7
    ours.get_image(9)
    with pytest.raises(EOFError):
        ours.get_next_framenumber()
    ours.close(save_index=True)
    stores.new_for_filename(str(path), seek=False, index=None).close()
    with pytest.raises(ValueError, match="mode"):
        stores.new_for_filename(str(path), mode="w")


def test_imgstores_path_conventions(tmp_path):
    with pytest.raises(ValueError, match="not both"):
        stores.new_for_format("npy", str(tmp_path / "a"), basedir=str(tmp_path / "a"), imgshape=(4, 4))
    with pytest.raises(ValueError, match="metadata.yaml"):
        stores.new_for_format("npy", basedir=str(tmp_path / "a" / "metadata.yaml"), imgshape=(4, 4))
    with pytest.raises(ValueError, match="different formats"):
        stores.new_for_format("npy", str(tmp_path / "a"), format="png", imgshape=(4, 4))
    with pytest.raises(ValueError, match="imgshape"):
        stores.new_for_format("npy", str(tmp_path / "a"))
    stores.new_for_format(path=str(tmp_path / "a" / "metadata.yaml"), format="npy", imgshape=(4, 4)).close()
    assert stores.new_for_format(None, basedir=str(tmp_path / "a"), mode="r").format == "npy"


def test_reindex_of_a_store_imgstore_wrote(tmp_path):
    path = str(tmp_path / "s")
    theirs = imgstore.new_for_format("npy", mode="w", basedir=path, imgshape=(8, 8), imgdtype="uint8",
                                     chunksize=2)  # fmt: skip
    for n in (5, 6, 0, 1, 2):
        theirs.add_image(np.zeros((8, 8), np.uint8), n, float(n))
        theirs.add_extra_data(n=n)
    theirs.close()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)  # numbers go backwards
        ours = framestore.new_for_filename(path)
    ours.reindex()
    assert ours.frame_numbers.tolist() == [-2, -1, 0, 1, 2]
    again = imgstore.new_for_filename(path)
    assert again.get_frame_metadata()["frame_number"] == [-2, -1, 0, 1, 2]
    assert sorted(again.get_extra_data()["frame_number"]) == [-2, -1, 0, 1, 2]
    with pytest.raises(ValueError, match="exactly one"):
        framestore.new_for_filename(_write(tmp_path / "no_zero")).reindex()


def test_insert_chunk_and_empty(tmp_path):
    src = _write(tmp_path / "src", "mjpeg", count=5, chunksize=5, shape=(16, 16))
    w = framestore.VideoImgStore(basedir=str(tmp_path / "s"), mode="w", imgshape=(16, 16), format="mjpeg",
                                 chunksize=5)  # fmt: skip
    w.add_image(np.zeros((16, 16), np.uint8), 1, 1.0)
    with pytest.raises(ValueError, match="whole chunks"):
        w.insert_chunk(src / "000000.avi", range(5), range(5))
    w.empty()
    w.add_image(np.zeros((16, 16), np.uint8), 1, 1.0)
    w.empty()
    with pytest.raises(ValueError, match=r"\.avi"):
        w.insert_chunk(src / "000000.npz", range(5), range(5))
    with pytest.raises(framestore.InvalidFrameError, match="5 frames"):
        w.insert_chunk(src / "000000.avi", range(4), range(4), move=False)
    w.insert_chunk(src / "000000.avi", range(50, 55), np.arange(5.0), move=False)
    with pytest.raises(framestore.StoreClosedError, match="insert_chunk"):
        w.add_image(np.zeros((16, 16), np.uint8), 1, 1.0)
    w.close()
    store = framestore.new_for_filename(tmp_path / "s")
    assert store.frame_numbers.tolist() == list(range(50, 55))
    np.testing.assert_array_equal(store[:], framestore.new_for_filename(src)[:])
    assert framestore.verify(tmp_path / "s").ok


def test_extra_data_when_there_is_none_or_a_file_is_damaged(tmp_path):
    path = _write(tmp_path / "s", "mjpeg", extra=True)
    assert framestore.new_for_filename(path).get_extra_data().empty is False
    assert framestore.new_for_filename(_write(tmp_path / "none")).get_extra_data().empty  # imgstore: None
    assert imgstore.new_for_filename(str(tmp_path / "none")).get_extra_data() is None
    (path / "000001.extra.json").write_text('{"not": "a list"}')
    with pytest.raises(framestore.CorruptStoreError):
        framestore.new_for_filename(path).get_extra_data()
    with pytest.warns(framestore.StoreWarning, match="chunk 1"):
        df = framestore.new_for_filename(path).get_extra_data(ignore_corrupt_chunks=True)
    assert df["value"].tolist() == [0, 1, 4, 5]


# -- the deliberate differences, as README's table lists them -------------------------


def test_numpy_integer_frame_numbers_are_found(tmp_path):
    path = str(_write(tmp_path / "s"))
    assert framestore.new_for_filename(path).get_image(np.int64(12))[1][0] == 12
    with pytest.raises(ValueError):  # imgstore's SQLite index never finds numpy integers
        imgstore.new_for_filename(path).get_image(np.int64(12))


def test_odd_frame_sizes_are_kept_whole(tmp_path):
    path = str(_write(tmp_path / "s", "mjpeg", shape=(15, 17)))
    assert framestore.new_for_filename(path)[0].shape == (15, 17)
    theirs = imgstore.new_for_format("mjpeg", mode="w", basedir=str(tmp_path / "i"), imgshape=(15, 17),
                                     imgdtype="uint8")  # fmt: skip
    theirs.add_image(np.zeros((15, 17), np.uint8), 0, 0.0)
    theirs.close()
    assert imgstore.new_for_filename(str(tmp_path / "i")).get_next_image()[0].shape == (14, 16)
    with pytest.raises(framestore.InvalidFrameError, match="even"):
        framestore.new_for_format("avc1/mp4", tmp_path / "h", imgshape=(15, 17))


def test_get_next_image_goes_on_past_a_gap_in_chunk_numbers(tmp_path):
    path = tmp_path / "s"
    writer = imgstore.new_for_format("npy", mode="w", basedir=str(path), imgshape=(16, 16),
                                     imgdtype=np.uint8, chunksize=2)  # fmt: skip
    for i in range(6):
        writer.add_image(np.full((16, 16), i * 10, np.uint8), 10 + i, 100.0 + i)
    writer.close()
    shutil.rmtree(path / "000003")  # the empty chunk imgstore leaves at the end
    shutil.move(path / "000002", path / "000003")
    ours, theirs = framestore.new_for_filename(path), imgstore.new_for_filename(str(path))
    for store, expected in ((ours, 6), (theirs, 4)):
        numbers = []
        with pytest.raises(EOFError):
            while True:
                numbers.append(store.get_next_image()[1][0])
        assert len(numbers) == expected


def test_a_gap_in_the_chunk_numbers_of_our_own_store_is_named(tmp_path):
    path = _write(tmp_path / "s")
    shutil.move(path / "000002", path / "000003")
    with pytest.raises(framestore.CorruptStoreError, match="000002"):
        framestore.new_for_filename(path)


def test_extract_only_frame_of_a_gray_video_store_is_gray(tmp_path):
    path = str(_write(tmp_path / "s", "mjpeg"))
    assert framestore.extract_only_frame(path, 3).shape == (16, 16)
    assert imgstore.extract_only_frame(path, 3).shape == (16, 16, 3)


def test_avc1_mp4_is_h264_in_mp4_and_read_from_its_journal_while_written(tmp_path):
    with framestore.new_for_format("avc1/mp4", tmp_path / "s", imgshape=(32, 32), chunksize=4) as w:
        for i in range(6):
            w.add_image(np.full((32, 32), i * 40, np.uint8), i, float(i))
        deadline = time.monotonic() + 20
        while True:  # until the encoder has journaled frames 4 and 5 of the open chunk
            with pytest.warns(framestore.IncompleteStoreWarning):
                store = framestore.new_for_filename(tmp_path / "s")
            if len(store) == 6 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (tmp_path / "s" / "000001.journal").exists()
        assert [int(store[i].mean()) for i in range(6)] == [0, 40, 80, 120, 160, 200]
    with av.open(str(tmp_path / "s" / "000000.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_encoding_stores_raw_bayer_frames_read_as_color(tmp_path):
    raw = np.random.default_rng(0).integers(0, 255, (3, 16, 24), dtype=np.uint8)
    path = str(tmp_path / "s")
    with stores.new_for_format("npy", basedir=path, imgshape=(16, 24), encoding="cv_bayerbg") as w:
        for i, image in enumerate(raw):
            w.add_image(image, i, float(i))
    ours, theirs = framestore.new_for_filename(tmp_path / "s"), imgstore.new_for_filename(str(tmp_path / "s"))
    assert ours.image_shape == theirs.image_shape == (16, 24, 3)
    for i, image in enumerate(raw):
        expected = cv2.cvtColor(image, cv2.COLOR_BayerBG2BGR)
        np.testing.assert_array_equal(ours[i], expected)
        np.testing.assert_array_equal(theirs.get_image(i)[0], expected)
    with pytest.raises(framestore.UnknownFormatError, match="cv_nonsense"):
        stores.new_for_format("npy", basedir=str(tmp_path / "x"), imgshape=(16, 24), encoding="cv_nonsense")
    with pytest.raises(framestore.InvalidFrameError, match="cv_bayerbg"):
        stores.new_for_format("npy", basedir=str(tmp_path / "y"), imgshape=(16, 24, 3), encoding="cv_bayerbg")
