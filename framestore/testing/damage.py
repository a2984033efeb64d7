"""Miniscope-like frames, clean and damaged, with ground truth for damage detectors.

``clean_frames`` renders a wireless-miniscope recording (200x200 gray by default): neuropil
texture and blood vessels, cells that flash (calcium transients), a vignetted field, slow
drift (bleaching), motion (the tissue moves under a fixed vignette), LED flicker, shot,
read and row noise over a sensor offset, and a dark first frame (LED still off). Nothing in
it is damage. ``damage_frame`` then garbles or blacks out runs of pixels in raster order,
as a radio link does: a *check pattern* (speckled high-contrast noise where a buffer's
payload was garbled: less than one row, several rows, a block, or several of them) or a
*blacked-out* run (whole or partial rows at 0: a lost buffer or zero padding).
``damaged_recording`` does both for a whole recording and returns the truth per frame;
``through_h264`` passes frames through H.264 yuv420p and back, as a lossy store would.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import cv2
import numpy as np
import pandas as pd

from ..core.damage import BLACKED_OUT, CHECK_PATTERN, KINDS

__all__ = [
    "BLACKED_OUT",
    "CHECK_PATTERN",
    "DRAWN",
    "KINDS",
    "SIZES",
    "Piece",
    "clean_frames",
    "damage_frame",
    "damaged_recording",
    "through_h264",
]
# how much of the frame one piece of damage covers
SIZES = {
    CHECK_PATTERN: ("partial_row", "rows", "block", "blocks"),
    BLACKED_OUT: ("partial_row", "rows", "block", "blocks"),  # partial_row: zero padding
}
# what damaged_recording draws by default: zero padding shorter than a row is left out
# (blacked out is meant from a few rows up, and H.264 at crf 23 fills in about 1 in 100
# such runs)
DRAWN = {CHECK_PATTERN: SIZES[CHECK_PATTERN], BLACKED_OUT: ("rows", "block", "blocks")}


def clean_frames(
    count: int,
    shape: tuple[int, int] = (200, 200),
    seed: int = 0,
    dark_first: bool = True,
    batch: int = 64,
    offset: float | None = None,
    shot_noise: float | None = None,
) -> np.ndarray:
    """``count`` clean uint8 frames of one synthetic miniscope recording (its look, cell
    count, brightness, noise and motion drawn from ``seed``; ``offset``, the sensor's black
    level in DN, and ``shot_noise``, variance per DN of signal, can be set instead)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    margin = max(4, min(h, w) // 20)  # room for the tissue to move
    big_h, big_w = h + 2 * margin, w + 2 * margin
    tissue = _tissue(rng, big_h, big_w)
    footprints = _cells(rng, big_h, big_w, int(rng.integers(20, 80)))
    activity = _activity(rng, count, len(footprints))
    shifts = _motion(rng, count, margin)

    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    cy, cx = h / 2 + rng.normal(0, h / 20), w / 2 + rng.normal(0, w / 20)
    spread = rng.uniform(0.45, 0.9) * max(h, w)
    vignette = np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * spread**2)).astype(np.float32)
    level = rng.uniform(40, 130)  # background brightness at the centre, DN
    drawn_offset = rng.uniform(2, 20)  # sensor black level, DN
    read_noise = rng.uniform(0.8, 3.0)
    drawn_shot = rng.uniform(0.05, 0.5)  # variance per DN of signal
    offset = drawn_offset if offset is None else offset
    shot = drawn_shot if shot_noise is None else shot_noise
    row_noise = rng.uniform(0.0, 1.0)
    t = np.arange(count, dtype=np.float32) / 20.0
    drift = (1 - rng.uniform(0, 0.3) * t / max(t[-1], 1)) * (
        1 + 0.05 * np.sin(2 * np.pi * t / rng.uniform(20, 120) + rng.uniform(0, 6))
    )
    flicker = 1 + rng.normal(0, rng.uniform(0.005, 0.03), count)
    dips = rng.random(count) < 0.01
    flicker[dips] *= rng.uniform(0.6, 0.95, int(dips.sum()))
    gain = (level * drift * flicker).astype(np.float32)

    out = np.empty((count, h, w), np.uint8)
    flat = footprints.reshape(len(footprints), -1)
    # sensor noise: windows at random offsets into one long run of normal deviates (cheap,
    # and independent pixel to pixel within a frame)
    bank = rng.standard_normal(h * w + 4096 * 16, dtype=np.float32)
    starts = rng.integers(0, 4096 * 16, count)
    rows = row_noise * rng.standard_normal((count, h, 1), dtype=np.float32)
    for a in range(0, count, batch):
        b = min(count, a + batch)
        scene = (tissue.reshape(1, -1) + activity[a:b] @ flat).reshape(b - a, big_h, big_w)
        for k in range(a, b):
            dy, dx = shifts[k]
            signal = scene[k - a, margin + dy : margin + dy + h, margin + dx : margin + dx + w] * vignette
            signal *= gain[k]
            sigma = cv2.sqrt(read_noise**2 + shot * signal)
            signal += offset + rows[k]
            signal += sigma * bank[starts[k] : starts[k] + h * w].reshape(h, w)
            out[k] = np.clip(signal, 0, 255) + 0.5  # rounds on the cast
    if dark_first and count:
        dark = offset + read_noise * rng.standard_normal((h, w), dtype=np.float32)
        out[0] = np.rint(np.clip(dark, 0, 255))
    return out


def _tissue(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Neuropil (smooth texture around 1) with darker blood vessels."""
    texture: np.ndarray = cv2.GaussianBlur(
        rng.standard_normal((h, w)).astype(np.float32), (0, 0), rng.uniform(3, 10)
    )
    texture *= rng.uniform(0.05, 0.2) / max(float(texture.std()), 1e-6)
    vessels: np.ndarray = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(0, 5))):
        points = np.cumsum(rng.normal(0, max(h, w) / 8, (6, 2)), axis=0) + rng.uniform(0, [w, h])
        cv2.polylines(vessels, [points.astype(np.int32)], False, 1.0, int(rng.integers(2, 8)))
    vessels = cv2.GaussianBlur(vessels, (0, 0), 1.5)
    tissue: np.ndarray = (1 + texture) * (1 - rng.uniform(0.2, 0.5) * vessels)
    return tissue


def _cells(rng: np.random.Generator, h: int, w: int, n: int) -> np.ndarray:
    """Footprints of ``n`` cells: elliptical Gaussian blobs of peak 1."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.zeros((n, h, w), np.float32)
    for k in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        sy, sx = rng.uniform(1.5, 5, 2)
        r = int(4 * max(sy, sx)) + 1
        ys = slice(max(0, int(cy) - r), min(h, int(cy) + r + 1))
        xs = slice(max(0, int(cx) - r), min(w, int(cx) + r + 1))
        out[k, ys, xs] = np.exp(-((y[ys, xs] - cy) ** 2 / (2 * sy**2) + (x[ys, xs] - cx) ** 2 / (2 * sx**2)))
    return out


def _activity(rng: np.random.Generator, count: int, n: int) -> np.ndarray:
    """(count, n) calcium-like traces: spikes that rise in a frame and decay over many."""
    rate = rng.uniform(0.002, 0.05, n)
    spikes = (rng.random((count, n)) < rate) * rng.uniform(0.3, 2.5, (count, n))
    decay = np.exp(-1 / rng.uniform(3, 20, n))
    traces = np.empty((count, n), np.float32)
    level = np.zeros(n)
    for i in range(count):
        level = level * decay + spikes[i]
        traces[i] = level
    return traces + rng.uniform(0.0, 0.3, n).astype(np.float32)  # resting fluorescence


def _motion(rng: np.random.Generator, count: int, margin: int) -> np.ndarray:
    """(count, 2) integer shifts: a slow wander plus jitter and a few jumps, within ``margin``."""
    steps = rng.normal(0, 0.3, (count, 2))
    jumps = rng.random(count) < 0.005
    steps[jumps] += rng.normal(0, margin / 2, (int(jumps.sum()), 2))
    path = np.cumsum(steps, axis=0)
    path -= path.mean(axis=0)
    path += rng.normal(0, 0.5, (count, 2))
    return np.clip(np.rint(path), -margin, margin).astype(int)


@dataclass(frozen=True)
class Piece:
    """One damaged run of pixels, in raster order (``start`` to ``stop``, flat indexes)."""

    kind: str
    start: int
    stop: int


def damage_frame(image: np.ndarray, kind: str, size: str, rng: np.random.Generator) -> list[Piece]:
    """Damage ``image`` (h, w) in place with one ``kind`` of ``size`` (one of ``SIZES[kind]``);
    return the runs damaged."""
    if kind not in KINDS or size not in SIZES[kind]:
        raise ValueError(f"no damage {kind!r} of size {size!r}; choose from {SIZES}")
    h, w = image.shape
    full = np.iinfo(image.dtype).max
    flat = image.reshape(-1)
    if size == "blocks":  # 2 or 3 smaller pieces of any other drawn size
        smaller = [s for s in DRAWN[kind] if s != "blocks"]
        lengths = [
            _run_length(rng, h, w, kind, str(rng.choice(smaller)), h // 4)
            for _ in range(int(rng.integers(2, 4)))
        ]
    else:
        lengths = [_run_length(rng, h, w, kind, size, h)]
    pieces: list[Piece] = []
    for length in lengths:
        for _ in range(50):  # distinct pieces: not touching one already made
            start = int(rng.integers(0, h * w - length + 1))
            if kind == BLACKED_OUT and length < w:  # padding: the end of a buffer, here of a row
                start = (start // w + 1) * w - length
            stop = start + length
            if all(stop + w <= p.start or start >= p.stop + w for p in pieces):
                break
        else:
            continue
        pieces.append(Piece(kind, start, stop))
        if kind == BLACKED_OUT:
            flat[start:stop] = 0
        else:
            flat[start:stop] = _garble(rng, length, w, full, image.dtype)
    return pieces


def _run_length(rng: np.random.Generator, h: int, w: int, kind: str, size: str, most: int) -> int:
    if size == "partial_row":
        return int(rng.integers(w // 4, w))
    if size == "rows":
        rows = (2, 20) if kind == CHECK_PATTERN else (3, 20)
        return int(rng.integers(rows[0] * w, rows[1] * w))
    return int(rng.integers(20 * w, max(21, int(0.85 * most)) * w))  # a block


def _garble(rng: np.random.Generator, n: int, w: int, full: int, dtype: np.dtype) -> np.ndarray:
    """``n`` pixels of a garbled payload: random bytes, black/white speckle, or a mix of
    garbage and the line's mean grey (every other row garbled, as some receivers show)."""
    style = rng.integers(0, 4)
    if style == 0:
        return rng.integers(0, full + 1, n, dtype=dtype)
    if style == 1:
        return (rng.random(n) < rng.uniform(0.3, 0.7)).astype(dtype) * full
    values = rng.integers(0, full + 1, n, dtype=dtype)
    if style == 2:  # bits flipped in part of the bytes
        keep = rng.random(n) < rng.uniform(0.0, 0.4)
        values[keep] = rng.integers(full // 4, full // 2, int(keep.sum()), dtype=dtype)
        return values
    rows = (np.arange(n) // w) % 2 == 1  # every other row garbled, the rest a flat grey
    values[rows] = dtype.type(full // 3)
    return values


def damaged_recording(
    count: int,
    shape: tuple[int, int] = (200, 200),
    seed: int = 0,
    damaged_fraction: float = 0.3,
    sizes: dict[str, tuple[str, ...]] | None = None,
    offset: float | None = None,
    shot_noise: float | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:
    """A clean recording with ``damaged_fraction`` of its frames (never the dark first one)
    damaged, kinds and sizes drawn at random; and the truth per frame: ``damaged``,
    ``kind`` (None when clean), ``size``, ``pieces``, ``first_row``, ``last_row`` (the
    rows any damaged pixel is in; NA when clean), ``pixels`` (how many were damaged).
    ``sizes``: per kind, the sizes drawn (default ``DRAWN``); ``offset`` and
    ``shot_noise``: as for :func:`clean_frames`."""
    sizes = DRAWN if sizes is None else sizes
    rng = np.random.default_rng(seed + 1_000_003)
    frames = clean_frames(count, shape, seed, offset=offset, shot_noise=shot_noise)
    w = shape[1]
    rows = []
    for i in range(count):
        row: dict[str, Any] = {
            "damaged": False,
            "kind": None,
            "size": None,
            "pieces": 0,
            "first_row": pd.NA,
            "last_row": pd.NA,
            "pixels": 0,
        }
        if i > 0 and rng.random() < damaged_fraction:
            kind = KINDS[int(rng.integers(0, 2))]
            size = str(rng.choice(sizes[kind]))
            before = frames[i].copy()
            pieces = damage_frame(frames[i], kind, size, rng)
            row.update(
                damaged=True,
                kind=kind,
                size=size,
                pieces=len(pieces),
                first_row=min(p.start for p in pieces) // w,
                last_row=max(p.stop - 1 for p in pieces) // w,
                pixels=int(np.count_nonzero(before != frames[i])),
            )
        rows.append(row)
    truth = pd.DataFrame(rows).astype({"first_row": "Int64", "last_row": "Int64"})
    truth.index.name = "frame_index"
    return frames, truth


def through_h264(frames: np.ndarray, crf: int = 23, preset: str = "veryfast") -> np.ndarray:
    """``frames`` (n, h, w) uint8 gray, encoded with libx264 in yuv420p (``crf``) and decoded
    back to gray: what a lossy store gives back."""
    n, h, w = frames.shape
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as container:
        stream = container.add_stream("libx264", rate=20)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset, "threads": "1"}  # deterministic
        for k, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="gray").reformat(
                format="yuv420p"
            )
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    buffer.seek(0)
    with av.open(buffer, "r") as container:
        out = np.stack([f.to_ndarray(format="gray") for f in container.decode(video=0)])
    if out.shape != frames.shape:
        raise RuntimeError(f"H.264 round trip gave {out.shape} frames, expected {frames.shape}")
    return out
