"""Stitching redundant recordings of one device into one store of the best copies.

For every aligned frame, the candidates (one per source that has the frame) are ranked by
metadata first (more buffers received, less zero padding), then by image evidence: rows left
all-zero by lost buffers; with three or more copies, pixels that disagree with the
consensus (the per-pixel median); and between copies that still tie, the lower Sobel edge
energy (noise and artifacts add edges). The chosen copy is written unchanged, and a scores
table says, for every output frame, what each candidate scored and why the winner won.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import av
import cv2
import numpy as np
import pandas as pd

from .align import align, named_stores
from .errors import StoreWarning
from .reader import StoreReader
from .writer import StoreWriter

METHOD = "framestore.stitch/1"
# criteria in order; lower is better for each (buffers are negated)
CRITERIA = ("missing_buffers", "padding_px", "zero_rows", "disagreeing_px", "edge_energy")
_REASONS = {
    "missing_buffers": "more buffers received",
    "padding_px": "less zero padding",
    "zero_rows": "fewer zeroed rows (lost buffers)",
    "disagreeing_px": "agrees with the other copies",
    "edge_energy": "less edge energy (noise, artifacts)",
}
DISAGREE_LEVEL = 8  # grey levels from the consensus that count as disagreement
DIFFERENCE_COLOR = (0, 0, 255)  # BGR red: where a candidate differs from the chosen copy


def score_candidates(images: list[np.ndarray], meta: list[dict[str, float]]) -> pd.DataFrame:
    """One row per candidate copy of a frame, one column per criterion (lower is better)."""
    rows = []
    median = np.median(np.stack(images), axis=0) if len(images) >= 3 else None
    for image, m in zip(images, meta, strict=True):
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1)
        rows.append(
            {
                "missing_buffers": -float(m.get("num_buffers", 0)),
                "padding_px": float(m.get("black_padding_px", 0)),
                "zero_rows": float(np.count_nonzero(~gray.any(axis=1))),
                "disagreeing_px": (
                    float(np.count_nonzero(np.abs(gray.astype(np.int16) - median) > DISAGREE_LEVEL))
                    if median is not None
                    else 0.0
                ),
                "edge_energy": float(np.mean(np.abs(gx)) + np.mean(np.abs(gy))),
            }
        )
    return pd.DataFrame(rows)


def choose(scores: pd.DataFrame) -> tuple[int, str]:
    """The best candidate (lexicographic over CRITERIA) and the reason it beat the next."""
    if len(scores) == 1:
        return 0, "only copy"
    order = scores.sort_values(list(CRITERIA), kind="stable").index.to_list()
    best, runner = scores.loc[order[0]], scores.loc[order[1]]
    for criterion in CRITERIA:
        if best[criterion] != runner[criterion]:
            return int(order[0]), _REASONS[criterion]
    return int(order[0]), "identical scores: first source"


def stitch(
    stores: Sequence[StoreReader | str | os.PathLike[str]] | dict[str, StoreReader],
    output: str | os.PathLike[str],
    fmt: str = "ffv1/mkv",
    by: str = "frame_number",
    tolerance: float | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    debug_video: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Write the best copy of every aligned frame of ``stores`` to a new store ``output``;
    return the scores table (also saved as ``scores.csv`` in the new store).

    ``debug_video``: also write a video (MJPEG AVI) showing, for every output frame, the
    candidates side by side, the pixels where each differs from the chosen one in red, and
    the chosen one labelled."""
    named = named_stores(stores)
    if len(named) < 2:
        raise ValueError("stitch needs at least two stores")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StoreWarning)  # duplicates are reported in the table
        table = align(named, by=by, tolerance=tolerance)
    names = list(named)
    first = named[names[0]]
    # per-frame metadata of every source as column arrays: one row is a few array lookups
    metas = {n: {c: v.to_numpy() for c, v in s.index_dataframe().items()} for n, s in named.items()}
    params = {"by": by, "tolerance": tolerance, "criteria": list(CRITERIA), "disagree_level": DISAGREE_LEVEL}
    writer = StoreWriter(
        fmt,
        output,
        imgshape=first.image_shape,
        imgdtype=first.dtype,
        fps=first.fps or 20.0,
        overwrite=overwrite,
        frame_columns={"source": "int16", "candidates": "int16"},
        derived_from={
            "sources": [{"name": n, "path": str(s.path), "uuid": s.uuid} for n, s in named.items()],
            "method": METHOD,
            "parameters": params,
        },
    )
    records: list[dict] = []
    glitches: list[dict] = []
    debug = _DebugVideo(Path(debug_video), names, first.image_shape) if debug_video else None
    with writer:
        for row in table.itertuples(index=False):
            present = [n for n in names if not pd.isna(getattr(row, n))]
            idx = {n: int(getattr(row, n)) for n in present}
            meta = [{c: v[idx[n]] for c, v in metas[n].items()} for n in present]
            if all(_is_glitch(named[n].frame_numbers, idx[n], m) for n, m in zip(present, meta, strict=True)):
                glitches.append(
                    {"frame_number": int(meta[0]["frame_number"]), **{n: idx[n] for n in present}}
                )
                continue  # reported, never written as a frame
            images = [named[n][idx[n]] for n in present]
            scores = score_candidates(images, meta)
            k, reason = choose(scores)
            stack = np.stack(images)
            differing = int(np.count_nonzero((stack != stack[0]).any(axis=0)))
            if differing == 0 and len(present) > 1:
                reason = "identical copies"
            frame_number = int(row.frame_number) if by == "frame_number" else int(meta[k]["frame_number"])
            frame_time = min(float(m.get("first_recv_time", m["frame_time"])) for m in meta)
            writer.add_image(
                images[k], frame_number, frame_time, source=names.index(present[k]), candidates=len(present)
            )
            record = {"frame_number": frame_number, "frame_time": frame_time, "chosen": present[k]}
            record.update({"reason": reason, "candidates": len(present), "differing_px": differing})
            for j, n in enumerate(present):
                record[f"{n}_frame_index"] = idx[n]
                for criterion in CRITERIA:
                    record[f"{n}_{criterion}"] = scores.loc[j, criterion]
            records.append(record)
            if debug is not None:
                debug.add(dict(zip(present, images, strict=True)), present[k], frame_number, reason)
            if progress is not None:
                progress(len(records), len(table))
    if debug is not None:
        debug.close()
    result = pd.DataFrame(records)
    result.to_csv(Path(output) / "scores.csv", index=False)
    result.attrs["glitches"] = glitches
    if glitches:
        pd.DataFrame(glitches).to_csv(Path(output) / "glitches.csv", index=False)
        warnings.warn(
            f"{len(glitches)} glitch frame(s) left out (one buffer under an out-of-sequence "
            f"frame_num): {[g['frame_number'] for g in glitches][:5]}; see glitches.csv",
            StoreWarning,
            stacklevel=2,
        )
    return result


def _is_glitch(frame_numbers: np.ndarray, i: int, meta: dict) -> bool:
    """One buffer at most, under a frame number out of sequence with its neighbours."""
    if meta.get("num_buffers", 2) > 1:
        return False
    before = frame_numbers[i - 1] if i > 0 else None
    after = frame_numbers[i + 1] if i + 1 < len(frame_numbers) else None
    fn = frame_numbers[i]
    return (before is not None and fn <= before) or (after is not None and fn >= after)


def mark_differences(display: np.ndarray, image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """A copy of ``display`` (BGR, the way ``image`` is shown) with the pixels where
    ``image`` differs from ``reference`` (a frame of the same shape) painted red."""
    differs = image != reference
    if differs.ndim == 3:
        differs = differs.any(axis=2)
    marked = display.copy()
    marked[differs] = DIFFERENCE_COLOR
    return marked


class _DebugVideo:
    """Candidates side by side; red where a copy differs from the chosen one."""

    def __init__(self, path: Path, names: list[str], shape: tuple[int, ...]) -> None:
        self._names = names
        self._h, self._w = shape[0], shape[1]
        self._band = 18  # label strips above the candidates and below them
        self._container = av.open(str(path), "w")
        self._stream = self._container.add_stream("mjpeg", rate=20)
        width = len(names) * self._w
        self._stream.width = width + width % 2
        self._stream.height = self._h + 2 * self._band + self._h % 2
        self._stream.pix_fmt = "yuvj420p"
        self._count = 0

    def add(self, images: dict[str, np.ndarray], chosen: str, frame_number: int, reason: str) -> None:
        canvas = np.zeros((self._stream.height, self._stream.width, 3), np.uint8)
        best = images[chosen]
        for j, name in enumerate(self._names):
            x = j * self._w
            label = f"{name}: missing"
            if name in images:
                image = images[name]
                bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                canvas[self._band : self._band + self._h, x : x + self._w] = mark_differences(
                    bgr, image, best
                )
                label = f"{name}{' CHOSEN' if name == chosen else ''}"
            color = (0, 255, 0) if name == chosen else (200, 200, 200)
            cv2.putText(canvas, label, (x + 3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1)
        cv2.putText(
            canvas,
            f"frame_number {frame_number}: {reason}",
            (3, self._band + self._h + 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (255, 255, 0),
            1,
        )
        frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
        frame.pts = self._count
        self._count += 1
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()
