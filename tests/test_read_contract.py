"""The read contract (``_support/contract.py``) over every kind of source: every read path
returns what a full sequential decode returns, in every format, across chunk boundaries,
with frame numbers far from 0 and gaps.

Sources: each (format, kind) written locally; eleven of them (every codec and pixel kind)
read through ``file://`` and through HTTP (a local server with byte ranges); stores written by imgstore 0.4.0
itself (checked against imgstore's own reader); stores whose writer process was SIGKILLed
mid-chunk (read from their journals), the same after ``framestore.recover``; stores
rewritten by ``framestore.convert``.
"""

from __future__ import annotations

import pytest
from _support.contract import ReadContract, Source
from _support.media import FORMAT_KINDS, URL_CASES, case_id
from _support.sources import CONVERSIONS, IMGSTORE_CASES, KILLED_CASES, at

CASE_IDS = [case_id(*case) for case in FORMAT_KINDS]
URL_IDS = [case_id(*case) for case in URL_CASES]


class TestWrittenStore(ReadContract):
    @pytest.fixture(params=FORMAT_KINDS, ids=CASE_IDS)
    def source(self, request, written_sources) -> Source:
        return written_sources[request.param]


class TestFileURL(ReadContract):
    @pytest.fixture(params=URL_CASES, ids=URL_IDS)
    def source(self, request, written_sources) -> Source:
        local = written_sources[request.param]
        return at(local, local.location.as_uri())


class TestHTTP(ReadContract):
    @pytest.fixture(params=URL_CASES, ids=URL_IDS)
    def source(self, request, written_sources, served) -> Source:
        pytest.importorskip("fsspec")
        pytest.importorskip("aiohttp")
        local = written_sources[request.param]
        return at(local, f"{served.url}/{local.location.name}")


class TestImgstoreStore(ReadContract):
    @pytest.fixture(params=IMGSTORE_CASES, ids=[case_id(*c) for c in IMGSTORE_CASES])
    def source(self, request, imgstore_sources) -> Source:
        return imgstore_sources[request.param]


class TestKilledWriter(ReadContract):
    @pytest.fixture(params=KILLED_CASES, ids=[case_id(*c) for c in KILLED_CASES])
    def source(self, request, killed_and_recovered) -> Source:
        return killed_and_recovered[request.param][0]


class TestRecovered(ReadContract):
    @pytest.fixture(params=KILLED_CASES, ids=[case_id(*c) for c in KILLED_CASES])
    def source(self, request, killed_and_recovered) -> Source:
        return killed_and_recovered[request.param][1]


CONVERSION_KEYS = [(case_id(*case), target) for case, target, _, _ in CONVERSIONS]


class TestConverted(ReadContract):
    @pytest.fixture(params=CONVERSION_KEYS, ids=[f"{c}-to-{t}" for c, t in CONVERSION_KEYS])
    def source(self, request, converted_sources) -> Source:
        return converted_sources[request.param]
