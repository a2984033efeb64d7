"""Whole-or-nothing file writes: the one way a store's files are replaced."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Content = bytes | str | Callable[[BinaryIO], None]


def atomic_write(path: Path, data: Content, *, fsync: bool = True) -> None:
    """Write ``path`` so that a reader, or the file system after a crash, sees the old
    file or the whole new one, never a part: into ``<name>.tmp`` beside it, then renamed
    over it.

    ``data``: bytes, text (written as UTF-8), or a function that writes to the open
    binary file. ``fsync``: the file reaches the disk before the rename, and the rename
    before this returns (so it survives a power loss, not only a killed process).
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = _create(tmp)
    try:
        with open(fd, "wb") as f:
            if isinstance(data, str):
                f.write(data.encode("utf-8"))
            elif isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    replace(tmp, path, fsync=fsync)


def _create(path: Path) -> int:
    """Open ``path`` for writing from empty; a symbolic link there (planted to lead the
    write elsewhere) is removed, never followed."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
    path.unlink()
    return os.open(path, flags | os.O_EXCL, 0o666)


def replace(source: Path, target: Path, *, fsync: bool = True) -> None:
    """Rename a finished file over ``target``; with ``fsync``, the file's bytes reach the
    disk first and the directory's new entry after."""
    if fsync:
        fsync_path(source)
    os.replace(source, target)
    if fsync:
        fsync_path(target.parent)


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
