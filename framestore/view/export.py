"""The view without a window: a PNG contact sheet, or an MP4 clip."""

from __future__ import annotations

import math
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from . import render
from .scene import Scene

SHEET_SUFFIXES = (".png",)
CLIP_SUFFIXES = (".mp4",)
SHEET_GAP = 6  # pixels between views


def contact_sheet(
    scene: Scene, path: str | os.PathLike[str], count: int = 16, start: int = 0, stop: int | None = None
) -> list[int]:
    """Save ``count`` evenly spaced views of positions ``start..stop`` (inclusive) in a
    grid, as a PNG at ``path``; return the positions shown."""
    if count < 1:
        raise ValueError(f"a contact sheet needs at least one frame, got {count}")
    stop = len(scene) - 1 if stop is None else stop
    positions = sorted(set(np.linspace(start, stop, count).round().astype(int).tolist()))
    views = [scene.render(p) for p in positions]
    sheet = render.grid(views, columns=math.ceil(math.sqrt(len(views))), gap=SHEET_GAP)
    if not cv2.imwrite(str(path), sheet):
        raise OSError(f"{path}: could not write the PNG")
    return positions


def clip(
    scene: Scene,
    path: str | os.PathLike[str],
    start: int = 0,
    stop: int | None = None,
    fps: float | None = None,
) -> int:
    """Save the views of positions ``start..stop`` (inclusive), every one of them, as an
    H.264 MP4 at ``path``, played at ``fps`` (default: the recorded rate); return the
    number of frames written."""
    stop = len(scene) - 1 if stop is None else stop
    if stop < start:
        raise ValueError(f"the clip's stop (position {stop}) comes before its start (position {start})")
    rate = Fraction(fps or _recorded_fps(scene.times[start : stop + 1])).limit_denominator(1001)
    first = scene.render(start)
    h, w = first.shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = w + w % 2, h + h % 2  # x264 needs even sizes
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast"}
        for k, position in enumerate(range(start, stop + 1)):
            view = first if k == 0 else scene.render(position)
            padded = cv2.copyMakeBorder(
                view, 0, h % 2, 0, w % 2, cv2.BORDER_CONSTANT, value=render.BACKGROUND
            )
            # cv2's stubs do not carry the dtype through: padded is uint8 like the view
            frame = av.VideoFrame.from_ndarray(padded, format="bgr24")  # type: ignore[arg-type]
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return stop - start + 1


def _recorded_fps(times: np.ndarray) -> float:
    """Frames per second over ``times``: the clip lasts as long as the recording did."""
    span = float(times[-1] - times[0]) if len(times) > 1 else 0.0
    return (len(times) - 1) / span if span > 0 else 25.0


def export(
    scene: Scene,
    path: str | os.PathLike[str],
    start: int = 0,
    stop: int | None = None,
    count: int = 16,
    fps: float | None = None,
) -> str:
    """A contact sheet (``.png``) or a clip (``.mp4``) at ``path``; a one-line summary,
    which counts the damaged frames shown (drawn as DAMAGED panels) and names the first."""
    suffix = Path(path).suffix.lower()
    if suffix in SHEET_SUFFIXES:
        shown = contact_sheet(scene, path, count, start, stop)
        views = f"{len(shown)} view{'s' * (len(shown) != 1)}"
        summary = f"{path}: contact sheet of {views} (positions {shown[0]}..{shown[-1]})"
    elif suffix in CLIP_SUFFIXES:
        frames = clip(scene, path, start, stop, fps)
        summary = f"{path}: {frames} frames (positions {start}..{start + frames - 1})"
    else:
        raise ValueError(f"{path}: --export writes {' or '.join(SHEET_SUFFIXES + CLIP_SUFFIXES)} files")
    if scene.damaged:
        (name, i), error = next(iter(scene.damaged.items()))
        summary += (
            f"; {len(scene.damaged)} damaged frame(s) shown as DAMAGED, first {name} frame_index {i}: {error}"
        )
    return summary
