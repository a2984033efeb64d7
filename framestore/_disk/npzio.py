"""Fast reading of the small ``.npz`` index files every chunk has.

``np.load`` re-parses each array header with ``ast.literal_eval``; a store of a million
frames has thousands of identical headers, so this reader parses each distinct header once
and maps the data with ``np.frombuffer``. Anything unusual goes through ``np.load``.
"""

from __future__ import annotations

import ast
import zipfile
from collections.abc import Collection

import numpy as np

from .storage import StorePath, seekable

_MAGIC = b"\x93NUMPY"
_headers: dict[bytes, tuple[np.dtype, tuple[int, ...]] | None] = {}


def _parse_header(header: bytes) -> tuple[np.dtype, tuple[int, ...]] | None:
    if header not in _headers:
        try:
            d = ast.literal_eval(header.decode("latin1"))
            dtype = np.dtype(d["descr"])
            simple = not d["fortran_order"] and not dtype.hasobject
            _headers[header] = (dtype, tuple(d["shape"])) if simple else None
        except (ValueError, SyntaxError, KeyError, TypeError):
            _headers[header] = None
    return _headers[header]


def npy_from_bytes(data: bytes | bytearray) -> np.ndarray | None:
    """The array in ``.npy`` bytes, sharing their memory; None for unusual layouts."""
    if data[:6] != _MAGIC or len(data) < 10:
        return None
    if data[6] == 1:
        length, start = int.from_bytes(data[8:10], "little"), 10
    else:
        length, start = int.from_bytes(data[8:12], "little"), 12
    meta = _parse_header(bytes(data[start : start + length]))
    if meta is None:
        return None
    dtype, shape = meta
    count = int(np.prod(shape)) if shape else 1
    if start + length + count * dtype.itemsize > len(data):
        return None
    return np.frombuffer(data, dtype, count=count, offset=start + length).reshape(shape)


def read_npz(path: StorePath, keys: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (only ``keys``, when given), raising OSError,
    ValueError or zipfile.BadZipFile."""
    try:
        return _read_npz(path, keys)
    except (NotImplementedError, RuntimeError, EOFError) as exc:  # zipfile on damaged headers
        raise zipfile.BadZipFile(f"{path}: {exc}") from None


def _read_npz(path: StorePath, keys: Collection[str] | None) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(seekable(path)) as archive:
        for info in archive.infolist():
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            if keys is not None and name not in keys:
                continue
            array = npy_from_bytes(archive.read(info))
            if array is None:  # unusual layout: let numpy handle the whole file
                with np.load(seekable(path), allow_pickle=False) as data:
                    wanted = data.files if keys is None else [k for k in data.files if k in keys]
                    return {key: np.asarray(data[key]) for key in wanted}
            out[name] = array
    return out
