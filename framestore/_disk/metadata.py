"""``metadata.yaml``: the store's description, read and written with safe YAML only.

The ``__store`` block keeps imgstore's keys so imgstore opens our stores in the formats
it knows; our own settings are a ``framestore`` block inside it (so imgstore, which
treats every other top-level key as user metadata, reports the same user metadata as we
do); every other top-level key is user metadata.

framestore ends the file with a comment holding the CRC32 of everything above it
(imgstore's YAML loader skips comments): a damaged byte anywhere in the file is an error,
not a silently different store. The YAML is parsed bounded: its size, nesting and
expanded alias count are limited before anything is built from it.
"""

from __future__ import annotations

import datetime
import os
import re
import uuid as uuidlib
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import CorruptStoreError, StoreNotFoundError
from .atomic import atomic_write
from .storage import Location, StorePath, refuse_link, store_path

METADATA_FILENAME = "metadata.yaml"
STORE_KEY = "__store"
FRAMESTORE_KEY = "framestore"
IMGSTORE_VERSION = 2
MAX_METADATA_BYTES = 1 << 20
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 100_000  # counting each alias as the nodes it stands for
# the checksum line, also with its "#" damaged (only the text above it is parsed)
_CHECKSUM = re.compile(r"\n[^\n] framestore-crc32: ([0-9a-f]{8})\n?\Z")
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
    def from_yaml_dict(cls, data: Any, path: StorePath, checksummed: bool = False) -> StoreMetadata:
        """The metadata a parsed ``metadata.yaml`` holds; ``checksummed``: the file carried
        framestore's checksum (so framestore wrote it, whatever its keys say now)."""
        if not isinstance(data, dict) or not isinstance(data.get(STORE_KEY), dict):
            raise CorruptStoreError(f"{path}: expected a mapping with a '{STORE_KEY}' block")
        store = data[STORE_KEY]
        own = store.get(FRAMESTORE_KEY) or {}
        if not isinstance(own, dict):
            raise CorruptStoreError(f"{path}: the '{FRAMESTORE_KEY}' block must be a mapping")
        if checksummed and not own:
            raise CorruptStoreError(
                f"{path}: written by framestore, but its '{FRAMESTORE_KEY}' block is gone"
            )
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
        try:
            fps = _positive_or_none(own.get("fps", store.get("fps")))
            created_utc = _timestamp(store.get("created_utc"))
            codec_options = _mapping(own.get("codec_options"), "codec_options")
            frame_columns = _mapping(own.get("frame_columns"), "frame_columns")
            derived_from = own.get("derived_from")
            if derived_from is not None and not isinstance(derived_from, dict):
                raise ValueError(f"derived_from must be a mapping, got {derived_from!r}")
        except (TypeError, ValueError) as exc:
            raise CorruptStoreError(f"{path}: bad value in '{STORE_KEY}': {exc}") from None
        return cls(
            format=fmt,
            store_class=str(store.get("class", "")),
            chunksize=chunksize,
            imgshape=imgshape,
            imgdtype=imgdtype,
            extension=extension,
            encoding=store.get("encoding") or None,
            created_utc=created_utc,
            timezone_local=str(store.get("timezone_local") or ""),
            uuid=str(store.get("uuid") or ""),
            fps=fps,
            codec_options=codec_options,
            derived_from=derived_from,
            frame_columns={str(k): str(v) for k, v in frame_columns.items()},
            written_by_framestore=bool(own) or checksummed,
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


def metadata_path(path: Location) -> StorePath:
    """The ``metadata.yaml`` of a store given its directory or the file itself (a local
    path or a URL)."""
    p = store_path(path)
    if p.name == METADATA_FILENAME:
        return p
    return p / METADATA_FILENAME


def read_metadata(path: Location) -> StoreMetadata:
    """Read and check a store's ``metadata.yaml`` (safe YAML only)."""
    mpath = metadata_path(path)
    refuse_link(mpath)
    try:
        with mpath.open("rb") as f:
            raw = f.read(MAX_METADATA_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise StoreNotFoundError(f"{mpath}: no framestore/imgstore metadata file here") from None
    if len(raw) > MAX_METADATA_BYTES:
        raise CorruptStoreError(f"{mpath}: larger than {MAX_METADATA_BYTES} bytes; not a store's metadata")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptStoreError(f"{mpath}: not valid YAML ({exc})") from None
    checksum = _CHECKSUM.search(text)
    if checksum is not None:
        text = text[: checksum.start() + 1]
        if f"{zlib.crc32(text.encode('utf-8')):08x}" != checksum.group(1):
            raise CorruptStoreError(
                f"{mpath}: fails its checksum: the file was damaged (or edited by hand) after "
                "framestore wrote it"
            )
    return StoreMetadata.from_yaml_dict(load_bounded_yaml(text, mpath), mpath, checksum is not None)


def write_metadata(directory: Path, md: StoreMetadata) -> None:
    """Write ``metadata.yaml`` atomically (temporary file, then rename), its checksum last."""
    text = yaml.safe_dump(md.to_yaml_dict(), sort_keys=False)
    atomic_write(
        directory / METADATA_FILENAME, f"{text}# framestore-crc32: {zlib.crc32(text.encode('utf-8')):08x}\n"
    )


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than ``MAX_YAML_DEPTH``."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        if self.depth > MAX_YAML_DEPTH:
            raise yaml.YAMLError(f"nested deeper than {MAX_YAML_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_bounded_yaml(text: str, path: StorePath) -> Any:
    """Safe YAML, refused (``CorruptStoreError`` naming ``path``) when nested too deep or
    when its aliases expand to more than ``MAX_YAML_NODES`` nodes (a "billion laughs")."""
    try:
        loader = _BoundedLoader(text)
    except yaml.YAMLError as exc:
        raise CorruptStoreError(f"{path}: not valid YAML ({exc})") from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_YAML_NODES:
            raise yaml.YAMLError(f"more than {MAX_YAML_NODES} values once its aliases are expanded")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise CorruptStoreError(f"{path}: not valid YAML ({exc})") from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes ``node`` stands for with every alias expanded (each shared node
    counted once per use, computed once)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = size
    return size


def _positive_or_none(value: Any) -> float | None:
    if value is None or value == 0:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
        raise ValueError(f"fps must be a positive number, got {value!r}")
    return float(value)


def _timestamp(value: Any) -> str:
    """``created_utc`` as ISO text ('' when absent); a value that is not a time is refused."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        return str(value)
    try:
        datetime.datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"created_utc must be an ISO date and time, got {value!r}") from None
    return str(value)


def _mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, (str, int, float)) for v in value.values()):
        raise ValueError(f"{name} must be a mapping of names to values, got {value!r}")
    return {str(k): v for k, v in value.items()}
