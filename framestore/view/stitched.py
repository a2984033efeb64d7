"""What the viewer shows of a stitched store: the chosen source, the reason, the candidates."""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._disk.metadata import METADATA_FILENAME
from .._disk.storage import seekable
from ..core.reader import StoreReader
from ..errors import FramestoreError, StoreWarning
from ..sessions.stitch import SCORES_FILE


class Stitched:
    """A stitched store's scores table (``scores.csv``, one row per frame_index) and sources."""

    def __init__(self, store: StoreReader, scores: pd.DataFrame) -> None:
        self.store = store
        self.scores = scores
        self.source_names = [str(s["name"]) for s in store.metadata.derived_from["sources"]]  # type: ignore[index]
        self._scratch: tempfile.TemporaryDirectory[str] | None = None  # re-imported sources

    @classmethod
    def of(cls, store: StoreReader) -> Stitched | None:
        """The stitching record of ``store``, or None if it is not a stitched store."""
        path = store.path / SCORES_FILE
        derived = store.metadata.derived_from
        if not derived or "sources" not in derived or not path.is_file():
            return None
        scores = pd.read_csv(seekable(path))
        if len(scores) != len(store) or not np.array_equal(scores["frame_number"], store.frame_numbers):
            warnings.warn(f"{path}: does not list the store's frames; not shown", StoreWarning, stacklevel=2)
            return None
        return cls(store, scores)

    def line(self, frame_index: int) -> str:
        """``source NAME of K: reason`` for the frame at ``frame_index``."""
        row = self.scores.iloc[frame_index]
        return f"source {row['chosen']} of {int(row['candidates'])}: {row['reason']}"

    def candidate_indexes(self, frame_index: int) -> dict[str, int | None]:
        """Each source's frame_index of the copies of frame ``frame_index`` (None: no copy)."""
        row = self.scores.iloc[frame_index]
        out: dict[str, int | None] = {}
        for name in self.source_names:
            value = row.get(f"{name}_frame_index")
            out[name] = None if value is None or pd.isna(value) else int(value)
        return out

    def open_sources(self) -> dict[str, StoreReader | None]:
        """The source stores by name, from the paths in ``derived_from`` (None where gone).
        A source that was a scratch import of a receiver's video (``framestore-stitch
        rx0.avi ...``) is imported again from that video, for as long as this viewer runs."""
        sources: dict[str, StoreReader | None] = {}
        for source in self.store.metadata.derived_from["sources"]:  # type: ignore[index]
            name = str(source["name"])
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", StoreWarning)  # the stitch reported these
                    sources[name] = StoreReader(self._source_path(name, source))
            except (FramestoreError, OSError) as exc:
                warnings.warn(f"source {name} not shown: {exc}", StoreWarning, stacklevel=2)
                sources[name] = None
        return sources

    def _source_path(self, name: str, source: dict[str, Any]) -> Path:
        path = Path(source["path"])
        video = Path(source.get("source_video", ""))
        if (path / METADATA_FILENAME).is_file() or not video.is_file():
            return path
        from ..ingest.miniscope import SCRATCH_FORMAT, import_recording

        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="framestore-view-")
        print(f"framestore-view: importing {name} again from {video} (its store is gone)", file=sys.stderr)
        csv = source.get("source_csv")
        return import_recording(video, Path(self._scratch.name) / name, csv=csv, fmt=SCRATCH_FORMAT)
