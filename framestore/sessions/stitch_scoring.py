"""Ranking the copies of one frame by how much of it each has damaged.

Each copy's damage is estimated in pixels from evidence the copies give about each other:

``zeroed_px``
    pixels that are 0 in this copy where another copy has data: a lost buffer, or the zero
    padding of a truncated one (what ``num_buffers`` and ``black_padding_px`` report).
``outvoted_px``
    pixels where a larger group of the other copies agrees on another value (three or more
    copies): a garbled payload, which no metadata shows.
``conflict_px``
    pixels where the copies that have data split evenly (two copies that disagree): counted,
    row by row, against the copy that is rougher there by Sobel edge energy, because garbage
    and artifacts add edges and a real image is smooth at the scale of a pixel.

and each copy's own verdict from the damaged-frame detector (``core.damage``: a check
pattern or blacked-out rows, judged from that copy's pixels alone):

``damage_kind``, ``damage_score``
    the kind of damage it finds (None: undamaged) and its score (damaged from 1 on).

A copy the detector flags ranks behind one it does not; among those alike, the copy with
the fewest estimated damaged pixels wins; ties go to metadata (more buffers received, then
less padding), then to the lower Sobel edge energy, then to the first source. The detector
ranks first because it judges each copy on its own evidence: where the copies differ only
by damage it can see, it settles what the Sobel comparison of two copies would guess at
(on generated sessions both pick the same copies).
Metadata ranks *after* the pixel estimate, not before it: a copy with clean metadata and a
garbled payload must lose to a copy that only lost a little padding, and the estimate
already counts every pixel the metadata accounts for. Only the rows where the copies differ
are examined (``edge_energy`` is the mean over those rows), so identical copies cost one
comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..core.damage import KINDS, DamageSettings, judge_frames

EVIDENCE = ("zeroed_px", "outvoted_px", "conflict_px")
# ranking criteria in order; lower is better for each but those in HIGHER_IS_BETTER
CRITERIA = ("flagged", "damaged_px", "buffers_received", "padding_px", "edge_energy")
HIGHER_IS_BETTER = frozenset({"buffers_received"})
# the per-copy numbers of the scores table ("flagged" is damage_kind being set)
SCORES = ("damage_score", "damaged_px", *EVIDENCE, *CRITERIA[2:])
_KIND_NAMES = np.array([None, *KINDS], dtype=object)
_REASONS = {
    "zeroed_px": "fewer zeroed pixels (lost buffers, padding)",
    "outvoted_px": "agrees with the other copies",
    "conflict_px": "smoother where the copies conflict (Sobel edge energy)",
    "flagged": "the damage detector flags the other",
    "buffers_received": "more buffers received",
    "padding_px": "less zero padding",
    "edge_energy": "less edge energy (noise, artifacts)",
}


def score_candidates(
    images: Sequence[np.ndarray],
    num_buffers: Sequence[float],
    padding_px: Sequence[float],
    level: int = 0,
    damage: DamageSettings | None = None,
) -> dict[str, np.ndarray]:
    """Per score name (``SCORES``, ``CRITERIA``, ``damage_kind``), one value per candidate
    copy of a frame (lower is better, but for ``HIGHER_IS_BETTER``).

    ``level``: differences up to this many grey levels count as agreement (0 for lossless
    copies of the same bytes, which agree exactly where undamaged). ``damage``: the
    detector's limits (None: its defaults)."""
    codes, *_, damage_score = judge_frames(np.stack(images), damage or DamageSettings())
    gray = np.stack([im if im.ndim == 2 else cv2.cvtColor(im, cv2.COLOR_BGR2GRAY) for im in images])
    k = len(gray)
    alone = {  # what each copy shows by itself
        "damage_kind": _KIND_NAMES[codes],
        "damage_score": damage_score.astype(float),
        "flagged": (codes > 0).astype(float),
        "buffers_received": np.asarray(num_buffers, float),
        "padding_px": np.asarray(padding_px, float),
    }
    differ = np.flatnonzero((gray != gray[0]).any(axis=(0, 2)))
    if not differ.size:  # identical copies: no evidence either way
        return {name: alone.get(name, np.zeros(k)) for name in (*SCORES, *alone)}
    # all evidence lies in the rows where the copies differ: work on that band only
    lo, hi = int(differ[0]), int(differ[-1]) + 1
    stack = gray[:, lo:hi].astype(np.int16 if gray.dtype == np.uint8 else np.int32)
    # Sobel needs one row either side of the band
    margin_lo, margin_hi = max(lo - 1, 0), min(hi + 1, gray.shape[1])
    roughness = np.stack([_sobel_magnitude(g[margin_lo:margin_hi]) for g in gray])
    roughness = roughness[:, lo - margin_lo : lo - margin_lo + hi - lo]

    has_data = stack != 0
    others_with_data = has_data.sum(axis=0) - has_data
    zeroed = _count(~has_data & (others_with_data > 0))

    agree = np.zeros(stack.shape, np.int8)
    for i in range(k):
        for j in range(i + 1, k):
            both = has_data[i] & has_data[j]
            close = np.abs(stack[i] - stack[j]) <= level
            agree[i] += both & close
            agree[j] += both & close
    support = np.where(has_data, agree + 1, 0)  # a copy agrees with itself
    consensus = support.max(axis=0)
    rivals = (support == consensus).sum(axis=0)  # copies in the largest agreeing groups
    outvoted = _count(has_data & (support < consensus))
    # an even split (two copies that disagree, or two groups of the same size) is settled
    # row by row (lost and garbled data come in whole rows): the rougher copy is blamed
    tied = has_data & (support == consensus) & (rivals > support)

    conflict = np.zeros(k)
    for i in range(k):
        where = tied[i]
        if not where.any():
            continue
        rows = where.sum(axis=1)
        own = (roughness[i] * where).sum(axis=1) / np.maximum(rows, 1)
        rival_sum = np.zeros(len(rows))
        rival_count = np.zeros(len(rows))
        for j in range(k):
            if j != i:
                mask = where & tied[j] & (np.abs(stack[i] - stack[j]) > level)
                rival_sum += (roughness[j] * mask).sum(axis=1)
                rival_count += mask.sum(axis=1)
        rougher = (rival_count > 0) & (own > rival_sum / np.maximum(rival_count, 1))
        conflict[i] = rows[rougher].sum()

    return {
        "damaged_px": (zeroed + outvoted + conflict).astype(float),
        "zeroed_px": zeroed.astype(float),
        "outvoted_px": outvoted.astype(float),
        "conflict_px": conflict,
        **alone,
        "edge_energy": roughness.reshape(k, -1).mean(axis=1).astype(float),
    }


def choose(scores: dict[str, np.ndarray]) -> tuple[int, str]:
    """The best candidate (lexicographic over ``CRITERIA``) and why it beat the best of the
    candidates that scored differently (copies identical to it explain nothing)."""
    if len(scores["damaged_px"]) == 1:
        return 0, "only copy"
    order = np.lexsort([-scores[c] if c in HIGHER_IS_BETTER else scores[c] for c in reversed(CRITERIA)])
    best = int(order[0])
    for runner in order[1:]:
        for criterion in CRITERIA:
            if scores[criterion][best] != scores[criterion][runner]:
                if criterion == "damaged_px":  # name the evidence that made the difference
                    criterion = max(EVIDENCE, key=lambda e: scores[e][runner] - scores[e][best])
                if criterion == "flagged":
                    return best, f"{_REASONS[criterion]} ({scores['damage_kind'][runner]})"
                return best, _REASONS[criterion]
    return best, "identical scores: first source"


def _count(mask: np.ndarray) -> np.ndarray:
    """True values per copy of a (copies, rows, columns) mask."""
    counts: np.ndarray = np.count_nonzero(mask.reshape(len(mask), -1), axis=1)
    return counts


def _sobel_magnitude(gray: np.ndarray) -> np.ndarray:
    """|d/dx| + |d/dy| by 3x3 Sobel, as float32."""
    depth = cv2.CV_16S if gray.dtype == np.uint8 else cv2.CV_32F
    gx = cv2.Sobel(gray, depth, 1, 0)
    gy = cv2.Sobel(gray, depth, 0, 1)
    return np.abs(gx.astype(np.float32)) + np.abs(gy.astype(np.float32))
