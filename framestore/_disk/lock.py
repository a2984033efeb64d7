"""Who may change a store: one process at a time, and never a tool under a live writer.

A writer, and a tool that changes a store (recover, overwrite), holds an exclusive
``flock`` on the store's ``.framestore-lock`` for as long as it works. The kernel drops
the lock when the process dies, however it dies, so a held lock always means a live
holder. The writing marker (pid and host) is checked too, for a writer the lock cannot
see: on another host, or a framestore that did not lock. On a file system without
``flock`` (some network and FUSE ones) the marker is the only check.

``fcntl.flock`` rather than the ``filelock`` package: one POSIX call does it, the lock
file is opened without following a symlink, and no dependency is added.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
from pathlib import Path
from types import TracebackType

from ..errors import StoreBusyError
from .layout import LOCK_FILENAME, WRITING_MARKER
from .storage import refuse_link

_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS})  # flock not supported here


class StoreLock:
    """An exclusive lock on one store; :meth:`release` (or ``with``) gives it up."""

    def __init__(self, root: Path, action: str, *, force_dead: bool = False) -> None:
        """Lock the store at ``root`` to ``action`` it (words for the error), refusing
        while another process holds the lock or the writing marker names a live writer;
        ``force_dead``: the marker's writer is known to be dead, whatever its pid says."""
        self.path = root / LOCK_FILENAME
        self._fd = -1
        refuse_link(self.path)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.release()
            raise StoreBusyError(
                f"{root}: another process (a writer or a tool) is changing this store; cannot {action}"
            ) from None
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                self.release()
                raise
        writer = None if force_dead else live_writer(root / WRITING_MARKER)
        if writer is not None:
            self.release()
            raise StoreBusyError(
                f"{root}: its writer ({writer}) may still be running; cannot {action}. If that "
                "process is not writing it, `framestore recover --force-dead` finishes the store"
            )

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the only descriptor drops the lock
            self._fd = -1

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __del__(self) -> None:  # a holder that failed without releasing
        self.release()


def live_writer(marker: Path) -> str | None:
    """Who the writing marker says is writing, if that process may be alive: its pid and
    host; None if there is no marker or its process is gone. Called with the store's lock
    held, so this process has no writer of its own on the store."""
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no marker, or one cut short: its writer died making it
        return None
    pid, host = (info.get("pid"), info.get("host")) if isinstance(info, dict) else (None, None)
    if not isinstance(pid, int) or not isinstance(host, str):
        return None
    if host != socket.gethostname():
        return f"pid {pid} on {host}, which cannot be checked from here"
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return f"pid {pid} on {host}"


def writer_alive(root: Path) -> bool | None:
    """Whether a writer holds the lock of the store at ``root``, asked without changing
    anything: True while one does, False when none does (a writer that died lost its lock
    with its process), None where this cannot be told (no lock file, or a file system
    without ``flock``). The lock is taken shared for an instant only when it is free."""
    try:
        fd = os.open(root / LOCK_FILENAME, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # closing the descriptor drops a lock taken through it
    return False
