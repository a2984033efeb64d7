"""The names of ``imgstore.stores`` (and imgstore's top level) on framestore's stores, so
that ``from framestore import stores`` or ``import framestore as imgstore`` runs a script
written for imgstore. The stores themselves are framestore's readers and writers;
``VideoImgStore`` and ``DirectoryImgStore`` make and tell them apart as imgstore's did."""

from __future__ import annotations

import os
from typing import Any

import cv2
import numpy as np

from .._disk.layout import WRITING_MARKER
from .._disk.metadata import METADATA_FILENAME, STORE_KEY
from ..codecs import DIRECTORY_STORE, VIDEO_STORE, get_supported_formats, imgstore_aliases, resolve_format
from ..errors import UnknownFormatError
from .factory import new_for_filename, new_for_format
from .reader import StoreReader
from .writer import StoreWriter

STORE_MD_FILENAME = METADATA_FILENAME
STORE_MD_KEY = STORE_KEY
STORE_LOCK_FILENAME = WRITING_MARKER
"""The file that marks a store as being written (imgstore's ``.lock``)."""


class _ImgstoreClass(type):
    """imgstore's store classes: calling one opens or creates a store of its kind, and
    ``isinstance`` tells whether a framestore reader or writer is of that kind."""

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, StoreReader | StoreWriter) and obj.store_class == cls.__name__

    def __call__(
        cls,
        basedir: str | os.PathLike[str] | None = None,
        mode: str = "r",
        format: str | None = None,
        **kwargs: Any,
    ) -> StoreReader | StoreWriter:
        if mode == "r":
            store = new_for_filename(basedir=basedir, **kwargs)
            if not isinstance(store, cls):
                store.close()
                raise ValueError(f"{basedir}: a {store.store_class}, not a {cls.__name__}")
            return store
        if format is None or not _is_a(format, cls.__name__):
            raise ValueError(f"{cls.__name__} writes the formats {_formats_of(cls.__name__)}, not {format!r}")
        return new_for_format(format, basedir=basedir, mode="w", **kwargs)


class VideoImgStore(metaclass=_ImgstoreClass):
    """Stores of one video file per chunk. ``VideoImgStore(basedir=..., mode='r')`` opens
    one, ``mode='w'`` (with ``format``, ``imgshape``, ...) creates one."""

    @classmethod
    def supported_formats(cls) -> list[str]:
        return _formats_of(VIDEO_STORE)

    @classmethod
    def supports_format(cls, fmt: str) -> bool:
        return _is_a(fmt, VIDEO_STORE)


class DirectoryImgStore(metaclass=_ImgstoreClass):
    """Stores of one image file per frame, in a folder per chunk. Opened and created as
    :class:`VideoImgStore`."""

    @classmethod
    def supported_formats(cls) -> list[str]:
        return _formats_of(DIRECTORY_STORE)

    @classmethod
    def supports_format(cls, fmt: str) -> bool:
        return _is_a(fmt, DIRECTORY_STORE)


def imgstore_formats() -> list[str]:
    """Every format name ``new_for_format`` writes: framestore's, and the names imgstore
    gives some of them (``png+color``, ...)."""
    return _formats_of(VIDEO_STORE) + _formats_of(DIRECTORY_STORE)


def _formats_of(store_class: str) -> list[str]:
    names = get_supported_formats() + imgstore_aliases()
    return sorted(n for n in names if resolve_format(n).store_class == store_class)


def _is_a(fmt: str, store_class: str) -> bool:
    try:
        return resolve_format(fmt).store_class == store_class
    except UnknownFormatError:
        return False


def ensure_color(img: np.ndarray, ensure_copy: bool = False) -> np.ndarray:
    """A gray image as BGR; a color image as it is (copied with ``ensure_copy``)."""
    if img.ndim == 3 and img.shape[-1] == 3:
        return img.copy() if ensure_copy else img
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def ensure_grayscale(img: np.ndarray, ensure_copy: bool = False) -> np.ndarray:
    """A BGR image as gray; a gray image as it is (copied with ``ensure_copy``)."""
    if img.ndim == 3 and img.shape[-1] == 3:
        return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return img.copy() if ensure_copy else img
