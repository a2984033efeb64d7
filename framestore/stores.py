"""``imgstore.stores``' names, so that ``from framestore import stores`` runs a script
written for ``from imgstore import stores`` (README, "Coming from imgstore")."""

from .codecs import DEFAULT_FORMAT
from .core.factory import extract_only_frame, new_for_filename, new_for_format
from .core.imgstore_api import (
    STORE_LOCK_FILENAME,
    STORE_MD_FILENAME,
    STORE_MD_KEY,
    DirectoryImgStore,
    VideoImgStore,
)
from .core.imgstore_api import imgstore_formats as get_supported_formats

__all__ = [
    "DEFAULT_FORMAT",
    "STORE_LOCK_FILENAME",
    "STORE_MD_FILENAME",
    "STORE_MD_KEY",
    "DirectoryImgStore",
    "VideoImgStore",
    "extract_only_frame",
    "get_supported_formats",
    "new_for_filename",
    "new_for_format",
]
