"""Bad input gets a clear framestore error naming the file; what is on disk stays valid."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from _support.media import write_recording

import framestore
from framestore.codecs.video import VideoChunkWriter
from framestore.testing.frames import read_barcode, synthetic_frame


def small_writer(path: Path, fmt: str = "ffv1", **kw):
    return framestore.new_for_format(fmt, path, imgshape=(32, 48), chunksize=10, fps=30, **kw)


def frame(n: int = 1) -> np.ndarray:
    return synthetic_frame(n, (32, 48))


# -- writer ---------------------------------------------------------------------------


def test_wrong_frames_are_refused_and_the_store_stays_valid(tmp_path):
    path = tmp_path / "s"
    with small_writer(path) as w:
        w.add_image(frame(1), 1, 1.0)
        with pytest.raises(framestore.InvalidFrameError, match=r"shape \(32, 48\)"):
            w.add_image(np.zeros((32, 47), np.uint8), 2, 2.0)
        with pytest.raises(framestore.InvalidFrameError, match="dtype"):
            w.add_image(frame(2).astype(np.uint16), 2, 2.0)
        for bad_time in (float("nan"), float("inf"), -float("inf")):
            with pytest.raises(framestore.InvalidFrameError, match="finite"):
                w.add_image(frame(2), 2, bad_time)
        for bad_number in (2.5, True, "7"):
            with pytest.raises(framestore.InvalidFrameError, match="frame_number"):
                w.add_image(frame(2), bad_number, 2.0)
        w.add_image(frame(2), np.int64(2), np.float32(2.0))
    with framestore.new_for_filename(path) as store:
        assert store.frame_numbers.tolist() == [1, 2]
        np.testing.assert_array_equal(store[:], np.stack([frame(1), frame(2)]))


def test_invalid_frame_error_is_a_value_error(tmp_path):
    with small_writer(tmp_path / "s") as w, pytest.raises(ValueError):
        w.add_image(np.zeros((3, 3), np.uint8), 1, 1.0)


def test_unknown_format_creates_nothing(tmp_path):
    with pytest.raises(framestore.UnknownFormatError, match="'webm'.*ffv1/mkv"):
        small_writer(tmp_path / "s", fmt="webm")
    assert not (tmp_path / "s").exists()


def test_existing_store_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "s"
    with small_writer(path) as w:
        w.add_image(frame(1), 1, 1.0)
    before = sorted(p.name for p in path.iterdir())
    with pytest.raises(framestore.StoreExistsError, match="overwrite=True") as err:
        small_writer(path)
    assert isinstance(err.value, FileExistsError)
    assert sorted(p.name for p in path.iterdir()) == before
    with small_writer(path, overwrite=True) as w:
        w.add_image(frame(5), 5, 5.0)
    assert framestore.new_for_filename(path).frame_numbers.tolist() == [5]


def test_overwrite_never_deletes_a_directory_that_is_not_a_store(tmp_path):
    path = tmp_path / "thesis"
    path.mkdir()
    (path / "chapter1.tex").write_text("precious")
    with pytest.raises(framestore.StoreExistsError, match="not a store"):
        small_writer(path, overwrite=True)
    assert (path / "chapter1.tex").read_text() == "precious"


def test_writing_after_close(tmp_path):
    w = small_writer(tmp_path / "s")
    w.add_image(frame(), 1, 1.0)
    w.close()
    w.close()  # twice is fine
    with pytest.raises(framestore.StoreClosedError):
        w.add_image(frame(), 2, 2.0)
    with pytest.raises(framestore.StoreClosedError):
        w.add_extra_data(x=1)


@pytest.mark.parametrize(
    "fmt,shape,dtype,match",
    [
        ("h264", (31, 48), np.uint8, "even width and height"),
        ("h264", (32, 48), np.uint16, "cannot hold gray16"),
        ("mjpeg", (32, 48), np.uint16, "cannot hold gray16"),
        ("jpg", (32, 48), np.uint16, "cannot hold gray16"),
        ("utvideo", (32, 48), np.uint16, "cannot hold gray16"),
        ("ffv1", (32, 48, 3), np.uint16, "uint16 frames must be grayscale"),
        ("ffv1", (32, 48, 4), np.uint8, "imgshape"),
        ("ffv1", (32, 48), np.float32, "uint8 or uint16"),
    ],
)
def test_frames_a_format_cannot_hold_are_refused_up_front(tmp_path, fmt, shape, dtype, match):
    with pytest.raises(framestore.InvalidFrameError, match=match):
        framestore.new_for_format(fmt, tmp_path / "s", imgshape=shape, imgdtype=dtype)
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("fmt", ["utvideo", "ffv1", "raw", "mjpeg", "npy", "png", "jpg"])
def test_odd_sizes_are_kept_whole(tmp_path, fmt):
    rec = write_recording(tmp_path / "s", fmt, "gray8", count=25, chunksize=10, height=47, width=73)
    with framestore.new_for_filename(rec.path) as store:
        frames = store[:]
    assert frames.shape == (25, 47, 73)
    assert [read_barcode(f) for f in frames] == rec.frame_numbers.tolist()
    if fmt in ("utvideo", "ffv1", "raw", "npy", "png"):
        np.testing.assert_array_equal(frames, rec.images)


def test_bad_user_metadata(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        small_writer(tmp_path / "a", metadata={"__store": {}})
    with pytest.raises(ValueError, match="plain YAML"):
        small_writer(tmp_path / "b", metadata={"x": object()})


def test_extra_data_needs_a_frame(tmp_path):
    with small_writer(tmp_path / "s") as w, pytest.raises(ValueError, match="add a frame first"):
        w.add_extra_data(x=1)


def test_add_image_blocks_instead_of_dropping(tmp_path, monkeypatch):
    """A slow encoder makes add_image wait (back-pressure); no frame is lost."""
    real_add = VideoChunkWriter.add

    def slow_add(self, *args):
        time.sleep(0.01)
        real_add(self, *args)

    monkeypatch.setattr(VideoChunkWriter, "add", slow_add)
    n = 60
    t0 = time.perf_counter()
    with small_writer(tmp_path / "s") as w:
        for i in range(n):
            w.add_image(frame(i), i, float(i))
        queued_s = time.perf_counter() - t0
    assert queued_s >= (n - framestore.core.writer.QUEUE_FRAMES - 2) * 0.01
    with framestore.new_for_filename(tmp_path / "s") as store:
        assert store.frame_numbers.tolist() == list(range(n))


def test_encoder_failure_reaches_the_caller(tmp_path, monkeypatch):
    real_add = VideoChunkWriter.add

    def failing_add(self, image, number, *rest):
        if number == 15:
            raise OSError("disk full")
        real_add(self, image, number, *rest)

    monkeypatch.setattr(VideoChunkWriter, "add", failing_add)
    w = small_writer(tmp_path / "s")
    with pytest.raises(framestore.FramestoreError, match="disk full"):
        for i in range(40):
            w.add_image(frame(i), i, float(i))
            time.sleep(0.002)
        w.close()
    with pytest.warns(framestore.IncompleteStoreWarning):
        store = framestore.new_for_filename(tmp_path / "s")
    assert store.frame_numbers.tolist() == list(range(15))
    np.testing.assert_array_equal(store[14], frame(14))


# -- reader ---------------------------------------------------------------------------


@pytest.fixture
def store_path(tmp_path) -> Path:
    return write_recording(tmp_path / "s", "ffv1", "gray8", count=30, chunksize=10).path


def test_missing_store(tmp_path):
    with pytest.raises(framestore.StoreNotFoundError, match="metadata.yaml") as err:
        framestore.new_for_filename(tmp_path / "nothing")
    assert isinstance(err.value, FileNotFoundError)


@pytest.mark.parametrize(
    "text,match",
    [
        ("{{{ not yaml", "not valid YAML"),
        ("just a string", "__store"),
        ("__store: {format: ffv1/mkv}", "lacks the key"),
        ("!!python/object/apply:os.system ['echo unsafe']", "not valid YAML"),
        ("__store: {format: ffv1/mkv, chunksize: 10, imgshape: [0, 4], imgdtype: uint8}", "imgshape"),
    ],
)
def test_corrupt_metadata(store_path, text, match):
    (store_path / "metadata.yaml").write_text(text)
    with pytest.raises(framestore.CorruptStoreError, match=match) as err:
        framestore.new_for_filename(store_path)
    assert "metadata.yaml" in str(err.value)


def edit_metadata(md, old, new):
    """Edit ``metadata.yaml`` by hand, dropping framestore's checksum line (a kept one
    fails first: tests/test_faults.py)."""
    text = md.read_text().replace(old, new)
    md.write_text(text[: text.index("# framestore-crc32")])


def test_unknown_format_in_metadata(store_path):
    md = store_path / "metadata.yaml"
    edit_metadata(md, "format: ffv1/mkv", "format: betamax")
    with pytest.raises(framestore.UnknownFormatError, match="metadata.yaml.*betamax"):
        framestore.new_for_filename(store_path)


def test_paths_from_files_cannot_leave_the_store(store_path):
    md = store_path / "metadata.yaml"
    edit_metadata(md, "extension: .mkv", "extension: /../../etc/passwd")
    with pytest.raises(framestore.CorruptStoreError, match="extension"):
        framestore.new_for_filename(store_path)


def test_missing_index_file(store_path):
    (store_path / "000001.npz").unlink()
    with pytest.raises(framestore.CorruptStoreError, match="000001.npz.*missing"):
        framestore.new_for_filename(store_path)


def test_unreadable_index_file(store_path):
    (store_path / "000001.npz").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(framestore.CorruptStoreError, match="000001.npz"):
        framestore.new_for_filename(store_path)


def test_index_with_a_row_more_than_the_chunk(store_path):
    path = store_path / "000002.npz"
    with np.load(path) as data:
        cols = {k: data[k] for k in data.files if data[k].ndim == 1}  # not the chunk checksum
        checksum = {k: data[k] for k in data.files if data[k].ndim == 0}
    last = {k: v[-1:] for k, v in cols.items()}
    last["frame_number"] = last["frame_number"] + 1
    last["video_pts"] = last["video_pts"] + 33
    np.savez(path, **{k: np.concatenate([cols[k], last[k]]) for k in cols}, **checksum)
    store = framestore.new_for_filename(store_path)
    assert len(store) == 31
    good = store[:30]
    assert [read_barcode(f) for f in good] == store.frame_numbers[:30].tolist()
    with pytest.raises(framestore.CorruptStoreError, match="000002.mkv.*could not be decoded"):
        store[30]


def test_index_with_unsorted_or_duplicate_frame_numbers(store_path):
    path = store_path / "000001.npz"
    with np.load(path) as data:
        cols = {k: data[k].copy() for k in data.files}
    cols["frame_number"][3] = cols["frame_number"][2]  # a duplicate
    cols["frame_number"][6], cols["frame_number"][7] = cols["frame_number"][7], cols["frame_number"][6]
    np.savez(path, **cols)
    with pytest.warns(framestore.StoreWarning, match="000001.npz"):
        store = framestore.new_for_filename(store_path)
    duplicated = int(cols["frame_number"][2])
    image, (number, _) = store.get_image(duplicated)
    assert number == duplicated
    np.testing.assert_array_equal(image, store[12])  # the first frame with that number


@pytest.mark.parametrize("fmt", ["utvideo", "ffv1", "h264", "mjpeg", "raw", "png", "npy"])
def test_damaged_chunk_never_returns_wrong_pixels(tmp_path, fmt):
    rec = write_recording(tmp_path / "s", fmt, "gray8", count=30, chunksize=30)
    reference = framestore.new_for_filename(rec.path)[:]
    if rec.path.joinpath("000000").is_dir():
        victim = rec.path / "000000" / f"000012.{fmt}"
    else:
        victim = next(p for p in rec.path.iterdir() if p.name.startswith("000000.") and p.suffix != ".npz")
    data = bytearray(victim.read_bytes())
    middle = len(data) // 2 if victim.parent.name == "000000" else len(data) * 12 // 30
    for i in range(middle, middle + 32):
        data[i] ^= 0x5A
    victim.write_bytes(bytes(data))
    assert count_refused_reads(rec.path, range(30), reference, victim) >= 1


def count_refused_reads(path, indices, reference, victim) -> int:
    """Read each frame: it is either exactly the reference, or refused with an error
    naming the damaged file. Returns how many were refused."""
    store = framestore.new_for_filename(path)
    refused = 0
    for i in indices:
        try:
            image = store[i]
        except framestore.CorruptStoreError as exc:
            assert victim.name in str(exc)
            refused += 1
        else:
            np.testing.assert_array_equal(image, reference[i])
    return refused


@pytest.mark.parametrize("fmt", ["utvideo", "ffv1", "h264", "mjpeg", "raw"])
def test_truncated_chunk(tmp_path, fmt):
    rec = write_recording(tmp_path / "s", fmt, "gray8", count=40, chunksize=20)
    reference = framestore.new_for_filename(rec.path)[:]
    victim = next(p for p in rec.path.iterdir() if p.name.startswith("000001.") and p.suffix != ".npz")
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    np.testing.assert_array_equal(framestore.new_for_filename(rec.path)[:20], reference[:20])
    assert count_refused_reads(rec.path, range(20, 40), reference, victim) >= 5


def test_chunk_that_is_not_a_video(store_path):
    (store_path / "000001.mkv").write_bytes(b"this is not a video file" * 10)
    store = framestore.new_for_filename(store_path)
    with pytest.raises(framestore.CorruptStoreError, match="000001.mkv"):
        store[15]
    np.testing.assert_array_equal(store[25], framestore.new_for_filename(store_path)[25])


def test_missing_image_file(tmp_path):
    rec = write_recording(tmp_path / "s", "png", "gray8", count=30, chunksize=10)
    (rec.path / "000001" / "000004.png").unlink()
    store = framestore.new_for_filename(rec.path)
    with pytest.raises(framestore.CorruptStoreError, match="000004.png.*missing"):
        store[14]
    np.testing.assert_array_equal(store[15], rec.images[15])


def test_garbage_journal(store_path):
    (store_path / "000003.journal").write_bytes(b"garbage")
    with pytest.raises(framestore.CorruptStoreError, match="000003.journal"):
        framestore.new_for_filename(store_path)


def test_lookup_errors(store_path):
    store = framestore.new_for_filename(store_path)
    with pytest.raises(framestore.FrameIndexError):
        store[30]
    with pytest.raises(IndexError):
        store.get_image(None, frame_index=-31)
    with pytest.raises(KeyError):
        store.get_image(-5)
    with pytest.raises(ValueError, match="different frames"):
        store.get_image(int(store.frame_numbers[3]), frame_index=4)
    with pytest.raises(TypeError):
        store.get_frames([1.5])
    store.close()
    with pytest.raises(framestore.StoreClosedError):
        store[0]


def test_no_warnings_on_a_clean_store(store_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        framestore.new_for_filename(store_path).close()


@pytest.mark.parametrize("fmt", ["utvideo", "png"])
def test_verify_false_skips_the_checksum(tmp_path, fmt):
    rec = write_recording(tmp_path / "s", fmt, "gray8", count=10, chunksize=10)
    index = rec.path / ("000000.npz" if fmt == "utvideo" else "000000/index.npz")
    with np.load(index) as data:
        cols = {k: data[k].copy() for k in data.files}
    cols["crc32"][4] ^= 1  # the index now disagrees with frame 4's bytes
    np.savez(index, **cols)
    with pytest.raises(framestore.CorruptStoreError, match="CRC32"):
        framestore.new_for_filename(rec.path)[4]
    np.testing.assert_array_equal(framestore.new_for_filename(rec.path, verify=False)[4], rec.images[4])
