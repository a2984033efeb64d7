"""Opening stores the imgstore way: ``new_for_filename`` reads, ``new_for_format`` writes."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any, Literal, overload

import numpy as np

from ..codecs import DEFAULT_FORMAT
from .description import StoreDescription
from .imgstore_compat import store_directory
from .reader import StoreReader
from .settings import DEFAULT_CHUNKSIZE
from .video_file import Times
from .writer import StoreWriter


def new_for_filename(
    path: str | os.PathLike[str] | None = None,
    mode: Literal["r"] = "r",
    *,
    verify: bool = True,
    basedir: str | os.PathLike[str] | None = None,
    seek: bool | None = None,
    index: object = None,
    times: Times | None = None,
) -> StoreReader:
    """Open the store at ``path`` (its directory or its ``metadata.yaml``), or the plain
    video file at ``path`` (with its frame ``times``: see :func:`open_video`), for reading.

    ``path`` may be a URL (``https://``, ``file://``, ``s3://`` with s3fs installed, or any
    protocol fsspec reads): the store is then read-only, and only the chunk files and
    byte ranges each read needs are fetched (``pip install 'framestore[remote]'``).

    With ``verify`` (the default) every frame's stored bytes are checked against the
    CRC32 in its chunk index before decoding; ``verify=False`` skips that (it costs about
    0.1 ms per 300 kB frame, which matters only for uncompressed formats).

    imgstore's arguments are accepted: ``basedir`` names the store's directory instead of
    ``path``; ``mode`` can only be ``'r'``; ``seek`` and ``index`` change nothing, since
    every seek is frame-exact and the store's own index cache makes opening fast.
    """
    if mode != "r":
        raise ValueError(f"new_for_filename opens stores for reading (mode='r'), got mode={mode!r}")
    path = store_directory(path, basedir, reading=True)
    if times is not None:
        return open_video(path, times=times, verify=verify)
    return StoreReader(path, verify=verify)


def open_video(
    path: str | os.PathLike[str],
    *,
    times: Times | None = None,
    frame_numbers: Sequence[int] | np.ndarray | None = None,
    gray: bool | None = None,
    verify: bool = True,
) -> StoreReader:
    """Open any single video file PyAV can demux (``.mp4``, ``.avi``, ``.mkv``, ``.mov``,
    ...), local or a URL, as a read-only store of one chunk, frame-exact at every
    position.

    ``times``: each frame's ``frame_time``, as an array, a ``.npy`` file or a CSV with a
    ``frame_time`` column (and optionally ``frame_number``); without it, the container's
    timestamps in seconds from the first frame. ``frame_numbers``: default the
    frame_index. ``gray``: return the luma plane only (default: when the pixel format is
    a gray one); color frames are BGR. The file is demuxed once (nothing decoded) and its
    index kept in the user cache (``FRAMESTORE_CACHE_DIR`` to move it).
    """
    description = StoreDescription.for_video_file(path, times, frame_numbers, gray)
    return StoreReader(path, verify=verify, description=description)


@overload
def new_for_format(
    fmt: str | None = ...,
    path: str | os.PathLike[str] | None = ...,
    *,
    mode: Literal["w"] = ...,
    imgshape: tuple[int, ...] | None = ...,
    imgdtype: str | np.dtype[Any] | type = ...,
    chunksize: int = ...,
    fps: float = ...,
    metadata: dict[str, Any] | None = ...,
    overwrite: bool = ...,
    codec_options: dict[str, str] | None = ...,
    frame_columns: dict[str, Any] | None = ...,
    basedir: str | os.PathLike[str] | None = ...,
    format: str | None = ...,
    encoding: str | None = ...,
) -> StoreWriter: ...


@overload
def new_for_format(
    fmt: str | None = ...,
    path: str | os.PathLike[str] | None = ...,
    *,
    mode: Literal["r"],
    basedir: str | os.PathLike[str] | None = ...,
    verify: bool = ...,
    seek: bool | None = ...,
    index: object = ...,
) -> StoreReader: ...


def new_for_format(
    fmt: str | None = DEFAULT_FORMAT,
    path: str | os.PathLike[str] | None = None,
    *,
    mode: Literal["w", "r"] = "w",
    imgshape: tuple[int, ...] | None = None,
    imgdtype: str | np.dtype[Any] | type = np.uint8,
    chunksize: int = DEFAULT_CHUNKSIZE,
    fps: float | None = None,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = False,
    codec_options: dict[str, str] | None = None,
    frame_columns: dict[str, Any] | None = None,
    basedir: str | os.PathLike[str] | None = None,
    format: str | None = None,
    encoding: str | None = None,
    verify: bool = True,
    seek: bool | None = None,
    index: object = None,
) -> StoreWriter | StoreReader:
    """Create a store at ``path`` in format ``fmt`` and return its writer.

    ``imgshape``: ``(height, width)`` or ``(height, width, 3)``; ``imgdtype``: uint8 or
    uint16; ``chunksize``: frames per chunk; ``fps``: the nominal frame rate (None: not
    stated; qc then judges the store by its measured rate); ``metadata``: user metadata
    (plain YAML values); ``overwrite``: replace an existing store;
    ``codec_options``: passed to the encoder; ``frame_columns``: per-frame column name ->
    numeric dtype, given with every ``add_image``; ``encoding``: imgstore's name of an
    OpenCV conversion to BGR that every frame gets when read (``cv_bayerbg``: raw Bayer
    frames are stored and read as color).

    imgstore's calling conventions mean what they meant there: ``basedir`` names the
    store's directory instead of ``path`` (which may also be its ``metadata.yaml``),
    ``format`` repeats ``fmt``, and ``mode='r'`` opens an existing store for reading,
    as :func:`new_for_filename` (``fmt`` is then ignored).
    """
    if mode == "r":
        return new_for_filename(path, basedir=basedir, verify=verify, seek=seek, index=index)
    if mode != "w":
        raise ValueError(f"mode must be 'w' (write a new store) or 'r' (read one), got {mode!r}")
    if format is not None and fmt not in (None, DEFAULT_FORMAT, format):
        raise ValueError(f"fmt={fmt!r} and format={format!r} name different formats; give one")
    fmt = format or fmt
    if fmt is None or imgshape is None:
        raise ValueError("writing a store needs its format (fmt) and imgshape")
    return StoreWriter(
        fmt,
        store_directory(path, basedir, reading=False),
        imgshape=imgshape,
        imgdtype=imgdtype,
        chunksize=chunksize,
        fps=fps,
        metadata=metadata,
        overwrite=overwrite,
        codec_options=codec_options,
        frame_columns=frame_columns,
        encoding=encoding,
    )


def extract_only_frame(path: str | os.PathLike[str], frame_index: int) -> np.ndarray:
    """The image at ``frame_index`` of the store at ``path``, opening only what it needs."""
    with StoreReader(path) as store:
        return store[frame_index]
