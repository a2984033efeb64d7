"""imgstore's conventions where the reader, the writer and the factory need them: its
rules for a store's path, its extra data files, ``reindex`` and ``insert_chunk``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TypeVar, cast

import numpy as np

from .._disk.checksum import checksum_files
from .._disk.columns import FRAME_NUMBER, FRAME_TIME
from .._disk.index import load_npz_index, load_yaml_index, write_index
from .._disk.index_cache import write_index_cache
from .._disk.layout import Layout
from .._disk.metadata import METADATA_FILENAME
from .._disk.storage import StorePath
from ..codecs.video import index_video_file
from ..errors import InvalidFrameError

PathArg = str | os.PathLike[str]
P = TypeVar("P", bound=StorePath)
BEFORE_REINDEX = "_frame_number_before_reindex"


def store_directory(path: PathArg | None, basedir: PathArg | None, reading: bool) -> PathArg:
    """The store a call names by ``path`` (its directory or its ``metadata.yaml``) or by
    ``basedir`` (its directory only), as imgstore resolves them; ``ValueError`` if both
    or neither are given, or ``basedir`` names the metadata file. A missing store is the
    reader's to report."""
    if path is not None and basedir is not None:
        raise ValueError("give the store as path or as basedir, not both")
    if basedir is not None:
        if os.path.basename(os.fspath(basedir)) == METADATA_FILENAME:
            raise ValueError(f"basedir should be the store's directory, not its {METADATA_FILENAME}")
        return basedir
    if path is None:
        raise ValueError(f"give a store's directory or its {METADATA_FILENAME} (path= or basedir=)")
    if not reading and os.path.basename(os.fspath(path)) == METADATA_FILENAME:
        return os.path.dirname(os.fspath(path)) or "."
    return path


def extra_data_files(layout: Layout[P]) -> list[P]:
    """Each chunk's extra data file, where it has one, as imgstore finds them: Motif's in
    the store's root first, else the one beside the chunk's index."""
    found = []
    for n in layout.chunk_numbers():
        ours = layout.extra_path(n)
        older = cast(P, ours.with_name(ours.name.replace(".extra.", ".extra_data.")))
        found += [p for p in (layout.motif_extra_path(n), ours, older) if p.is_file()][:1]
    return found


def reindex(layout: Layout[Path], keys: tuple[str, ...] | None) -> None:
    """Renumber a store's frames so the one frame numbered 0 stays 0 and those before it
    count up to it from below (-k .. -1), as imgstore's ``reindex``; the old numbers are
    kept in each index as ``_frame_number_before_reindex`` and extra data follows them.
    ``ValueError`` unless exactly one frame is numbered 0. ``keys``: the index columns to
    keep (None: all)."""
    numbers = sorted(layout.chunk_numbers())
    chunks = {n: _load_index(layout, n, keys) for n in numbers}
    old = np.concatenate([chunks[n][FRAME_NUMBER] for n in numbers]) if numbers else np.zeros(0, np.int64)
    zeros = np.flatnonzero(old == 0)
    if len(zeros) != 1:
        raise ValueError(f"{layout.root}: {len(zeros)} frames are numbered 0; reindex needs exactly one")
    new = old.copy()
    new[: zeros[0]] = np.arange(-int(zeros[0]), 0)
    start = 0
    for n in numbers:
        columns = chunks[n]
        count = len(columns[FRAME_NUMBER])
        columns[BEFORE_REINDEX] = columns[FRAME_NUMBER]
        columns[FRAME_NUMBER] = new[start : start + count]
        start += count
        write_index(layout.index_path(n), columns)
        layout.legacy_index_path(n).unlink(missing_ok=True)
    for path in extra_data_files(layout):
        records = json.loads(path.read_text(encoding="utf-8"))
        for record in records:
            if 0 <= int(record.get("frame_index", -1)) < len(new):
                record[BEFORE_REINDEX] = record["frame_number"]
                record["frame_number"] = int(new[int(record["frame_index"])])
        path.write_text(json.dumps(records), encoding="utf-8")
    if layout.index_cache_path.exists():
        write_index_cache(layout)


def _load_index(layout: Layout[Path], n: int, keys: tuple[str, ...] | None) -> dict[str, np.ndarray]:
    path = layout.index_path(n)
    if path.exists():
        chunk = load_npz_index(n, path, keys)
    else:
        chunk = load_yaml_index(n, layout.legacy_index_path(n))
    columns = dict(chunk.columns)
    if chunk.checksum is not None:
        columns.update(chunk.checksum.to_columns())
    return columns


def insert_chunk(
    layout: Layout[Path],
    n: int,
    video: Path,
    frame_numbers: np.ndarray,
    frame_times: np.ndarray,
    shape: tuple[int, ...],
    move: bool,
) -> None:
    """Make the finished video file ``video`` chunk ``n`` of the store, with these frame
    numbers and times, indexed as if framestore had written it (timestamps, keyframes,
    each frame's CRC32, the file's checksum)."""
    if video.suffix != layout.extension:
        raise ValueError(f"{video}: a chunk of this store must be a {layout.extension} file")
    if len(frame_numbers) != len(frame_times):
        raise ValueError(f"{len(frame_numbers)} frame numbers but {len(frame_times)} frame times")
    columns = index_video_file(video, shape)
    if len(columns[FRAME_NUMBER]) != len(frame_numbers):
        raise InvalidFrameError(
            f"{video}: holds {len(columns[FRAME_NUMBER])} frames, but {len(frame_numbers)} "
            "frame numbers were given"
        )
    columns[FRAME_NUMBER] = np.asarray(frame_numbers, dtype=np.int64)
    columns[FRAME_TIME] = np.asarray(frame_times, dtype=np.float64)
    target = layout.chunk_path(n)
    (shutil.move if move else shutil.copyfile)(video, target)
    columns.update(checksum_files([target]).to_columns())
    write_index(layout.index_path(n), columns)
