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
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar, cast

import av

from ..errors import (
    CorruptStoreError,
    FramestoreError,
    InvalidArgumentError,
    ReadOnlyStoreError,
    RemoteReadError,
    UnsupportedServerError,
)

# Remote chunk files are read in blocks of this size, the most recent few kept, so a seek
# that comes back near where it was (a container's header, a chunk's own index at its
# end, the frames after a keyframe) is served from memory.
REMOTE_BLOCK_SIZE = 256 * 2**10
REMOTE_BLOCKS_KEPT = 8
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")  # a scheme of two letters or more: not C:/
_INSTALL_HINT = "pip install 'framestore[remote]' (and s3fs for s3:// URLs)"
# A remote read that gets no byte for this many seconds fails (FRAMESTORE_REMOTE_TIMEOUT);
# one that fails in a way that may pass (a 5xx reply, a body cut short, a timeout, a
# dropped connection) is tried again, up to REMOTE_ATTEMPTS times in all.
REMOTE_TIMEOUT = 30.0
REMOTE_ATTEMPTS = 3
_RETRY_PAUSE = 0.2  # seconds before the second attempt, doubled for each after it
_filesystems: dict[tuple[int, str, float], Any] = {}  # (process id, protocol, timeout) -> filesystem
_ranges_checked: set[tuple[int, str]] = set()  # (process id, URL) of files served by range


T = TypeVar("T")


def remote_timeout() -> float:
    """Seconds a remote read may wait for a byte: FRAMESTORE_REMOTE_TIMEOUT, else 30."""
    text = os.environ.get("FRAMESTORE_REMOTE_TIMEOUT", "")
    if not text:
        return REMOTE_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise InvalidArgumentError(f"FRAMESTORE_REMOTE_TIMEOUT={text!r}: must be a number of seconds above 0")
    return seconds


def _read_errors() -> tuple[type[BaseException], ...]:
    """What a remote read raises when the server or the network fails it."""
    try:
        import aiohttp
    except ImportError:
        return (OSError,)
    return (OSError, aiohttp.ClientError)


def _transient(exc: BaseException) -> bool:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status >= 500 or status == 429
    return not isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError))


def _describe(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return f"the server answered HTTP {status} {getattr(exc, 'message', '')}".rstrip()
    if isinstance(exc, TimeoutError):
        return f"no answer within {remote_timeout():g} s (FRAMESTORE_REMOTE_TIMEOUT)"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def remote_call(url: str, what: str, call: Callable[[], T]) -> T:
    """``call()``, tried again on a failure that may pass; any failure of the server or
    the network raised as one :class:`RemoteReadError` naming ``url``. A missing file
    stays a ``FileNotFoundError``."""
    errors = _read_errors()
    for attempt in range(1, REMOTE_ATTEMPTS + 1):
        try:
            return call()
        except (FileNotFoundError, FramestoreError):
            raise
        except errors as exc:
            if attempt < REMOTE_ATTEMPTS and _transient(exc):
                time.sleep(_RETRY_PAUSE * 2 ** (attempt - 1))
                continue
            tries = f" (tried {attempt} times)" if attempt > 1 else ""
            raise RemoteReadError(f"{url}: {what} failed: {_describe(exc)}{tries}") from exc
    raise AssertionError("unreachable")


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
        timeout = remote_timeout()
        key = (os.getpid(), protocol, timeout)
        fs = _filesystems.get(key)
        if fs is None:
            try:
                import fsspec

                fs = _filesystems[key] = fsspec.filesystem(protocol, **_timeout_options(protocol, timeout))
            except ImportError as exc:
                raise ImportError(
                    f"{self._url}: opening a store by URL needs {_INSTALL_HINT} ({exc})"
                ) from None
            except ValueError as exc:  # a protocol fsspec does not know
                raise ValueError(f"{self._url}: {exc}") from None
        return fs

    def _call(self, what: str, call: Callable[[], T]) -> T:
        return remote_call(self._url, what, call)

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
        return self._call("checking the file exists", lambda: bool(self._fs().exists(self._url)))

    def is_file(self) -> bool:
        return self._call("checking the file", lambda: bool(self._fs().isfile(self._url)))

    def read_bytes(self) -> bytes:
        """The whole file, in one request."""
        return self._call("reading", lambda: bytes(self._fs().cat_file(self._url)))

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def open(self, mode: str = "rb", block_size: int = REMOTE_BLOCK_SIZE) -> IO[bytes]:
        """A seekable file that fetches only the blocks read, keeping the last few."""
        if mode != "rb":
            raise ReadOnlyStoreError(
                f"{self._url}: remote stores are read-only (asked to open with {mode!r})"
            )
        file = self._call(
            "opening",
            lambda: self._fs().open(
                self._url,
                "rb",
                block_size=block_size,
                cache_type="blockcache",
                cache_options={"maxblocks": REMOTE_BLOCKS_KEPT},
            ),
        )
        return cast(IO[bytes], _RemoteFile(self._url, file))

    def entries(self) -> list[tuple[str, bool]] | None:
        """(name, is a directory) of what this directory holds, or None where the
        filesystem cannot list directories (HTTP)."""
        fs = self._fs()
        protocols = (fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol
        if {"http", "https"} & set(protocols):
            return None
        return [
            (str(e["name"]).rstrip("/").rsplit("/", 1)[-1], e["type"] == "directory")
            for e in self._call("listing", lambda: fs.ls(self._url, detail=True))
        ]

    def info(self) -> dict[str, Any]:
        """What the filesystem tells of the file (size, ETag, ...), in one request."""
        return self._call("asking about", lambda: dict(self._fs().info(self._url)))

    def check_ranges(self) -> None:
        """Refuse, in one clear error, a server that ignores HTTP Range requests (it would
        send the whole file for every read; FFmpeg would only see a broken file). Checked
        once per process, with one small request away from the file's start."""
        key = (os.getpid(), self._url)
        if key in _ranges_checked:
            return
        with self._call(
            "opening", lambda: self._fs().open(self._url, "rb", block_size=2**12, cache_type="none")
        ) as f:
            if f.size and f.size > 1:
                f.seek(f.size - 1)
                try:
                    self._call("reading", lambda: f.read(1))
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


def _timeout_options(protocol: str, timeout: float) -> dict[str, Any]:
    """fsspec options bounding how long a read waits (aiohttp's own default is 300 s)."""
    if protocol not in ("http", "https"):
        return {}
    import aiohttp

    return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)}}


class _RemoteFile(io.RawIOBase):
    """A remote file whose reads are tried again and fail as :class:`RemoteReadError`."""

    def __init__(self, url: str, file: Any) -> None:
        super().__init__()
        self._url = url
        self._file = file
        self.size = file.size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data: bytes = remote_call(self._url, "reading", lambda: self._file.read(size))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._file.seek(offset, whence))

    def tell(self) -> int:
        return int(self._file.tell())

    def close(self) -> None:
        self._file.close()
        super().close()


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
