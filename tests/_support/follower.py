"""A reader in its own process following a store being written (used by test_follow.py).

Usage::

    python follower.py STORE OUT_FILE TIMEOUT

Waits for STORE's metadata.yaml, opens the store, follows it from frame_index 0 and
appends one line per frame to OUT_FILE with a single unbuffered ``write``::

    frame_index frame_number frame_time barcode monotonic_when_received

``frame_time`` is written with ``repr`` (it reads back as the same float). The last line
is ``END finished`` when the writer closed the store, or ``END <ErrorName>`` when
following raised (``WriterGoneError``, ``FollowTimeoutError``).
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path


def main(argv: list[str]) -> int:
    store, out, timeout = Path(argv[0]), argv[1], float(argv[2])
    import framestore
    from framestore.testing.frames import read_barcode

    give_up = time.monotonic() + timeout
    while not (store / "metadata.yaml").is_file():
        if time.monotonic() > give_up:
            return 2
        time.sleep(0.01)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        reader = framestore.new_for_filename(store)
    try:
        for f in reader.follow(timeout=timeout, start=0):
            received = time.monotonic()
            line = f"{f.frame_index} {f.frame_number} {f.frame_time!r} {read_barcode(f.image)} {received!r}\n"
            os.write(fd, line.encode())
    except framestore.FramestoreError as exc:
        os.write(fd, f"END {type(exc).__name__}\n".encode())
        return 0
    os.write(fd, b"END finished\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
