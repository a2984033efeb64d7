"""What every command-line tool shares: a problem is one line in the tool's words and a
non-zero exit, warnings are ``PROG: warning: ...`` lines shown once each, ``-v`` adds the
traceback, and an existing output is refused unless ``--force``."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from collections.abc import Callable

from ..errors import FramestoreError, StoreExistsError


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose``: on an error, print the traceback too."""
    parser.add_argument("-v", "--verbose", action="store_true", help="on an error, also print the traceback")


def refuse_existing(path: str | os.PathLike[str], force: bool) -> None:
    """Raise ``StoreExistsError`` saying to pass ``--force`` when ``path`` exists."""
    if os.path.lexists(path) and not force:
        raise StoreExistsError(f"{os.fspath(path)}: already exists; pass --force to replace it")


def run(
    prog: str,
    command: Callable[[], int],
    *,
    verbose: bool = False,
    error_status: int = 1,
) -> int:
    """``command()``'s exit status, with its warnings printed once each as ``PROG:
    warning: ...`` and any error as one ``PROG: error: ...`` line and ``error_status``
    (after the traceback, with ``verbose``)."""
    out = sys.stderr
    seen: set[str] = set()

    def as_line(
        message: Warning | str, category: type[Warning], filename: str, lineno: int, line: str | None = None
    ) -> str:
        text = " ".join(str(message).split())
        if text in seen:
            return ""
        seen.add(text)
        return f"{prog}: warning: {text}\n"

    # the format, not the display, is replaced: code that records warnings still gets them
    original, warnings.formatwarning = warnings.formatwarning, as_line
    try:
        return command()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=out)
        return 130
    except Exception as exc:
        if verbose:
            traceback.print_exc(file=out)
        print(f"{prog}: error: {describe(exc)}", file=out)
        if not verbose and not isinstance(exc, (FramestoreError, OSError, ValueError)):
            print(f"{prog}: (-v shows where it happened)", file=out)
        return error_status
    finally:
        warnings.formatwarning = original


def describe(exc: BaseException) -> str:
    """An exception as one line: a file error as ``FILE: what``, our own errors by their
    message, anything else with its type."""
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, FramestoreError):
        return f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    text = " ".join(str(exc).split())
    if isinstance(exc, (FramestoreError, OSError, ValueError)) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
