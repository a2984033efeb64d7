"""framestore's errors: one base class, each error also the matching built-in.

Catch :class:`FramestoreError` for anything framestore raises on purpose, or the
built-in (``ValueError``, ``KeyError``, ...) that code written for imgstore already
catches.
"""

from __future__ import annotations


class FramestoreError(Exception):
    """Base class of every error framestore raises on purpose."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class StoreNotFoundError(FramestoreError, FileNotFoundError, ValueError):
    """No store (no ``metadata.yaml``) at the given path (a ``ValueError`` as in imgstore)."""


class StoreExistsError(FramestoreError, FileExistsError):
    """A store already exists where a new one was to be written."""


class UnknownFormatError(FramestoreError, ValueError):
    """A format name that framestore cannot read or write."""


class CorruptStoreError(FramestoreError, ValueError):
    """A file of the store is missing, truncated or inconsistent."""


class FrameNotFoundError(FramestoreError, KeyError, ValueError):
    """A frame number or time that the store does not hold."""


class FrameIndexError(FramestoreError, IndexError, ValueError):
    """A frame index outside ``0 .. len(store) - 1`` (a ``ValueError`` too, as imgstore's
    ``get_image(frame_index=)`` raised)."""


class ReadOnlyStoreError(FramestoreError, PermissionError):
    """A write to a store that can only be read (one given by URL)."""


class InvalidFrameError(FramestoreError, ValueError):
    """A frame, frame number or frame time that cannot be written."""


class InvalidArgumentError(FramestoreError, ValueError):
    """An argument outside the values it may take (named in the message, with them)."""


class StoreClosedError(FramestoreError, ValueError):
    """An operation on a store that has been closed."""


class StoreBusyError(FramestoreError, BlockingIOError):
    """A store that another process is writing or changing (named in the message)."""


class UnsupportedServerError(FramestoreError, OSError):
    """A server cannot serve what a read needs (it ignores HTTP Range requests)."""


class RemoteReadError(FramestoreError, OSError):
    """A read of a store given by URL failed: a server error, a reply cut short, or no
    answer within the timeout (the URL and what happened in the message)."""


class FollowTimeoutError(FramestoreError, TimeoutError):
    """Following a store being written, no new frame came within the timeout."""


class WriterGoneError(FramestoreError, EOFError):
    """The writer of a store being followed died without closing it: every frame it
    finished was delivered, and no more will come."""


class SourceError(FramestoreError, OSError):
    """A camera or stream could not be opened or failed while recording (the source and
    what happened in the message)."""


class IncompleteStoreWarning(UserWarning):
    """The store is still being written, or its writer did not close it."""


class StoreWarning(UserWarning):
    """The store opened, but something in it is irregular (named in the message)."""
