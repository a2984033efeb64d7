"""framestore: trustworthy, frame-exact storage for long camera and miniscope recordings.

Open a store with :func:`new_for_filename`, write one with :func:`new_for_format`.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .align import AlignedFrames, align
from .codecs import DEFAULT_FORMAT, get_supported_formats
from .dataset import Dataset, Segment
from .errors import (
    CorruptStoreError,
    FrameIndexError,
    FrameNotFoundError,
    FramestoreError,
    IncompleteStoreWarning,
    InvalidFrameError,
    ReadOnlyStoreError,
    StoreClosedError,
    StoreExistsError,
    StoreNotFoundError,
    StoreWarning,
    UnknownFormatError,
)
from .reader import StoreReader
from .writer import StoreWriter

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_FORMAT",
    "AlignedFrames",
    "CorruptStoreError",
    "Dataset",
    "FrameIndexError",
    "FrameNotFoundError",
    "FramestoreError",
    "IncompleteStoreWarning",
    "InvalidFrameError",
    "ReadOnlyStoreError",
    "StoreClosedError",
    "StoreExistsError",
    "StoreNotFoundError",
    "StoreReader",
    "Segment",
    "StoreWarning",
    "StoreWriter",
    "UnknownFormatError",
    "align",
    "extract_only_frame",
    "get_supported_formats",
    "new_for_filename",
    "new_for_format",
]


def new_for_filename(path: str | os.PathLike[str], verify: bool = True) -> StoreReader:
    """Open the store at ``path`` (its directory or its ``metadata.yaml``) for reading.

    ``path`` may be a URL (``https://``, ``file://``, ``s3://`` with s3fs installed, or any
    protocol fsspec reads): the store is then read-only, and only the chunk files and
    byte ranges each read needs are fetched (``pip install 'framestore[remote]'``).

    With ``verify`` (the default) every frame's stored bytes are checked against the
    CRC32 in its chunk index before decoding; ``verify=False`` skips that (it costs about
    0.1 ms per 300 kB frame, which matters only for uncompressed formats).
    """
    return StoreReader(path, verify=verify)


def new_for_format(
    fmt: str = DEFAULT_FORMAT, path: str | os.PathLike[str] | None = None, **kwargs: Any
) -> StoreWriter:
    """Create a store at ``path`` in format ``fmt`` and return its writer.

    Keyword arguments: ``imgshape`` (required), ``imgdtype`` (uint8), ``chunksize`` (500),
    ``fps`` (25), ``metadata`` (user metadata dict), ``overwrite`` (False),
    ``codec_options``. ``basedir=`` is accepted for ``path``, as in imgstore.
    """
    if path is None:
        path = kwargs.pop("basedir", None)
    return StoreWriter(fmt, path, **kwargs)


def extract_only_frame(path: str | os.PathLike[str], frame_index: int) -> np.ndarray:
    """The image at ``frame_index`` of the store at ``path``, opening only what it needs."""
    with StoreReader(path) as store:
        return store[frame_index]
