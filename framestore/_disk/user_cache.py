"""framestore's per-user cache: what is worth keeping about files it only reads (a plain
video file's demux index), never written beside them.

The directory is ``$FRAMESTORE_CACHE_DIR`` when set, else the platform's user cache
directory (``$XDG_CACHE_HOME/framestore``, ``~/.cache/framestore``;
``~/Library/Caches/framestore`` on macOS; ``%LOCALAPPDATA%/framestore/Cache`` on Windows).
Entries are keyed by a file's identity (path, size and modification time; for a URL, the
URL with its size and ETag or Last-Modified), so a changed file is never read from a stale
entry.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ..errors import StoreWarning
from .atomic import atomic_write
from .storage import RemotePath, StorePath

CACHE_ENV = "FRAMESTORE_CACHE_DIR"


def cache_dir() -> Path:
    """The directory framestore keeps its per-user cache in."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "framestore"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local")) / "framestore" / "Cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "framestore"


def file_identity(path: StorePath) -> str:
    """A key that changes whenever the file at ``path`` does (one request for a URL)."""
    if isinstance(path, RemotePath):
        info = path.info()
        stamp = {k: info.get(k) for k in ("size", "ETag", "Last-Modified", "LastModified", "mtime")}
        identity = json.dumps({"url": str(path), **{k: str(v) for k, v in stamp.items() if v}})
    else:
        st = path.stat()
        identity = json.dumps({"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def read_cached(kind: str, key: str) -> dict[str, np.ndarray] | None:
    """The arrays cached under ``kind``/``key``, or None when absent or unreadable."""
    path = cache_dir() / kind / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def write_cached(kind: str, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Keep ``arrays`` under ``kind``/``key``; a cache that cannot be written only warns."""
    directory = cache_dir() / kind
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    try:
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / f"{key}.npz", buffer.getvalue(), fsync=False)
    except OSError as exc:
        warnings.warn(
            f"{directory}: cannot write framestore's cache ({exc}); set {CACHE_ENV} to a "
            "writable directory to keep video indexes between runs",
            StoreWarning,
            stacklevel=3,
        )
