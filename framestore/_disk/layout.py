"""Where each file of a store lives: the one place that knows file names.

Every path is built from the store directory and integers, never from text read out of
a file, and none is a symbolic link (checked as it is built), so nothing a store contains
can point a reader or a writer outside it.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import re
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar, cast

from .storage import StorePath, list_directory, refuse_link

WRITING_MARKER = ".framestore-writing"
LOCK_FILENAME = ".framestore-lock"
INDEX_CACHE = "framestore-index.npz"
PARTS_DIR = ".framestore-parts"
SCRATCH_DIR = ".framestore-scratch"  # a tool's files for one run (stitch's imports); recover removes it
INDEX_SUFFIX = ".npz"
JOURNAL_SUFFIX = ".journal"
EXTRA_SUFFIX = ".extra.json"
_CHUNK_NAME = re.compile(r"^(\d{6,})(\..+)?$")

P = TypeVar("P", bound=StorePath, covariant=True)  # a local Path, or any StorePath
Root = TypeVar("Root", bound=StorePath)


class ChunkFormat(Protocol):
    """What a layout needs of a store format (``codecs.FormatSpec`` has it)."""

    @property
    def extension(self) -> str: ...

    @property
    def image_chunks(self) -> bool: ...


@dataclass(frozen=True)
class Layout(Generic[P]):
    """File names of one store (a local store's ``Layout[Path]`` gives local paths).

    Video chunks are ``NNNNNN<ext>`` with the index ``NNNNNN.npz`` beside them; image
    chunks are folders ``NNNNNN/`` holding ``KKKKKK.<ext>`` files and ``index.npz``
    (imgstore's layout, so imgstore can open them).
    """

    root: P
    extension: str
    image_chunks: bool

    @staticmethod
    def for_format(root: Root, fmt: ChunkFormat, extension: str = "") -> Layout[Root]:
        """The layout of a store at ``root`` in format ``fmt`` (its chunk files named
        with ``extension`` where the store's metadata gives one)."""
        return Layout(root, extension or fmt.extension, fmt.image_chunks)

    def _at(self, name: str, within: StorePath | None = None) -> P:
        path = cast(P, (self.root if within is None else within) / name)
        refuse_link(path)
        return path

    def chunk_path(self, n: int) -> P:
        if self.image_chunks:
            return self._at(f"{n:06d}")
        return self._at(f"{n:06d}{self.extension}")

    def index_path(self, n: int) -> P:
        if self.image_chunks:
            return self._at(f"index{INDEX_SUFFIX}", self.chunk_path(n))
        return self._at(self.index_name(n))

    def index_name(self, n: int) -> str:
        """Chunk ``n``'s index file relative to the store directory (no link check)."""
        return f"{n:06d}/index{INDEX_SUFFIX}" if self.image_chunks else f"{n:06d}{INDEX_SUFFIX}"

    def legacy_index_path(self, n: int) -> P:
        """Where imgstore put a chunk's index before it wrote ``.npz`` files."""
        path = cast(P, self.index_path(n).with_suffix(".yaml"))
        refuse_link(path)
        return path

    def journal_path(self, n: int) -> P:
        return self._at(self.journal_name(n))

    @staticmethod
    def journal_name(n: int) -> str:
        return f"{n:06d}{JOURNAL_SUFFIX}"

    def extra_path(self, n: int) -> P:
        if self.image_chunks:
            return self._at(f"index{EXTRA_SUFFIX}", self.chunk_path(n))
        return self._at(f"{n:06d}{EXTRA_SUFFIX}")

    def motif_extra_path(self, n: int) -> P:
        """Where Motif's recorder puts a chunk's extra data (always the store's root)."""
        return self._at(f"{n:06d}.extra_data.json")

    def image_name(self, k: int) -> str:
        """The name of image file ``k`` in its chunk's folder."""
        return f"{k:06d}{self.extension}"

    def image_path(self, n: int, k: int) -> P:
        return self._at(self.image_name(k), self.chunk_path(n))

    def frame_files(self, n: int, count: int) -> list[P]:
        """The files holding chunk ``n``'s ``count`` frames, in frame order."""
        if self.image_chunks:
            return [self.image_path(n, k) for k in range(count)]
        return [self.chunk_path(n)]

    @property
    def index_cache_path(self) -> P:
        return self._at(INDEX_CACHE)

    @property
    def marker_path(self) -> P:
        return self._at(WRITING_MARKER)

    def part_path(self, k: int) -> P:
        """Scratch store of part ``k`` of a store written in parallel (inside the store, so
        its chunks move in by rename)."""
        return self._at(f"part-{k:06d}", self._at(PARTS_DIR))

    def chunk_files(self, n: int) -> list[P]:
        """Every file or folder of a finished chunk ``n`` that exists: chunk, index, extra data."""
        paths = [self.chunk_path(n)]
        if not self.image_chunks:
            paths += [self.index_path(n), self.extra_path(n)]
        return [p for p in paths if p.exists()]

    def on_disk(self) -> Layout[Path]:
        """This layout, for changing the store's files: only a local store's."""
        if not isinstance(self.root, Path):
            raise ValueError(f"{self.root}: a store given by URL is read-only")
        return cast(Layout[Path], self)

    def remove_chunk(self: Layout[Path], n: int) -> None:
        """Delete chunk ``n``'s file or folder and its journal (an empty or abandoned chunk)."""
        path = self.chunk_path(n)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        self.journal_path(n).unlink(missing_ok=True)

    def chunk_numbers(self) -> list[int]:
        """Numbers of the chunks present: those with a chunk file or folder or a journal.

        Where the directory cannot be listed (a store served over HTTP), chunks are
        found by number from 0 upward, each by its index (or journal), until one has
        neither: chunks are numbered without gaps.
        """
        entries = list_directory(self.root)
        if entries is None:
            return list(itertools.takewhile(self._has_index, itertools.count()))
        return self.chunk_numbers_listed(entries)

    def chunk_numbers_listed(self, entries: list[tuple[str, bool]]) -> list[int]:
        """Numbers of the chunks among a listing's (name, is a directory) entries."""
        found: set[int] = set()
        for name, is_dir in entries:
            m = _CHUNK_NAME.match(name)
            if m is None:
                continue
            suffix = m.group(2) or ""
            if self.image_chunks and suffix == "" and is_dir:
                found.add(int(m.group(1)))
            elif suffix == JOURNAL_SUFFIX or (
                not self.image_chunks and suffix in (self.extension, INDEX_SUFFIX)
            ):
                found.add(int(m.group(1)))
        return sorted(found)

    def _has_index(self, n: int) -> bool:
        return any(p.exists() for p in (self.index_path(n), self.journal_path(n), self.legacy_index_path(n)))


def write_marker(path: Path, frames_expected: int | None = None) -> None:
    """Mark the store at ``path``'s directory as being written (who, where, since when;
    and how many frames the job writes, where it knows)."""
    info: dict[str, object] = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_utc": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    if frames_expected is not None:
        info["frames_expected"] = frames_expected
    path.write_text(json.dumps(info) + "\n", encoding="utf-8")


def marker_frames_expected(path: Path) -> int | None:
    """The frame count the writing marker says its job writes, if it says one."""
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    expected = info.get("frames_expected") if isinstance(info, dict) else None
    return expected if isinstance(expected, int) else None
