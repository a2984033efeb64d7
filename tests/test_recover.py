"""recover(): a store whose writer was killed becomes a finished store, losing nothing more."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

import framestore
from framestore.cli.main import main
from framestore.testing.frames import read_barcode
from framestore.tools.recover import recover

WRITER = """
import sys, time
import framestore
from framestore.testing.frames import synthetic_frame
w = framestore.new_for_format(sys.argv[2], sys.argv[1], imgshape=(48, 64), chunksize=20, fps=100)
for i in range(10**6):
    w.add_image(synthetic_frame(7000 + 3 * i, (48, 64)), 7000 + 3 * i, time.time())
    time.sleep(0.004)
"""


def killed_store(path, fmt):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), fmt])
    deadline = time.time() + 30
    while time.time() < deadline:  # until a chunk has finished and the next is half done
        if (path / "000001.npz").exists() or (path / "000001" / "index.npz").exists():
            break
        time.sleep(0.05)
    time.sleep(0.12)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _index_of(journal):
    """The index of the chunk a journal belongs to (video chunks, or image chunk folders)."""
    n = journal.name[:6]
    video_index = journal.with_name(f"{n}.npz")
    return video_index if not (journal.parent / n).is_dir() else journal.parent / n / "index.npz"


@pytest.mark.parametrize("fmt", ["utvideo", "ffv1", "h264", "avc1/mp4", "mjpeg", "raw", "png", "npy"])
def test_recover_finishes_a_killed_store(tmp_path, fmt):
    path = tmp_path / "s"
    killed_store(path, fmt)
    with pytest.warns(framestore.IncompleteStoreWarning):
        before = framestore.new_for_filename(path)
    frames_before, numbers_before = before[:], before.frame_numbers.copy()
    # the chunk being written has only its journal (unless the kill fell between two
    # chunks); so may the one before it, still being finished on the writer's second
    # thread; and a finished chunk keeps its journal for the instant between its index
    # appearing and the journal's removal
    unfinished = [j for j in path.glob("*.journal") if not _index_of(j).exists()]
    assert len(unfinished) <= 2

    assert main(["recover", str(path)]) == 0

    assert not list(path.glob("*.journal")) and not (path / ".framestore-writing").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        after = framestore.new_for_filename(path)
    assert after.is_complete
    np.testing.assert_array_equal(after.frame_numbers, numbers_before)
    np.testing.assert_array_equal(after[:], frames_before)  # remuxed, not re-encoded
    assert [read_barcode(f) for f in after[:]] == after.frame_numbers.tolist()
    assert recover(path).frames == 0  # nothing left to do


def test_recover_drops_a_chunk_the_writer_died_creating(tmp_path):
    """Killed between creating a chunk's file and its journal: the chunk holds nothing."""
    path = tmp_path / "s"
    killed_store(path, "ffv1")
    newest = max(int(p.name[:6]) for p in path.glob("*.journal"))
    orphan = path / f"{newest + 1:06d}.mkv"
    orphan.write_bytes(b"")  # what av.open leaves before the first packet
    with pytest.warns(framestore.IncompleteStoreWarning):
        frames_before = framestore.new_for_filename(path)[:]
    recover(path)
    assert not orphan.exists()
    np.testing.assert_array_equal(framestore.new_for_filename(path)[:], frames_before)
