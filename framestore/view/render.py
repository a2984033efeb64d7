"""Pure drawing for the viewer: frames to display pixels, panels, grids, status strips.

Nothing here opens a window or reads a store, so all of it is tested without a display.
Every function returns a new BGR uint8 image.
"""

from __future__ import annotations

import math
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
GAP_COLOR = (90, 90, 90)  # between the views of a contact sheet
AUTO_PERCENTILES = (0.5, 99.5)  # auto contrast ignores this little of each tail


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
    h, w = size
    body = np.full((h, max(w, text_width(label)), 3), BACKGROUND, np.uint8)
    cv2.rectangle(body, (0, 0), (w - 1, h - 1), MISSING_COLOR, 1)
    (tw, th), _ = cv2.getTextSize("MISSING", FONT, FONT_SCALE, 1)
    cv2.putText(body, "MISSING", ((w - tw) // 2, (h + th) // 2), FONT, FONT_SCALE, MISSING_COLOR, 1)
    return np.vstack([text_strip(label, body.shape[1], MISSING_COLOR), body])


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


def compose(body: np.ndarray, lines: list[str]) -> np.ndarray:
    """The whole view: ``body`` (the panels) over the status bar, at least ``MIN_WIDTH`` wide."""
    width = max(body.shape[1], MIN_WIDTH)
    if body.shape[1] < width:
        pad = np.full((body.shape[0], width - body.shape[1], 3), BACKGROUND, np.uint8)
        body = np.hstack([body, pad])
    return np.vstack([body, status_bar(lines, width)]) if lines else body
