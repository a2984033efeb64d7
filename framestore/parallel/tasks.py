"""Running independent tasks (one per part of a store) serially, on a local process pool,
or on a Dask cluster: framestore schedules nothing itself.

``scheduler``: ``None`` (local: ``workers`` processes, or this process when 1), a Dask
scheduler address (``"tcp://host:8786"``) or a ``dask.distributed.Client``.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, TypeVar

from ..codecs.cores import usable_cores
from ..errors import FramestoreError

if TYPE_CHECKING:
    from ..core.description import StoreDescription
    from ..core.reader import StoreReader

# what a chunk task is given: the store to open (``StoreReader.reopen_as``), its uuid, the
# frames ``start:stop``, then the job's own settings
ChunkTask = tuple["str | StoreDescription", str, int, int, Any]

T = TypeVar("T")
R = TypeVar("R")


def default_workers(tasks: int) -> int:
    """One process per core, never more than there are tasks."""
    return max(1, min(tasks, usable_cores()))


def run_ordered(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    *,
    workers: int | None = None,
    scheduler: Any = None,
) -> Iterator[R]:
    """``fn(task)`` for every task, results yielded in task order as each becomes
    available (later tasks keep running while earlier results are consumed)."""
    if scheduler is not None:
        yield from _on_dask(fn, tasks, scheduler)
        return
    workers = default_workers(len(tasks)) if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if workers == 1 or len(tasks) <= 1:
        for task in tasks:
            yield fn(task)
        return
    # spawn, not fork: the parent may hold encoder and decoder threads
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures: list[Future[R]] = [pool.submit(fn, task) for task in tasks]
        try:
            for future in futures:
                yield future.result()
        except BrokenProcessPool as exc:
            raise FramestoreError(
                f"worker processes died ({exc}). A script that runs framestore with several "
                'workers must keep its top-level code under `if __name__ == "__main__":` (each '
                "worker imports the script), or pass workers=1"
            ) from exc
        finally:
            for future in futures:
                future.cancel()


def _on_dask(fn: Callable[[T], R], tasks: Sequence[T], scheduler: Any) -> Iterator[R]:
    try:
        from dask.distributed import Client
    except ImportError:
        raise ImportError("a Dask scheduler needs dask.distributed: pip install 'framestore[dask]'") from None
    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = client.map(fn, list(tasks), pure=False)
        try:
            for future in futures:
                yield future.result()
        finally:
            client.cancel(futures)
    finally:
        if client is not scheduler:
            client.close()


def run_over_chunks(
    fn: Callable[[ChunkTask], R],
    store: StoreReader,
    settings: Any,
    *,
    workers: int | None = None,
    scheduler: Any = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[R]:
    """``fn((where, uuid, start, stop, settings))`` for each non-empty chunk of ``store``,
    results in chunk order; ``progress(frames done, frames)`` after each."""
    n = len(store)
    bounds = [*(int(a) for a in store.chunk_starts), n]
    where = store.reopen_as
    tasks: list[ChunkTask] = [
        (where, store.uuid, a, b, settings) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if a < b
    ]
    results = []
    for task, result in zip(tasks, run_ordered(fn, tasks, workers=workers, scheduler=scheduler), strict=True):
        results.append(result)
        if progress is not None:
            progress(task[3], n)
    return results
