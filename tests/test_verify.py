"""verify(): damaged, truncated and missing files are named one by one; whole stores pass."""

from __future__ import annotations

import hashlib
import json
import warnings
import zlib

import numpy as np
import pytest
import xxhash
from _support.crash import killed_store
from _support.media import write_recording

import framestore
from framestore._disk.checksum import CHECKSUM_KEYS, checksum_files, crc32
from framestore.cli.main import main
from framestore.tools.recover import recover
from framestore.tools.verify import verify


def test_frame_crc32_gives_zlibs_values_so_old_indexes_stay_valid():
    rng = np.random.default_rng(3)
    for size in (0, 1, 7, 4096, 640 * 512 + 3):
        data = rng.integers(0, 256, size, dtype=np.uint8)
        assert crc32(data) == zlib.crc32(data)
        assert crc32(bytearray(data.tobytes()), 12345) == zlib.crc32(data.tobytes(), 12345)
    assert crc32.__module__ == "zlib_ng.zlib_ng"  # the fast one is installed (a dependency)


def problem_files(report):
    return {p.file.relative_to(report.path).as_posix() for p in report.problems}


@pytest.mark.parametrize("fmt", ["ffv1/mkv", "png"])
def test_a_whole_store_verifies(tmp_path, fmt, capsys):
    write_recording(tmp_path / "s", fmt, "gray8", count=45, chunksize=20)
    report = verify(tmp_path / "s")
    assert report.ok and report.problems == []
    assert (report.chunks, report.frames, report.frames_decoded) == (3, 45, 45)
    assert report.checksums_checked == 3 and report.checksums_absent == 0 and report.frame_crcs
    assert main(["verify", str(tmp_path / "s")]) == 0
    assert capsys.readouterr().out.strip().endswith("OK")


def test_bit_rot_in_a_chunk_is_named(tmp_path, capsys):
    write_recording(tmp_path / "s", "ffv1/mkv", "gray8", count=45, chunksize=20)
    chunk = tmp_path / "s" / "000001.mkv"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    report = verify(tmp_path / "s")
    assert not report.ok
    assert problem_files(report) == {"000001.mkv"}
    assert any("bit rot" in p.message for p in report.problems)  # the checksum
    assert any("CRC32" in p.message for p in report.problems)  # the damaged frame
    assert main(["verify", str(tmp_path / "s")]) == 1
    out = capsys.readouterr().out
    assert "000001.mkv" in out and "000000.mkv" not in out and "FAILED" in out


def test_truncation_is_named(tmp_path):
    write_recording(tmp_path / "s", "ffv1/mkv", "gray8", count=45, chunksize=20)
    chunk = tmp_path / "s" / "000002.mkv"
    size = chunk.stat().st_size
    with open(chunk, "r+b") as f:
        f.truncate(size // 2)
    report = verify(tmp_path / "s")
    assert problem_files(report) == {"000002.mkv"}
    assert f"truncated: {size // 2} bytes, {size} when written" in report.problems[0].message
    assert report.frames_decoded < 45


def test_a_missing_index_or_chunk_is_named(tmp_path, capsys):
    write_recording(tmp_path / "s", "ffv1/mkv", "gray8", count=45, chunksize=20)
    (tmp_path / "s" / "000000.npz").unlink()
    (tmp_path / "s" / "000002.mkv").unlink()
    report = verify(tmp_path / "s")
    assert problem_files(report) == {"000000.npz", "000002.mkv"}
    assert main(["verify", "--json", str(tmp_path / "s")]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] is False
    problems = result["stores"][0]["problems"]
    assert sorted(p["file"].rsplit("/", 1)[1] for p in problems) == ["000000.npz", "000002.mkv"]


def test_a_damaged_image_file_is_named(tmp_path):
    write_recording(tmp_path / "s", "png", "gray8", count=45, chunksize=20)
    image = tmp_path / "s" / "000001" / "000003.png"
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF
    image.write_bytes(bytes(data))
    report = verify(tmp_path / "s")
    assert problem_files(report) == {"000001", "000001/000003.png"}  # the chunk's checksum, the file
    assert report.frames_decoded == 44


def test_quick_checks_files_without_decoding(tmp_path):
    write_recording(tmp_path / "s", "ffv1/mkv", "gray8", count=45, chunksize=20)
    chunk = tmp_path / "s" / "000000.mkv"
    data = bytearray(chunk.read_bytes())
    data[-100] ^= 1
    chunk.write_bytes(bytes(data))
    report = verify(tmp_path / "s", decode=False)
    assert report.frames_decoded == 0 and problem_files(report) == {"000000.mkv"}


def test_stores_without_checksums_still_verify(tmp_path, capsys):
    """Written before chunk checksums existed: decoded and CRC-checked, checksums absent."""
    write_recording(tmp_path / "s", "ffv1/mkv", "gray8", count=45, chunksize=20)
    for index in (tmp_path / "s").glob("0*.npz"):
        with np.load(index) as data:
            columns = {k: data[k] for k in data.files if k not in CHECKSUM_KEYS}
        np.savez(index, **columns)
    report = verify(tmp_path / "s")
    assert report.ok and report.checksums_absent == 3 and report.frames_decoded == 45
    assert main(["verify", str(tmp_path / "s")]) == 0
    assert "checksums absent for 3 of 3 chunks" in capsys.readouterr().out


def test_new_chunks_record_xxh3_and_old_sha256_chunks_still_verify(tmp_path):
    """Chunks get an XXH3-128 digest; an index from before it, with SHA-256, is checked with
    SHA-256, and a changed byte fails either."""
    write_recording(tmp_path / "s", "raw/nut", "gray8", count=45, chunksize=20)
    chunk, index = tmp_path / "s" / "000001.nut", tmp_path / "s" / "000001.npz"
    with np.load(index) as data:
        columns = {k: data[k] for k in data.files}
    assert set(CHECKSUM_KEYS) & set(columns) == {"chunk.xxh3_128", "chunk.bytes"}
    assert str(columns.pop("chunk.xxh3_128")) == xxhash.xxh3_128(chunk.read_bytes()).hexdigest()
    np.savez(index, **columns, **{"chunk.sha256": np.array(hashlib.sha256(chunk.read_bytes()).hexdigest())})
    report = verify(tmp_path / "s", decode=False)
    assert report.ok and report.checksums_checked == 3
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0x01
    chunk.write_bytes(bytes(data))
    report = verify(tmp_path / "s", decode=False)
    assert problem_files(report) == {"000001.nut"}
    assert "sha256 mismatch" in report.problems[0].message


@pytest.mark.parametrize("fmt", ["png", "npy"])
def test_image_chunks_are_checksummed_as_written_not_read_back(tmp_path, monkeypatch, fmt):
    """The digest of an image chunk's files comes from their bytes as the writer wrote them:
    the same digest a read of the files gives, with no read."""

    def refuse(paths, *args):
        raise AssertionError(f"re-read {list(paths)[:1]}")

    monkeypatch.setattr("framestore.core.writer.checksum_files", refuse)
    write_recording(tmp_path / "s", fmt, "gray8", count=45, chunksize=20)
    monkeypatch.undo()
    with framestore.new_for_filename(tmp_path / "s") as store:
        layout = store._store.layout
        numbers = [(c.number, c.count) for c in store._index.chunks]
        chunks = [(layout.index_path(n), layout.frame_files(n, count)) for n, count in numbers]
    for index, chunk_files in chunks:
        with np.load(index) as data:
            assert str(data["chunk.xxh3_128"]) == checksum_files(chunk_files).digest
            assert int(data["chunk.bytes"]) == sum(f.stat().st_size for f in chunk_files)
    report = verify(tmp_path / "s", decode=False)
    assert report.ok and report.checksums_checked == 3


def test_imgstore_stores_verify_without_checksums(tmp_path):
    imgstore = pytest.importorskip("imgstore")
    store = imgstore.new_for_format(
        "mjpeg/avi", mode="w", basedir=str(tmp_path / "s"), imgshape=(48, 64), imgdtype="uint8", chunksize=20
    )
    for n in range(30):
        store.add_image(np.full((48, 64), n, np.uint8), 100 + n, 1000.0 + n / 30)
    store.close()
    report = verify(tmp_path / "s")
    assert report.ok and report.frames_decoded == 30
    assert report.checksums_absent == report.chunks and not report.frame_crcs


def test_recovered_chunks_get_checksums(tmp_path):

    killed_store(tmp_path / "s", "ffv1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        before = verify(tmp_path / "s")
    assert {p.file.name for p in before.problems} >= {".framestore-writing"}  # unfinished
    recover(tmp_path / "s")
    after = verify(tmp_path / "s")
    assert after.ok and after.checksums_checked == after.chunks >= 2


def test_a_dataset_is_verified_store_by_store(tmp_path, capsys):
    write_recording(tmp_path / "ds" / "a", "ffv1/mkv", "gray8", count=30, chunksize=20)
    write_recording(tmp_path / "ds" / "b", "npy", "gray8", count=30, chunksize=20)
    assert main(["verify", str(tmp_path / "ds")]) == 0
    capsys.readouterr()
    (tmp_path / "ds" / "b" / "000001" / "000004.npy").unlink()
    assert main(["verify", "--json", str(tmp_path / "ds")]) == 1
    result = json.loads(capsys.readouterr().out)
    assert [s["ok"] for s in result["stores"]] == [True, False]
    assert [p["file"] for p in result["stores"][1]["problems"]] == [str(tmp_path / "ds/b/000001/000004.npy")]
    assert main(["verify", str(tmp_path / "absent")]) == 2


def test_chunks_written_in_parallel_keep_valid_checksums(tmp_path):
    """convert --workers writes parts as their own stores and moves their chunks in by rename."""
    from framestore.tools.convert import convert

    write_recording(tmp_path / "src", "npy", "gray8", count=45, chunksize=10)
    convert(tmp_path / "src", tmp_path / "dst", "ffv1/mkv", workers=2)
    report = verify(tmp_path / "dst")
    assert report.ok and report.checksums_checked == report.chunks == 5
