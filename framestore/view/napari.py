"""Stores in napari: the reader plugin (manifest ``napari.yaml``, ``framestore[napari]``).

Opening a store directory, its ``metadata.yaml`` or a dataset directory gives one lazy
image layer per store, named after it: a dask array (``to_dask``) whose blocks are the
store's chunks, cut smaller where a chunk's frames would exceed ``BLOCK_BYTES``, so only
the blocks shown are decoded. Each layer's ``metadata["framestore"]`` holds the store's
path, uuid, time zone, every frame's number and time, and for a stitched store the
source chosen for each frame and why; the viewer's text overlay shows the current
frame's number and local time for each store.
"""

from __future__ import annotations

import datetime
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._disk.metadata import METADATA_FILENAME
from ..core.reader import StoreReader
from ..sessions.dataset import store_paths
from ..sessions.stitch import SCORES_FILE

BLOCK_BYTES = 256 * 2**20  # the most a block (one decode) holds
KEY = "framestore"  # the layer metadata key
LayerData = tuple[Any, dict[str, Any], str]
_FOLLOWED: weakref.WeakSet[Any] = weakref.WeakSet()  # viewers whose overlay follows their frames


def get_reader(path: str | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """napari's reader hook: :func:`read` when ``path`` is a store, its ``metadata.yaml`` or
    a directory holding stores; None (another plugin's turn) otherwise."""
    paths = [path] if isinstance(path, str) else list(path)
    return read if paths and all(_is_ours(p) for p in paths) else None


def _is_ours(path: str) -> bool:
    root = Path(path)
    if root.name == METADATA_FILENAME:
        return root.is_file()
    if (root / METADATA_FILENAME).is_file():
        return True
    return root.is_dir() and any((p / METADATA_FILENAME).is_file() for p in root.iterdir() if p.is_dir())


def read(path: str | list[str]) -> list[LayerData]:
    """One image layer per store at ``path`` (or each of the paths)."""
    layers = []
    for p in [path] if isinstance(path, str) else path:
        for name, where in store_paths(p).items():
            with StoreReader(where) as store:  # the layer's blocks open their own readers
                layers.append(layer_data(name, store))
    _follow_current_viewer()
    return layers


def layer_data(name: str, store: StoreReader) -> LayerData:
    """``store`` as napari layer data: a lazy ``(frames, height, width[, 3])`` dask array
    (colour as RGB), the layer's name and its ``framestore`` metadata."""
    frame_bytes = int(np.prod(store.image_shape)) * store.dtype.itemsize
    per_block = max(1, BLOCK_BYTES // frame_bytes)
    data = store.to_dask(None if store.chunksize <= per_block else per_block)
    rgb = len(store.image_shape) == 3
    if rgb:
        data = data[..., ::-1]  # stores hold BGR
    meta: dict[str, Any] = {
        "path": str(store.path),
        "uuid": store.uuid,
        "format": store.format,
        "timezone": store.timezone,
        "frame_number": store.frame_numbers,
        "frame_time": store.frame_times,
        "user": store.user_metadata,
    }
    scores = _stitch_choices(store)
    if scores is not None:
        meta["chosen"], meta["reason"] = scores["chosen"].array, scores["reason"].array
    limits = [0, np.iinfo(store.dtype).max] if np.issubdtype(store.dtype, np.integer) else None
    return data, {"name": name, "rgb": rgb, "contrast_limits": limits, "metadata": {KEY: meta}}, "image"


def _stitch_choices(store: StoreReader) -> pd.DataFrame | None:
    """A stitched store's chosen source and reason per frame (categorical: compact)."""
    if not isinstance(store.path, Path) or not (store.path / SCORES_FILE).is_file():
        return None
    return pd.read_csv(store.path / SCORES_FILE, usecols=["chosen", "reason"], dtype="category")


def frame_label(name: str, meta: Mapping[str, Any], frame_index: int) -> str:
    """``name``'s frame at ``frame_index``: its number and local time (and for a stitched
    store, the source chosen and why); ``name: -`` past its last frame."""
    if not 0 <= frame_index < len(meta["frame_number"]):
        return f"{name}: -"
    when = datetime.datetime.fromtimestamp(float(meta["frame_time"][frame_index]), meta["timezone"])
    text = (
        f"{name}: #{frame_index} frame {int(meta['frame_number'][frame_index])} "
        f"{when.isoformat(sep=' ', timespec='milliseconds')}"
    )
    if "chosen" in meta:
        text += f" from {meta['chosen'][frame_index]} ({meta['reason'][frame_index]})"
    return text


def overlay_text(layers: Any, frame_index: int) -> str:
    """One :func:`frame_label` line per visible framestore layer of ``layers``."""
    return "\n".join(
        frame_label(layer.name, layer.metadata[KEY], frame_index)
        for layer in layers
        if KEY in layer.metadata and layer.visible
    )


def _follow_current_viewer() -> None:
    """Show the current frame of every framestore layer in the open viewer's text overlay,
    from now on (once per viewer)."""
    import napari

    viewer = napari.current_viewer()
    if viewer is None or viewer in _FOLLOWED:
        return
    _FOLLOWED.add(viewer)
    overlay = viewer.text_overlay

    def update(*_: Any) -> None:
        step = viewer.dims.current_step
        overlay.text = overlay_text(viewer.layers, int(step[0]) if len(step) else 0)

    overlay.visible = True
    overlay.position = "top_left"
    viewer.dims.events.current_step.connect(update)
    viewer.layers.events.inserted.connect(update)
    viewer.layers.events.removed.connect(update)
