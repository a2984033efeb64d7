"""Faults beyond a killed writer (issue #15): a full disk, a live writer under a tool,
symlinks planted in a store, damaged metadata and journals, a missing chunk."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import framestore
from framestore.tools.recover import recover

SHAPE = (96, 128)
_POOL = np.random.default_rng(15).integers(0, 256, (8, *SHAPE), dtype=np.uint8)


def noise_frame(i: int) -> np.ndarray:
    """Incompressible frame ``i`` (fills a disk fast), its number in its first bytes."""
    img = _POOL[i % len(_POOL)].copy()
    img[0, :8] = np.frombuffer(np.int64(i).tobytes(), np.uint8)
    return img


def fill(path: Path) -> None:
    """Write ``path`` until its file system is full."""
    block = b"\xff" * 65536
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(block)
        except OSError:
            pass
    try:  # the last bytes of a full disk
        with open(path, "ab", buffering=0) as f:
            while True:
                f.write(b"\xff" * 512)
    except OSError:
        pass


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB file system (tmpfs), so the disk really fills."""
    disk = tmp_path / "disk"
    disk.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        # lazily: a decoder thread may still be letting go of a file
        subprocess.run(["umount", "-l", str(disk)], check=True)


def close_within(writer: framestore.StoreWriter, seconds: float) -> BaseException | None:
    """Close ``writer`` on a thread; fail if it blocks. The error it raised, if any."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            writer.close()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "close() blocked after the encoder failed"
    return raised[0] if raised else None


@pytest.mark.parametrize("fmt", ["ffv1/mkv", "raw/nut", "npy"])
def test_full_disk_close_returns_and_recover_finishes_later(small_disk: Path, fmt: str) -> None:
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * 2_500_000)
    path = small_disk / "s"
    writer = framestore.new_for_format(fmt, path, imgshape=SHAPE, chunksize=20)
    with pytest.raises(framestore.FramestoreError, match=str(path)):
        for i in range(100_000):  # a fast producer, until the disk is full
            writer.add_image(noise_frame(i), i, float(i))
    error = close_within(writer, 30)
    assert isinstance(error, framestore.FramestoreError) and str(path) in str(error)

    with pytest.warns(framestore.IncompleteStoreWarning):
        before = framestore.new_for_filename(path)
    numbers = before.frame_numbers.copy()
    assert len(numbers) >= 20 and numbers.tolist() == list(range(len(numbers)))
    for k in range(len(before)):
        np.testing.assert_array_equal(before[k], noise_frame(k))
    before.close()

    fill(small_disk / "filler")  # recover on a full disk fails, leaving nothing half-written
    leftovers = sorted(p.name for p in path.iterdir())
    if any(path.glob("*.journal")) or any(path.glob("*/*.tmp")):
        with pytest.raises(OSError):
            recover(path)
        assert sorted(p.name for p in path.iterdir()) == leftovers
        assert not list(path.rglob("*.recovering*")) and not list(path.rglob("*.tmp"))

    ballast.unlink()
    (small_disk / "filler").unlink()
    recover(path)
    recover(path)  # again: nothing left to do
    with framestore.new_for_filename(path) as after:
        assert after.is_complete
        np.testing.assert_array_equal(after.frame_numbers, numbers)
        for k in range(len(after)):
            np.testing.assert_array_equal(after[k], noise_frame(k))
