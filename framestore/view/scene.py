"""What the viewer shows at each position: the panels of every store and the status lines.

A ``Scene`` reads frames (frame-exact, through each store's reader) and draws them with
``render``; the window loop and the exporter both draw through it, so a saved PNG, an
exported clip and the window show the same pixels.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence

import numpy as np

from ..core.damage import KINDS, DamageSettings, judge_frames
from ..core.reader import Roi, StoreReader
from ..errors import CorruptStoreError
from ..sessions.align import By
from ..sessions.dataset import Segment, select
from ..sessions.stitch_drawing import mark_differences
from ..tools.damage import score_damage
from . import render
from .stitched import Stitched
from .timeline import Timeline


class Scene:
    """The view of ``stores`` (name -> reader) at every position of their timeline.

    ``by``/``tolerance``: how several stores are aligned (see ``framestore.align``);
    ``roi=(x, y, w, h)`` crops every frame, ``scale`` zooms it; ``contrast``: ``auto``,
    ``full`` or ``LOW,HIGH`` (default: full for 8-bit frames, auto for deeper);
    ``candidates``: beside a stitched store, the source copies of each frame, the pixels
    where they differ from the chosen one in red; ``segments``: labelled segments of
    the stores (a dataset's), shown on the timeline strip and named in the status bar.
    A frame that fails to read (``CorruptStoreError``) is drawn as a DAMAGED panel with
    the error; ``damaged`` collects them. Pixel damage (``core.damage``) of the frames
    shown is named in the status bar; ``find_damage`` judges every frame, for the
    timeline strip's marks and ``next_damaged``.
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
        segments: Sequence[Segment] = (),
    ) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        for store in stores.values():
            store.get_frames([], roi=roi)  # reads nothing; refuses a rectangle outside the frames
        self.stores = stores
        self._alignment = (by, tolerance)
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
        self.segments = [(span, seg.recording) for seg in segments if (span := self._span(seg)) is not None]
        self.damaged: dict[tuple[str, int], str] = {}  # (store, frame_index) -> the error
        self._last: dict[int, tuple[int, np.ndarray]] = {}  # id(reader) -> its last frame read
        self._ranges: dict[str, tuple[int, tuple[float, float]]] = {}  # name -> (frame_index, range)
        self.damage_settings = DamageSettings()
        self.damage_mask: np.ndarray | None = None  # per position: a frame shown there is damaged
        self._judged: dict[str, tuple[int, str | None]] = {}  # name -> (frame_index, its damage)

    def _span(self, segment: Segment) -> render.Span | None:
        """Where ``segment`` lies on the timeline (None: not among the stores, or no frame)."""
        store = self.stores.get(segment.recording)
        if store is None:
            return None
        indexes = select(store, segment.start, segment.stop, segment.by)
        positions = self.timeline.positions_of(segment.recording, indexes)
        if not len(positions):
            return None
        return render.Span(int(positions[0]), int(positions[-1]), segment.label)

    def __len__(self) -> int:
        return len(self.timeline)

    def refresh(self) -> bool:
        """Read the stores' indexes again (stores being recorded grow); True when any
        grew, and the timeline now has their new frames."""
        grown = [store.refresh() for store in self.stores.values()]
        if not any(grown):
            return False
        self.timeline = Timeline(self.stores, *self._alignment)
        return True

    def recording(self) -> bool:
        """Whether a writer is still writing one of the stores."""
        return any(store.is_live for store in self.stores.values())

    @property
    def times(self) -> np.ndarray:
        """The frame_time of every position (the earliest of the stores' frames there)."""
        return self.timeline.times

    def _panel_size(self, store: StoreReader) -> tuple[int, int]:
        h, w = store.image_shape[:2] if self.roi is None else (self.roi[3], self.roi[2])
        return max(1, round(h * self.scale)), max(1, round(w * self.scale))

    def _frame(self, store: StoreReader, frame_index: int) -> np.ndarray:
        last = self._last.get(id(store))
        if last is not None and last[0] == frame_index:
            return last[1]
        image: np.ndarray = store.get_frames([frame_index], roi=self.roi)[0]
        self._last[id(store)] = (frame_index, image)
        return image

    def _show(self, name: str, image: np.ndarray, frame_index: int | None = None) -> np.ndarray:
        """``image`` through store ``name``'s contrast; the range used is remembered for
        the status bar when ``frame_index`` says which frame of the store it is."""
        low_high = self.contrasts[name].range_of(image)
        if frame_index is not None:
            self._ranges[name] = (frame_index, low_high)
        return render.to_display(image, render.Contrast(*low_high))

    def _panel(self, name: str, store: StoreReader, frame_index: int, label: str) -> np.ndarray:
        """The panel of one frame, or a DAMAGED panel when it fails to read."""
        try:
            image = self._frame(store, frame_index)
        except CorruptStoreError as exc:
            self.damaged[(name, frame_index)] = str(exc)
            return render.damaged_panel(f"{label} DAMAGED", self._sizes[name], str(exc))
        return render.panel(self._zoom(self._show(name, image, frame_index)), label)

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
        stamp = _stamp(self.local_time(position))
        lines = [f"{where}   frame_number {'-' if number is None else number}   {stamp}"]
        indexes = self.timeline.frame_indexes(position)
        for name, stitched in self.stitched.items():
            i = indexes[name]
            prefix = f"{name}: " if len(self.stores) > 1 else ""
            lines.append(prefix + ("missing" if i is None else stitched.line(i)))
        deep = [n for n, s in self.stores.items() if np.dtype(s.dtype).itemsize > 1]
        if deep:
            lines.append("contrast   " + "   ".join(self._contrast_text(n, indexes[n]) for n in deep))
        if self.segments:
            here = [
                f"{span.label} ({name})"
                for span, name in self.segments
                if span.first <= position <= span.last
            ]
            lines.append("segment   " + (", ".join(here) if here else "-"))
        damage = [self._damage_text(n, i) for n, i in indexes.items() if i is not None]
        if any(damage):
            lines.append("damage   " + "   ".join(d for d in damage if d))
        return lines

    def _damage_text(self, name: str, frame_index: int) -> str | None:
        """``cam0: check_pattern rows 40..58 (score 3.1)``: the pixel damage of store
        ``name``'s frame (rows of the whole frame), None when clean or not judged (it
        fails to read, or is not 8/16-bit or at least 5 pixels wide)."""
        judged = self._judged.get(name)
        if judged is None or judged[0] != frame_index:
            judged = (frame_index, self._judge(name, frame_index))
            self._judged[name] = judged
        text = judged[1]
        if text is None or len(self.stores) == 1:
            return text
        return f"{name}: {text}"

    def _judge(self, name: str, frame_index: int) -> str | None:
        """The detector's verdict on the frame as read (cropped to the roi), as text."""
        try:
            image = self._frame(self.stores[name], frame_index)
            code, first, last, _, _, score = (v[0] for v in judge_frames(image[None], self.damage_settings))
        except (CorruptStoreError, ValueError):
            return None
        if not code:
            return None
        top = 0 if self.roi is None else self.roi[1]
        return f"{KINDS[code - 1]} rows {top + first}..{top + last} (score {score:.1f})"

    # -- damage over the whole timeline -------------------------------------------------
    def find_damage(self) -> int:
        """Judge every frame of every store (decodes them all; ``tools.damage.score_damage``)
        and mark the positions showing a damaged one in ``damage_mask``; how many there are."""
        mask = np.zeros(len(self), bool)
        for name, store in self.stores.items():
            table = score_damage(store, self.damage_settings)
            damaged = table.index[table["damaged"].to_numpy()].to_numpy()
            mask[self.timeline.positions_of(name, damaged)] = True
        self.damage_mask = mask
        return int(np.count_nonzero(mask))

    def next_damaged(self, position: int, step: int = 1) -> int | None:
        """The nearest damaged position after ``position`` (``step`` -1: before it), None
        when there is none; ``find_damage`` first (a ValueError without it)."""
        if self.damage_mask is None:
            raise ValueError("damaged frames are found with --damage")
        found = np.flatnonzero(self.damage_mask)
        if step > 0:
            found = found[found > position]
            return int(found[0]) if len(found) else None
        found = found[found < position]
        return int(found[-1]) if len(found) else None

    def _contrast_text(self, name: str, frame_index: int | None) -> str:
        """``cam0 812..3301 auto``: the display range of store ``name``'s frame."""
        contrast = self.contrasts[name]
        prefix = f"{name} " if len(self.stores) > 1 else ""
        if not contrast.auto:
            return f"{prefix}{contrast.low:g}..{contrast.high:g} fixed"
        if frame_index is None:
            return f"{prefix}- auto"
        shown = self._ranges.get(name)
        if shown is None or shown[0] != frame_index:
            try:
                shown = (frame_index, contrast.range_of(self._frame(self.stores[name], frame_index)))
            except CorruptStoreError:
                return f"{prefix}damaged"
        low, high = shown[1]
        return f"{prefix}{low:g}..{high:g} auto"

    # -- moments -----------------------------------------------------------------------
    def time_of(self, text: str) -> float:
        """The unix time of a time typed as ``HH:MM[:SS[.fff]]`` (local time in the
        store's time zone, on the recording's day), a date and time (ISO 8601; without a
        zone, the store's), or seconds from the first frame (``90``, ``+12.5``)."""
        text = text.strip()
        zone = self.stores[self.timeline.names[0]].timezone
        start, end = float(np.min(self.times)), float(np.max(self.times))
        if re.fullmatch(r"\+?\d+(\.\d*)?", text):
            return start + float(text)
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2}(\.\d*)?)?", text):
            try:
                of_day = datetime.time.fromisoformat(text if text.index(":") == 2 else "0" + text)
            except ValueError as exc:
                raise ValueError(f"not a time of day ({exc})") from None
            days = {datetime.datetime.fromtimestamp(t, zone).date() for t in (start, end)}
            candidates = [datetime.datetime.combine(d, of_day, zone).timestamp() for d in days]
            return min(candidates, key=lambda t: _distance(t, start, end))
        try:
            when = datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"not a time: {text!r} (HH:MM:SS, YYYY-MM-DD HH:MM:SS, or seconds from the start)"
            ) from None
        return (when if when.tzinfo else when.replace(tzinfo=zone)).timestamp()

    def position_of_time(self, text: str) -> int:
        """The position nearest a time typed as ``time_of`` reads it."""
        return self.timeline.position_of_time(self.time_of(text))

    def position_of(self, text: str, within: bool = False) -> int:
        """A position given as a frame_number (an integer) or a time (see ``time_of``;
        ``+SECONDS`` counts from the first frame): the exact frame, else the nearest.
        With ``within``, a frame number or time outside the recording is a ValueError
        that names the recording's range instead."""
        if re.fullmatch(r"-?\d+", text.strip()):
            number = int(text)
            low, high = self.timeline.number_range()
            if within and not low <= number <= high:
                raise ValueError(
                    f"frame_number {number} is outside the recording (frame_number {low}..{high})"
                )
            return self.timeline.position_of_frame_number(number)
        when = self.time_of(text)
        start, end = float(np.min(self.times)), float(np.max(self.times))
        slack = float(np.median(np.diff(self.times))) / 2 if len(self) > 1 else 0.0
        if within and not start - slack <= when <= end + slack:
            first, last = (
                self.stores[self.timeline.names[0]].convert_frame_time_to_datetime(t) for t in (start, end)
            )
            raise ValueError(
                f"outside the recording, which runs from {_stamp(first)} to {_stamp(last)} "
                f"(+0..+{end - start:.3f} s)"
            )
        return self.timeline.position_of_time(when)

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
            panels.append(self._panel(name, store, i, label))
        return render.grid(panels)

    def _with_candidates(self, name: str, frame_index: int | None) -> np.ndarray:
        size = self._sizes[name]
        if frame_index is None:
            return render.grid([render.missing_panel(f"{name}: missing", size)])
        stitched = self.stitched[name]
        panels = [self._panel(name, self.stores[name], frame_index, f"{name}: stitched")]
        if (name, frame_index) in self.damaged:
            return render.grid(panels)
        chosen = self._frame(self.stores[name], frame_index)
        picked = stitched.scores.iloc[frame_index]["chosen"]
        for source, i in stitched.candidate_indexes(frame_index).items():
            reader = self.sources.get(source)
            if i is None or reader is None:
                why = "no copy" if reader is not None else "not found"
                panels.append(render.missing_panel(f"{source}: {why}", size))
                continue
            try:
                image = self._frame(reader, i)
            except CorruptStoreError as exc:
                panels.append(render.damaged_panel(f"{source} DAMAGED", size, str(exc)))
                continue
            marked = mark_differences(self._show(name, image), image, chosen)
            label = f"{source} CHOSEN" if source == picked else f"{source}: differing pixels red"
            panels.append(render.panel(self._zoom(marked), label))
        return render.grid(panels, columns=len(panels))

    def _zoom(self, image: np.ndarray) -> np.ndarray:
        return render.zoom(image, self.scale)

    def render(self, position: int, playback: str | None = None) -> np.ndarray:
        """The whole view at ``position``; ``playback`` (state, speed, fps, prompt) is the
        status bar's last line."""
        body = self.body(position)
        lines = self.lines(position) + ([playback] if playback is not None else [])
        return render.compose(body, lines)

    def view(self, position: int, playback: str, size: tuple[int, int] | None = None) -> np.ndarray:
        """What the window shows at ``position``: the view of ``render`` with the timeline
        strip under it, all of it exactly ``size`` (width, height) when given (the panels
        scaled to fit, the status bar and the strip at their own size)."""
        body = self.body(position)
        lines = [*self.lines(position), playback]
        if size is None:
            view = render.compose(body, lines)
        else:
            below = len(lines) * render.LINE_HEIGHT + render.STRIP_HEIGHT
            area = (size[0], max(1, size[1] - below))
            view = render.compose(render.fit(body, area), lines, width=size[0])
        spans = [s for s, _ in self.segments]
        strip = render.timeline_strip(view.shape[1], len(self), position, spans, self.damage_mask)
        return np.vstack([view, strip])

    def bars_height(self) -> int:
        """Rows under the panels in the window: the status lines, the playback line, the strip."""
        return (len(self.lines(0)) + 1) * render.LINE_HEIGHT + render.STRIP_HEIGHT

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
                try:
                    image = self._frame(store, i)
                except CorruptStoreError:
                    continue  # a damaged frame has no range to hold: that store stays auto
                self.contrasts[name] = render.Contrast(*self.contrasts[name].range_of(image))
        return held


def _distance(t: float, start: float, end: float) -> float:
    """How far ``t`` lies outside ``[start, end]``."""
    return max(start - t, 0.0, t - end)


def _stamp(when: datetime.datetime) -> str:
    """``2026-12-02 14:03:22.500 CET``."""
    return f"{when:%Y-%m-%d %H:%M:%S}.{when.microsecond // 1000:03d} {when.tzname()}"
