"""Stores read by URL: over a real HTTP server on localhost (byte ranges, no listings), and
through ``file://``; every read path against the local reader, and what each read fetches."""

from __future__ import annotations

import multiprocessing
import pickle
import shutil
import sys
import warnings

import numpy as np
import pytest
from _support.crash import killed_store
from _support.imgstore_stores import write_with_imgstore
from _support.media import URL_CASES, write_recording
from _support.workers import read_in_forked_workers

import framestore
import framestore._disk.storage
from framestore.tools.convert import convert
from framestore.tools.info import render, store_info
from framestore.tools.recover import recover

pytest.importorskip("fsspec")
pytest.importorskip("aiohttp")

REMOTE_CASES = URL_CASES


def remote_url(server, name):
    return f"{server.url}/{name}"


def assert_reads_like(remote, local):
    """Every read path of ``remote`` returns what ``local`` returns."""
    assert len(remote) == len(local) and remote.image_shape == local.image_shape
    assert remote.dtype == local.dtype and remote.format == local.format
    assert remote.metadata == local.metadata and remote.user_metadata == local.user_metadata
    assert remote.created == local.created and remote.is_complete == local.is_complete
    assert remote.index_dataframe().equals(local.index_dataframe())
    assert remote.get_frame_metadata() == local.get_frame_metadata()
    assert remote.get_extra_data().equals(local.get_extra_data())
    everything = local[:]
    np.testing.assert_array_equal(np.stack(list(remote)), everything)  # sequential
    rng = np.random.default_rng(3)
    order = rng.permutation(len(local))
    np.testing.assert_array_equal(remote.get_frames(order), everything[order])  # batch, each chunk once
    for i in order[:25]:  # random access, one frame at a time
        number = local.frame_numbers[i]
        image, meta = remote.get_image(number)
        assert meta == (number, local.frame_times[i])
        np.testing.assert_array_equal(image, everything[i])
        image, meta = remote.get_nearest_image(local.frame_times[i] + 0.004)
        assert meta[0] == number
        np.testing.assert_array_equal(image, everything[i])
        np.testing.assert_array_equal(remote[int(i) - len(local)], everything[i])
    gap = int(np.flatnonzero(np.diff(local.frame_numbers) > 1)[0])
    with pytest.raises(framestore.FrameNotFoundError):
        remote.get_image(int(local.frame_numbers[gap]) + 1)
    assert (
        remote.get_image(int(local.frame_numbers[gap]) + 1, exact_only=False)[1][0]
        == (local.frame_numbers[gap])
    )
    remote.get_image(None, frame_index=len(local) - 2)
    np.testing.assert_array_equal(remote.get_next_image()[0], everything[-1])
    with pytest.raises(EOFError):
        remote.get_next_image()


@pytest.mark.parametrize("fmt,kind", REMOTE_CASES, ids=[f"{f}-{k}" for f, k in REMOTE_CASES])
def test_http_store_reads_like_the_local_one(served, recordings, fmt, kind):
    rec = recordings[(fmt, kind)]
    with (
        framestore.new_for_filename(remote_url(served, rec.path.name)) as remote,
        framestore.new_for_filename(rec.path) as local,
    ):
        assert isinstance(remote.path, framestore._disk.storage.RemotePath)
        assert str(remote.path) == remote_url(served, rec.path.name)
        assert remote.frame_numbers[0] == 5_000_000 and len(remote.chunk_starts) == 4
        assert_reads_like(remote, local)
    with framestore.new_for_filename(remote_url(served, rec.path.name) + "/metadata.yaml") as remote:
        assert len(remote) == len(rec.frame_numbers)


@pytest.mark.parametrize("fmt", ["utvideo/avi", "png"])
def test_file_url_lists_its_chunks(recordings, tmp_path, fmt):
    """``file://`` goes through fsspec too, whose local filesystem lists directories; with
    no index cache every chunk index is read by name."""
    rec = recordings[(fmt, "gray8")]
    copy = tmp_path / "copy"
    shutil.copytree(rec.path, copy)
    (copy / "framestore-index.npz").unlink()
    with framestore.new_for_filename(copy.as_uri()) as remote, framestore.new_for_filename(rec.path) as local:
        assert str(remote.path) == copy.as_uri()
        assert_reads_like(remote, local)


def test_info_of_a_store_read_by_url(recordings):
    """Everything but the size on disk, which a URL does not tell."""
    rec = recordings[("utvideo/avi", "gray8")]
    with (
        framestore.new_for_filename(rec.path.as_uri()) as remote,
        framestore.new_for_filename(rec.path) as local,
    ):
        remote_info, local_info = store_info(remote), store_info(local)
    assert remote_info["bytes_on_disk"] is None and remote_info["bytes_per_frame"] is None
    differing = {k for k in local_info if local_info[k] != remote_info[k]}
    assert differing == {"path", "bytes_on_disk", "bytes_per_frame", "video"}
    assert remote_info["video"]["size"] is None  # the chunk files' bytes: not listed by URL
    assert {**remote_info["video"], "size": local_info["video"]["size"]} == local_info["video"]
    assert "size       unknown (read by URL)" in render(remote_info)


def test_chunks_are_found_by_number_without_the_cache(served, recordings):
    """HTTP cannot list a directory: without ``framestore-index.npz`` the chunks are
    found by reading their indexes from 000000 upward until one is missing."""
    rec = recordings[("h264/mkv", "gray8")]
    copy = served.root / "no-cache"
    shutil.copytree(rec.path, copy)
    (copy / "framestore-index.npz").unlink()
    served.take()
    with framestore.new_for_filename(remote_url(served, "no-cache")) as remote:
        fetched = {r.path.rsplit("/", 1)[1] for r in served.take()}
        assert {"000000.npz", "000001.npz", "000002.npz", "000003.npz"} <= fetched
        assert not any(name.endswith(".mkv") for name in fetched)  # no video opened to open a store
        with framestore.new_for_filename(rec.path) as local:
            assert_reads_like(remote, local)


def test_open_fetches_only_the_index_cache(served, recordings):
    rec = recordings[("utvideo/avi", "gray8")]
    served.take()
    framestore.new_for_filename(remote_url(served, rec.path.name)).close()
    names = [r.path.rsplit("/", 1)[1] for r in served.take()]
    assert names.count("framestore-index.npz") == 1 and "metadata.yaml" in names
    assert not any(n.endswith((".avi", "0.npz", "1.npz", "2.npz")) for n in names), names


@pytest.mark.parametrize("fmt", ["utvideo/avi", "h264/mkv", "png"])
def test_one_frame_fetches_a_little_of_one_chunk(served, fmt):
    """Bigger frames, four chunks: reading one frame fetches a small part of the store
    and never touches another chunk's files."""
    name = f"big-{fmt.replace('/', '_')}"
    rec = write_recording(served.root / name, fmt, "gray8", count=240, chunksize=60, height=256, width=320)
    size = sum(p.stat().st_size for p in rec.path.rglob("*") if p.is_file())
    with framestore.new_for_filename(remote_url(served, name)) as remote:
        served.take()
        image = remote[95]  # chunk 1, frame 35: H.264 decodes from its keyframe at 30
        requests = served.take()
    np.testing.assert_array_equal(image, framestore.new_for_filename(rec.path)[95])
    touched = {r.path.split(f"/{name}/", 1)[1] for r in requests}
    assert all(t.startswith("000001") for t in touched), touched
    sent = sum(r.sent for r in requests)
    # at most a few blocks of the one chunk: a quarter of the store, a tenth for intra-only codecs
    assert 0 < sent < size / (4 if fmt == "h264/mkv" else 10), (sent, size)
    assert len(requests) <= 8


def test_damaged_remote_chunk_fails_its_crc(served, recordings):
    rec = recordings[("raw/nut", "gray8")]
    copy = served.root / "damaged"
    shutil.copytree(rec.path, copy)
    chunk = copy / "000001.nut"
    data = bytearray(chunk.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside some frame's bytes
    chunk.write_bytes(bytes(data))
    with framestore.new_for_filename(remote_url(served, "damaged")) as remote:
        with pytest.raises(framestore.CorruptStoreError, match=r"http://.*/damaged/000001\.nut.*CRC32"):
            remote[70:140]


def test_missing_remote_store(served):
    url = remote_url(served, "nothing-here")
    with pytest.raises(framestore.StoreNotFoundError, match=f"{url}/metadata.yaml"):
        framestore.new_for_filename(url)


def test_unfinished_store_reads_remotely(served, tmp_path):
    """A writer killed mid-chunk leaves its marker and a journal: read by URL, the store
    warns it is incomplete and serves the journal's frames, as it does locally."""
    killed_store(served.root / "killed", "utvideo/avi")
    with pytest.warns(framestore.IncompleteStoreWarning):
        local = framestore.new_for_filename(served.root / "killed")
    assert not local.index_dataframe().empty and not all(c.complete for c in local._index.chunks)
    with pytest.warns(framestore.IncompleteStoreWarning, match="http://"):
        remote = framestore.new_for_filename(remote_url(served, "killed"))
    assert not remote.is_complete
    np.testing.assert_array_equal(remote.frame_numbers, local.frame_numbers)
    np.testing.assert_array_equal(remote[:], local[:])


def test_imgstore_store_reads_remotely(served):
    """Stores imgstore wrote have no pts in their indexes: each video chunk is demuxed
    once, through the same block-cached remote file."""
    pytest.importorskip("imgstore")
    for fmt, kind in (("mjpeg/avi", "color"), ("npy", "gray")):
        name = f"imgstore-{fmt.replace('/', '_')}"
        write_with_imgstore(served.root / name, fmt, kind)
        with (
            framestore.new_for_filename(remote_url(served, name)) as remote,
            framestore.new_for_filename(served.root / name) as local,
        ):
            assert_reads_like(remote, local)


def test_writing_to_a_url_is_refused(tmp_path, recordings):
    url = "https://example.org/stores/cam0"
    with pytest.raises(framestore.ReadOnlyStoreError, match="https://example.org/stores/cam0.*read-only"):
        framestore.new_for_format("utvideo", url, imgshape=(8, 8))
    with pytest.raises(PermissionError, match=url):
        recover(url)
    with pytest.raises(framestore.ReadOnlyStoreError, match=url):
        convert(recordings[("npy", "gray8")].path, url, "png")


def test_without_fsspec_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)  # import fsspec now fails
    monkeypatch.setattr(framestore._disk.storage, "_filesystems", {})
    with pytest.raises(ImportError, match=r"pip install 'framestore\[remote\]'"):
        framestore.new_for_filename("https://example.org/stores/cam0")


def _read_in_worker(store, indices):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return store.get_frames(indices), store.frame_numbers[indices]


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_remote_reader_pickles_into_worker_processes(served, recordings, method):
    rec = recordings[("h264/mkv", "color")]
    indices = [0, 75, 149, 31]
    with framestore.new_for_filename(remote_url(served, rec.path.name)) as remote:
        expected = remote[indices]  # decoders and the HTTP session are open in this process
        assert len(pickle.dumps(remote)) < 64_000  # the index and URL, no decoder or cache
        with multiprocessing.get_context(method).Pool(2) as pool:
            results = pool.starmap(_read_in_worker, [(remote, indices), (remote, indices[::-1])])
    np.testing.assert_array_equal(results[0][0], expected)
    np.testing.assert_array_equal(results[1][0], expected[::-1])
    np.testing.assert_array_equal(results[0][1], rec.frame_numbers[indices])


def test_forked_workers_read_an_inherited_remote_reader(served, recordings):
    """Inherited through fork with its HTTP session and block-cached files open in the
    parent, a remote reader opens its own in each worker."""
    rec = recordings[("utvideo/avi", "color")]
    indices = [149, 0, 80]
    with framestore.new_for_filename(remote_url(served, rec.path.name)) as remote:
        expected = remote[indices]
        first, second = read_in_forked_workers(remote, indices)
    np.testing.assert_array_equal(first, expected)
    np.testing.assert_array_equal(second, expected[::-1])


def test_a_remote_store_as_a_dask_array(served, recordings):
    """to_dask on a URL: each block is read by its own reader over HTTP, fetching only its
    chunk; the array equals the local store."""
    pytest.importorskip("dask")
    rec = recordings[("ffv1/mkv", "gray8")]
    remote = framestore.new_for_filename(remote_url(served, rec.path.name))
    array = remote.to_dask()
    assert array.chunks[0] == (70, 70, 10)
    served.take()
    np.testing.assert_array_equal(array[75:80].compute(scheduler="threads"), rec.images[75:80])
    touched = {r.path.rsplit("/", 1)[1][:6] for r in served.take() if r.path.endswith(".mkv")}
    assert touched == {"000001"}
    np.testing.assert_array_equal(array.compute(scheduler="threads"), np.stack(rec.images))


@pytest.fixture
def faulty(served, recordings, monkeypatch):
    """A copy of a served store, its second chunk's URL path, and a short timeout."""
    monkeypatch.setenv("FRAMESTORE_REMOTE_TIMEOUT", "0.5")
    monkeypatch.setattr(framestore._disk.storage, "_RETRY_PAUSE", 0.05)
    rec = recordings[("raw/nut", "gray8")]
    name = f"faulty-{len(list(served.root.iterdir()))}"
    shutil.copytree(rec.path, served.root / name)
    yield name, f"/{name}/000001.nut", framestore.new_for_filename(rec.path)[70:140]
    served.faults.clear()


@pytest.mark.parametrize("fault", ["500", "short", "stall"])
def test_a_passing_remote_fault_is_retried(served, faulty, fault):
    name, chunk, expected = faulty
    served.stall_seconds = 1.0
    with framestore.new_for_filename(remote_url(served, name)) as remote:
        served.faults[chunk] = [fault, 1]
        np.testing.assert_array_equal(remote[70:140], expected)
    assert served.faults[chunk][1] == 0


@pytest.mark.parametrize(
    ("fault", "says"),
    [("500", "HTTP 500"), ("short", "ClientPayloadError"), ("stall", r"no answer within 0\.5 s")],
)
def test_a_lasting_remote_fault_is_one_named_error(served, faulty, fault, says):
    """A server that keeps failing fails the read in a few tries, within seconds even
    when it stalls, as one RemoteReadError naming the chunk's URL and what happened."""
    name, chunk, _ = faulty
    served.stall_seconds = 2.0
    with framestore.new_for_filename(remote_url(served, name)) as remote:
        served.faults[chunk] = [fault, -1]
        said = rf"http://.*{chunk}: .*{says}.*tried 3 times"
        with pytest.raises(framestore.RemoteReadError, match=said) as e:
            remote[70:140]
    assert isinstance(e.value, OSError)


def test_a_bad_remote_timeout_is_refused(monkeypatch):
    monkeypatch.setenv("FRAMESTORE_REMOTE_TIMEOUT", "soon")
    with pytest.raises(framestore.InvalidArgumentError, match="FRAMESTORE_REMOTE_TIMEOUT='soon'"):
        framestore.new_for_filename("http://127.0.0.1:9/store")


def test_a_server_failing_the_metadata_fails_the_open_by_name(served, faulty):
    name, _, _ = faulty
    served.faults[f"/{name}/metadata.yaml"] = ["500", -1]
    said = rf"/{name}/metadata\.yaml: reading failed: .*HTTP 500"
    with pytest.raises(framestore.RemoteReadError, match=said):
        framestore.new_for_filename(remote_url(served, name))
