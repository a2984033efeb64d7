"""Counting what a reader does: a method wrapped so each call is recorded, then run."""

from __future__ import annotations

from typing import Any

import pytest


def record_calls(monkeypatch: pytest.MonkeyPatch, cls: type, method: str) -> list[Any]:
    """The first argument (after ``self``) of every call of ``cls.method`` from now on, in
    order; each call still runs the method."""
    calls: list[Any] = []
    original = getattr(cls, method)

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(args[0] if args else None)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, spy)
    return calls
