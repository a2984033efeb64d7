"""A dataset: the stores of one recording session in one directory, and what ties them.

::

    session1/
      cam0/ cam1/ rx0/ rx1/        stores (directories with metadata.yaml), by name
      stitched_rx0_rx1/            a derived store: its metadata's derived_from names its sources
      alignment_map.csv            the alignment map of some of the stores
      alignment_map.json           which stores (uuid, frames, index fingerprint) it was made from
      segments.csv                 labelled segments: recording, label, start, stop, by

Derived stores are linked to their sources by the ``derived_from`` block of their own
metadata (sources matched by uuid, then by path), never by file names. Everything a
dataset writes stays inside its directory.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from .._disk.atomic import atomic_write
from .._disk.metadata import METADATA_FILENAME
from .._disk.storage import is_url, store_path
from ..core.damage import DamageSettings
from ..core.factory import open_video
from ..core.reader import Roi, StoreReader
from ..core.video_file import Times, is_video_file
from ..errors import InvalidArgumentError, StoreExistsError, StoreNotFoundError
from .align import BY, By, checked_mode
from .align import align as align_stores

ALIGNMENT_MAP = "alignment_map.csv"
ALIGNMENT_STAMP = "alignment_map.json"
SEGMENTS = "segments.csv"
VIEWER = "framestore-view"
_STITCH_METHOD = "framestore.stitch/"

TimeOrNumber = float | int | datetime.datetime


@dataclass(frozen=True)
class Segment:
    """A labelled stretch of one recording: ``start <= value < stop`` of ``by``
    (``frame_time``, unix seconds, or ``frame_number``)."""

    recording: str
    label: str
    start: float | int  # an int for frame numbers
    stop: float | int
    by: By = "frame_time"

    def __post_init__(self) -> None:
        checked_mode("by", self.by, BY)


@dataclass(frozen=True)
class ViewerTarget:
    """What to open in the viewer to play a segment: its first and last frame numbers
    (both included, as ``framestore-view --start/--stop`` take them)."""

    path: Path
    first: int
    last: int

    @property
    def command(self) -> list[str]:
        return [VIEWER, str(self.path), "--start", str(self.first), "--stop", str(self.last)]


def select(
    store: StoreReader,
    start: TimeOrNumber | None = None,
    stop: TimeOrNumber | None = None,
    by: By = "frame_time",
) -> np.ndarray:
    """frame_index of every frame of ``store`` with ``start <= value < stop`` (either bound
    may be None), where the value is its ``frame_time`` (unix seconds or an aware
    datetime) or its ``frame_number``; in store order."""
    by = checked_mode("by", by, BY)
    values = store.frame_times if by == "frame_time" else store.frame_numbers
    keep = np.ones(len(values), bool)
    if start is not None:
        keep &= values >= _as_value(start)
    if stop is not None:
        keep &= values < _as_value(stop)
    return np.flatnonzero(keep)


def _bound(bound: TimeOrNumber | str, by: By) -> float | int:
    """A segment bound as stored: an integer frame number, or unix seconds."""
    if by == "frame_number":
        value = float(bound) if isinstance(bound, str) else bound
        if isinstance(value, datetime.datetime) or value != int(value):
            raise ValueError(f"a frame-number bound must be an integer, got {bound!r}")
        return int(value)
    return _as_value(float(bound) if isinstance(bound, str) else bound)


def _as_value(bound: TimeOrNumber) -> float:
    if isinstance(bound, datetime.datetime):
        if bound.tzinfo is None:
            raise ValueError(f"a datetime bound needs a time zone, got {bound.isoformat()}")
        return bound.timestamp()
    return float(bound)


class Dataset:
    """The stores of one session in one directory. Make one with :meth:`from_directory`."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._recordings = {name: StoreReader(p) for name, p in _store_dirs(path).items()}

    @classmethod
    def from_directory(cls, path: str | os.PathLike[str], create: bool = False) -> Dataset:
        """The dataset in directory ``path`` (made empty first if ``create`` and absent)."""
        root = Path(path)
        if create:
            root.mkdir(parents=True, exist_ok=True)
        if (root / METADATA_FILENAME).is_file():
            raise StoreNotFoundError(f"{root}: is a store, not a dataset (a directory of stores)")
        if not root.is_dir():
            raise StoreNotFoundError(f"{root}: no dataset directory here (create=True makes one)")
        return cls(root)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def recordings(self) -> Mapping[str, StoreReader]:
        """Every store of the dataset, by name (its directory name)."""
        return MappingProxyType(self._recordings)

    def __repr__(self) -> str:
        return f"<Dataset {str(self._path)!r} {list(self._recordings)}>"

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for store in self._recordings.values():
            store.close()

    def _store(self, name: str) -> StoreReader:
        try:
            return self._recordings[name]
        except KeyError:
            raise KeyError(
                f"{self._path}: no recording {name!r}; it holds {list(self._recordings)}"
            ) from None

    def score_noise(
        self, name: str, settings: DamageSettings | None = None, *, recompute: bool = False
    ) -> pd.DataFrame:
        """Recording ``name``'s frames judged for damage: ``StoreReader.score_noise``
        (kept in that store and reused while it describes it)."""
        return self._store(name).score_noise(settings, recompute=recompute)

    # -- links between stores --------------------------------------------------------
    def sources(self, name: str) -> list[str]:
        """Names of the recordings ``name`` was derived from (from its ``derived_from``:
        by uuid, else by path); empty for a recording derived from nothing here."""
        derived = self._store(name).metadata.derived_from or {}
        by_uuid = {s.uuid: n for n, s in self._recordings.items() if s.uuid}
        by_path = {(self._path / n).resolve(): n for n in self._recordings}
        found = []
        for source in derived.get("sources", []):
            match = by_uuid.get(str(source.get("uuid", "")))
            if match is None and source.get("path"):
                candidate = Path(source["path"])
                for base in (Path.cwd(), self._path):
                    match = match or by_path.get((base / candidate).resolve())
            if match is not None:
                found.append(match)
        return found

    def stitched(self) -> dict[str, list[str]]:
        """Every stitched recording, with the names of its sources."""
        return {
            name: self.sources(name)
            for name, store in self._recordings.items()
            if str((store.metadata.derived_from or {}).get("method", "")).startswith(_STITCH_METHOD)
        }

    def get_stitched(self, names: Sequence[str]) -> StoreReader:
        """The recording stitched from exactly the recordings ``names``; ``KeyError``
        naming the stitched recordings there are when there is none."""
        wanted = set(names)
        for name, sources in self.stitched().items():
            if set(sources) == wanted:
                return self._recordings[name]
        existing = ", ".join(f"{n} (from {', '.join(s)})" for n, s in self.stitched().items()) or "none"
        raise KeyError(
            f"{self._path}: no recording stitched from {sorted(wanted)}; stitched ones: {existing}"
        )

    # -- deriving ----------------------------------------------------------------------
    def add(
        self,
        source: str | os.PathLike[str],
        name: str | None = None,
        csv: str | os.PathLike[str] | None = None,
        fmt: str = "ffv1/mkv",
        overwrite: bool = False,
    ) -> StoreReader:
        """Import a recording into the dataset as the store ``name`` (default: the
        source's stem): a miniscope receiver's video with its buffer CSV, any video with
        an optional timestamps CSV (``frame_time``, optionally ``frame_number``), or a
        store (copied). A CSV beside the video with its stem is used when ``csv`` is None."""
        from ..ingest.miniscope import BUFFER_CSV_COLUMNS, import_recording
        from ..ingest.video import import_video

        source = Path(source)
        name = name or source.stem
        target = self._target(name, overwrite)
        try:
            if (source / METADATA_FILENAME).is_file():
                shutil.copytree(source, target)
            else:
                table = Path(csv) if csv is not None else source.with_suffix(".csv")
                if csv is None and not table.is_file():
                    import_video(source, target, fmt=fmt)
                elif set(BUFFER_CSV_COLUMNS) <= set(pd.read_csv(table, nrows=0).columns):
                    import_recording(source, target, csv=table, fmt=fmt)
                else:
                    import_video(source, target, timestamps=table, fmt=fmt)
        except BaseException:  # a failed import leaves nothing half-made in the dataset
            shutil.rmtree(target, ignore_errors=True)
            raise
        self._recordings[name] = StoreReader(target)
        return self._recordings[name]

    def _target(self, name: str, overwrite: bool) -> Path:
        if not name or Path(name).name != name or name.startswith("."):
            raise ValueError(f"a recording name must be a plain directory name, got {name!r}")
        target = self._path / name
        if target.exists():
            if not overwrite:
                raise StoreExistsError(f"{target}: already exists; pass overwrite=True to replace it")
            if not (target / METADATA_FILENAME).is_file():
                raise StoreExistsError(f"{target}: exists but is not a store; refusing to replace it")
            old = self._recordings.pop(name, None)
            if old is not None:
                old.close()
            shutil.rmtree(target)
        return target

    def stitch(
        self,
        names: Sequence[str],
        name: str | None = None,
        fmt: str = "ffv1/mkv",
        by: By = "frame_number",
        tolerance: float | None = None,
        overwrite: bool = False,
        progress: Callable[[int, int], None] | None = None,
    ) -> StoreReader:
        """Stitch the recordings ``names`` (see :func:`framestore.stitch.stitch`) into a
        new store of the dataset, ``name`` (default ``stitched_<name>_<name>...``); its
        scores table is ``scores.csv`` inside it."""
        from .stitch import stitch

        name = name or "stitched_" + "_".join(names)
        target = self._target(name, overwrite)
        stitch(
            {n: self._store(n) for n in names}, target, fmt=fmt, by=by, tolerance=tolerance, progress=progress
        )
        self._recordings[name] = StoreReader(target)
        return self._recordings[name]

    def align(
        self,
        names: Sequence[str] | None = None,
        by: By = "frame_number",
        tolerance: float | None = None,
        write: bool = True,
    ) -> pd.DataFrame:
        """The alignment map of ``names`` (default: every recording), see
        :func:`framestore.align`. The dataset's ``alignment_map.csv`` is reused while it
        was made from these stores, unchanged, with these settings; otherwise the map is
        computed and, with ``write``, saved (with ``alignment_map.json`` saying what from)."""
        by = checked_mode("by", by, BY)
        names = list(names) if names is not None else list(self._recordings)
        stamp: dict[str, Any] = {
            "by": by,
            "tolerance": tolerance,
            "stores": {n: _fingerprint(self._store(n)) for n in names},
        }
        stored = self._stored_alignment(stamp)
        if stored is not None:
            return stored
        table = align_stores({n: self._recordings[n] for n in names}, by=by, tolerance=tolerance)
        if write:
            atomic_write(self._path / ALIGNMENT_MAP, table.to_csv(index=False))
            stamp["attrs"] = table.attrs
            atomic_write(self._path / ALIGNMENT_STAMP, json.dumps(stamp, indent=2))
        return table

    def _stored_alignment(self, stamp: dict[str, Any]) -> pd.DataFrame | None:
        csv, saved = self._path / ALIGNMENT_MAP, self._path / ALIGNMENT_STAMP
        if not csv.is_file() or not saved.is_file():
            return None
        try:
            old = json.loads(saved.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        attrs = old.pop("attrs", {}) if isinstance(old, dict) else {}
        if old != stamp:
            return None
        table = pd.read_csv(csv, dtype={n: "Int64" for n in stamp["stores"]})
        table.attrs.update(attrs)
        return table

    # -- time windows and segments -------------------------------------------------
    def select(
        self,
        recording: str,
        start: TimeOrNumber | None = None,
        stop: TimeOrNumber | None = None,
        by: By = "frame_time",
    ) -> np.ndarray:
        """frame_index of the frames of ``recording`` in ``start <= value < stop``; see :func:`select`."""
        return select(self._store(recording), start, stop, by)

    def frames(
        self,
        recording: str,
        start: TimeOrNumber | None = None,
        stop: TimeOrNumber | None = None,
        by: By = "frame_time",
        roi: Roi | None = None,
    ) -> np.ndarray:
        """The frames of ``recording`` in ``start <= value < stop`` as one array."""
        return self._store(recording).get_frames(self.select(recording, start, stop, by), roi=roi)

    def add_segment(
        self, recording: str, label: str, start: TimeOrNumber, stop: TimeOrNumber, by: By = "frame_time"
    ) -> Segment:
        """Record a labelled segment of ``recording`` in the dataset's ``segments.csv``."""
        self._store(recording)
        by = checked_mode("by", by, BY)
        segment = Segment(recording, str(label), _bound(start, by), _bound(stop, by), by)
        if not segment.start < segment.stop:
            raise ValueError(f"a segment needs start < stop, got {segment.start} and {segment.stop}")
        table = pd.concat([self._segments_table(), pd.DataFrame([asdict(segment)])], ignore_index=True)
        atomic_write(self._path / SEGMENTS, table.to_csv(index=False))
        return segment

    def segments(self, label: str | None = None, recording: str | None = None) -> list[Segment]:
        """The dataset's labelled segments, in the order added, optionally only those with
        ``label`` and/or of ``recording``."""
        table = self._segments_table()
        if label is not None:
            table = table[table["label"] == label]
        if recording is not None:
            table = table[table["recording"] == recording]
        segments = []
        for r in table.to_dict("records"):
            by = checked_mode("by", str(r["by"]), BY)
            start, stop = _bound(r["start"], by), _bound(r["stop"], by)
            segments.append(Segment(str(r["recording"]), str(r["label"]), start, stop, by))
        return segments

    def _segments_table(self) -> pd.DataFrame:
        path = self._path / SEGMENTS
        columns = list(Segment.__dataclass_fields__)
        if not path.is_file():
            return pd.DataFrame(columns=columns)
        # bounds as text: frame numbers stay integers, times keep every digit
        table = pd.read_csv(path, dtype=dict.fromkeys(("recording", "label", "start", "stop", "by"), str))
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise ValueError(f"{path}: lacks the column(s) {missing}; expected {columns}")
        return table[columns]

    def segment_indexes(self, segment: Segment) -> np.ndarray:
        """frame_index of the frames of ``segment`` in its recording."""
        return self.select(segment.recording, segment.start, segment.stop, segment.by)

    def load(self, segment: Segment, roi: Roi | None = None) -> np.ndarray:
        """The frames of ``segment`` as one array ``(n, h, w[, c])``, frame-exact."""
        return self._store(segment.recording).get_frames(self.segment_indexes(segment), roi=roi)

    def viewer_target(self, segment: Segment) -> ViewerTarget:
        """The store and frame numbers to play ``segment`` in the viewer
        (``target.command`` is the command line)."""
        indexes = self.segment_indexes(segment)
        if not len(indexes):
            raise ValueError(f"segment {segment} holds no frame of {segment.recording}")
        numbers = self._store(segment.recording).frame_numbers[indexes]
        return ViewerTarget(self._path / segment.recording, int(numbers.min()), int(numbers.max()))


def store_paths(path: str | os.PathLike[str]) -> Mapping[str, str | os.PathLike[str]]:
    """The store at ``path`` by its name, or every store of the dataset at ``path``,
    without opening them."""
    if is_video_file(path):  # a plain video file, local or a URL
        return {store_path(path).name: path if is_url(path) else Path(path)}
    root = Path(path)
    if root.name == METADATA_FILENAME:
        root = root.parent
    if (root / METADATA_FILENAME).is_file():
        return {root.name: root}
    if not root.is_dir():
        raise StoreNotFoundError(f"{root}: neither a store nor a dataset directory")
    return _store_dirs(root)


def stores_at(path: str | os.PathLike[str], times: Times | None = None) -> dict[str, StoreReader]:
    """The store at ``path`` by its name, or every store of the dataset at ``path``;
    ``times``: the frame times of the plain video file at ``path`` (see
    :func:`framestore.open_video`)."""
    if times is not None:
        return {store_path(path).name: open_video_with_times(path, times)}
    return {name: StoreReader(p) for name, p in store_paths(path).items()}


def open_video_with_times(path: str | os.PathLike[str], times: Times) -> StoreReader:
    """The plain video file at ``path`` with its frame ``times``; an error naming ``path``
    when it is a store or a dataset, whose frames have their times already."""
    if not is_video_file(path):
        raise InvalidArgumentError(
            f"{path}: frame times (--times) are for a plain video file; a store's frames have theirs"
        )
    return open_video(path, times=times)


def _store_dirs(root: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(root.iterdir()) if (p / METADATA_FILENAME).is_file()}


def _fingerprint(store: StoreReader) -> dict[str, Any]:
    """What identifies a store's frames: its uuid, frame count and a hash of its index."""
    digest = hashlib.sha256(store.frame_numbers.tobytes())
    digest.update(store.frame_times.tobytes())
    return {"uuid": store.uuid, "frames": len(store), "index_sha256": digest.hexdigest()}
