"""Synthetic recordings whose frames carry their own frame number.

Used by the demo, the tests and the benchmarks: moving shapes over a gradient, a little
noise, and the frame number as a 24-bit barcode of large blocks along the top, which
survives lossy codecs, so every read can check that it got the frame it asked for.
"""

from __future__ import annotations

import numpy as np

BARCODE_BITS = 24
_ROWS, _COLS = 2, 12  # barcode grid: 24 blocks
_LOW, _HIGH = 40, 215


def _band_height(height: int) -> int:
    return max(4, height // 8)


def synthetic_frame(
    frame_number: int,
    shape: tuple[int, ...] = (512, 640),
    dtype: type | np.dtype = np.uint8,
    noise: float = 3.0,
) -> np.ndarray:
    """Frame ``frame_number`` of a synthetic recording: shapes, noise, barcode."""
    h, w = shape[0], shape[1]
    if w < 2 * _COLS or h < 16:
        raise ValueError(f"synthetic frames need at least 24x16 pixels, got {w}x{h}")
    rng = np.random.default_rng(frame_number & 0xFFFFFFFF)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 30 + 60 * x / w + 20 * y / h
    t = frame_number * 0.05
    for k, (radius, speed) in enumerate(((h / 6, 1.0), (h / 9, -1.7), (h / 12, 2.3))):
        cx = w / 2 + (w / 3) * np.cos(t * speed + k)
        cy = h / 2 + (h / 4) * np.sin(t * speed * 0.7 + k)
        img[(x - cx) ** 2 + (y - cy) ** 2 < radius**2] = 120 + 40 * k
    if noise:
        img += rng.normal(0, noise, img.shape).astype(np.float32)
    img = np.clip(img, 0, 255)
    _draw_barcode(img, frame_number)
    if len(shape) == 3:
        img = np.stack([img, 255 - img, np.roll(img, w // 5, axis=1)], axis=-1)
        _draw_barcode(img, frame_number)
    out: np.ndarray = img.astype(np.uint8)
    if np.dtype(dtype) == np.uint16:
        out = out.astype(np.uint16) * 257 + rng.integers(0, 200, out.shape, dtype=np.uint16)
    return out


def _blocks(h: int, w: int) -> list[tuple[slice, slice]]:
    band = _band_height(h)
    bh, bw = band // _ROWS, w // _COLS
    return [
        (slice(r * bh, (r + 1) * bh), slice(c * bw, (c + 1) * bw)) for r in range(_ROWS) for c in range(_COLS)
    ]


def _draw_barcode(img: np.ndarray, frame_number: int) -> None:
    for bit, (rows, cols) in enumerate(_blocks(img.shape[0], img.shape[1])):
        img[rows, cols] = _HIGH if (frame_number >> bit) & 1 else _LOW


def read_barcode(image: np.ndarray) -> int:
    """The frame number a synthetic frame carries (robust to lossy compression)."""
    img = image.astype(np.float64)
    if img.ndim == 3:
        img = img[..., 0]
    if image.dtype == np.uint16:
        img = img / 257
    value = 0
    for bit, (rows, cols) in enumerate(_blocks(img.shape[0], img.shape[1])):
        block = img[rows, cols]
        inner = block[
            block.shape[0] // 4 : -(block.shape[0] // 4) or None,
            block.shape[1] // 4 : -(block.shape[1] // 4) or None,
        ]
        if inner.mean() > (_LOW + _HIGH) / 2:
            value |= 1 << bit
    return value


def frame_numbers_with_gaps(
    count: int, start: int = 1_000_000, gap_every: int = 37, seed: int = 0
) -> np.ndarray:
    """``count`` increasing frame numbers from ``start``, skipping a few every so often."""
    rng = np.random.default_rng(seed)
    steps = np.ones(count, dtype=np.int64)
    steps[0] = 0
    steps[gap_every::gap_every] += rng.integers(1, 5, len(steps[gap_every::gap_every]))
    return start + np.cumsum(steps)


def frame_times_for(
    frame_numbers: np.ndarray, fps: float = 30.0, t0: float = 1.7e9, seed: int = 0
) -> np.ndarray:
    """Unix times for ``frame_numbers`` at ``fps``, with a little jitter."""
    rng = np.random.default_rng(seed + 1)
    base: np.ndarray = t0 + (frame_numbers - frame_numbers[0]) / fps
    return base + rng.uniform(0, 0.2 / fps, len(frame_numbers))
