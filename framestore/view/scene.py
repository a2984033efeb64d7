"""What the viewer shows at each position: the panels of every store and the status lines.

A ``Scene`` reads frames (frame-exact, through each store's reader) and draws them with
``render``; the window loop and the exporter both draw through it, so a saved PNG, an
exported clip and the window show the same pixels.
"""

from __future__ import annotations

import datetime
import re

import numpy as np

from ..core.reader import Roi, StoreReader
from ..sessions.align import By
from ..sessions.stitch_drawing import mark_differences
from . import render
from .stitched import Stitched
from .timeline import Timeline


class Scene:
    """The view of ``stores`` (name -> reader) at every position of their timeline.

    ``by``/``tolerance``: how several stores are aligned (see ``framestore.align``);
    ``roi=(x, y, w, h)`` crops every frame, ``scale`` zooms it; ``contrast``: ``auto``,
    ``full`` or ``LOW,HIGH`` (default: full for 8-bit frames, auto for deeper);
    ``candidates``: beside a stitched store, the source copies of each frame, the pixels
    where they differ from the chosen one in red.
    """

    def __init__(
        self,
        stores: dict[str, StoreReader],
        by: By = "frame_number",
        tolerance: float | None = None,
        roi: Roi | None = None,
        scale: float = 1.0,
        contrast: str | None = None,
        candidates: bool = False,
    ) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        for store in stores.values():
            store.get_frames([], roi=roi)  # reads nothing; refuses a rectangle outside the frames
        self.stores = stores
        self.timeline = Timeline(stores, by, tolerance)
        self.roi = roi
        self.scale = scale
        self.contrasts = {n: render.Contrast.parse(contrast, s.dtype) for n, s in stores.items()}
        self.stitched = {n: st for n, s in stores.items() if (st := Stitched.of(s)) is not None}
        self.sources: dict[str, StoreReader | None] = {}
        if candidates:
            if len(stores) != 1 or not self.stitched:
                raise ValueError("candidates are shown beside one stitched store: give only that store")
            self.sources = next(iter(self.stitched.values())).open_sources()
        self._sizes = {n: self._panel_size(s) for n, s in stores.items()}

    def __len__(self) -> int:
        return len(self.timeline)

    @property
    def times(self) -> np.ndarray:
        """The frame_time of every position (the earliest of the stores' frames there)."""
        return self.timeline.times

    def _panel_size(self, store: StoreReader) -> tuple[int, int]:
        h, w = store.image_shape[:2] if self.roi is None else (self.roi[3], self.roi[2])
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))

    def _frame(self, store: StoreReader, frame_index: int) -> np.ndarray:
        frame: np.ndarray = store.get_frames([frame_index], roi=self.roi)[0]
        return frame

    def _show(self, name: str, image: np.ndarray) -> np.ndarray:
        return render.to_display(image, self.contrasts[name])

    # -- text --------------------------------------------------------------------------
    def local_time(self, position: int) -> datetime.datetime:
        """The time of ``position`` in the first store's time zone."""
        store = self.stores[self.timeline.names[0]]
        return store.convert_frame_time_to_datetime(float(self.times[position]))

    def lines(self, position: int) -> list[str]:
        """The status lines that depend only on the position: where, which frame, when;
        for a stitched store, the chosen source and why."""
        n = len(self)
        where = f"frame_index {position} / {n}" if len(self.stores) == 1 else f"row {position} / {n}"
        number = self.timeline.frame_number(position)
        when = self.local_time(position)
        stamp = f"{when:%Y-%m-%d %H:%M:%S}.{when.microsecond // 1000:03d} {when.tzname()}"
        lines = [f"{where}   frame_number {'-' if number is None else number}   {stamp}"]
        indexes = self.timeline.frame_indexes(position)
        for name, stitched in self.stitched.items():
            i = indexes[name]
            prefix = f"{name}: " if len(self.stores) > 1 else ""
            lines.append(prefix + ("missing" if i is None else stitched.line(i)))
        return lines

    # -- moments -----------------------------------------------------------------------
    def position_of_time(self, text: str) -> int:
        """The position nearest a time typed as ``HH:MM[:SS[.fff]]`` (local time in the
        store's time zone, on the recording's day), a date and time (ISO 8601; without a
        zone, the store's), or seconds from the first frame (``90``, ``+12.5``)."""
        text = text.strip()
        zone = self.stores[self.timeline.names[0]].timezone
        start, end = float(np.min(self.times)), float(np.max(self.times))
        if re.fullmatch(r"\+?\d+(\.\d*)?", text):
            return self.timeline.position_of_time(start + float(text))
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2}(\.\d*)?)?", text):
            of_day = datetime.time.fromisoformat(text if text.index(":") == 2 else "0" + text)
            days = {datetime.datetime.fromtimestamp(t, zone).date() for t in (start, end)}
            candidates = [datetime.datetime.combine(d, of_day, zone).timestamp() for d in days]
            return self.timeline.position_of_time(min(candidates, key=lambda t: _distance(t, start, end)))
        try:
            when = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"not a time: {text!r} (HH:MM:SS, YYYY-MM-DD HH:MM:SS, or seconds from the start)"
            ) from None
        return self.timeline.position_of_time(
            (when if when.tzinfo else when.replace(tzinfo=zone)).timestamp()
        )

    def position_of(self, text: str) -> int:
        """A position given as a frame_number (an integer) or a time (see ``position_of_time``;
        ``+SECONDS`` counts from the first frame)."""
        if re.fullmatch(r"-?\d+", text.strip()):
            return self.timeline.position_of_frame_number(int(text))
        return self.position_of_time(text)

    # -- pixels ------------------------------------------------------------------------
    def body(self, position: int) -> np.ndarray:
        """The panels at ``position``: every store side by side (or in a grid), or one
        stitched store beside its candidates."""
        indexes = self.timeline.frame_indexes(position)
        if self.sources:
            (name,) = self.stores
            return self._with_candidates(name, indexes[name])
        panels = []
        for name, store in self.stores.items():
            i = indexes[name]
            if i is None:
                panels.append(render.missing_panel(f"{name}: missing", self._sizes[name]))
                continue
            label = f"{name}   frame_number {store.frame_numbers[i]}" if len(self.stores) > 1 else name
            panels.append(render.panel(self._zoom(self._show(name, self._frame(store, i))), label))
        return render.grid(panels)

    def _with_candidates(self, name: str, frame_index: int | None) -> np.ndarray:
        size = self._sizes[name]
        if frame_index is None:
            return render.grid([render.missing_panel(f"{name}: missing", size)])
        stitched = self.stitched[name]
        chosen = self._frame(self.stores[name], frame_index)
        panels = [render.panel(self._zoom(self._show(name, chosen)), f"{name}: stitched")]
        picked = stitched.scores.iloc[frame_index]["chosen"]
        for source, i in stitched.candidate_indexes(frame_index).items():
            reader = self.sources.get(source)
            if i is None or reader is None:
                why = "no copy" if reader is not None else "not found"
                panels.append(render.missing_panel(f"{source}: {why}", size))
                continue
            image = self._frame(reader, i)
            marked = mark_differences(self._show(name, image), image, chosen)
            label = f"{source} CHOSEN" if source == picked else f"{source}: differing pixels red"
            panels.append(render.panel(self._zoom(marked), label))
        return render.grid(panels, columns=len(panels))

    def _zoom(self, image: np.ndarray) -> np.ndarray:
        return render.zoom(image, self.scale)

    def render(self, position: int, playback: str | None = None) -> np.ndarray:
        """The whole view at ``position``; ``playback`` (state, speed, fps, prompt) is the
        status bar's last line."""
        lines = self.lines(position) + ([playback] if playback is not None else [])
        return render.compose(self.body(position), lines)

    def toggle_contrast(self, position: int) -> bool:
        """Hold every store's current auto contrast range, or go back to auto if held;
        True when auto contrast is on afterwards."""
        indexes = self.timeline.frame_indexes(position)
        held = not any(c.auto for c in self.contrasts.values())
        for name, store in self.stores.items():
            i = indexes[name]
            if held:
                self.contrasts[name] = render.Contrast()
            elif i is not None:
                self.contrasts[name] = render.Contrast(*self.contrasts[name].range_of(self._frame(store, i)))
        return held


def _distance(t: float, start: float, end: float) -> float:
    """How far ``t`` lies outside ``[start, end]``."""
    return max(start - t, 0.0, t - end)
