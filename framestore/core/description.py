"""What a store is, resolved once from its ``metadata.yaml``: the reader, verify, recover
and convert all start from a :class:`StoreDescription`."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._disk.index import ChunkIndex
from .._disk.index_cache import load_chunk_indexes
from .._disk.layout import Layout
from .._disk.metadata import StoreMetadata, metadata_path, read_metadata
from .._disk.storage import StorePath
from ..codecs import FormatSpec
from ..codecs.base import ImageSpec
from ..errors import UnknownFormatError
from .dialect import Dialect, dialect_of
from .video_file import SingleFileLayout, Times, VideoFileDialect, describe_video_file, is_video_file


@dataclass(frozen=True)
class StoreDescription:
    """One store's metadata and everything read from it (picklable)."""

    metadata: StoreMetadata
    root: StorePath
    """The store's directory: a local path, or a ``RemotePath`` for a URL."""
    dialect: Dialect
    """framestore's own, or imgstore's (Motif's too)."""
    format: FormatSpec
    """The format its chunks are read in."""
    spec: ImageSpec
    """Shape and dtype of the frames in the chunk files."""
    shape: tuple[int, ...]
    """The shape frames are returned in (after ``conversion``)."""
    layout: Layout[StorePath]
    index_keys: tuple[str, ...] | None
    """The chunk index columns to load (None: all of them)."""
    conversion: int | None
    """The OpenCV colour conversion applied to every frame read (an imgstore
    ``encoding``), or None."""
    timezone: datetime.tzinfo
    """The recording machine's time zone, in which frame times are shown."""

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> StoreDescription:
        """The description of the store at ``path`` (its directory or ``metadata.yaml``,
        local or a URL), or of the plain video file at ``path``."""
        if is_video_file(path):
            return cls.for_video_file(path)
        mpath = metadata_path(path)
        md = read_metadata(path)
        dialect = dialect_of(md)
        try:
            fmt = dialect.read_format(md)
            conversion = dialect.colour_conversion(md)
        except UnknownFormatError as exc:
            raise UnknownFormatError(f"{mpath}: {exc}") from None
        spec = ImageSpec(dialect.stored_image_shape(md), md.dtype)
        return cls(
            metadata=md,
            root=mpath.parent,
            dialect=dialect,
            format=fmt,
            spec=spec,
            shape=spec.shape if conversion is None else (*spec.shape[:2], 3),
            layout=Layout.for_format(mpath.parent, fmt, md.extension),
            index_keys=dialect.index_keys,
            conversion=conversion,
            timezone=dialect.timezone(md),
        )

    @classmethod
    def for_video_file(
        cls,
        path: str | os.PathLike[str],
        times: Times | None = None,
        frame_numbers: Sequence[int] | np.ndarray | None = None,
        gray: bool | None = None,
    ) -> StoreDescription:
        """A plain video file (local or a URL) described as a read-only store of one chunk;
        see :func:`framestore.open_video`."""
        md, file, dialect = describe_video_file(path, times, frame_numbers, gray)
        fmt = dialect.read_format(md)
        return cls(
            metadata=md,
            root=file,
            dialect=dialect,
            format=fmt,
            spec=dialect.spec,
            shape=dialect.spec.shape,
            layout=SingleFileLayout(file, md.extension, False),
            index_keys=None,
            conversion=None,
            timezone=dialect.timezone(md),
        )

    def load_chunks(self) -> list[ChunkIndex]:
        """Every non-empty chunk's index (a plain video file's from its demux index)."""
        if isinstance(self.dialect, VideoFileDialect):
            return [self.dialect.chunk]
        return load_chunk_indexes(self.layout, self.index_keys)

    @property
    def created_utc(self) -> datetime.datetime | None:
        """When the store was created, in UTC (None where it cannot be told)."""
        return self.dialect.created_utc(self.root, self.metadata)
