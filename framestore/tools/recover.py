"""Turning a store whose writer died into a finished store every tool can read.

framestore itself reads unfinished chunks from their journals; ``recover`` rewrites each
such chunk as a normal chunk file with its index (remuxing the packets the journal holds
or points to in the chunk file, each checked against its CRC32: no re-encoding, so lossy
formats lose nothing more), then removes the journals and the writing marker. A parallel
job's store also loses its unfinished parts (and a killed stitch's store its scratch
imports); if the job wrote fewer frames than its marker says it meant to, the store stays
marked unfinished.
"""

from __future__ import annotations

import base64
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._disk.atomic import replace
from .._disk.checksum import checksum_files, crc32
from .._disk.columns import CRC32, FRAME_NUMBER, FRAME_TIME
from .._disk.index import write_index
from .._disk.index_cache import load_chunk_indexes, opened_when_killed, write_index_cache
from .._disk.journal import JournalContents, columns_dtype, read_journal
from .._disk.layout import PARTS_DIR, SCRATCH_DIR, Layout, marker_frames_expected
from .._disk.lock import StoreLock
from .._disk.storage import local_path, refuse_link
from ..codecs import FormatSpec
from ..codecs.base import ImageSpec
from ..codecs.video import VideoChunkWriter
from ..core.description import StoreDescription
from ..errors import CorruptStoreError


@dataclass
class RecoveryReport:
    """What :func:`recover` did."""

    path: Path
    chunks: dict[int, int] = field(default_factory=dict)  # chunk number -> frames kept
    parts_removed: bool = False  # a parallel job's unfinished parts (or a tool's scratch) were removed
    frames_missing: int = 0  # frames its job meant to write but did not: the store stays unfinished

    @property
    def frames(self) -> int:
        return sum(self.chunks.values())


def recover(path: str | os.PathLike[str], *, force_dead: bool = False) -> RecoveryReport:
    """Finish every chunk of the store at ``path`` that only its journal describes.

    Refuses (:class:`~framestore.StoreBusyError`) while another process holds the store's
    lock, or while the writing marker names a process that is alive (on this host) or
    cannot be checked (on another host); ``force_dead``: that writer is known to be dead.
    """
    store = StoreDescription.read(local_path(path))
    layout = store.layout.on_disk()
    with StoreLock(layout.root, "recover it", force_dead=force_dead):
        return _recover(store, layout)


def _recover(store: StoreDescription, layout: Layout[Path]) -> RecoveryReport:
    fmt, md = store.format, store.metadata
    report = RecoveryReport(layout.root)
    for name in (PARTS_DIR, SCRATCH_DIR):
        leftover = layout.root / name
        refuse_link(leftover)
        if leftover.exists():
            shutil.rmtree(leftover)
            report.parts_removed = True
    numbers = layout.chunk_numbers()
    if numbers and opened_when_killed(layout, numbers[-1]):  # nothing finished in it
        layout.remove_chunk(numbers[-1])
    for pattern in ("*.journal.tmp", "*.recovering.*"):  # left by a killed writer or recover
        for leftover in layout.root.glob(pattern):
            leftover.unlink()
    for n in numbers:
        journal_path = layout.journal_path(n)
        if not journal_path.is_file():
            continue
        if layout.index_path(n).is_file():  # finished just before the crash
            journal_path.unlink()
            continue
        journal = read_journal(journal_path)
        if fmt.image is not None:
            columns = _recover_images(layout, n, journal)
        else:
            columns = _recover_video(layout, n, journal, fmt, store.spec, md.fps or 25.0, md.codec_options)
        if count := len(columns[FRAME_NUMBER]):
            columns.update(checksum_files(layout.frame_files(n, count)).to_columns())
            write_index(layout.index_path(n), columns)
        journal_path.unlink()
        report.chunks[n] = len(columns[FRAME_NUMBER])
    write_index_cache(layout)
    expected = marker_frames_expected(layout.marker_path)
    if expected is not None:
        report.frames_missing = max(0, expected - sum(c.count for c in load_chunk_indexes(layout)))
    if not report.frames_missing:
        layout.marker_path.unlink(missing_ok=True)
    return report


def _recover_images(layout: Layout[Path], n: int, journal: JournalContents) -> dict[str, np.ndarray]:
    """The journal's frames, their files renumbered 0.. in order (a damaged record skipped
    leaves a gap) and each checked against the CRC32 the journal holds; files no record
    names are removed."""
    folder = layout.chunk_path(n)
    keep = {layout.image_path(n, int(f)).name for f in journal.pts}
    for leftover in folder.iterdir():
        if leftover.name not in keep and leftover.name != layout.index_path(n).name:
            leftover.unlink()
    crcs = []
    for k, f in enumerate(journal.pts):
        source, target = layout.image_path(n, int(f)), layout.image_path(n, k)
        crc = crc32(source.read_bytes())
        if journal.header.get("frame_crc") and crc != journal.payload_crc[k]:
            raise CorruptStoreError(f"{source}: fails the CRC32 its journal records: the file is damaged")
        if source != target:
            os.replace(source, target)
        crcs.append(crc)
    return {
        FRAME_NUMBER: journal.frame_number,
        FRAME_TIME: journal.frame_time,
        CRC32: np.array(crcs, dtype=np.uint32),
        **journal.columns,
    }


def _recover_video(
    layout: Layout[Path],
    n: int,
    journal: JournalContents,
    fmt: FormatSpec,
    spec: ImageSpec,
    fps: float,
    options: dict[str, str],
) -> dict[str, np.ndarray]:
    assert fmt.video is not None
    target = layout.chunk_path(n)
    # packets the journal points to in the chunk file are checked against their CRC32:
    # a torn or damaged one is left out, never remuxed as a frame
    kept, payloads = journal.intact_payloads()
    if not kept:  # the writer died before a frame of this chunk was finished
        local_path(target).unlink(missing_ok=True)  # the file it began holds none either
        return {FRAME_NUMBER: journal.frame_number[:0]}
    tmp = target.with_name(f"{n:06d}.recovering{target.suffix}")
    tmp_journal = tmp.with_name(tmp.name + ".journal")
    columns_header = journal.header.get("columns", [])
    packed = np.empty(len(journal), dtype=columns_dtype(journal.header))
    for name, values in journal.columns.items():
        packed[name] = values
    writer: VideoChunkWriter | None = None
    try:
        writer = VideoChunkWriter(tmp, tmp_journal, fmt.video, spec, fps, options, columns_header)
        if writer.extradata != base64.b64decode(journal.header.get("extradata", "")):
            raise CorruptStoreError(
                f"{journal.path}: the codec set-up differs from the one that wrote this "
                "journal, so its packets cannot be remuxed here"
            )
        for k, payload in zip(kept, payloads, strict=True):
            writer.add_packet(
                payload,
                int(journal.pts[k]),
                bool(journal.keyframe[k]),
                int(journal.frame_number[k]),
                float(journal.frame_time[k]),
                packed[k].tobytes() if packed.dtype.itemsize else b"",
            )
        columns = {**writer.close(), **{name: values[kept] for name, values in journal.columns.items()}}
    except BaseException:  # a full disk, say: leave nothing half-written, so a retry starts clean
        if writer is not None:
            writer.abort()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        tmp_journal.unlink(missing_ok=True)
    replace(tmp, target)
    return columns
