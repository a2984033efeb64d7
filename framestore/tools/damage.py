"""Damaged frames of a store, judged from their pixels (the detector: ``core.damage``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from ..core.damage import (
    BLACKED_OUT,
    CHECK_PATTERN,
    KINDS,
    BatchJudge,
    DamageSettings,
    detect_damage,
    judge_frames,
)
from ..core.noise_scores import kept_scores
from ..core.reader import StoreReader
from ..core.worker_readers import open_reader
from ..parallel.tasks import ChunkTask, run_over_chunks

__all__ = [
    "BLACKED_OUT",
    "CHECK_PATTERN",
    "KINDS",
    "BatchJudge",
    "DamageSettings",
    "detect_damage",
    "judge_chunk",
    "score_damage",
]


def score_damage(
    store: StoreReader | str | os.PathLike[str],
    settings: DamageSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
    workers: int | None = None,
    scheduler: Any = None,
    recompute: bool = False,
) -> pd.DataFrame:
    """:func:`detect_damage` for every frame of ``store``, chunk by chunk in bounded memory
    (chunks judged in parallel on ``workers`` processes or a Dask ``scheduler``, as
    :func:`framestore.qc` does). Indexed by ``frame_index``, with ``frame_number`` first.
    Kept in the store and reused as ``StoreReader.score_noise`` does (``recompute``:
    judge again anyway)."""
    s = settings or DamageSettings()
    reader = store if isinstance(store, StoreReader) else StoreReader(store)

    def judge() -> tuple[np.ndarray, ...]:
        parts = run_over_chunks(
            judge_chunk, reader, s, workers=workers, scheduler=scheduler, progress=progress
        )
        if not parts:
            return judge_frames(np.zeros((0, *reader.image_shape), reader.dtype), s)
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))

    return kept_scores(reader, s, judge, recompute)


def judge_chunk(task: ChunkTask) -> tuple[np.ndarray, ...]:
    """Frames ``start:stop`` of the store at ``where`` judged in batches (a worker's task)."""
    where, uuid, start, stop, settings = task
    store = open_reader(where, uuid, min_frames=stop)
    judge = BatchJudge(settings, store.image_shape, store.dtype)
    for image in store.iter_frames(start, stop):
        judge.add(image)
    return judge.finish()
