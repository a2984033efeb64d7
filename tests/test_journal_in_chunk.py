"""The chunk file as the crash record: NUT and AVI journals record where each packet lies
in the chunk file, not a second copy of it; a packet cut short or changed there is never
a frame, and journals that hold their packets (version 3) still recover."""

from __future__ import annotations

import json
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from _support.crash import killed_store

import framestore
from framestore._disk.journal import _FIELDS_3, _MAGIC_NO_OFFSET, SYNC, read_journal
from framestore.codecs import resolve_format, video
from framestore.codecs.base import ImageSpec
from framestore.codecs.video import VideoChunkWriter
from framestore.testing.frames import synthetic_frame
from framestore.tools.recover import recover


def _open(path: Path) -> framestore.StoreReader:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        return framestore.new_for_filename(path)


def _last_unfinished(path: Path) -> tuple[Path, Path]:
    """The newest journal whose chunk has no index yet, and its chunk file."""
    journal = max(j for j in path.glob("*.journal") if not j.with_suffix(".npz").exists())
    return journal, next(p for p in path.glob(f"{journal.stem}.*") if p.suffix in (".nut", ".avi"))


@pytest.mark.parametrize("fmt", ["raw/nut", "utvideo/avi", "mjpeg/avi"])
def test_a_killed_writer_journals_where_its_packets_lie_and_recover_drops_a_torn_one(
    tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / "s"
    killed_store(path, fmt)
    journal_path, chunk = _last_unfinished(path)
    journal = read_journal(journal_path)
    assert len(journal) and journal.in_chunk.all()
    assert journal_path.stat().st_size < len(journal) * 100 + 1000  # no packet bytes in it
    before = _open(path)
    frames, numbers = before[:], before.frame_numbers.copy()
    # the file cut inside the last packet the journal points to, as a disk could leave it
    with open(chunk, "r+b") as f:
        f.truncate(int(journal.payload_offset[-1] + journal.payload_size[-1] // 2))
    with pytest.raises(framestore.CorruptStoreError, match="fails the CRC32"):
        _open(path)[len(before) - 1]
    with pytest.warns(framestore.StoreWarning, match=r"1 frame\(s\) its journal records fail their CRC32"):
        recover(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        after = framestore.new_for_filename(path)
    assert after.is_complete
    np.testing.assert_array_equal(after.frame_numbers, numbers[:-1])
    np.testing.assert_array_equal(after[:], frames[:-1])


def test_a_packet_not_found_where_the_writer_looks_is_journaled_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer checks a packet's first bytes where it expects the muxer put them; if
    they are not there (here: a wrong padding assumed for odd-sized packets), the record
    holds the packet itself."""
    monkeypatch.setitem(video._PACKETS_IN_PLACE, ".nut", 2)
    codec = resolve_format("raw/nut").video
    assert codec is not None
    rng = np.random.default_rng(0)
    for shape, in_chunk in (((16, 24), True), ((17, 25), False)):  # 384 and 425 bytes a frame
        spec = ImageSpec(shape, np.dtype(np.uint8))
        images = [rng.integers(0, 256, shape, np.uint8) for _ in range(2)]
        folder = tmp_path / str(spec.width)
        folder.mkdir()
        writer = VideoChunkWriter(folder / "000000.nut", folder / "000000.journal", codec, spec, 30.0)
        for k, image in enumerate(images):
            writer.add(image, k, float(k))
        journal = read_journal(folder / "000000.journal")
        assert journal.in_chunk.tolist() == [in_chunk] * 2
        assert journal.read_payloads(0, 2) == [image.tobytes() for image in images]
        writer.close()


def _as_version_3(journal_path: Path) -> None:
    """Rewrite a journal as framestore wrote them before version 4: every packet in it."""
    journal = read_journal(journal_path)
    payloads = journal.read_payloads(0, len(journal))
    header = json.dumps({k: v for k, v in journal.header.items() if k != "chunk_suffix"}).encode()
    out = [_MAGIC_NO_OFFSET, struct.pack("<I", len(header)), header]
    for k, payload in enumerate(payloads):
        flags = int(journal.keyframe[k])
        head = _FIELDS_3.pack(
            int(journal.frame_number[k]), float(journal.frame_time[k]), int(journal.pts[k]), flags,
            len(payload), zlib.crc32(payload),
        )
        out += [SYNC, head, struct.pack("<I", zlib.crc32(head)), payload]
    journal_path.write_bytes(b"".join(out))


def test_a_journal_holding_its_packets_still_recovers(tmp_path: Path) -> None:
    path = tmp_path / "s"
    killed_store(path, "utvideo/avi")
    journal_path, chunk = _last_unfinished(path)
    before = _open(path)
    frames, numbers = before[:], before.frame_numbers.copy()
    _as_version_3(journal_path)
    chunk.write_bytes(b"")  # everything is in the journal
    np.testing.assert_array_equal(_open(path)[:], frames)
    recover(path)
    after = framestore.new_for_filename(path)
    assert after.is_complete
    np.testing.assert_array_equal(after.frame_numbers, numbers)
    np.testing.assert_array_equal(after[:], frames)
    np.testing.assert_array_equal(after[:], np.stack([synthetic_frame(int(n), (48, 64)) for n in numbers]))
