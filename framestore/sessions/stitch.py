"""Stitching redundant recordings of one device into one store of the best copies.

For every aligned frame, the candidates (one per source that has the frame) are ranked by
the damaged-frame detector's verdict on each copy alone, then by their estimated damaged
pixels (``stitch_scoring``: zeroed where another copy has data, outvoted by the other
copies, rougher where two copies conflict), then by metadata (more buffers received, less
zero padding), then by Sobel edge energy. The chosen copy is written unchanged, and a
scores table says, for every output frame, what each candidate scored and why the winner
won.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import shutil
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np
import pandas as pd

from ..core.damage import DamageSettings
from ..core.reader import StoreReader
from ..core.settings import DEFAULT_CHUNKSIZE, WriteSettings
from ..core.worker_readers import open_reader
from ..core.writer import StoreWriter
from ..errors import StoreWarning
from ..ingest.miniscope import BLACK_PADDING_PX, NUM_BUFFERS
from ..parallel.parts import PartedStore, PartSpec
from ..parallel.tasks import default_workers, run_ordered
from .align import BY, By, align, checked_mode, named_stores
from .stitch_drawing import DebugVideo
from .stitch_scoring import CRITERIA, SCORES, choose, score_candidates

METHOD = "framestore.stitch/2"
SCORES_FILE = "scores.csv"


Sources = Sequence[StoreReader | str | os.PathLike[str]] | dict[str, StoreReader]
Target = str | os.PathLike[str]
_Result = TypeVar("_Result")
_Keywords = ParamSpec("_Keywords")


@dataclass(frozen=True)
class StitchOptions:
    """The keyword arguments of :func:`stitch` and :func:`write_stitched`, checked once."""

    fmt: str = "ffv1/mkv"
    """The output store's format."""
    by: By = "frame_number"
    """What the stores' frames are aligned by (see :func:`framestore.align`)."""
    tolerance: float | None = None
    """Seconds within which frames align, when aligned by ``frame_time``."""
    overwrite: bool = False
    """Replace ``output`` if it is a store."""
    progress: Callable[[int, int], None] | None = None
    """Called with (frames written, frames to write) as frames are written."""
    debug_video: str | os.PathLike[str] | None = None
    """Also write a video (MJPEG AVI) showing, for every output frame, the candidates side
    by side, the pixels where each differs from the chosen one in red, and the chosen one
    labelled (by a serial run only)."""
    disagree_level: int = 0
    """Grey levels by which two copies may differ and still agree (0: lossless copies of
    the same bytes agree exactly where undamaged)."""
    chunksize: int = DEFAULT_CHUNKSIZE
    """Frames per chunk of the output."""
    workers: int | None = None
    """Local processes stitching the output's chunks (None: one per core, up to one per
    task; serial with a debug video; 1: in this process)."""
    scheduler: Any = None
    """A Dask cluster to stitch on instead: an address or a ``dask.distributed.Client``
    (the workers must see the stores at the same paths)."""
    chunks_per_task: int = 1
    """Output chunks per parallel task."""
    drop_damaged: bool = False
    """Leave out the frames whose every copy the damage detector flags (they are counted
    in the summary and listed in ``dropped.csv``)."""
    damage: DamageSettings | None = None
    """What the damage detector counts as damage in each copy (None: its defaults; see
    :class:`framestore.tools.damage.DamageSettings`)."""

    def __post_init__(self) -> None:
        checked_mode("by", self.by, BY)
        if int(self.chunks_per_task) < 1:
            raise ValueError(f"chunks_per_task must be at least 1, got {self.chunks_per_task}")
        if self.debug_video and (self.scheduler is not None or self.workers not in (None, 1)):
            raise ValueError("a debug video is written by a serial run only: pass workers=1")


def _options_as_keywords(
    options: Callable[_Keywords, StitchOptions],
) -> Callable[
    [Callable[[Sources, Target, StitchOptions], _Result]],
    Callable[Concatenate[Sources, Target, _Keywords], _Result],
]:
    """Make a function of ``(stores, output, options)`` take the fields of ``options``
    as its arguments after ``stores`` and ``output`` (its signature says so)."""

    def decorate(
        run: Callable[[Sources, Target, StitchOptions], _Result],
    ) -> Callable[Concatenate[Sources, Target, _Keywords], _Result]:
        @functools.wraps(run)
        def call(
            stores: Sources, output: Target, /, *args: _Keywords.args, **kwargs: _Keywords.kwargs
        ) -> _Result:
            return run(stores, output, options(*args, **kwargs))

        own = list(inspect.signature(run).parameters.values())[:2]
        fields = inspect.signature(options).parameters.values()
        signature = [*(p.replace(kind=p.POSITIONAL_ONLY) for p in own), *fields]
        call.__dict__["__signature__"] = inspect.Signature(signature)
        return call

    return decorate


@_options_as_keywords(StitchOptions)
def stitch(stores: Sources, output: Target, options: StitchOptions) -> pd.DataFrame:
    """Write the best copy of every aligned frame of ``stores`` to a new store ``output``;
    return the scores table (also saved as ``scores.csv`` in the new store). The other
    arguments are the fields of :class:`StitchOptions` (``fmt``, ``by``, ``tolerance``,
    ``overwrite``, ``progress``, ``debug_video``, ``disagree_level``, ``chunksize``,
    ``workers``, ``scheduler``, ``chunks_per_task``, ``drop_damaged``, ``damage``).

    Every way of running (serial, local processes, a Dask cluster) writes the same frames,
    indexes and scores.

    The table has one row per output frame: ``frame_number``, ``frame_time`` (the earliest
    receive time), ``chosen``, ``reason``, ``candidates``, ``differing_px`` (pixels where the
    copies differ), ``clean`` (the chosen copy shows no damage: every buffer, no padding, no
    damaged pixel, not flagged by the damage detector) and, per source, its
    ``frame_index``, ``damage_kind`` and every score in ``SCORES``.
    ``table.attrs["glitches"]`` lists the glitch frames left out, ``table.attrs["dropped"]``
    the frame numbers ``drop_damaged`` left out. For recordings too long to
    hold the table in memory, :func:`write_stitched` does the same and returns only the
    summary."""
    summary = _write_stitched(stores, output, options)
    scores = pd.read_csv(Path(output) / SCORES_FILE)
    scores.attrs["glitches"] = summary.glitches
    scores.attrs["dropped"] = summary.dropped
    return scores


@dataclass
class StitchSummary:
    """What a stitch wrote, counted as it went: frames out, from each source, with no
    clean copy, seen by one receiver only, whose every copy the damage detector flags
    (written, or left out by ``drop_damaged``: their frame numbers), and the glitch
    frames left out."""

    sources: list[str]
    frames: int = 0
    chosen: dict[str, int] = field(default_factory=dict)
    unclean: int = 0
    single: int = 0
    all_damaged: int = 0
    dropped: list[int] = field(default_factory=list)
    glitches: list[dict[str, Any]] = field(default_factory=list)

    def add(self, records: list[dict[str, Any]], dropped: list[int]) -> None:
        self.frames += len(records)
        for r in records:
            self.chosen[r["chosen"]] = self.chosen.get(r["chosen"], 0) + 1
            self.unclean += not r["clean"]
            self.single += r["candidates"] == 1
            self.all_damaged += r["all_damaged"]
        self.all_damaged += len(dropped)
        self.dropped += dropped

    def lines(self) -> list[str]:
        out = [f"frames out: {self.frames}"]
        out += [f"  from {n}: {self.chosen.get(n, 0)}" for n in self.sources]
        out.append(f"frames with no clean copy: {self.unclean}")
        out.append(f"frames seen by only one receiver: {self.single}")
        out.append(f"frames whose every copy is damaged: {self.all_damaged}")
        if self.dropped:
            numbers = ", ".join(str(n) for n in self.dropped[:5])
            out.append(f"damaged frames left out: {len(self.dropped)} (frame_num {numbers}; see dropped.csv)")
        if self.glitches:
            numbers = ", ".join(str(g["frame_number"]) for g in self.glitches[:5])
            out.append(
                f"glitch frames left out: {len(self.glitches)} (frame_num {numbers}; see glitches.csv)"
            )
        return out


@_options_as_keywords(StitchOptions)
def write_stitched(stores: Sources, output: Target, options: StitchOptions) -> StitchSummary:
    """:func:`stitch` in bounded memory: the scores go to ``scores.csv`` a chunk at a time,
    and only the summary comes back. Memory: the alignment plan (tens of bytes per frame)
    and a few chunks of frames."""
    return _write_stitched(stores, output, options)


def _write_stitched(stores: Sources, output: Target, options: StitchOptions) -> StitchSummary:
    o = options
    named = named_stores(stores)
    if len(named) < 2:
        raise ValueError("stitch needs at least two stores")
    _check_same_frames(named)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)  # duplicates are reported in the table
        table = align(named, by=o.by, tolerance=o.tolerance)
    names = list(named)
    first = named[names[0]]
    plan, glitches = _Plan.build(named, table, o.by)
    params: dict[str, Any] = {
        "by": o.by,
        "tolerance": o.tolerance,
        "criteria": list(CRITERIA),
        "disagree_level": o.disagree_level,
        "drop_damaged": o.drop_damaged,
    }
    if o.damage is not None:
        params["damage"] = o.damage.to_dict()
    choosing = _Choosing(o.disagree_level, o.drop_damaged, o.damage or DamageSettings())
    settings = WriteSettings.build(
        o.fmt,
        imgshape=first.image_shape,
        imgdtype=first.dtype,
        chunksize=o.chunksize,
        fps=_device_fps(plan),
        frame_columns={"source": "int16", "candidates": "int16"},
        derived_from={
            "sources": [_source_record(n, s) for n, s in named.items()],
            "method": METHOD,
            "parameters": params,
        },
    )
    step = o.chunksize * int(o.chunks_per_task)
    bounds = [(a, min(a + step, len(plan))) for a in range(0, len(plan), step)]
    summary = StitchSummary(names, glitches=glitches)
    columns = ["frame_number", "frame_time", "chosen", "reason", "candidates", "differing_px", "clean"]
    columns += [f"{n}_{c}" for n in names for c in ("frame_index", "damage_kind", *SCORES)]

    def take(rows: tuple[list[dict[str, Any]], list[int]], scores_file: Any) -> None:
        records, dropped = rows
        header = not (summary.frames or summary.dropped)
        pd.DataFrame(records, columns=columns).to_csv(scores_file, header=header, index=False)
        summary.add(records, dropped)
        if o.progress is not None:
            o.progress(summary.frames + len(summary.dropped), len(plan))

    auto = o.workers is None and (o.debug_video is not None or default_workers(len(bounds)) == 1)
    with _removed_on_failure(output, o.debug_video):
        if o.scheduler is None and (o.workers == 1 or auto):
            debug = DebugVideo(Path(o.debug_video), names, first.image_shape) if o.debug_video else None
            with StoreWriter.from_settings(output, settings, overwrite=o.overwrite) as writer:
                with open(Path(output) / SCORES_FILE, "w", newline="") as scores_file:
                    for a, b in bounds:
                        take(
                            _stitch_rows(named, plan.rows(a, b), writer, choosing, debug),
                            scores_file,
                        )
            if debug is not None:
                debug.close()
        else:
            store = PartedStore(output, settings, overwrite=o.overwrite)
            paths = {n: (str(s.path), s.uuid) for n, s in named.items()}
            tasks = [
                _Part(
                    paths,
                    plan.rows(a, b),
                    store.part(k, first_chunk=k * o.chunks_per_task),
                    choosing,
                )
                for k, (a, b) in enumerate(bounds)
            ]
            try:
                with open(Path(output) / SCORES_FILE, "w", newline="") as scores_file:
                    results = run_ordered(_stitch_part, tasks, workers=o.workers, scheduler=o.scheduler)
                    for task, records in zip(tasks, results, strict=True):
                        store.commit(task.spec)
                        take(records, scores_file)
            except BaseException:
                store.discard_parts()
                raise
            store.close()
    if not summary.frames:  # a header at least
        pd.DataFrame(columns=columns).to_csv(Path(output) / SCORES_FILE, index=False)
    if summary.dropped:
        pd.DataFrame({"frame_number": summary.dropped}).to_csv(Path(output) / "dropped.csv", index=False)
    if glitches:
        pd.DataFrame(glitches).to_csv(Path(output) / "glitches.csv", index=False)
        warnings.warn(
            f"{len(glitches)} glitch frame(s) left out (one buffer under an out-of-sequence "
            f"frame_num): {[g['frame_number'] for g in glitches][:5]}; see glitches.csv",
            StoreWarning,
            stacklevel=4,
        )
    return summary


def _check_same_frames(named: dict[str, StoreReader]) -> None:
    """Refuse, before anything is written, sources whose frames differ in shape or dtype."""
    kinds = {n: (tuple(s.image_shape), np.dtype(s.dtype)) for n, s in named.items()}
    if len(set(kinds.values())) > 1:
        each = ", ".join(f"{n} {'x'.join(map(str, shape))} {dtype}" for n, (shape, dtype) in kinds.items())
        raise ValueError(
            f"the inputs' frames differ in shape or dtype ({each}); stitching needs copies alike"
        )


def _device_fps(plan: _Plan) -> float | None:
    """The device's frame rate by its frame-number clock: the least-squares slope of the
    output's frame times (each the earliest receipt) against its frame numbers, so one
    receiver's lost frames or a host stall do not skew it; None when it cannot be told."""
    present = plan.frame_index >= 0
    first = present.argmax(axis=1)
    own = plan.source_number[np.arange(len(plan)), first]
    numbers = np.where(plan.frame_number != -1, plan.frame_number, own).astype(np.float64)
    times = plan.frame_time
    if len(plan) < 2 or np.ptp(numbers) == 0:
        return None
    slope = float(np.polyfit(numbers - numbers[0], times - times[0], 1)[0])
    return round(1 / slope, 3) if slope > 0 else None


@contextlib.contextmanager
def _removed_on_failure(*paths: Target | None) -> Iterator[None]:
    """Remove whichever of ``paths`` did not exist before, if the block fails: a failed
    run leaves nothing it made, and never touches what was there (an interrupted one
    keeps what it finished, as a killed one does)."""
    made = [Path(p) for p in paths if p is not None and not os.path.lexists(p)]
    try:
        yield
    except Exception:
        for path in made:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class _Plan:
    """Every output frame to be, as columns (a few tens of bytes per frame): its number
    (-1: the chosen copy's own, when aligned by time) and time, and per source the copy's
    frame_index (-1: none), frame number, buffers received and padding."""

    names: list[str]
    full: int  # buffers in a whole frame
    frame_number: np.ndarray
    frame_time: np.ndarray
    frame_index: np.ndarray  # (frames, sources)
    source_number: np.ndarray  # (frames, sources)
    num_buffers: np.ndarray  # (frames, sources)
    padding_px: np.ndarray  # (frames, sources)

    def __len__(self) -> int:
        return len(self.frame_time)

    def rows(self, a: int, b: int) -> _Plan:
        """Output frames ``a:b`` (copies of the arrays: a part pickles only its own rows)."""
        cut = {f: getattr(self, f)[a:b].copy() for f in _PLAN_COLUMNS}
        return _Plan(self.names, self.full, **cut)

    @classmethod
    def build(
        cls, named: dict[str, StoreReader], table: pd.DataFrame, by: By
    ) -> tuple[_Plan, list[dict[str, Any]]]:
        """From the alignment map and the sources' indexes alone; and the glitch rows,
        which are reported instead of written."""
        names = list(named)
        idx = np.stack([table[n].to_numpy(dtype="float64", na_value=np.nan) for n in names], axis=1)
        present = ~np.isnan(idx)
        idx = np.where(present, idx, -1).astype(np.int64)
        safe = np.maximum(idx, 0)
        meta = {n: s.index_dataframe() for n, s in named.items()}
        counts = [m[NUM_BUFFERS] for m in meta.values() if NUM_BUFFERS in m and len(m)]
        full = max((int(c.max()) for c in counts), default=0)

        def gathered(column: Callable[[pd.DataFrame], np.ndarray], dtype: Any) -> np.ndarray:
            """One column of every source's index, at each row's frame of that source."""
            out = [column(m)[safe[:, j]] for j, m in enumerate(meta.values())]
            return np.where(present, np.stack(out, axis=1), 0).astype(dtype)

        buffers = gathered(lambda m: _column(m, NUM_BUFFERS, full), "f4")
        padding = gathered(lambda m: _column(m, BLACK_PADDING_PX, 0), "f4")
        numbers = gathered(lambda m: m["frame_number"].to_numpy(), "i8")
        recv = gathered(lambda m: _column(m, "first_recv_time", m["frame_time"].to_numpy()), "f8")
        glitch = np.stack(
            [_glitch_frames(named[n].frame_numbers, meta[n])[safe[:, j]] for j, n in enumerate(names)], axis=1
        )
        glitch_rows = (glitch | ~present).all(axis=1)
        glitches = [
            {
                "frame_number": int(numbers[r][present[r]][0]),
                **{n: int(idx[r, j]) for j, n in enumerate(names) if present[r, j]},
            }
            for r in np.flatnonzero(glitch_rows)
        ]
        keep = ~glitch_rows
        number = table["frame_number"].to_numpy(np.int64) if by == "frame_number" else np.full(len(table), -1)
        plan = cls(
            names,
            full,
            frame_number=number[keep],
            frame_time=np.where(present, recv, np.inf).min(axis=1)[keep],
            frame_index=idx[keep],
            source_number=numbers[keep],
            num_buffers=buffers[keep],
            padding_px=padding[keep],
        )
        return plan, glitches


_PLAN_COLUMNS = ("frame_number", "frame_time", "frame_index", "source_number", NUM_BUFFERS, "padding_px")


def _column(meta: pd.DataFrame, name: str, default: Any) -> np.ndarray:
    """A per-frame column of a source's index, or ``default`` (a value or an array) where
    the source has no such column."""
    if name in meta:
        column: np.ndarray = meta[name].to_numpy()
        return column
    return np.broadcast_to(np.asarray(default), (len(meta),))


def _glitch_frames(frame_numbers: np.ndarray, meta: pd.DataFrame) -> np.ndarray:
    """Per frame of one source: one buffer at most, under a frame number out of sequence
    with its neighbours (a header glitch)."""
    fn = frame_numbers
    few = meta[NUM_BUFFERS].to_numpy() <= 1 if NUM_BUFFERS in meta else np.zeros(len(fn), bool)
    out_of_order = np.zeros(len(fn), bool)
    out_of_order[1:] |= fn[1:] <= fn[:-1]
    out_of_order[:-1] |= fn[:-1] >= fn[1:]
    return few & out_of_order


def _stitch_rows(
    readers: Mapping[str, StoreReader],
    plan: _Plan,
    writer: StoreWriter,
    choosing: _Choosing,
    debug: DebugVideo | None = None,
) -> tuple[list[dict[str, Any]], list[int]]:
    """Choose and write the best copy of each planned frame: the rows of the scores table,
    and the frame numbers left out (every copy damaged, with ``choosing.drop_damaged``)."""
    records = []
    dropped = []
    names = plan.names
    for r in range(len(plan)):
        here = np.flatnonzero(plan.frame_index[r] >= 0)
        cands = [names[j] for j in here]
        images = [readers[names[j]][int(plan.frame_index[r, j])] for j in here]
        buffers = plan.num_buffers[r, here].astype(float)
        padding = plan.padding_px[r, here].astype(float)
        scores = score_candidates(images, buffers, padding, choosing.level, choosing.damage)
        k, reason = choose(scores)
        number = int(plan.frame_number[r])
        frame_number = number if number != -1 else int(plan.source_number[r, here[k]])
        all_damaged = bool(scores["flagged"].all())
        if all_damaged and choosing.drop_damaged:
            dropped.append(frame_number)
            continue
        stack = np.stack(images)
        differing = int(np.count_nonzero((stack != stack[0]).any(axis=0)))
        if differing == 0 and len(cands) > 1:
            reason = "identical copies"
        frame_time = float(plan.frame_time[r])
        chosen = cands[k]
        writer.add_image(images[k], frame_number, frame_time, source=int(here[k]), candidates=len(cands))
        clean = bool(
            scores["damaged_px"][k] == 0
            and not scores["flagged"][k]
            and padding[k] == 0
            and buffers[k] >= plan.full
        )
        record = {"frame_number": frame_number, "frame_time": frame_time, "chosen": chosen}
        record.update({"reason": reason, "candidates": len(cands), "differing_px": differing, "clean": clean})
        record["all_damaged"] = all_damaged
        for j, (name, col) in enumerate(zip(cands, here, strict=True)):
            record[f"{name}_frame_index"] = int(plan.frame_index[r, col])
            record[f"{name}_damage_kind"] = scores["damage_kind"][j]
            for score in SCORES:
                record[f"{name}_{score}"] = float(scores[score][j])
        records.append(record)
        if debug is not None:
            debug.add(dict(zip(cands, images, strict=True)), chosen, frame_number, reason)
    return records, dropped


@dataclass(frozen=True)
class _Choosing:
    """How copies are judged and chosen: grey levels within which copies agree, whether
    frames whose every copy is damaged are left out, and the damage detector's limits."""

    level: int
    drop_damaged: bool
    damage: DamageSettings


@dataclass(frozen=True)
class _Part:
    """One task of a parallel stitch: its rows and where to write them (picklable)."""

    paths: dict[str, tuple[str, str]]  # name -> (path, uuid)
    plan: _Plan
    spec: PartSpec
    choosing: _Choosing


def _stitch_part(part: _Part) -> tuple[list[dict[str, Any]], list[int]]:
    readers = {n: open_reader(path, uuid) for n, (path, uuid) in part.paths.items()}
    with part.spec.open() as writer:
        return _stitch_rows(readers, part.plan, writer, part.choosing)


def _source_record(name: str, store: StoreReader) -> dict[str, str]:
    """What ``derived_from`` says of one source: its name, path and uuid, and the recording
    it was imported from, if it was."""
    record = {"name": name, "path": str(store.path), "uuid": store.uuid}
    record.update(
        {k: store.user_metadata[k] for k in ("source_video", "source_csv") if k in store.user_metadata}
    )
    return record
