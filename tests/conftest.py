"""Fixtures shared by the test modules; the helpers they use live in ``_support``.

The stores are written once per session: one per (format, kind) in ``recordings``, and
the read contract's other sources (``test_read_contract.py``) when a test asks for them.
"""

from __future__ import annotations

import shutil

import pytest
from _support.contract import Source
from _support.media import FORMAT_KINDS, Recording, write_recording
from _support.range_server import RangeServer
from _support.sources import (
    CONVERSIONS,
    IMGSTORE_CASES,
    KILLED_CASES,
    converted_source,
    imgstore_source,
    killed_sources,
    written_source,
)

Case = tuple[str, str]


@pytest.fixture(scope="session")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[Case, Recording]:
    """One store per (format, kind): 150 frames numbered from 5,000,000 with gaps, in
    chunks of 70, 70 and 10, written once per test session."""
    root = tmp_path_factory.mktemp("stores")
    return {
        (fmt, kind): write_recording(root / f"{fmt.replace('/', '_')}-{kind}", fmt, kind)
        for fmt, kind in FORMAT_KINDS
    }


@pytest.fixture(scope="session")
def served(recordings: dict[Case, Recording], tmp_path_factory: pytest.TempPathFactory):
    """An HTTP server (byte ranges, no listings) on localhost over a copy of the session's
    stores, each under its directory name; tests may add stores under ``served.root``."""
    root = tmp_path_factory.mktemp("served")
    for rec in recordings.values():
        shutil.copytree(rec.path, root / rec.path.name)
    server = RangeServer(root)
    yield server
    server.close()


@pytest.fixture(scope="session")
def written_sources(recordings: dict[Case, Recording]) -> dict[Case, Source]:
    return {case: written_source(rec, case[1]) for case, rec in recordings.items()}


@pytest.fixture(scope="session")
def imgstore_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[Case, Source]:
    pytest.importorskip("imgstore")
    root = tmp_path_factory.mktemp("imgstore")
    return {
        (fmt, kind): imgstore_source(root / f"{fmt.replace('/', '_')}-{kind}", fmt, kind)
        for fmt, kind in IMGSTORE_CASES
    }


@pytest.fixture(scope="session")
def killed_and_recovered(tmp_path_factory: pytest.TempPathFactory) -> dict[Case, tuple[Source, Source]]:
    """Per (format, kind): a store whose writer was SIGKILLed mid-chunk, and its recovered copy."""
    root = tmp_path_factory.mktemp("killed")
    return {(fmt, kind): killed_sources(root / f"{fmt}-{kind}", fmt, kind) for fmt, kind in KILLED_CASES}


@pytest.fixture(scope="session")
def converted_sources(
    written_sources: dict[Case, Source], tmp_path_factory: pytest.TempPathFactory
) -> dict[Case, Source]:
    """Per (source case, target format): a session store converted with framestore.convert."""
    root = tmp_path_factory.mktemp("converted")
    return {
        (f"{case[0]}-{case[1]}", target): converted_source(
            written_sources[case],
            case[1],
            root / f"{case[0].replace('/', '_')}-{case[1]}-{target}",
            target,
            chunksize,
            workers,
        )
        for case, target, chunksize, workers in CONVERSIONS
    }
