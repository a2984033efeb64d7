"""Pure drawing for the viewer: frames to display pixels, panels, grids, status strips.

Nothing here opens a window or reads a store, so all of it is tested without a display.
Every function returns a new BGR uint8 image.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45
LINE_HEIGHT = 20  # one line of text: a panel label or a status line
MIN_WIDTH = 640  # the status bar needs room even for small frames
BACKGROUND = (24, 24, 24)
TEXT_COLOR = (235, 235, 235)
MISSING_COLOR = (80, 80, 255)
DAMAGED_COLOR = (0, 150, 255)  # orange: the frame is there but fails to read
GAP_COLOR = (90, 90, 90)  # between the views of a contact sheet
AUTO_PERCENTILES = (0.5, 99.5)  # auto contrast ignores this little of each tail
STRIP_HEIGHT = 24  # the timeline strip under the status bar
STRIP_MARGIN = 8  # pixels left and right of the timeline's track
TRACK_COLOR = (70, 70, 70)
MARKER_COLOR = (255, 255, 255)
DAMAGE_MARK_COLOR = (40, 40, 230)  # red: a frame the damage detector flags
DAMAGE_MARK_ROWS = 3  # the strip's bottom rows, under the segment bands
SEGMENT_COLORS = ((200, 140, 60), (80, 180, 90), (60, 110, 220), (180, 90, 190), (50, 190, 200))


@dataclass(frozen=True)
class Contrast:
    """How frame values map to display levels: ``low`` -> 0 and ``high`` -> 255,
    or, when both are None, each frame's own 0.5th..99.5th percentiles (auto)."""

    low: float | None = None
    high: float | None = None

    @property
    def auto(self) -> bool:
        return self.low is None or self.high is None

    @classmethod
    def parse(cls, text: str | None, dtype: np.dtype) -> Contrast:
        """``auto``, ``full`` (the dtype's whole range) or ``LOW,HIGH``; None: full for
        8-bit frames, auto for deeper ones."""
        if text is None:
            text = "full" if np.dtype(dtype).itemsize == 1 else "auto"
        if text == "auto":
            return cls()
        if text == "full":
            return cls(0, float(np.iinfo(dtype).max) if np.issubdtype(dtype, np.integer) else 1.0)
        try:
            low, high = (float(v) for v in text.split(","))
        except ValueError:
            raise ValueError(f"contrast must be auto, full or LOW,HIGH, got {text!r}") from None
        if not high > low:
            raise ValueError(f"contrast LOW,HIGH needs HIGH > LOW, got {text!r}")
        return cls(low, high)

    def range_of(self, image: np.ndarray) -> tuple[float, float]:
        """The (low, high) used for ``image``."""
        if not self.auto:
            return float(self.low), float(self.high)  # type: ignore[arg-type]
        sample = image[::4, ::4]  # plenty for percentiles, 16x less work
        low, high = (float(v) for v in np.percentile(sample, AUTO_PERCENTILES))
        return low, max(high, low + 1)


def to_display(image: np.ndarray, contrast: Contrast) -> np.ndarray:
    """A frame (gray or BGR, any integer depth) as BGR uint8 through ``contrast``."""
    if image.dtype == np.uint8 and contrast == Contrast(0, 255):
        scaled = image
    else:
        low, high = contrast.range_of(image)
        levels = (image.astype(np.float32) - np.float32(low)) * np.float32(255 / (high - low))
        scaled = np.clip(levels, 0, 255).astype(np.uint8)
    return scaled if scaled.ndim == 3 else cv2.cvtColor(scaled, cv2.COLOR_GRAY2BGR)


def zoom(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` resized by ``scale``: whole pixels when enlarging, averaged when shrinking."""
    if scale == 1:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_NEAREST if scale > 1 else cv2.INTER_AREA)


def text_width(text: str) -> int:
    """Pixels ``text`` needs in a text strip."""
    return cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0] + 8


def text_strip(text: str, width: int, color: tuple[int, int, int] = TEXT_COLOR) -> np.ndarray:
    """One line of text on the background, ``LINE_HEIGHT`` tall."""
    strip = np.full((LINE_HEIGHT, width, 3), BACKGROUND, np.uint8)
    cv2.putText(strip, text, (4, LINE_HEIGHT - 6), FONT, FONT_SCALE, color, 1, cv2.LINE_AA)
    return strip


def panel(image: np.ndarray, label: str) -> np.ndarray:
    """A labelled frame: ``label`` above the BGR ``image``, widened for a long label."""
    width = max(image.shape[1], text_width(label))
    if width > image.shape[1]:
        image = cv2.copyMakeBorder(
            image, 0, 0, 0, width - image.shape[1], cv2.BORDER_CONSTANT, value=BACKGROUND
        )
    return np.vstack([text_strip(label, width), image])


def missing_panel(label: str, size: tuple[int, int]) -> np.ndarray:
    """The panel of a frame a store does not have: a blank of ``size`` (h, w), outlined
    and marked MISSING, ``label`` above it in the same colour."""
    return _marked_panel(label, size, "MISSING", [], MISSING_COLOR)


def damaged_panel(label: str, size: tuple[int, int], error: str) -> np.ndarray:
    """The panel of a frame that fails to read (a CRC mismatch, an undecodable packet):
    a blank of ``size`` (h, w), outlined and marked DAMAGED, with ``error`` written
    under the mark (wrapped to the panel's width), ``label`` above it."""
    return _marked_panel(label, size, "DAMAGED", wrap(error, size[1]), DAMAGED_COLOR)


def _marked_panel(
    label: str, size: tuple[int, int], mark: str, notes: list[str], color: tuple[int, int, int]
) -> np.ndarray:
    h, w = size
    body = np.full((h, max(w, text_width(label)), 3), BACKGROUND, np.uint8)
    cv2.rectangle(body, (0, 0), (w - 1, h - 1), color, 1)
    (tw, th), _ = cv2.getTextSize(mark, FONT, FONT_SCALE, 1)
    top = max(th + 2, (h + th) // 2 - len(notes) * LINE_HEIGHT // 2)
    cv2.putText(body, mark, ((w - tw) // 2, top), FONT, FONT_SCALE, color, 1)
    for k, note in enumerate(notes):
        y = top + (k + 1) * LINE_HEIGHT
        if y > h - 4:
            break
        cv2.putText(body, note, (4, y), FONT, FONT_SCALE, color, 1, cv2.LINE_AA)
    return np.vstack([text_strip(label, body.shape[1], color), body])


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines that fit ``width`` pixels: broken at spaces and slashes, and
    inside a word only when the word alone is too wide."""
    lines: list[str] = []
    line = ""
    for word in re.findall(r"[^ /]*[ /]?", text):
        while word and text_width(word) > width:  # a word wider than the line: cut it
            if line:
                lines.append(line.rstrip())
                line = ""
            cut = max(1, max((k for k in range(1, len(word)) if text_width(word[:k]) <= width), default=1))
            lines.append(word[:cut])
            word = word[cut:]
        if text_width(line + word.rstrip()) > width and line:
            lines.append(line.rstrip())
            line = ""
        line += word
    if line.strip():
        lines.append(line.rstrip())
    return lines


def grid(panels: list[np.ndarray], columns: int | None = None, gap: int = 0) -> np.ndarray:
    """``panels`` left to right, then top to bottom, in equal cells ``gap`` pixels apart
    (side by side up to three, then as square a grid as fits)."""
    if not panels:
        raise ValueError("grid needs at least one panel")
    n = len(panels)
    columns = columns or (n if n <= 3 else math.ceil(math.sqrt(n)))
    rows = math.ceil(n / columns)
    ch = max(p.shape[0] for p in panels) + gap
    cw = max(p.shape[1] for p in panels) + gap
    canvas = np.full((rows * ch - gap, columns * cw - gap, 3), GAP_COLOR if gap else BACKGROUND, np.uint8)
    for k, p in enumerate(panels):
        y, x = (k // columns) * ch, (k % columns) * cw
        canvas[y : y + ch - gap, x : x + cw - gap] = BACKGROUND
        canvas[y : y + p.shape[0], x : x + p.shape[1]] = p
    return canvas


def status_bar(lines: list[str], width: int) -> np.ndarray:
    """``lines`` one under the other, each a text strip ``width`` wide."""
    return np.vstack([text_strip(line, width) for line in lines])


def compose(body: np.ndarray, lines: list[str], width: int | None = None) -> np.ndarray:
    """The whole view: ``body`` (the panels) over the status bar, ``width`` wide (default:
    the body's width, at least ``MIN_WIDTH``; a wider body is cut)."""
    width = max(body.shape[1], MIN_WIDTH) if width is None else width
    body = pad(body[:, :width], (width, body.shape[0]))
    return np.vstack([body, status_bar(lines, width)]) if lines else body


def pad(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` on the background, grown right and down to ``size`` (width, height)."""
    h, w = image.shape[:2]
    if (w, h) == tuple(size):
        return image
    canvas = np.full((max(h, size[1]), max(w, size[0]), 3), BACKGROUND, np.uint8)
    canvas[:h, :w] = image
    return canvas


def fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled, keeping its shape, to the largest size within ``size`` (width,
    height), then padded to exactly ``size``."""
    h, w = image.shape[:2]
    scale = min(size[0] / w, size[1] / h)
    scaled = image if scale == 1 else zoom(image, scale)
    return pad(scaled[: size[1], : size[0]], size)


def fit_size(natural: tuple[int, int], below: int, limit: tuple[int, int]) -> tuple[int, int]:
    """The (width, height) of a view whose body is ``natural`` (width, height) with
    ``below`` rows of status and timeline under it: the body at its own size when that
    fits within ``limit``, else shrunk (keeping its shape) until it does."""
    w, h = natural
    scale = min(1.0, limit[0] / w, max(1, limit[1] - below) / h)
    return min(limit[0], max(round(w * scale), MIN_WIDTH)), round(h * scale) + below


@dataclass(frozen=True)
class Span:
    """Positions ``first..last`` (inclusive) of the timeline, named ``label``."""

    first: int
    last: int
    label: str


def _track_x(position: int, count: int, width: int) -> int:
    track = max(1, width - 2 * STRIP_MARGIN - 1)
    return STRIP_MARGIN + round(position * track / max(1, count - 1))


def position_at(x: int, count: int, width: int) -> int:
    """The position a click at column ``x`` of a timeline strip ``width`` wide points at."""
    track = max(1, width - 2 * STRIP_MARGIN - 1)
    return int(np.clip(round((x - STRIP_MARGIN) * (count - 1) / track), 0, count - 1))


def timeline_strip(
    width: int,
    count: int,
    position: int,
    spans: Sequence[Span] = (),
    damaged: np.ndarray | None = None,
) -> np.ndarray:
    """The timeline of ``count`` positions across ``width`` pixels: the track, each span
    (a labelled segment) as a coloured band with its label where it fits, a red mark in
    the bottom rows at every position ``damaged`` (a bool per position) flags, and a
    white marker at ``position``. ``position_at`` maps a click back to a position."""
    strip = np.full((STRIP_HEIGHT, width, 3), BACKGROUND, np.uint8)
    end = _track_x(count - 1, count, width)
    cv2.rectangle(strip, (STRIP_MARGIN, 9), (end, 14), TRACK_COLOR, -1)
    colors = {
        label: SEGMENT_COLORS[k % len(SEGMENT_COLORS)]
        for k, label in enumerate(sorted({s.label for s in spans}))
    }
    for span in spans:
        x0, x1 = _track_x(span.first, count, width), _track_x(span.last, count, width)
        cv2.rectangle(strip, (x0, 3), (x1, STRIP_HEIGHT - 4), colors[span.label], -1)
        if text_width(span.label) <= x1 - x0 + 1:
            cv2.putText(strip, span.label, (x0 + 3, STRIP_HEIGHT - 7), FONT, 0.4, TEXT_COLOR, 1, cv2.LINE_AA)
    if damaged is not None:
        track = max(1, width - 2 * STRIP_MARGIN - 1)
        xs = STRIP_MARGIN + np.round(np.flatnonzero(damaged) * track / max(1, count - 1)).astype(np.intp)
        strip[STRIP_HEIGHT - DAMAGE_MARK_ROWS :, np.unique(xs)] = DAMAGE_MARK_COLOR
    x = _track_x(position, count, width)
    cv2.rectangle(strip, (x - 1, 0), (x + 1, STRIP_HEIGHT - 1), MARKER_COLOR, -1)
    return strip
