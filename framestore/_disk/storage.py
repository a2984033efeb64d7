"""Where a store's bytes come from: the local disk, or a URL read through fsspec.

A local store is named by a :class:`pathlib.Path` and read exactly as before, with no
fsspec in the way. A store given as a URL (``https://``, ``s3://`` with s3fs, ``file://``,
any protocol fsspec knows) is named by a :class:`RemotePath`: the small part of pathlib's
interface that reading a store needs, each call one request (or a few) for the bytes
it names. The functions below are the few places where the two differ.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import IO, Any

import av

from ..errors import CorruptStoreError, ReadOnlyStoreError, UnsupportedServerError

# Remote chunk files are read in blocks of this size, the most recent few kept, so a seek
# that comes back near where it was (a container's header, a chunk's own index at its
# end, the frames after a keyframe) is served from memory.
REMOTE_BLOCK_SIZE = 256 * 2**10
REMOTE_BLOCKS_KEPT = 8
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")  # a scheme of two letters or more: not C:/
_INSTALL_HINT = "pip install 'framestore[remote]' (and s3fs for s3:// URLs)"
_filesystems: dict[tuple[int, str], Any] = {}  # (process id, protocol) -> fsspec filesystem
_ranges_checked: set[tuple[int, str]] = set()  # (process id, URL) of files served by range


def is_url(location: Location) -> bool:
    return isinstance(location, RemotePath) or (isinstance(location, str) and bool(_URL.match(location)))


def store_path(location: Location) -> StorePath:
    """A local path as a :class:`Path`; a URL as a :class:`RemotePath`."""
    if isinstance(location, RemotePath):
        return location
    if is_url(location):
        path = RemotePath(str(location))
        path._fs()  # fail now, with the install hint, when fsspec or the protocol is missing
        return path
    return Path(location)


def local_path(location: Location) -> Path:
    """The local path to write a store at; a URL is refused (remote stores are read-only)."""
    if isinstance(location, RemotePath) or is_url(location):
        raise ReadOnlyStoreError(
            f"{location}: a store given by URL is read-only; write it to a local path, then copy it"
        )
    return Path(location)


class RemotePath:
    """A file or directory of a store read through fsspec, named by its URL.

    Holds only the URL: the filesystem of its protocol is made once per process, so a
    RemotePath (and a reader holding it) pickles as a string and works in forked and
    spawned worker processes alike (fsspec's HTTP filesystem is not fork-safe).
    """

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        self._url = url.rstrip("/")

    def _fs(self) -> Any:
        protocol = self._url.split("://", 1)[0].lower()
        key = (os.getpid(), protocol)
        fs = _filesystems.get(key)
        if fs is None:
            try:
                import fsspec

                fs = _filesystems[key] = fsspec.filesystem(protocol)
            except ImportError as exc:
                raise ImportError(
                    f"{self._url}: opening a store by URL needs {_INSTALL_HINT} ({exc})"
                ) from None
            except ValueError as exc:  # a protocol fsspec does not know
                raise ValueError(f"{self._url}: {exc}") from None
        return fs

    # -- names -------------------------------------------------------------------------
    def __truediv__(self, name: str) -> RemotePath:
        return RemotePath(f"{self._url}/{name}")

    @property
    def name(self) -> str:
        return self._url.rsplit("/", 1)[-1]

    @property
    def parent(self) -> RemotePath:
        return RemotePath(self._url.rsplit("/", 1)[0])

    @property
    def suffix(self) -> str:
        stem, dot, ext = self.name.rpartition(".")
        return f".{ext}" if dot and stem else ""

    def with_name(self, name: str) -> RemotePath:
        return self.parent / name

    def with_suffix(self, suffix: str) -> RemotePath:
        name = self.name
        return self.with_name(name[: len(name) - len(self.suffix)] + suffix)

    def __str__(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"RemotePath({self._url!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return RemotePath, (self._url,)

    # -- reading -----------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self._fs().exists(self._url))

    def is_file(self) -> bool:
        return bool(self._fs().isfile(self._url))

    def read_bytes(self) -> bytes:
        """The whole file, in one request."""
        return bytes(self._fs().cat_file(self._url))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open(self, mode: str = "rb", block_size: int = REMOTE_BLOCK_SIZE) -> IO[bytes]:
        """A seekable file that fetches only the blocks read, keeping the last few."""
        if mode != "rb":
            raise ReadOnlyStoreError(
                f"{self._url}: remote stores are read-only (asked to open with {mode!r})"
            )
        file: IO[bytes] = self._fs().open(
            self._url,
            "rb",
            block_size=block_size,
            cache_type="blockcache",
            cache_options={"maxblocks": REMOTE_BLOCKS_KEPT},
        )
        return file

    def entries(self) -> list[tuple[str, bool]] | None:
        """(name, is a directory) of what this directory holds, or None where the
        filesystem cannot list directories (HTTP)."""
        fs = self._fs()
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
        if {"http", "https"} & set(protocols):
            return None
        return [
            (str(e["name"]).rstrip("/").rsplit("/", 1)[-1], e["type"] == "directory")
            for e in fs.ls(self._url, detail=True)
        ]

    def info(self) -> dict[str, Any]:
        """What the filesystem tells of the file (size, ETag, ...), in one request."""
        return dict(self._fs().info(self._url))

    def check_ranges(self) -> None:
        """Refuse, in one clear error, a server that ignores HTTP Range requests (it would
        send the whole file for every read; FFmpeg would only see a broken file). Checked
        once per process, with one small request away from the file's start."""
        key = (os.getpid(), self._url)
        if key in _ranges_checked:
            return
        with self._fs().open(self._url, "rb", block_size=2**12, cache_type="none") as f:
            if f.size and f.size > 1:
                f.seek(f.size - 1)
                try:
                    f.read(1)
                except ValueError as exc:  # fsspec: the whole file came back for a range
                    raise UnsupportedServerError(
                        f"{self._url}: the server ignores HTTP Range requests, so frames "
                        f"cannot be fetched from it one by one; download the file and "
                        f"open it locally ({exc})"
                    ) from None
        _ranges_checked.add(key)

    def modified(self) -> float | None:
        """Modification time (unix seconds) where the filesystem tells it, else None."""
        try:
            return float(self._fs().modified(self._url).timestamp())
        except (NotImplementedError, OSError, AttributeError):
            return None


StorePath = Path | RemotePath
Location = str | os.PathLike[str] | RemotePath  # a local path or a URL, as given or made a StorePath


def list_directory(path: StorePath) -> list[tuple[str, bool]] | None:
    """(name, is a directory) of every entry of a directory; None if it cannot be listed."""
    if isinstance(path, RemotePath):
        return path.entries()
    with os.scandir(path) as entries:
        return [(entry.name, entry.is_dir()) for entry in entries]


def refuse_link(path: StorePath) -> None:
    """Refuse a file or folder of a store that is a symbolic link: it could lead outside
    the store, and framestore never opens, writes, renames or deletes through one."""
    if isinstance(path, Path) and path.is_symlink():
        raise CorruptStoreError(
            f"{path}: is a symbolic link; framestore never follows a link inside a store "
            f"(it points to {os.readlink(path)})"
        )


def read_bytearray(path: StorePath) -> bytearray:
    """A whole file as a bytearray (arrays made on it are writable)."""
    if isinstance(path, RemotePath):
        return bytearray(path.read_bytes())
    with open(path, "rb") as f:
        data = bytearray(os.fstat(f.fileno()).st_size)
        f.readinto(data)
    return data


def seekable(path: StorePath) -> Path | IO[bytes]:
    """What ``zipfile`` and ``np.load`` open: a local path itself, or a remote file's
    bytes fetched in one request (for small files such as chunk indexes)."""
    if isinstance(path, RemotePath):
        return io.BytesIO(path.read_bytes())
    return path


def open_video(path: StorePath) -> Any:
    """An input container on a video file: by name locally; remotely on a block-cached
    file, which the container holds and which goes away with it."""
    if isinstance(path, RemotePath):
        return av.open(path.open())
    return av.open(str(path))


def modified_time(path: StorePath) -> float | None:
    if isinstance(path, RemotePath):
        return path.modified()
    return path.stat().st_mtime
