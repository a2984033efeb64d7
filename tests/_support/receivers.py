"""Miniscope receiver recordings (framestore.testing.miniscope) imported into stores."""

from __future__ import annotations

import warnings
from pathlib import Path

import framestore
from framestore.ingest.miniscope import import_recording


def import_receivers(session, root: Path) -> dict[str, framestore.StoreReader]:
    """Each receiver of a generated miniscope session imported into a store under
    ``root``, by name (the warnings about trailing and split frames silenced)."""
    stores = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        for rec in session.receivers:
            import_recording(session.video(rec.stem), root / rec.stem)
            stores[rec.stem] = framestore.new_for_filename(root / rec.stem)
    return stores
