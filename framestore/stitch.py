"""Stitching redundant recordings of one device into one store of the best copies.

For every aligned frame, the candidates (one per source that has the frame) are ranked by
their estimated damaged pixels (``stitch_scoring``: zeroed where another copy has data,
outvoted by the other copies, rougher where two copies conflict), then by metadata (more
buffers received, less zero padding), then by Sobel edge energy. The chosen copy is written
unchanged, and a scores table says, for every output frame, what each candidate scored and
why the winner won.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pandas as pd

from .align import align, named_stores
from .errors import StoreWarning
from .parallel import default_workers, open_reader, run_ordered
from .parts import PartedStore, PartSpec
from .reader import StoreReader
from .stitch_scoring import CRITERIA, SCORES, choose, score_candidates
from .writer import DEFAULT_CHUNKSIZE, StoreWriter

METHOD = "framestore.stitch/2"
DIFFERENCE_COLOR = (0, 0, 255)  # BGR red: where a candidate differs from the chosen copy


def stitch(
    stores: Sequence[StoreReader | str | os.PathLike[str]] | dict[str, StoreReader],
    output: str | os.PathLike[str],
    fmt: str = "ffv1/mkv",
    by: str = "frame_number",
    tolerance: float | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    debug_video: str | os.PathLike[str] | None = None,
    disagree_level: int = 0,
    chunksize: int = DEFAULT_CHUNKSIZE,
    workers: int | None = None,
    scheduler: Any = None,
    chunks_per_task: int = 1,
) -> pd.DataFrame:
    """Write the best copy of every aligned frame of ``stores`` to a new store ``output``;
    return the scores table (also saved as ``scores.csv`` in the new store).

    ``debug_video``: also write a video (MJPEG AVI) showing, for every output frame, the
    candidates side by side, the pixels where each differs from the chosen one in red, and
    the chosen one labelled. ``disagree_level``: grey levels by which two copies may differ
    and still agree (0: lossless copies of the same bytes agree exactly where undamaged).

    ``workers``/``scheduler``: stitch the output's chunks in parallel on local processes
    (``workers=None``: one per core, up to one per task; serial with a debug video) or on
    a Dask cluster (an address or a ``dask.distributed.Client``; the workers must see the
    stores at the same paths), ``chunks_per_task`` output chunks per task. Every way writes
    the same frames, indexes and scores.

    The table has one row per output frame: ``frame_number``, ``frame_time`` (the earliest
    receive time), ``chosen``, ``reason``, ``candidates``, ``differing_px`` (pixels where the
    copies differ), ``clean`` (the chosen copy shows no damage: every buffer, no padding, no
    damaged pixel) and, per source, its ``frame_index`` and every score in ``SCORES``."""
    named = named_stores(stores)
    if len(named) < 2:
        raise ValueError("stitch needs at least two stores")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)  # duplicates are reported in the table
        table = align(named, by=by, tolerance=tolerance)
    names = list(named)
    first = named[names[0]]
    rows, glitches, full = _plan(named, table, by)
    params = {"by": by, "tolerance": tolerance, "criteria": list(CRITERIA), "disagree_level": disagree_level}
    writer_kwargs: dict[str, Any] = {
        "imgshape": first.image_shape,
        "imgdtype": first.dtype,
        "chunksize": chunksize,
        "fps": first.fps or 20.0,
        "frame_columns": {"source": "int16", "candidates": "int16"},
        "derived_from": {
            "sources": [_source_record(n, s) for n, s in named.items()],
            "method": METHOD,
            "parameters": params,
        },
    }
    if int(chunks_per_task) < 1:
        raise ValueError(f"chunks_per_task must be at least 1, got {chunks_per_task}")
    step = chunksize * int(chunks_per_task)
    parts = [rows[a : a + step] for a in range(0, len(rows), step)]
    records: list[dict] = []
    auto = workers is None and (debug_video is not None or default_workers(len(parts)) == 1)
    if scheduler is None and (workers == 1 or auto):
        debug = _DebugVideo(Path(debug_video), names, first.image_shape) if debug_video else None
        with StoreWriter(fmt, output, overwrite=overwrite, **writer_kwargs) as writer:
            records = _stitch_rows(named, names, rows, writer, disagree_level, full, debug, progress)
        if debug is not None:
            debug.close()
    else:
        if debug_video:
            raise ValueError("a debug video is written by a serial run only: pass workers=1")
        store = PartedStore(fmt, output, overwrite=overwrite, **writer_kwargs)
        paths = {n: (str(s.path), s.uuid) for n, s in named.items()}
        tasks = [
            _Part(paths, names, part, store.part(k, first_chunk=k * chunks_per_task), disagree_level, full)
            for k, part in enumerate(parts)
        ]
        try:
            for task, part_records in zip(
                tasks, run_ordered(_stitch_part, tasks, workers=workers, scheduler=scheduler), strict=True
            ):
                store.commit(task.spec)
                records += part_records
                if progress is not None:
                    progress(len(records), len(rows))
        finally:
            store.discard_parts()
        store.close()
    result = pd.DataFrame(records)
    result.to_csv(Path(output) / "scores.csv", index=False)
    result.attrs["glitches"] = glitches
    if glitches:
        pd.DataFrame(glitches).to_csv(Path(output) / "glitches.csv", index=False)
        warnings.warn(
            f"{len(glitches)} glitch frame(s) left out (one buffer under an out-of-sequence "
            f"frame_num): {[g['frame_number'] for g in glitches][:5]}; see glitches.csv",
            StoreWarning,
            stacklevel=2,
        )
    return result


@dataclass(frozen=True)
class _Candidate:
    name: str
    frame_index: int
    num_buffers: float
    padding_px: float


@dataclass(frozen=True)
class _Row:
    """One output frame to be: its number and time, and the copies to choose from."""

    frame_number: int | None  # None: the chosen copy's own frame number (by time)
    source_numbers: tuple[int, ...]
    frame_time: float
    candidates: tuple[_Candidate, ...]


def _plan(named: dict[str, StoreReader], table: pd.DataFrame, by: str) -> tuple[list[_Row], list[dict], int]:
    """From the alignment map and the sources' metadata alone: the rows to write, the glitch
    rows to report instead, and how many buffers make a whole frame."""
    names = list(named)
    # per-frame metadata of every source as column arrays: one row is a few array lookups
    metas = {n: {c: v.to_numpy() for c, v in s.index_dataframe().items()} for n, s in named.items()}
    counts = [m["num_buffers"] for m in metas.values() if len(m.get("num_buffers", ()))]
    full = max((int(c.max()) for c in counts), default=0)  # buffers in a whole frame
    rows: list[_Row] = []
    glitches: list[dict] = []
    for row in table.itertuples(index=False):
        present = [n for n in names if not pd.isna(getattr(row, n))]
        idx = {n: int(getattr(row, n)) for n in present}
        meta = [{c: v[idx[n]] for c, v in metas[n].items()} for n in present]
        if all(_is_glitch(named[n].frame_numbers, idx[n], m) for n, m in zip(present, meta, strict=True)):
            glitches.append({"frame_number": int(meta[0]["frame_number"]), **idx})
            continue  # reported, never written as a frame
        candidates = tuple(
            _Candidate(n, idx[n], float(m.get("num_buffers", full)), float(m.get("black_padding_px", 0)))
            for n, m in zip(present, meta, strict=True)
        )
        rows.append(
            _Row(
                int(row.frame_number) if by == "frame_number" else None,
                tuple(int(m["frame_number"]) for m in meta),
                min(float(m.get("first_recv_time", m["frame_time"])) for m in meta),
                candidates,
            )
        )
    return rows, glitches, full


def _stitch_rows(
    readers: Mapping[str, StoreReader],
    names: list[str],
    rows: Sequence[_Row],
    writer: StoreWriter,
    level: int,
    full: int,
    debug: _DebugVideo | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Choose and write the best copy of each row; the rows of the scores table."""
    records = []
    for row in rows:
        cands = row.candidates
        images = [readers[c.name][c.frame_index] for c in cands]
        buffers = [c.num_buffers for c in cands]
        padding = [c.padding_px for c in cands]
        scores = score_candidates(images, buffers, padding, level=level)
        k, reason = choose(scores)
        stack = np.stack(images)
        differing = int(np.count_nonzero((stack != stack[0]).any(axis=0)))
        if differing == 0 and len(cands) > 1:
            reason = "identical copies"
        frame_number = row.frame_number if row.frame_number is not None else row.source_numbers[k]
        chosen = cands[k].name
        writer.add_image(
            images[k], frame_number, row.frame_time, source=names.index(chosen), candidates=len(cands)
        )
        clean = bool(scores["damaged_px"][k] == 0 and padding[k] == 0 and buffers[k] >= full)
        record = {"frame_number": frame_number, "frame_time": row.frame_time, "chosen": chosen}
        record.update({"reason": reason, "candidates": len(cands), "differing_px": differing, "clean": clean})
        for j, c in enumerate(cands):
            record[f"{c.name}_frame_index"] = c.frame_index
            for name in SCORES:
                record[f"{c.name}_{name}"] = float(scores[name][j])
        records.append(record)
        if debug is not None:
            debug.add({c.name: im for c, im in zip(cands, images, strict=True)}, chosen, frame_number, reason)
        if progress is not None:
            progress(len(records), len(rows))
    return records


@dataclass(frozen=True)
class _Part:
    """One task of a parallel stitch: its rows and where to write them (picklable)."""

    paths: dict[str, tuple[str, str]]  # name -> (path, uuid)
    names: list[str]
    rows: list[_Row]
    spec: PartSpec
    level: int
    full: int


def _stitch_part(part: _Part) -> list[dict]:
    readers = {n: open_reader(path, uuid) for n, (path, uuid) in part.paths.items()}
    with part.spec.open() as writer:
        return _stitch_rows(readers, part.names, part.rows, writer, part.level, part.full)


def _source_record(name: str, store: StoreReader) -> dict[str, str]:
    """What ``derived_from`` says of one source: its name, path and uuid, and the recording
    it was imported from, if it was."""
    record = {"name": name, "path": str(store.path), "uuid": store.uuid}
    record.update(
        {k: store.user_metadata[k] for k in ("source_video", "source_csv") if k in store.user_metadata}
    )
    return record


def _is_glitch(frame_numbers: np.ndarray, i: int, meta: dict) -> bool:
    """One buffer at most, under a frame number out of sequence with its neighbours."""
    if meta.get("num_buffers", 2) > 1:
        return False
    before = frame_numbers[i - 1] if i > 0 else None
    after = frame_numbers[i + 1] if i + 1 < len(frame_numbers) else None
    fn = frame_numbers[i]
    return (before is not None and fn <= before) or (after is not None and fn >= after)


def mark_differences(display: np.ndarray, image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """A copy of ``display`` (BGR, the way ``image`` is shown) with the pixels where
    ``image`` differs from ``reference`` (a frame of the same shape) painted red."""
    differs = image != reference
    if differs.ndim == 3:
        differs = differs.any(axis=2)
    marked = display.copy()
    marked[differs] = DIFFERENCE_COLOR
    return marked


class _DebugVideo:
    """Candidates side by side; red where a copy differs from the chosen one."""

    def __init__(self, path: Path, names: list[str], shape: tuple[int, ...]) -> None:
        self._names = names
        self._h, self._w = shape[0], shape[1]
        self._band = 18  # label strips above the candidates and below them
        self._container = av.open(str(path), "w")
        self._stream = self._container.add_stream("mjpeg", rate=20)
        width = len(names) * self._w
        self._stream.width = width + width % 2
        self._stream.height = self._h + 2 * self._band + self._h % 2
        self._stream.pix_fmt = "yuvj420p"
        self._count = 0

    def add(self, images: dict[str, np.ndarray], chosen: str, frame_number: int, reason: str) -> None:
        canvas = np.zeros((self._stream.height, self._stream.width, 3), np.uint8)
        best = images[chosen]
        for j, name in enumerate(self._names):
            x = j * self._w
            label = f"{name}: missing"
            if name in images:
                image = images[name]
                bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                canvas[self._band : self._band + self._h, x : x + self._w] = mark_differences(
                    bgr, image, best
                )
                label = f"{name}{' CHOSEN' if name == chosen else ''}"
            color = (0, 255, 0) if name == chosen else (200, 200, 200)
            cv2.putText(canvas, label, (x + 3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1)
        cv2.putText(
            canvas,
            f"frame_number {frame_number}: {reason}",
            (3, self._band + self._h + 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (255, 255, 0),
            1,
        )
        frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
        frame.pts = self._count
        self._count += 1
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()
