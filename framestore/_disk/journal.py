"""The chunk journal: what makes a killed writer lose (almost) nothing.

While a chunk is open the writer appends one record per finished frame to
``NNNNNN.journal``, with a single unbuffered ``write``: the frame's number and time, its
presentation timestamp and, for video chunks, the encoded packet itself (for image
chunks, the CRC32 of the frame's file). A process killed at any moment leaves every
record it had written; a torn last record fails its length or CRC check and is dropped.
Each record starts with a sync marker: a record damaged later (bit rot) is skipped,
named in a warning, and reading goes on at the next marker, from the next keyframe (a
frame after a lost one could not decode right). When the chunk closes normally its index
``.npz`` is written and the journal removed, so a journal on disk always means "this
chunk did not finish".

A reader following a store being written reads a journal again from where it stopped
(:func:`read_journal` with ``after``): only the records appended since are read.
"""

from __future__ import annotations

import json
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptStoreError, StoreWarning
from .atomic import atomic_write
from .storage import StorePath

MAGIC = b"FRAMESTORE-JOURNAL-3\n"
_MAGIC_UNSYNCED = b"FRAMESTORE-JOURNAL-2\n"  # records without sync markers (read only)
SYNC = b"\x00FSJREC\xa5"
_HEADER_LEN = struct.Struct("<I")
# frame_number, frame_time, pts, flags, payload size, payload crc32; then the fields' crc32
_FIELDS = struct.Struct("<qdqBII")
_CRC = struct.Struct("<I")
FLAG_KEYFRAME = 1


class JournalWriter:
    """Appends frame records to a chunk's journal; each record reaches the OS at once."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self._extra_size = columns_dtype(header).itemsize
        # the header goes in whole before records follow: a journal never exists without it
        blob = json.dumps(header).encode()
        atomic_write(path, MAGIC + _HEADER_LEN.pack(len(blob)) + blob, fsync=False)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)

    def append(
        self,
        frame_number: int,
        frame_time: float,
        pts: int,
        keyframe: bool,
        payload: Any = b"",  # anything with the buffer protocol (bytes, av.Packet)
        payload_crc: int | None = None,
        columns: bytes = b"",
    ) -> None:
        """Append one record with a single ``writev`` (the payload is not copied).
        ``payload_crc``, the payload's CRC32, is computed here unless given; ``columns``
        are the frame's per-frame column values, packed as the header's ``columns`` say."""
        if len(columns) != self._extra_size:
            raise ValueError(f"expected {self._extra_size} bytes of column values, got {len(columns)}")
        flags = FLAG_KEYFRAME if keyframe else 0
        size = memoryview(payload).nbytes
        crc = zlib.crc32(payload) if payload_crc is None else payload_crc
        head = _FIELDS.pack(frame_number, frame_time, pts, flags, size, crc) + columns
        parts = [SYNC, head, _CRC.pack(zlib.crc32(head)), payload]
        written = os.writev(self._fd, parts)
        if written < len(SYNC) + len(head) + _CRC.size + size:  # a short write: finish it the slow way
            self._write_all(b"".join(bytes(p) for p in parts)[written:])

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True)
class JournalContents:
    """The complete records of a journal, as arrays, plus where each payload lies."""

    path: StorePath
    header: dict[str, Any]
    frame_number: np.ndarray
    frame_time: np.ndarray
    pts: np.ndarray
    keyframe: np.ndarray
    payload_offset: np.ndarray
    payload_size: np.ndarray
    payload_crc: np.ndarray
    columns: dict[str, np.ndarray]  # the per-frame columns the header declares
    end: int = 0  # the byte after the last record read: where reading goes on
    synced: bool = True  # records start with sync markers (every journal since version 3)

    def __len__(self) -> int:
        return len(self.frame_number)

    def read_payloads(self, start: int, stop: int) -> list[bytes]:
        """Payloads ``start .. stop - 1`` in one pass over the file."""
        out = []
        with self.path.open("rb") as f:
            for k in range(start, stop):
                f.seek(int(self.payload_offset[k]))
                out.append(f.read(int(self.payload_size[k])))
        return out


def read_journal(path: StorePath, after: JournalContents | None = None) -> JournalContents:
    """Parse a journal, keeping every intact record: a torn tail is dropped, a damaged
    record skipped with a :class:`~framestore.StoreWarning` naming the journal. With
    ``after`` (this journal as read before), only the bytes appended since are read and
    their records added to ``after``'s: a torn tail then is a record still being written."""
    if after is not None:
        with path.open("rb") as f:
            f.seek(after.end)
            data = f.read()
        return _parse_records(path, after.header, data, 0, after.end, after.synced, after)
    data = path.read_bytes()
    synced = data.startswith(MAGIC)
    if not (synced or data.startswith(_MAGIC_UNSYNCED)) or len(data) < len(MAGIC) + _HEADER_LEN.size:
        raise CorruptStoreError(f"{path}: not a framestore journal (bad or missing header)")
    pos = len(MAGIC)
    (hlen,) = _HEADER_LEN.unpack_from(data, pos)
    pos += _HEADER_LEN.size
    try:
        header = json.loads(data[pos : pos + hlen])
    except ValueError:
        raise CorruptStoreError(f"{path}: journal header is not valid JSON") from None
    if not isinstance(header, dict):
        raise CorruptStoreError(f"{path}: journal header is not a JSON object")
    pos += hlen
    return _parse_records(path, header, data, pos, 0, synced, None)


def _parse_records(
    path: StorePath,
    header: dict[str, Any],
    data: bytes,
    pos: int,
    base: int,
    synced: bool,
    before: JournalContents | None,
) -> JournalContents:
    """The records in ``data`` from ``pos`` on (``data`` is the journal's bytes from
    offset ``base``), after those of ``before``."""
    extra = columns_dtype(header, path)
    records = _Records(data, extra.itemsize, SYNC if synced else b"", bool(header.get("frame_crc")))
    rows: list[tuple[int, float, int, int, int, int, int]] = []
    extras: list[bytes] = []
    skipped: list[int] = []  # byte offsets where damage was skipped
    after_gap = False
    while (found := records.at(pos)) is not None or (
        synced and (found := records.next_after(pos)) is not None
    ):
        record, start, end = found
        if start != pos:
            skipped.append(base + pos)
            after_gap = True
        pos = end
        if after_gap and not record[3] & FLAG_KEYFRAME:
            skipped.append(base + start)  # intact, but it needs a frame that was lost
            continue
        after_gap = False
        rows.append((*record[:4], base + record[4], *record[5:7]))
        extras.append(record[-1])
    if synced and pos < len(data) and not records.torn(pos):
        skipped.append(base + pos)  # a whole last record that fails its checks: damage, not a kill
        pos = len(data)
    if skipped:
        warnings.warn(
            StoreWarning(
                f"{path}: {len(skipped)} damaged journal record(s) skipped (from byte(s) "
                f"{', '.join(map(str, skipped[:5]))}); the {len(rows)} intact records are kept"
            ),
            stacklevel=3,
        )
    values = np.frombuffer(b"".join(extras), dtype=extra) if extra.itemsize else None
    cols = list(zip(*rows, strict=True)) if rows else [()] * 7
    new = {
        "frame_number": np.array(cols[0], dtype=np.int64),
        "frame_time": np.array(cols[1], dtype=np.float64),
        "pts": np.array(cols[2], dtype=np.int64),
        "keyframe": (np.array(cols[3], dtype=np.uint8) & FLAG_KEYFRAME).astype(bool),
        "payload_offset": np.array(cols[4], dtype=np.int64),
        "payload_size": np.array(cols[5], dtype=np.int64),
        "payload_crc": np.array(cols[6], dtype=np.uint32),
    }
    columns = {} if values is None else {name: values[name].copy() for name in extra.names or ()}
    if before is not None:
        new = {key: np.concatenate([getattr(before, key), value]) for key, value in new.items()}
        columns = {name: np.concatenate([before.columns[name], columns[name]]) for name in columns}
    return JournalContents(path=path, header=header, columns=columns, end=base + pos, synced=synced, **new)


_Record = tuple[int, float, int, int, int, int, int, bytes]


@dataclass(frozen=True)
class _Records:
    """Finds and checks the records of a journal's bytes."""

    data: bytes
    extra_size: int
    sync: bytes
    external_payload: bool  # image chunks: the CRC is of the frame's file, not of a payload

    def at(self, pos: int) -> tuple[_Record, int, int] | None:
        """The intact record starting at ``pos``, its start and end; None if there is none."""
        data, sync = self.data, self.sync
        head_at = pos + len(sync)
        head_end = head_at + _FIELDS.size + self.extra_size
        if head_end + _CRC.size > len(data) or data[pos:head_at] != sync:
            return None
        head = data[head_at:head_end]
        if zlib.crc32(head) != _CRC.unpack_from(data, head_end)[0]:
            return None
        fn, ft, pts, flags, size, crc = _FIELDS.unpack_from(head)
        start = head_end + _CRC.size
        if start + size > len(data):
            return None
        if not self.external_payload and zlib.crc32(data[start : start + size]) != crc:
            return None
        return (fn, ft, pts, flags, start, size, crc, head[_FIELDS.size :]), pos, start + size

    def torn(self, pos: int) -> bool:
        """Whether the bytes from ``pos`` to the end are a record cut short, as a writer
        killed while appending it leaves them (writes only ever add to the end)."""
        data, sync = self.data, self.sync
        tail = data[pos:]
        head_at = pos + len(sync)
        head_end = head_at + _FIELDS.size + self.extra_size
        if head_end + _CRC.size > len(data):
            return sync.startswith(tail[: len(sync)])
        head = data[head_at:head_end]
        if data[pos:head_at] != sync or zlib.crc32(head) != _CRC.unpack_from(data, head_end)[0]:
            return False
        size: int = _FIELDS.unpack_from(head)[4]
        return head_end + _CRC.size + size > len(data)

    def next_after(self, pos: int) -> tuple[_Record, int, int] | None:
        """The first intact record after damage at ``pos``; None if only a torn tail follows."""
        at = self.data.find(self.sync, pos + 1)
        while at >= 0:
            if (found := self.at(at)) is not None:
                return found
            at = self.data.find(self.sync, at + 1)
        return None


def columns_dtype(header: dict[str, Any], path: StorePath | None = None) -> np.dtype:
    """The packed record dtype of the per-frame columns a journal header declares."""
    try:
        return np.dtype([(str(name), np.dtype(kind)) for name, kind in header.get("columns", [])])
    except (TypeError, ValueError) as exc:
        raise CorruptStoreError(f"{path}: journal header declares bad columns ({exc})") from None
