"""recover(): a store whose writer was killed becomes a finished store, losing nothing more."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _support.crash import killed_store

import framestore
from framestore.cli.main import main
from framestore.core.settings import WriteSettings
from framestore.parallel.parts import PartedStore
from framestore.testing.frames import read_barcode, synthetic_frame
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


@pytest.mark.parametrize(("expected", "missing"), [(50, 30), (20, 0)])
def test_recover_after_a_killed_parallel_job_removes_its_parts(tmp_path, capsys, expected, missing):
    """A parallel job killed with one part moved in and one left in its scratch folder:
    recover removes the parts (and a stitch's scratch imports), and keeps the store marked
    unfinished, saying how many frames are missing, when the job meant to write more."""
    path = tmp_path / "s"
    settings = WriteSettings.build("raw/nut", imgshape=(48, 64), chunksize=10)
    job = PartedStore(path, settings, frames=expected)
    for k in (0, 1):
        with job.part(k, first_chunk=2 * k).open() as writer:
            for i in range(20 * k, 20 * k + 20 - 15 * k):
                writer.add_image(synthetic_frame(i, (48, 64)), i, float(i))
    job.commit(job.part(0, first_chunk=0))
    job._lock.release()  # the job dies here: part 1 is never moved in
    (path / ".framestore-scratch" / "000-rx").mkdir(parents=True)  # as a killed stitch leaves

    assert main(["recover", str(path)]) == 0
    out = capsys.readouterr().out
    assert "removed the unfinished parts" in out and not (path / ".framestore-parts").exists()
    assert not (path / ".framestore-scratch").exists()
    assert (f"{missing} frames it meant to write are missing" in out) == bool(missing)
    assert (path / ".framestore-writing").exists() == bool(missing)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = framestore.new_for_filename(path)
    assert len(store) == 20 and store.is_complete == (not missing)
    assert any(issubclass(w.category, framestore.IncompleteStoreWarning) for w in caught) == bool(missing)
    assert recover(path).frames_missing == missing  # a rerun says the same
