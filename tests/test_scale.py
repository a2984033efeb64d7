"""Chunk-parallel work: lazy dask arrays, and convert / stitch on a local process pool and on
a Dask cluster writing exactly what the serial run writes."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from _support.media import kind_shape_dtype, write_recording
from _support.receivers import import_receivers

import framestore
from framestore._disk.index_cache import load_chunk_indexes
from framestore.core.reader import StoreReader
from framestore.sessions.stitch import stitch
from framestore.testing.frames import synthetic_frame
from framestore.testing.miniscope import make_session
from framestore.tools.convert import convert

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def client():
    """A real Dask cluster: a scheduler and two worker processes on this machine."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dashboard and port notices
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _source(path, count=230, chunksize=50):
    """Frame numbers from 9,000,000 with gaps, a per-frame column, extra data now and then."""
    shape, dtype = kind_shape_dtype("gray8")
    numbers = 9_000_000 + np.cumsum(np.where(np.arange(count) % 17 == 5, 3, 1))
    with framestore.new_for_format(
        "npy",
        path,
        imgshape=shape,
        imgdtype=dtype,
        chunksize=chunksize,
        fps=30,
        metadata={"rig": "scale"},
        frame_columns={"exposure": "float32"},
    ) as w:
        for k, n in enumerate(numbers):
            w.add_image(synthetic_frame(int(n), shape), int(n), 1.7e9 + k / 30, exposure=k * 0.5)
            if k % 7 == 0:
                w.add_extra_data(temperature=20 + k / 100)
    return framestore.new_for_filename(path)


def _same_store(a: StoreReader, b: StoreReader) -> None:
    """Same frames, same chunk indexes (pts, keyframes, CRC of every stored frame), same
    per-frame columns and extra data."""
    assert len(a) == len(b) and a.chunksize == b.chunksize
    np.testing.assert_array_equal(a[:], b[:])
    chunks_a, chunks_b = load_chunk_indexes(a.description.layout), load_chunk_indexes(b.description.layout)
    for ca, cb in zip(chunks_a, chunks_b, strict=True):
        assert ca.columns.keys() == cb.columns.keys()
        for key in ca.columns:
            np.testing.assert_array_equal(ca.columns[key], cb.columns[key], err_msg=key)
    pd.testing.assert_frame_equal(a.index_dataframe(), b.index_dataframe())
    pd.testing.assert_frame_equal(a.get_extra_data(), b.get_extra_data())
    assert a.user_metadata == b.user_metadata and b.is_complete


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ffv1/mkv", "png"])
def test_convert_in_parallel_writes_what_the_serial_run_writes(tmp_path, client, fmt):
    src = _source(tmp_path / "src")
    serial = convert(src.path, tmp_path / "serial", fmt, chunksize=40, workers=1)
    pool = convert(src.path, tmp_path / "pool", fmt, chunksize=40, workers=2)
    dask = convert(src.path, tmp_path / "dask", fmt, chunksize=40, scheduler=client, chunks_per_task=4)
    reference = StoreReader(serial)
    assert len(reference._index.chunks) == 6
    for out in (pool, dask):
        _same_store(reference, StoreReader(out))
        assert not (out / ".framestore-parts").exists()
    np.testing.assert_array_equal(reference[:], src[:])


@pytest.mark.slow
def test_stitch_in_parallel_writes_what_the_serial_run_writes(tmp_path, client):
    session = make_session(tmp_path / "session", receivers=3, frames=130, seed=4)
    paths = [s.path for s in import_receivers(session, tmp_path).values()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        runs = {
            "serial": stitch(paths, tmp_path / "serial", chunksize=30, workers=1),
            "pool": stitch(paths, tmp_path / "pool", chunksize=30, workers=2),
            "dask": stitch(paths, tmp_path / "dask", chunksize=30, scheduler=client, chunks_per_task=2),
        }
    reference = StoreReader(tmp_path / "serial")
    assert len(reference._index.chunks) == 5
    for name in ("pool", "dask"):
        _same_store(reference, StoreReader(tmp_path / name))
        pd.testing.assert_frame_equal(runs["serial"], runs[name])
        saved = pd.read_csv(tmp_path / name / "scores.csv")
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "serial" / "scores.csv"), saved)
        assert runs[name].attrs["glitches"] == runs["serial"].attrs["glitches"]


@pytest.mark.parametrize("fmt, kind", [("h264/mkv", "gray8"), ("utvideo/avi", "color"), ("png", "gray16")])
def test_to_dask_blocks_are_chunks_decoded_lazily(tmp_path, fmt, kind):
    rec = write_recording(tmp_path / "s", fmt, kind, count=75, chunksize=30)
    store = framestore.new_for_filename(tmp_path / "s")
    array = store.to_dask()
    assert array.shape == (75, *store.image_shape) and array.dtype == store.dtype
    assert array.chunks[0] == (30, 30, 15)
    picked = [0, 29, 30, 31, 59, 60, 74]  # both sides of every chunk boundary
    np.testing.assert_array_equal(array[picked].compute(), store[picked])
    np.testing.assert_array_equal(array.compute(scheduler="threads"), store[:])
    small = store.to_dask(block_frames=8)
    assert small.chunks[0] == (8,) * 9 + (3,)
    np.testing.assert_array_equal(small[25:40].compute(), store[25:40])
    if fmt != "h264/mkv":  # lossless: the pixels written
        np.testing.assert_array_equal(small.compute(), np.stack(rec.images))


def test_to_dask_on_a_cluster(tmp_path, client):
    src = _source(tmp_path / "src")
    array = src.to_dask()
    means = array.mean(axis=(1, 2)).compute(scheduler=client)
    np.testing.assert_allclose(means, src[:].mean(axis=(1, 2)))
    # one task per chunk, holding only the store's path and uuid and a frame range: the
    # workers open the store themselves, and the graph stays small however long the store
    assert len(array.dask) == len(src._index.chunks)
    assert len(pickle.dumps(dict(array.dask))) < 200 * len(array.dask)


@pytest.mark.slow
def test_commands_take_workers_and_a_scheduler_address(tmp_path, client, capsys):
    from framestore.cli.main import main as framestore_main
    from framestore.cli.stitch import main as stitch_main

    src = _source(tmp_path / "src", count=120, chunksize=30)
    address = client.scheduler.address
    assert (
        framestore_main(
            ["convert", str(src.path), str(tmp_path / "c"), "--format", "png", "--scheduler", address]
        )
        == 0
    )
    np.testing.assert_array_equal(framestore.new_for_filename(tmp_path / "c")[:], src[:])

    session = make_session(tmp_path / "session", receivers=2, frames=60, seed=2)
    videos = [str(session.video(r.stem)) for r in session.receivers]
    assert stitch_main([*videos, "-o", str(tmp_path / "w1"), "--workers", "1"]) == 0
    assert stitch_main([*videos, "-o", str(tmp_path / "d"), "--scheduler", address]) == 0
    printed = capsys.readouterr().out
    assert printed.count("frames out: 60") == 2
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "w1" / "scores.csv"), pd.read_csv(tmp_path / "d" / "scores.csv")
    )


@pytest.mark.slow
def test_a_killed_parallel_convert_leaves_the_chunks_it_moved_in(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    src = _source(tmp_path / "src", count=600, chunksize=600)
    dst = tmp_path / "dst"
    cmd = [sys.executable, "-m", "framestore.cli.main", "convert", str(src.path), str(dst)]
    proc = subprocess.Popen(
        [*cmd, "--format", "ffv1/mkv", "--chunksize", "20", "--workers", "2"], start_new_session=True
    )
    deadline = time.monotonic() + 60
    while not (dst / "000002.npz").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    with pytest.warns(framestore.IncompleteStoreWarning):
        out = framestore.new_for_filename(dst)
    assert not out.is_complete
    assert 60 <= len(out) < 600 and len(out) % 20 == 0  # whole chunks, in order, no gap
    np.testing.assert_array_equal(out[:], src[: len(out)])
    assert out.frame_numbers.tolist() == src.frame_numbers[: len(out)].tolist()


@pytest.mark.slow
def test_qc_and_verify_in_parallel_report_what_the_serial_run_reports(tmp_path, client):
    from framestore.tools.qc import qc
    from framestore.tools.verify import verify

    shape, dtype = kind_shape_dtype("gray8")
    images = [synthetic_frame(7000 + k, shape, noise=3.0) for k in range(100)]
    images[40] = images[39].copy()  # frozen, across the chunk boundary at 40
    images[10][:] = 0  # dark
    images[55][:5] = 0  # lost rows
    with framestore.new_for_format("ffv1/mkv", tmp_path / "s", imgshape=shape, chunksize=20, fps=30) as w:
        for k, image in enumerate(images):
            w.add_image(image, 7000 + k + (k > 70), 1.7e9 + k / 30)
    serial = qc(tmp_path / "s", workers=1).to_dict()
    assert serial["checks"] == qc(tmp_path / "s", workers=2).to_dict()["checks"]
    assert serial["checks"] == qc(tmp_path / "s", scheduler=client).to_dict()["checks"]
    where = {name: [p["frame_index"] for p in c["where"]] for name, c in serial["checks"].items()}
    assert where["frozen_frames"] == [40] and where["zeroed_rows"] == [55] and 10 in where["dark_frames"]

    chunk = tmp_path / "s" / "000002.mkv"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF  # bit rot
    chunk.write_bytes(bytes(data))
    reports = [verify(tmp_path / "s", workers=1), verify(tmp_path / "s", workers=2)]
    reports.append(verify(tmp_path / "s", scheduler=client))
    assert [r.to_dict() for r in reports[1:]] == [reports[0].to_dict()] * 2
    assert not reports[0].ok and {p.file.name for p in reports[0].problems} == {"000002.mkv"}


def test_a_script_without_a_main_guard_gets_told_why_its_workers_died(tmp_path):
    import subprocess
    import sys

    src = _source(tmp_path / "src", count=80, chunksize=20)
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sys\nfrom framestore import convert\n"
        "convert(sys.argv[1], sys.argv[2], 'png', workers=2)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), str(src.path), str(tmp_path / "out")], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert 'if __name__ == "__main__":' in done.stderr.splitlines()[-1]
    with pytest.warns(framestore.IncompleteStoreWarning):  # never mistaken for a whole store
        assert len(framestore.new_for_filename(tmp_path / "out")) == 0


def test_worker_readers_are_reused_bounded_and_refreshed(tmp_path):
    from framestore.core.worker_readers import open_reader

    paths = [str(_source(tmp_path / f"s{k}", count=10, chunksize=5).path) for k in range(10)]
    held = [open_reader(p) for p in paths]  # more stores than a thread keeps open
    assert all(len(r[:]) == 10 for r in held)  # the ones dropped from the cache still read
    assert open_reader(paths[-1]) is held[-1]  # reused
    assert open_reader(paths[0]) is not held[0]  # dropped, opened again
    with pytest.raises(framestore.FramestoreError, match="another store"):
        open_reader(paths[1], uuid="0" * 32)
    assert len(open_reader(paths[2], min_frames=10)) == 10
