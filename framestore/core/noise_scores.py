"""A store's damage scores kept beside its frames: ``damage_scores.csv`` in the store.

The table (``core.damage``'s verdict for every frame) is worth keeping: judging a week of
frames means decoding it. Its first line says what it was judged from: the store's uuid,
a fingerprint of its index (frame numbers, times, per-frame and per-chunk checksums, so
any changed chunk makes it stale) and the detector's settings. A table whose line does
not match the store as it is now is never used. It is written atomically, only into a
complete local store whose lock this process can take (never beside a live writer, a
read-only directory, a remote store or a plain video file).
"""

from __future__ import annotations

import errno
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from .._disk.atomic import atomic_write
from .._disk.columns import CRC32, FRAME_NUMBER
from .._disk.index import StoreIndex
from .._disk.lock import StoreLock
from .._disk.metadata import METADATA_FILENAME
from ..errors import StoreBusyError
from .damage import DamageSettings, damage_table

SCORES_FILENAME = "damage_scores.csv"
_HEADER = "# framestore damage scores "
_VERSION = 1
_DTYPES: dict[str, Any] = {
    FRAME_NUMBER: np.int64,
    "damaged": bool,
    "kind": object,
    "first_row": "Int64",
    "last_row": "Int64",
    "check_rows": np.int32,
    "black_rows": np.int32,
    "score": np.float32,
}
_NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def index_fingerprint(index: StoreIndex) -> str:
    """SHA-256 over what identifies the frames of ``index``: frame numbers and times, and
    the checksums recorded per frame and per chunk where the store has them."""
    digest = hashlib.sha256(index.frame_number.tobytes())
    digest.update(index.frame_time.tobytes())
    crc = index.column(CRC32)
    if crc is not None:
        digest.update(np.nan_to_num(crc.astype(np.float64), nan=-1.0).tobytes())
    for chunk in index.chunks:
        digest.update(f"{chunk.number}:{chunk.count}:{chunk.complete}".encode())
        if chunk.checksum is not None:
            digest.update(f"{chunk.checksum.digest}:{chunk.checksum.size}".encode())
    return digest.hexdigest()


class ScoredStore(Protocol):
    """What :func:`kept_scores` needs of a store (a ``StoreReader``)."""

    @property
    def path(self) -> object: ...
    @property
    def uuid(self) -> str: ...
    @property
    def is_complete(self) -> bool: ...
    @property
    def index_fingerprint(self) -> str: ...
    @property
    def frame_numbers(self) -> np.ndarray: ...


def kept_scores(
    store: ScoredStore,
    settings: DamageSettings,
    judge: Callable[[], tuple[np.ndarray, ...]],
    recompute: bool = False,
) -> pd.DataFrame:
    """The damage table of ``store``: the one kept in it when it still describes the store
    (unless ``recompute``), else ``judge()``'s verdicts (``core.damage.judge_frames``'s
    arrays for every frame), kept in the store where it may be written. Indexed by
    ``frame_index``, with ``frame_number`` first."""
    stamp = {
        "version": _VERSION,
        "uuid": store.uuid,
        "frames": len(store.frame_numbers),
        "index_sha256": store.index_fingerprint,
        "settings": settings.to_dict(),
    }
    stamp = json.loads(json.dumps(stamp, sort_keys=True))  # as it reads back
    home = scores_home(store.path) if store.is_complete else None
    if home is not None and not recompute:
        kept = load_scores(home, stamp)
        if kept is not None:
            return kept
    table = damage_table(*judge())
    table.insert(0, FRAME_NUMBER, store.frame_numbers.astype(np.int64))
    table.index = pd.RangeIndex(len(table), name="frame_index")
    if home is not None:
        save_scores(home, table, stamp)
    return table


def scores_home(path: object) -> Path | None:
    """The local store directory a table may be kept in, or None (a remote store, a plain
    video file)."""
    if isinstance(path, Path) and (path / METADATA_FILENAME).is_file():
        return path
    return None


def load_scores(root: Path, stamp: dict[str, Any]) -> pd.DataFrame | None:
    """The table saved in store ``root`` if it was judged from what ``stamp`` describes;
    None when there is none, it is stale, or it cannot be read."""
    path = root / SCORES_FILENAME
    try:
        with path.open(encoding="utf-8") as f:
            first = f.readline()
            if not first.startswith(_HEADER) or json.loads(first[len(_HEADER) :]) != stamp:
                return None
            table = pd.read_csv(f, dtype=_DTYPES, index_col="frame_index")
    except (OSError, ValueError, KeyError):
        return None
    if len(table) != stamp["frames"] or list(table.columns) != list(_DTYPES):
        return None
    kinds = table["kind"].to_numpy(dtype=object)
    table["kind"] = pd.Series(kinds, index=table.index)  # the dtype damage_table's column has
    return table


def save_scores(root: Path, table: pd.DataFrame, stamp: dict[str, Any]) -> bool:
    """Keep ``table`` in store ``root``; False (nothing written) when the store is being
    written or changed by another process, or its directory is not writable."""
    text = _HEADER + json.dumps(stamp, sort_keys=True) + "\n" + table.to_csv()
    try:
        with StoreLock(root, "save its damage scores"):
            atomic_write(root / SCORES_FILENAME, text)
    except StoreBusyError:
        return False
    except OSError as exc:
        if exc.errno in _NOT_WRITABLE:
            return False
        raise
    return True
