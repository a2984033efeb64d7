"""``metadata.yaml``: the store's description, read and written with safe YAML only.

The ``__store`` block keeps imgstore's keys so imgstore opens our stores in the formats
it knows; our own settings are a ``framestore`` block inside it (so imgstore, which
treats every other top-level key as user metadata, reports the same user metadata as we
do); every other top-level key is user metadata.
"""

from __future__ import annotations

import datetime
import os
import re
import uuid as uuidlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import CorruptStoreError, StoreNotFoundError
from .atomic import atomic_write
from .storage import StorePath, refuse_link, store_path

METADATA_FILENAME = "metadata.yaml"
STORE_KEY = "__store"
FRAMESTORE_KEY = "framestore"
IMGSTORE_VERSION = 2
FRAMESTORE_FORMAT_VERSION = 1
_EXTENSION = re.compile(r"^\.[A-Za-z0-9]{1,8}$")  # nothing that could name another directory


@dataclass(frozen=True)
class StoreMetadata:
    """Everything ``metadata.yaml`` says about a store."""

    format: str
    store_class: str
    chunksize: int
    imgshape: tuple[int, ...]
    imgdtype: str
    extension: str
    encoding: str | None = None
    created_utc: str = ""
    timezone_local: str = "UTC"
    uuid: str = ""
    fps: float | None = None
    codec_options: dict[str, Any] = field(default_factory=dict)
    derived_from: dict[str, Any] | None = None
    frame_columns: dict[str, str] = field(default_factory=dict)  # per-frame column -> dtype
    written_by_framestore: bool = True  # False for stores imgstore or Motif wrote
    user: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, **kwargs: Any) -> StoreMetadata:
        """A fresh description, stamped with the current UTC time and a new uuid."""
        created = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        return cls(
            created_utc=created.isoformat(),
            timezone_local=local_timezone_name(),
            uuid=uuidlib.uuid4().hex,
            **kwargs,
        )

    @property
    def is_color(self) -> bool:
        return len(self.imgshape) == 3

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.imgdtype)

    def to_yaml_dict(self) -> dict[str, Any]:
        store = {
            "class": self.store_class,
            "format": self.format,
            "chunksize": self.chunksize,
            "imgshape": list(self.imgshape),
            "imgdtype": self.imgdtype,
            "encoding": self.encoding,
            "extension": self.extension,
            "created_utc": self.created_utc,
            "timezone_local": self.timezone_local,
            "uuid": self.uuid,
            "version": IMGSTORE_VERSION,
        }
        own: dict[str, Any] = {
            "format_version": FRAMESTORE_FORMAT_VERSION,
            "fps": self.fps,
            "codec_options": dict(self.codec_options),
        }
        if self.frame_columns:
            own["frame_columns"] = dict(self.frame_columns)
        if self.derived_from is not None:
            own["derived_from"] = self.derived_from
        store[FRAMESTORE_KEY] = own
        return {STORE_KEY: store, **self.user}

    @classmethod
    def from_yaml_dict(cls, data: Any, path: StorePath) -> StoreMetadata:
        if not isinstance(data, dict) or not isinstance(data.get(STORE_KEY), dict):
            raise CorruptStoreError(f"{path}: expected a mapping with a '{STORE_KEY}' block")
        store = data[STORE_KEY]
        own = store.get(FRAMESTORE_KEY) or {}
        if not isinstance(own, dict):
            raise CorruptStoreError(f"{path}: the '{FRAMESTORE_KEY}' block must be a mapping")
        user = {k: v for k, v in data.items() if k != STORE_KEY}
        try:
            fmt = str(store["format"])
            chunksize = int(store["chunksize"])
            imgshape = tuple(int(v) for v in store["imgshape"])
            imgdtype = str(np.dtype(store["imgdtype"]))
        except KeyError as exc:
            raise CorruptStoreError(f"{path}: '{STORE_KEY}' lacks the key {exc}") from None
        except (TypeError, ValueError) as exc:
            raise CorruptStoreError(f"{path}: bad value in '{STORE_KEY}': {exc}") from None
        if chunksize < 1 or len(imgshape) not in (2, 3) or min(imgshape) < 1:
            raise CorruptStoreError(
                f"{path}: expected chunksize >= 1 and imgshape [h, w] or [h, w, 3], "
                f"got chunksize {chunksize} and imgshape {list(imgshape)}"
            )
        extension = str(store.get("extension") or "")
        if extension and not _EXTENSION.match(extension):
            raise CorruptStoreError(f"{path}: extension {extension!r} is not a file extension like '.mkv'")
        fps = own.get("fps", store.get("fps"))
        return cls(
            format=fmt,
            store_class=str(store.get("class", "")),
            chunksize=chunksize,
            imgshape=imgshape,
            imgdtype=imgdtype,
            extension=extension,
            encoding=store.get("encoding") or None,
            created_utc=str(store.get("created_utc") or ""),
            timezone_local=str(store.get("timezone_local") or ""),
            uuid=str(store.get("uuid") or ""),
            fps=float(fps) if fps else None,
            codec_options=dict(own.get("codec_options") or {}),
            derived_from=own.get("derived_from"),
            frame_columns={str(k): str(v) for k, v in (own.get("frame_columns") or {}).items()},
            written_by_framestore=bool(own),
            user=user,
        )

    def with_user(self, user: dict[str, Any]) -> StoreMetadata:
        return replace(self, user=dict(user))


def local_timezone_name() -> str:
    """The IANA name of this machine's time zone, or ``UTC`` when it cannot be told."""
    tz = os.environ.get("TZ")
    if tz and "/" in tz:
        return tz.lstrip(":")
    try:
        link = os.readlink("/etc/localtime")
    except OSError:
        return "UTC"
    marker = "zoneinfo/"
    return link.split(marker, 1)[1] if marker in link else "UTC"


def metadata_path(path: str | os.PathLike[str]) -> StorePath:
    """The ``metadata.yaml`` of a store given its directory or the file itself (a local
    path or a URL)."""
    p = store_path(path)
    if p.name == METADATA_FILENAME:
        return p
    return p / METADATA_FILENAME


def read_metadata(path: str | os.PathLike[str]) -> StoreMetadata:
    """Read and check a store's ``metadata.yaml`` (safe YAML only)."""
    mpath = metadata_path(path)
    refuse_link(mpath)
    try:
        data = yaml.safe_load(mpath.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise StoreNotFoundError(f"{mpath}: no framestore/imgstore metadata file here") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorruptStoreError(f"{mpath}: not valid YAML ({exc})") from None
    return StoreMetadata.from_yaml_dict(data, mpath)


def write_metadata(directory: Path, md: StoreMetadata) -> None:
    """Write ``metadata.yaml`` atomically (temporary file, then rename)."""
    atomic_write(directory / METADATA_FILENAME, yaml.safe_dump(md.to_yaml_dict(), sort_keys=False))
