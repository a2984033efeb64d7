"""framestore: trustworthy, frame-exact storage for long camera and miniscope recordings.

Open a store with :func:`new_for_filename`, write one with :func:`new_for_format`. Every
name the README shows is importable from here; the folders below are the machinery
(README, "How the code is organised").
"""

from __future__ import annotations

import os as _os
from typing import TYPE_CHECKING

import cv2 as _cv2

from . import _moved, stores
from .codecs import DEFAULT_FORMAT, get_supported_formats
from .core.factory import extract_only_frame, new_for_filename, new_for_format, open_video
from .core.imgstore_api import DirectoryImgStore, VideoImgStore, ensure_color, ensure_grayscale
from .core.live import FollowedFrame
from .core.reader import StoreReader
from .core.writer import StoreWriter
from .errors import (
    CorruptStoreError,
    FollowTimeoutError,
    FrameIndexError,
    FrameNotFoundError,
    FramestoreError,
    IncompleteStoreWarning,
    InvalidArgumentError,
    InvalidFrameError,
    ReadOnlyStoreError,
    RemoteReadError,
    SourceError,
    StoreBusyError,
    StoreClosedError,
    StoreExistsError,
    StoreNotFoundError,
    StoreWarning,
    UnknownFormatError,
    UnsupportedServerError,
    WriterGoneError,
)
from .ingest.miniscope import import_recording
from .ingest.record import RecordReport, record
from .ingest.sources import Captured, Source
from .ingest.video import import_video
from .ingest.video_import import import_videos
from .sessions.align import AlignedFrames, align
from .sessions.dataset import Dataset, Segment
from .sessions.stitch import StitchSummary, write_stitched
from .tools.convert import convert
from .tools.info import info
from .tools.nwb import export_nwb  # imports pynwb only when called: framestore[nwb]
from .tools.qc import QCReport, Thresholds
from .tools.recover import RecoveryReport
from .tools.verify import VerifyReport, verify

if TYPE_CHECKING:
    from .sessions.stitch import stitch
    from .tools.qc import qc
    from .tools.recover import recover
else:  # functions that are also the old module paths framestore.stitch, .qc, .recover
    _old_paths = _moved.install()
    stitch = _old_paths["framestore.stitch"]
    qc = _old_paths["framestore.qc"]
    recover = _old_paths["framestore.recover"]
    importing = _old_paths["framestore.importing"]
    miniscope = _old_paths["framestore.miniscope"]
    del _old_paths

# opencv-python, imported, points every Qt started later in the process at the Qt plugins in
# its wheel (QT_QPA_PLATFORM_PLUGIN_PATH): another Qt (napari's, which imports framestore to
# find its reader's manifest) then fails to start. framestore-view's window sets it back for
# OpenCV's own windows (view/window.py).
if _os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH") == _os.path.join(
    _os.path.dirname(_cv2.__file__), "qt", "plugins"
):
    del _os.environ["QT_QPA_PLATFORM_PLUGIN_PATH"]

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_FORMAT",
    "AlignedFrames",
    "Captured",
    "CorruptStoreError",
    "Dataset",
    "DirectoryImgStore",
    "FollowTimeoutError",
    "FollowedFrame",
    "FrameIndexError",
    "FrameNotFoundError",
    "FramestoreError",
    "IncompleteStoreWarning",
    "InvalidArgumentError",
    "InvalidFrameError",
    "QCReport",
    "RecordReport",
    "ReadOnlyStoreError",
    "RecoveryReport",
    "Segment",
    "Source",
    "SourceError",
    "StitchSummary",
    "StoreBusyError",
    "StoreClosedError",
    "StoreExistsError",
    "StoreNotFoundError",
    "StoreReader",
    "StoreWarning",
    "StoreWriter",
    "Thresholds",
    "UnknownFormatError",
    "RemoteReadError",
    "UnsupportedServerError",
    "VerifyReport",
    "VideoImgStore",
    "WriterGoneError",
    "align",
    "convert",
    "ensure_color",
    "ensure_grayscale",
    "export_nwb",
    "extract_only_frame",
    "get_supported_formats",
    "import_recording",
    "import_video",
    "import_videos",
    "info",
    "new_for_filename",
    "new_for_format",
    "open_video",
    "qc",
    "record",
    "recover",
    "stitch",
    "stores",
    "verify",
    "write_stitched",
]
