"""Readers used in worker processes as they inherited them through fork (not pickled)."""

from __future__ import annotations

import multiprocessing

_inherited = None


def _inherit(store):
    global _inherited
    _inherited = store


def _read_inherited(indices):
    return _inherited.get_frames(indices)


def read_in_forked_workers(store, indices):
    """Frames two forked workers read from ``store`` at ``indices`` and reversed."""
    with multiprocessing.get_context("fork").Pool(2, initializer=_inherit, initargs=(store,)) as pool:
        return pool.map_async(_read_inherited, [indices, indices[::-1]]).get(timeout=120)
