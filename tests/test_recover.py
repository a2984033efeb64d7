"""recover(): a store whose writer was killed becomes a finished store, losing nothing more."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _support.crash import killed_store

import framestore
from framestore.cli.main import main
from framestore.testing.frames import read_barcode
from framestore.tools.recover import recover


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
