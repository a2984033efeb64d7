"""Extra data: values recorded against a frame (``add_extra_data``), one JSON list per chunk.

Each record is flushed as it is added, so a killed writer leaves a list cut short; the
reader keeps the complete records before the cut.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CorruptStoreError
from .layout import Layout
from .storage import StorePath, local_path


class ExtraDataWriter:
    """``NNNNNN.extra.json`` files: a JSON list per chunk, each record flushed at once."""

    def __init__(self, layout: Layout[Path], chunksize: int, first_frame_index: int = 0) -> None:
        self._layout = layout
        self._chunksize = chunksize
        self._first = first_frame_index
        self._file: Any = None
        self._chunk = -1

    def add(self, values: dict[str, Any], frame_index: int, frame_number: Any, frame_time: Any) -> None:
        frame_index += self._first
        record = {
            **values,
            "frame_time": frame_time,
            "frame_number": frame_number,
            "frame_index": frame_index,
        }
        try:
            text = json.dumps(record, default=_json_default)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra data must be JSON-serialisable: {exc}") from None
        chunk = frame_index // self._chunksize
        if chunk != self._chunk:
            self.close()
            path = local_path(self._layout.extra_path(chunk))
            path.parent.mkdir(exist_ok=True)
            self._file = open(path, "w", encoding="utf-8")
            self._chunk = chunk
            self._file.write("[" + text)
        else:
            self._file.write(", " + text)
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.write("]")
            self._file.close()
            self._file = None
            self._chunk = -1


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def read_extra_data_file(path: StorePath) -> list[dict[str, Any]]:
    """Records of a ``.extra.json`` file; when a crash cut the file short (no closing
    bracket, maybe half a record), the complete records before the cut."""
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        return []
    candidate = text
    while True:
        try:
            records = json.loads(candidate if candidate.endswith("]") else candidate + "]")
            break
        except ValueError as exc:
            cut = candidate.rfind("}", 0, len(candidate) - 1 if candidate.endswith("}") else None)
            if text.endswith("]") or cut < 0:
                raise CorruptStoreError(f"{path}: extra data is not a JSON list of records ({exc})") from None
            candidate = candidate[: cut + 1]
    if not isinstance(records, list):
        raise CorruptStoreError(f"{path}: extra data is not a JSON list of records")
    return records
