"""Fixtures shared by the test modules; the helpers they use live in ``_support``."""

from __future__ import annotations

import pytest
from _support.media import FORMAT_KINDS, Recording, write_recording


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Recording]:
    """One store per (format, kind), written once per test session."""
    root = tmp_path_factory.mktemp("stores")
    return {
        (fmt, kind): write_recording(root / f"{fmt.replace('/', '_')}-{kind}", fmt, kind)
        for fmt, kind in FORMAT_KINDS
    }
