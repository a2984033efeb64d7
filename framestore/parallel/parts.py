"""Writing one store from parts written in parallel.

A part is a run of whole chunks written by a :class:`StoreWriter` of its own, into a
scratch store inside the output (``.framestore-parts/part-NNNNNN``), its chunks numbered as
in the whole store. Parts are moved in by rename strictly in order, so the output is at
every moment a store of complete chunks ``0..n`` (marked as being written until the end,
the marker holding the frame count the job writes), and a run killed midway loses only
the parts not yet moved in; ``recover`` then removes the parts and says what is missing.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .._disk.index_cache import write_index_cache
from .._disk.layout import PARTS_DIR, Layout, write_marker
from .._disk.storage import local_path
from ..core.settings import WriteSettings
from ..core.writer import StoreWriter, create_store
from ..errors import FramestoreError


@dataclass(frozen=True)
class PartSpec:
    """What a worker needs to write one part (picklable)."""

    settings: WriteSettings
    path: Path
    first_chunk: int

    def open(self) -> StoreWriter:
        return StoreWriter.from_settings(self.path, self.settings, first_chunk=self.first_chunk)

    @property
    def layout(self) -> Layout[Path]:
        return Layout.for_format(self.path, self.settings.format)


class PartedStore:
    """The output store of a parallel job: made (metadata, marker) at once, filled by
    :meth:`commit` part by part in order, finished by :meth:`close`. ``frames``: how many
    frames the job writes, kept in the writing marker until the end."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        settings: WriteSettings,
        *,
        overwrite: bool = False,
        frames: int | None = None,
    ):
        self.layout, _, self._lock = create_store(local_path(path), settings, overwrite)
        if frames is not None:
            write_marker(self.layout.marker_path, frames_expected=frames)
        self._part_settings = settings.without_derived_from()

    def part(self, k: int, first_chunk: int) -> PartSpec:
        """The spec of part ``k``, whose first chunk is chunk ``first_chunk`` of the store."""
        return PartSpec(self._part_settings, self.layout.part_path(k), first_chunk)

    def commit(self, part: PartSpec) -> None:
        """Move a finished part's chunks into the store."""
        scratch = part.layout
        if scratch.marker_path.exists():
            raise FramestoreError(f"{part.path}: part was not finished; not moved into {self.layout.root}")
        for n in scratch.chunk_numbers():
            for path in scratch.chunk_files(n):
                os.replace(path, self.layout.root / path.name)
        shutil.rmtree(part.path)

    def close(self) -> None:
        """Index cache, then the store is marked complete."""
        shutil.rmtree(self.layout.root / PARTS_DIR, ignore_errors=True)
        write_index_cache(self.layout)
        self.layout.marker_path.unlink(missing_ok=True)
        self._lock.release()

    def discard_parts(self) -> None:
        """After a failure: remove every scratch part and give up the store, which keeps
        what was committed."""
        shutil.rmtree(self.layout.root / PARTS_DIR, ignore_errors=True)
        self._lock.release()
