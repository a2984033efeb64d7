"""Opening stores the imgstore way: ``new_for_filename`` reads, ``new_for_format`` writes."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..codecs import DEFAULT_FORMAT
from .reader import StoreReader
from .settings import DEFAULT_CHUNKSIZE
from .writer import StoreWriter


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
    fmt: str = DEFAULT_FORMAT,
    path: str | os.PathLike[str] | None = None,
    *,
    imgshape: tuple[int, ...],
    imgdtype: str | np.dtype[Any] | type = np.uint8,
    chunksize: int = DEFAULT_CHUNKSIZE,
    fps: float | None = None,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = False,
    codec_options: dict[str, str] | None = None,
    frame_columns: dict[str, Any] | None = None,
    basedir: str | os.PathLike[str] | None = None,
) -> StoreWriter:
    """Create a store at ``path`` in format ``fmt`` and return its writer.

    ``imgshape``: ``(height, width)`` or ``(height, width, 3)``; ``imgdtype``: uint8 or
    uint16; ``chunksize``: frames per chunk; ``fps``: the nominal frame rate (None: not
    stated; qc then judges the store by its measured rate); ``metadata``: user metadata
    (plain YAML values); ``overwrite``: replace an existing store;
    ``codec_options``: passed to the encoder; ``frame_columns``: per-frame column name ->
    numeric dtype, given with every ``add_image``. ``basedir`` is accepted for ``path``,
    as in imgstore.
    """
    return StoreWriter(
        fmt,
        path if path is not None else basedir,
        imgshape=imgshape,
        imgdtype=imgdtype,
        chunksize=chunksize,
        fps=fps,
        metadata=metadata,
        overwrite=overwrite,
        codec_options=codec_options,
        frame_columns=frame_columns,
    )


def extract_only_frame(path: str | os.PathLike[str], frame_index: int) -> np.ndarray:
    """The image at ``frame_index`` of the store at ``path``, opening only what it needs."""
    with StoreReader(path) as store:
        return store[frame_index]
