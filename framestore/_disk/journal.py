"""The chunk journal: what makes a killed writer lose (almost) nothing.

The journal begins with a header (JSON, then its CRC32) saying how to decode the chunk.
While a chunk is open the writer appends one record per finished frame to
``NNNNNN.journal``, with a single unbuffered ``write``: the frame's number and time, its
presentation timestamp and, for video chunks, the encoded packet's size and CRC32 and the
packet itself, or, where the muxer has just written the packet's bytes unchanged into the
chunk file (NUT, AVI), only their offset there: the chunk file is then the crash record
of the bytes, and the journal of where they are (the packet is written, and reaches the
OS, before its record). For image chunks a record holds the CRC32 of the frame's file. A
process killed at any moment leaves every record it had written; a torn last record
fails its length or CRC check and is dropped, and a packet read from the chunk file is
checked against its record's CRC32, so bytes cut short or changed are never a frame.
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
import re
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..errors import CorruptStoreError, StoreWarning
from .atomic import atomic_write
from .checksum import crc32
from .storage import StorePath

MAGIC = b"FRAMESTORE-JOURNAL-4\n"
_MAGIC_NO_OFFSET = b"FRAMESTORE-JOURNAL-3\n"  # every payload in the journal (read only)
_MAGIC_UNSYNCED = b"FRAMESTORE-JOURNAL-2\n"  # records without sync markers (read only)
SYNC = b"\x00FSJREC\xa5"
_HEADER_LEN = struct.Struct("<I")
# frame_number, frame_time, pts, flags, payload size, payload crc32, payload offset in the
# chunk file (FLAG_IN_CHUNK); then the per-frame columns and the crc32 of all that
_FIELDS = struct.Struct("<qdqBIIq")
_FIELDS_3 = struct.Struct("<qdqBII")  # journals before version 4
_CRC = struct.Struct("<I")
FLAG_KEYFRAME = 1
FLAG_IN_CHUNK = 2  # the payload is not in the journal but at its offset in the chunk file
# the header key naming the chunk file's suffix, when records may point into it
CHUNK_SUFFIX = "chunk_suffix"


class JournalWriter:
    """Appends frame records to a chunk's journal; each record reaches the OS at once."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self._extra_size = columns_dtype(header).itemsize
        # the header, with its CRC32, goes in whole before records follow: a journal never
        # exists without it
        blob = json.dumps(header).encode()
        head = MAGIC + _HEADER_LEN.pack(len(blob)) + blob + _CRC.pack(zlib.crc32(blob))
        atomic_write(path, head, fsync=False)
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
        chunk_offset: int | None = None,
    ) -> None:
        """Append one record with a single ``writev`` (the payload is not copied).
        ``payload_crc``, the payload's CRC32, is computed here unless given; ``columns``
        are the frame's per-frame column values, packed as the header's ``columns`` say.
        With ``chunk_offset`` the payload is already in the chunk file at that offset:
        only its size and CRC32 are recorded."""
        if len(columns) != self._extra_size:
            raise ValueError(f"expected {self._extra_size} bytes of column values, got {len(columns)}")
        flags = (FLAG_KEYFRAME if keyframe else 0) | (0 if chunk_offset is None else FLAG_IN_CHUNK)
        size = memoryview(payload).nbytes
        crc = zlib.crc32(payload) if payload_crc is None else payload_crc
        head = _FIELDS.pack(frame_number, frame_time, pts, flags, size, crc, chunk_offset or 0) + columns
        parts = [SYNC, head, _CRC.pack(zlib.crc32(head))]
        if chunk_offset is None:
            parts.append(payload)
        written = os.writev(self._fd, parts)
        if written < sum(memoryview(p).nbytes for p in parts):  # a short write: finish it the slow way
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
    payload_offset: np.ndarray  # in the journal, or in the chunk file where ``in_chunk``
    payload_size: np.ndarray
    payload_crc: np.ndarray
    in_chunk: np.ndarray
    columns: dict[str, np.ndarray]  # the per-frame columns the header declares
    end: int = 0  # the byte after the last record read: where reading goes on
    synced: bool = True  # records start with sync markers (every journal since version 3)
    version: int = 4  # of the record layout, from the journal's first line

    def __len__(self) -> int:
        return len(self.frame_number)

    @property
    def chunk_path(self) -> StorePath:
        """The chunk file the records with ``in_chunk`` point into (beside the journal)."""
        suffix = self.header.get(CHUNK_SUFFIX)
        if not isinstance(suffix, str) or not re.fullmatch(r"\.[a-z0-9]{1,8}", suffix):
            raise CorruptStoreError(f"{self.path}: journal header names no valid chunk file suffix")
        return self.path.with_suffix(suffix)

    def read_payloads(self, start: int, stop: int) -> list[bytes]:
        """Payloads ``start .. stop - 1`` in one pass over the file(s); one in the chunk
        file that fails its CRC32 check is a :class:`~framestore.CorruptStoreError`."""
        out = []
        for k, payload in self._payloads(range(start, stop)):
            if payload is None:
                raise CorruptStoreError(
                    f"{self.chunk_path}: frame {k} (0-based in this chunk) fails the CRC32 its "
                    "journal records: the file is damaged"
                )
            out.append(payload)
        return out

    def intact_payloads(self) -> tuple[list[int], list[bytes]]:
        """Every payload that passes its check, with its record number: one in the chunk
        file that fails its CRC32 (a file cut short or changed under its journal), and the
        frames after it up to the next keyframe (they could not decode right), are left
        out, named in a :class:`~framestore.StoreWarning`."""
        kept: list[int] = []
        payloads: list[bytes] = []
        dropped: list[int] = []
        for k, payload in self._payloads(range(len(self))):
            if payload is None or (dropped and dropped[-1] == k - 1 and not self.keyframe[k]):
                dropped.append(k)
            else:
                kept.append(k)
                payloads.append(payload)
        if dropped:
            warnings.warn(
                StoreWarning(
                    f"{self.chunk_path}: {len(dropped)} frame(s) its journal records fail their "
                    f"CRC32 check or follow one that does (0-based: {', '.join(map(str, dropped[:5]))}); "
                    "they are left out"
                ),
                stacklevel=2,
            )
        return kept, payloads

    def _payloads(self, numbers: Iterable[int]) -> Iterator[tuple[int, bytes | None]]:
        """Payload ``k`` for each ``k`` of ``numbers``, each file opened once; None for one
        in the chunk file that fails its CRC32 check (the journal's own were checked when
        it was read)."""
        with ExitStack() as stack:
            files: dict[bool, IO[bytes]] = {}
            for k in numbers:
                in_chunk = bool(self.in_chunk[k])
                if in_chunk not in files:
                    path = self.chunk_path if in_chunk else self.path
                    files[in_chunk] = stack.enter_context(path.open("rb"))
                f, size = files[in_chunk], int(self.payload_size[k])
                f.seek(int(self.payload_offset[k]))
                payload = f.read(size)
                intact = not in_chunk or (len(payload) == size and crc32(payload) == self.payload_crc[k])
                yield k, payload if intact else None


def read_journal(path: StorePath, after: JournalContents | None = None) -> JournalContents:
    """Parse a journal, keeping every intact record: a torn tail is dropped, a damaged
    record skipped with a :class:`~framestore.StoreWarning` naming the journal. With
    ``after`` (this journal as read before), only the bytes appended since are read and
    their records added to ``after``'s: a torn tail then is a record still being written."""
    if after is not None:
        with path.open("rb") as f:
            f.seek(after.end)
            data = f.read()
        return _parse_records(path, after.header, data, 0, after.end, after.version, after)
    data = path.read_bytes()
    version = next((v for v, magic in _MAGICS.items() if data.startswith(magic)), None)
    if version is None or len(data) < len(MAGIC) + _HEADER_LEN.size:
        raise CorruptStoreError(f"{path}: not a framestore journal (bad or missing header)")
    pos = len(MAGIC)
    (hlen,) = _HEADER_LEN.unpack_from(data, pos)
    pos += _HEADER_LEN.size
    if version >= 4 and (  # the header's CRC32 follows it
        pos + hlen + _CRC.size > len(data)
        or zlib.crc32(data[pos : pos + hlen]) != _CRC.unpack_from(data, pos + hlen)[0]
    ):
        raise CorruptStoreError(f"{path}: journal header fails its CRC32 check: the journal is damaged")
    try:
        header = json.loads(data[pos : pos + hlen])
    except ValueError:
        raise CorruptStoreError(f"{path}: journal header is not valid JSON") from None
    if not isinstance(header, dict):
        raise CorruptStoreError(f"{path}: journal header is not a JSON object")
    pos += hlen + (_CRC.size if version >= 4 else 0)
    return _parse_records(path, header, data, pos, 0, version, None)


_MAGICS = {4: MAGIC, 3: _MAGIC_NO_OFFSET, 2: _MAGIC_UNSYNCED}


def _parse_records(
    path: StorePath,
    header: dict[str, Any],
    data: bytes,
    pos: int,
    base: int,
    version: int,
    before: JournalContents | None,
) -> JournalContents:
    """The records in ``data`` from ``pos`` on (``data`` is the journal's bytes from
    offset ``base``), after those of ``before``."""
    extra = columns_dtype(header, path)
    synced = version >= 3
    records = _Records(
        data,
        _FIELDS if version >= 4 else _FIELDS_3,
        extra.itemsize,
        SYNC if synced else b"",
        bool(header.get("frame_crc")),
    )
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
        offset = record[4] if record[3] & FLAG_IN_CHUNK else base + record[4]
        rows.append((*record[:4], offset, *record[5:7]))
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
    flags = np.array(cols[3], dtype=np.uint8)
    new = {
        "frame_number": np.array(cols[0], dtype=np.int64),
        "frame_time": np.array(cols[1], dtype=np.float64),
        "pts": np.array(cols[2], dtype=np.int64),
        "keyframe": (flags & FLAG_KEYFRAME).astype(bool),
        "payload_offset": np.array(cols[4], dtype=np.int64),
        "payload_size": np.array(cols[5], dtype=np.int64),
        "payload_crc": np.array(cols[6], dtype=np.uint32),
        "in_chunk": (flags & FLAG_IN_CHUNK).astype(bool),
    }
    columns = {} if values is None else {name: values[name].copy() for name in extra.names or ()}
    if before is not None:
        new = {key: np.concatenate([getattr(before, key), value]) for key, value in new.items()}
        columns = {name: np.concatenate([before.columns[name], columns[name]]) for name in columns}
    return JournalContents(
        path=path, header=header, columns=columns, end=base + pos, synced=synced, version=version, **new
    )


_Record = tuple[int, float, int, int, int, int, int, bytes]


@dataclass(frozen=True)
class _Records:
    """Finds and checks the records of a journal's bytes."""

    data: bytes
    fields: struct.Struct  # the record layout of this journal's version
    extra_size: int
    sync: bytes
    external_payload: bool  # image chunks: the CRC is of the frame's file, not of a payload

    def _head(self, pos: int) -> tuple[tuple[Any, ...], int] | None:
        """The checked fields of the record at ``pos`` and where its payload starts;
        None when they are cut short or fail their checks."""
        data, sync = self.data, self.sync
        head_at = pos + len(sync)
        head_end = head_at + self.fields.size + self.extra_size
        if head_end + _CRC.size > len(data) or data[pos:head_at] != sync:
            return None
        head = data[head_at:head_end]
        if zlib.crc32(head) != _CRC.unpack_from(data, head_end)[0]:
            return None
        return (*self.fields.unpack_from(head), head[self.fields.size :]), head_end + _CRC.size

    def at(self, pos: int) -> tuple[_Record, int, int] | None:
        """The intact record starting at ``pos``, its start and end; None if there is none."""
        found = self._head(pos)
        if found is None:
            return None
        (fn, ft, pts, flags, size, crc, *where, columns), start = found
        if flags & FLAG_IN_CHUNK:  # the payload is in the chunk file, checked when read
            return (fn, ft, pts, flags, where[0], size, crc, columns), pos, start
        if start + size > len(self.data):
            return None
        if not self.external_payload and zlib.crc32(self.data[start : start + size]) != crc:
            return None
        return (fn, ft, pts, flags, start, size, crc, columns), pos, start + size

    def torn(self, pos: int) -> bool:
        """Whether the bytes from ``pos`` to the end are a record cut short, as a writer
        killed while appending it leaves them (writes only ever add to the end)."""
        data, sync = self.data, self.sync
        if pos + len(sync) + self.fields.size + self.extra_size + _CRC.size > len(data):
            return sync.startswith(data[pos : pos + len(sync)])
        found = self._head(pos)
        if found is None:
            return False
        fields, start = found
        return not fields[3] & FLAG_IN_CHUNK and start + fields[4] > len(data)

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
