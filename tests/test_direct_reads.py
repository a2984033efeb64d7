"""Uncompressed chunks read at their stored byte offsets (raw/nut) and npy files read
straight into arrays: same frames as the demuxer's, damage still named, older stores
without offsets still read."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

import framestore
from framestore._disk.columns import VIDEO_OFFSET
from framestore._disk.index import write_index
from framestore._disk.npzio import read_npz
from framestore.codecs.base import DirectChunkReader
from framestore.codecs.images import NpyChunkReader
from framestore.codecs.raw import UncompressedChunkReader
from framestore.codecs.video import VideoChunkReader

KINDS = [((48, 64), np.uint8), ((48, 64), np.uint16), ((48, 64, 3), np.uint8)]


def write(
    path: Path, fmt: str, shape: tuple[int, ...], dtype: type, count: int = 45, chunksize: int = 20
) -> list[np.ndarray]:
    rng = np.random.default_rng(len(shape) + np.dtype(dtype).itemsize)
    frames = [rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype) for _ in range(count)]
    name = np.dtype(dtype).name
    with framestore.new_for_format(fmt, path, imgshape=shape, imgdtype=name, chunksize=chunksize) as w:
        for i, image in enumerate(frames):
            w.add_image(image, i, float(i))
    return frames


def read_every_way(store: framestore.StoreReader, frames: list[np.ndarray]) -> None:
    expected = np.stack(frames)
    assert np.array_equal(np.stack(list(store)), expected)
    assert np.array_equal(np.stack(list(store.iter_frames(7, 33))), expected[7:33])
    picks = np.random.default_rng(1).integers(0, len(frames), 60)
    assert np.array_equal(store.get_frames(picks), expected[picks])
    for i in picks[:10]:
        assert np.array_equal(store[int(i)], expected[i])


@pytest.mark.parametrize(("fmt", "reader"), [("raw/nut", UncompressedChunkReader), ("npy", NpyChunkReader)])
@pytest.mark.parametrize(("shape", "dtype"), KINDS)
def test_direct_reads_give_the_frames_written(tmp_path, fmt, reader, shape, dtype):
    frames = write(tmp_path / "s", fmt, shape, dtype)
    with framestore.new_for_filename(tmp_path / "s") as store:
        read_every_way(store, frames)
        assert all(isinstance(r, reader) for r in store._open.values())


@pytest.mark.parametrize(("shape", "dtype"), [*KINDS, ((47, 63), np.uint8)])
def test_raw_frames_are_stored_as_the_rawvideo_encoder_makes_them(tmp_path, shape, dtype):
    # the writer muxes raw frames as packets of its own, without the encoder: each must hold
    # the bytes PyAV's rawvideo encoder makes of the frame, with its key flag
    frames = write(tmp_path / "s", "raw/nut", shape, dtype, count=25)
    pix_fmt = {1: "gray", 2: "gray16le"}[np.dtype(dtype).itemsize] if len(shape) == 2 else "bgr24"
    encoder = av.CodecContext.create("rawvideo", "w")
    encoder.width, encoder.height, encoder.pix_fmt = shape[1], shape[0], pix_fmt
    encoder.time_base = Fraction(1, 30)
    stored = []
    for chunk in sorted((tmp_path / "s").glob("*.nut")):
        with av.open(str(chunk)) as container:
            stored += [(bytes(p), p.is_keyframe) for p in container.demux(video=0) if p.size]
    assert len(stored) == len(frames)
    for image, (payload, keyframe) in zip(frames, stored, strict=True):
        (expected,) = encoder.encode(av.VideoFrame.from_ndarray(image, format=pix_fmt))
        assert keyframe and payload == bytes(expected)


def test_a_raw_store_without_offsets_is_read_through_the_demuxer(tmp_path):
    frames = write(tmp_path / "s", "raw/nut", (48, 64), np.uint8)
    (tmp_path / "s" / "framestore-index.npz").unlink()
    for index in sorted((tmp_path / "s").glob("0*.npz")):
        columns = read_npz(index)
        assert len(columns.pop(VIDEO_OFFSET)) == len(columns["frame_number"])
        write_index(index, columns)
    with framestore.new_for_filename(tmp_path / "s") as store:
        read_every_way(store, frames)
        assert all(isinstance(r, VideoChunkReader) for r in store._open.values())


@pytest.mark.parametrize("how", ["flip", "truncate"])
@pytest.mark.parametrize("fmt", ["raw/nut", "npy"])
def test_damage_is_named_on_every_read_path(tmp_path, fmt, how):
    write(tmp_path / "s", fmt, (48, 64), np.uint8)
    damaged = tmp_path / "s" / ("000001.nut" if fmt == "raw/nut" else "000001/000003.npy")
    data = bytearray(damaged.read_bytes())
    if how == "flip":
        if fmt == "npy":
            at = len(data) - 10
        else:
            at = int(read_npz(tmp_path / "s" / "000001.npz")[VIDEO_OFFSET][3]) + 99
        data[at] ^= 0x04
    else:
        data = data[: len(data) // 2 if fmt == "raw/nut" else -7]
    damaged.write_bytes(bytes(data))
    target = 38 if (fmt, how) == ("raw/nut", "truncate") else 23  # a frame the damage reached
    for read in (
        lambda s: s[target],
        lambda s: list(s),
        lambda s: s.get_frames([40, target, 2]),
    ):
        with framestore.new_for_filename(tmp_path / "s") as store:
            with pytest.raises(framestore.CorruptStoreError, match=str(damaged)):
                read(store)


def test_raw_sequential_reads_never_refill_an_array_the_caller_still_holds(tmp_path):
    # runs of frames reuse the arrays of the run before that nothing refers to any more
    frames = write(tmp_path / "s", "raw/nut", (48, 64), np.uint8, count=200, chunksize=200)
    kept, views, addresses = {}, {}, set()
    with framestore.new_for_filename(tmp_path / "s") as store:
        for i, image in enumerate(store.iter_frames()):
            addresses.add(image.ctypes.data)
            if i % 3 == 0:
                kept[i] = image
            elif i % 7 == 0:
                views[i] = image[5:9]  # a view keeps its base array
    assert all(np.array_equal(image, frames[i]) for i, image in kept.items())
    assert all(np.array_equal(view, frames[i][5:9]) for i, view in views.items())
    assert len(addresses) < 200  # the arrays dropped were filled again


@pytest.mark.parametrize("damaged_at", [0, 21, 37, 47, 99])  # first and second halves of runs, the last frame
@pytest.mark.parametrize("cores", [1, 2])
def test_raw_sequential_reads_give_every_frame_before_a_damaged_one_then_name_it(
    tmp_path, monkeypatch, damaged_at, cores
):
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)))
    frames = write(tmp_path / "s", "raw/nut", (48, 64), np.uint16, count=100, chunksize=100)
    chunk = tmp_path / "s" / "000000.nut"
    offsets = read_npz(tmp_path / "s" / "000000.npz")[VIDEO_OFFSET]
    data = bytearray(chunk.read_bytes())
    data[int(offsets[damaged_at]) + 17] ^= 0x10
    chunk.write_bytes(bytes(data))
    got = []
    with framestore.new_for_filename(tmp_path / "s") as store:
        with pytest.raises(framestore.CorruptStoreError, match=rf"000000.nut: frame {damaged_at} "):
            for image in store.iter_frames(0, 100):
                got.append(image)
    assert len(got) == damaged_at
    assert all(np.array_equal(a, b) for a, b in zip(got, frames, strict=False))


@pytest.mark.parametrize("fmt", ["raw/nut", "npy"])
@pytest.mark.parametrize(("shape", "dtype"), KINDS)
def test_batches_read_into_the_result_keep_repeats_rois_and_damage(tmp_path, fmt, shape, dtype):
    frames = np.stack(write(tmp_path / "s", fmt, shape, dtype))
    picks = [5, 5, 44, 0, 5, 23]
    with framestore.new_for_filename(tmp_path / "s") as store:
        assert np.array_equal(store.get_frames(picks), frames[picks])
        assert np.array_equal(store.get_frames(picks, roi=(3, 2, 20, 10)), frames[picks][:, 2:12, 3:23])
        assert all(isinstance(r, DirectChunkReader) for r in store._open.values())
    if fmt == "raw/nut":  # frame 23 damaged
        damaged = tmp_path / "s" / "000001.nut"
        at = int(read_npz(tmp_path / "s" / "000001.npz")[VIDEO_OFFSET][3]) + 5
    else:
        damaged, at = tmp_path / "s" / "000001" / "000003.npy", -5
    data = bytearray(damaged.read_bytes())
    data[at] ^= 0x10
    damaged.write_bytes(bytes(data))
    with framestore.new_for_filename(tmp_path / "s") as store:
        with pytest.warns(framestore.StoreWarning, match=f"frame_index 23 .*{damaged}"):
            got = store.get_frames(picks, on_error="zeros")
    expected = frames[picks]
    expected[5] = 0
    assert np.array_equal(got, expected)
