"""Checking that a store is whole: every file present, unchanged, and decodable.

For each chunk: its index is readable and its chunk file (or image files) present; the
checksum recorded when the chunk was finished still matches the files (size first, so a
truncation is named as one); and every frame decodes, passes its per-frame CRC32 and is
where the index says, so the frame counts match the index. Stores written before chunk
checksums existed, and imgstore's stores, get every check but the checksum one (the report
says so); imgstore's have no per-frame CRCs either.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import av

from .._disk.checksum import checksum_files
from .._disk.columns import CRC32
from .._disk.index import ChunkIndex, load_npz_index, load_yaml_index
from .._disk.index_cache import missing_chunks
from .._disk.layout import Layout
from .._disk.storage import StorePath
from ..core.description import StoreDescription
from ..core.reader import open_chunk_reader
from ..core.video_file import VideoFileDialect
from ..errors import CorruptStoreError
from ..parallel.tasks import run_ordered


@dataclass(frozen=True)
class Problem:
    """One damaged or missing file; ``message`` names it and says what is wrong."""

    file: StorePath
    message: str


@dataclass
class VerifyReport:
    """What :func:`verify` checked and found."""

    path: StorePath
    chunks: int = 0
    frames: int = 0  # frames the indexes list
    frames_decoded: int = 0
    decoded: bool = True  # False when asked not to decode
    checksums_checked: int = 0  # chunks whose recorded checksum was compared
    checksums_absent: int = 0  # chunks finished without a checksum (older writers, imgstore)
    frame_crcs: bool = True  # whether the indexes hold per-frame CRC32s
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "ok": self.ok,
            "chunks": self.chunks,
            "frames": self.frames,
            "frames_decoded": self.frames_decoded,
            "decoded": self.decoded,
            "checksums_checked": self.checksums_checked,
            "checksums_absent": self.checksums_absent,
            "frame_crcs": self.frame_crcs,
            "problems": [{"file": str(p.file), "problem": p.message} for p in self.problems],
        }

    def lines(self) -> list[str]:
        """The report as text, one problem per line."""
        decoded = f", {self.frames_decoded} decoded" if self.decoded else " (not decoded)"
        chunks = f"{self.chunks} chunk{'s' * (self.chunks != 1)}"
        out = [f"{self.path}: {chunks} indexed, {self.frames} frame{'s' * (self.frames != 1)}{decoded}"]
        if self.checksums_absent:
            out.append(
                f"  chunk checksums absent for {self.checksums_absent} of {self.chunks} chunks "
                "(written before framestore recorded them, or by imgstore)"
            )
        if self.checksums_checked:
            out.append(f"  chunk checksums checked: {self.checksums_checked}")
        if not self.frame_crcs:
            out.append("  per-frame CRC32s absent (imgstore's indexes have none, nor an MP4 URL's header)")
        out += [f"  {p.message}" for p in self.problems]
        out.append("OK" if self.ok else f"FAILED: {len(self.problems)} problem(s)")
        return out


def verify(
    path: str | os.PathLike[str],
    decode: bool = True,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    scheduler: Any = None,
) -> VerifyReport:
    """Check every file of the store at ``path``; problems are collected, not raised.

    ``decode=False`` checks presence, indexes and recorded checksums only (fast: no
    decoding). ``progress(done, total)`` is called as chunks are checked. Chunks are checked
    in parallel: on ``workers`` local processes (default: one per core, up to one per
    chunk; 1: in this process) or on a Dask cluster (``scheduler``: an address or a
    ``dask.distributed.Client``); the report is the same.
    """
    store = StoreDescription.read(path)  # without readable metadata nothing else can be checked
    layout = store.layout
    report = VerifyReport(layout.root, decoded=decode)
    if layout.marker_path.exists():
        report.problems.append(
            Problem(
                layout.marker_path,
                f"{layout.marker_path}: the store is being written, or its writer died "
                f"('framestore recover {layout.root}' finishes it)",
            )
        )
    chunks = []
    if isinstance(store.dialect, VideoFileDialect):  # a plain video file: indexed by demuxing
        chunks = store.load_chunks()
    else:
        numbers = layout.chunk_numbers()
        # framestore numbers its chunks without gaps; imgstore's do not promise it
        for n in missing_chunks(layout, numbers) if store.index_keys is None else []:
            where = layout.chunk_path(n)
            report.problems.append(
                Problem(where, f"{where}: missing: the store held this chunk, its frames are lost")
            )
        for n in numbers:
            chunk = _load_index(layout, n, store.index_keys, report)
            if chunk is not None and chunk.count:
                chunks.append(chunk)
    report.chunks = len(chunks)
    report.frames = sum(c.count for c in chunks)
    report.frame_crcs = all(CRC32 in c.columns for c in chunks)
    tasks = [_ChunkTask(store, chunk, decode) for chunk in chunks]
    done = 0
    for task, part in zip(
        tasks, run_ordered(_verify_chunk, tasks, workers=workers, scheduler=scheduler), strict=True
    ):
        report.problems += part.problems
        report.frames_decoded += part.frames_decoded
        report.checksums_checked += part.checksums_checked
        report.checksums_absent += part.checksums_absent
        done += task.chunk.count
        if progress is not None:
            progress(done, report.frames)
    return report


@dataclass(frozen=True)
class _ChunkTask:
    """Everything needed to check one chunk, in whatever process (picklable)."""

    store: StoreDescription
    chunk: ChunkIndex
    decode: bool


def _verify_chunk(task: _ChunkTask) -> VerifyReport:
    """One chunk's findings, as a report of its own."""
    layout, chunk = task.store.layout, task.chunk
    report = VerifyReport(layout.root, decoded=task.decode)
    files = layout.frame_files(chunk.number, chunk.count)
    missing = [f for f in files if not f.exists()]
    report.problems += [
        Problem(f, f"{f}: missing (listed by the index {chunk.source.name})") for f in missing
    ]
    if chunk.checksum is None:
        # a plain video file has none to have: its packets' CRC32s are checked as decoded
        report.checksums_absent += not isinstance(task.store.dialect, VideoFileDialect)
    elif not missing:
        report.checksums_checked += 1
        _check_checksum(layout, chunk, files, report)
    if task.decode and not missing:
        _decode_chunk(task.store, chunk, report)
    return report


def _load_index(
    layout: Layout[StorePath], n: int, keys: tuple[str, ...] | None, report: VerifyReport
) -> ChunkIndex | None:
    index_path = layout.index_path(n)
    legacy = layout.legacy_index_path(n)
    try:
        if index_path.is_file():
            return load_npz_index(n, index_path, keys)
        if legacy.is_file():
            return load_yaml_index(n, legacy)
    except (CorruptStoreError, OSError, zipfile.BadZipFile) as exc:
        report.problems.append(Problem(index_path, str(exc)))
        return None
    if layout.journal_path(n).is_file():
        message = f"unfinished chunk: only its journal {layout.journal_path(n).name} describes it"
    else:
        message = f"missing: chunk {layout.chunk_path(n).name} has no index, so its frames are unknown"
    report.problems.append(Problem(index_path, f"{index_path}: {message}"))
    return None


def _check_checksum(
    layout: Layout[StorePath], chunk: ChunkIndex, files: list[StorePath], report: VerifyReport
) -> None:
    assert chunk.checksum is not None
    where = layout.chunk_path(chunk.number)
    expected = chunk.checksum
    try:
        found = checksum_files(files, expected.algorithm)
    except OSError as exc:
        report.problems.append(Problem(where, f"{where}: unreadable ({exc})"))
        return
    if found.size < expected.size:
        message = f"truncated: {found.size} bytes, {expected.size} when written"
    elif found.size != expected.size:
        message = f"changed size: {found.size} bytes, {expected.size} when written"
    elif found.digest != expected.digest:
        message = f"contents changed since written ({expected.algorithm} mismatch): bit rot or an edit"
    else:
        return
    report.problems.append(Problem(where, f"{where}: {message}"))


def _decode_chunk(store: StoreDescription, chunk: ChunkIndex, report: VerifyReport) -> None:
    layout = store.layout
    reader = open_chunk_reader(store, chunk, verify=True)
    try:
        if store.format.image is not None:  # one file per frame: go on past a bad one, naming each
            for k in range(chunk.count):
                try:
                    reader.read(k)
                    report.frames_decoded += 1
                except CorruptStoreError as exc:
                    report.problems.append(Problem(layout.image_path(chunk.number, k), str(exc)))
            return
        where = layout.chunk_path(chunk.number)
        try:
            for _ in reader.iter_from(0, chunk.count):
                report.frames_decoded += 1
        except CorruptStoreError as exc:
            report.problems.append(Problem(where, str(exc)))
        except (av.FFmpegError, OSError) as exc:
            report.problems.append(Problem(where, f"{where}: cannot decode ({exc})"))
    finally:
        reader.close()
