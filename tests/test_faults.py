"""Faults beyond a killed writer (issue #15): a full disk, a live writer under a tool,
symlinks planted in a store, damaged metadata and journals, a missing chunk."""

from __future__ import annotations

import errno
import fcntl
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np
import pytest

import framestore
from framestore._disk.journal import SYNC
from framestore.cli.main import main
from framestore.codecs import resolve_format
from framestore.testing.frames import read_barcode, synthetic_frame
from framestore.tools.convert import convert
from framestore.tools.recover import recover
from framestore.tools.verify import verify

SHAPE = (96, 128)
_POOL = np.random.default_rng(15).integers(0, 256, (8, *SHAPE), dtype=np.uint8)


def noise_frame(i: int) -> np.ndarray:
    """Incompressible frame ``i`` (fills a disk fast), its number in its first bytes."""
    img: np.ndarray = _POOL[i % len(_POOL)].copy()
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


# -- 2. a live writer under a tool ------------------------------------------------------

LIVE_WRITER = """
import sys, time
import framestore
from framestore.testing.frames import synthetic_frame
w = framestore.new_for_format("ffv1/mkv", sys.argv[1], imgshape=(48, 64), chunksize=10, fps=100)
for i in range(10**6):
    w.add_image(synthetic_frame(i, (48, 64)), i, time.time())
    time.sleep(0.005)
"""


@pytest.fixture
def live_store(tmp_path: Path) -> Iterator[Path]:
    """A store that a running process is writing."""
    path = tmp_path / "live"
    proc = subprocess.Popen([sys.executable, "-c", LIVE_WRITER, str(path)])
    try:
        deadline = time.monotonic() + 30
        while not (path / "000001.npz").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        yield path
    finally:
        proc.kill()
        proc.wait()


def test_tools_refuse_a_store_whose_writer_is_alive(live_store: Path, tmp_path: Path) -> None:
    with pytest.raises(framestore.StoreBusyError, match=str(live_store)):
        recover(live_store)
    with pytest.raises(framestore.StoreBusyError, match="another process"):
        recover(live_store, force_dead=True)  # the lock proves the writer alive
    with pytest.raises(framestore.StoreBusyError):
        framestore.new_for_format("npy", live_store, imgshape=(8, 8), overwrite=True)
    source = tmp_path / "src"
    with framestore.new_for_format("npy", source, imgshape=(48, 64)) as w:
        w.add_image(np.zeros((48, 64), np.uint8), 0, 0.0)
    with pytest.raises(framestore.StoreBusyError):
        convert(source, live_store, "npy", overwrite=True)
    assert main(["recover", str(live_store)]) != 0
    assert (live_store / "metadata.yaml").is_file() and (live_store / "000000.mkv").is_file()


def test_the_writing_marker_names_a_live_writer_the_lock_cannot_see(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with framestore.new_for_format("npy", path, imgshape=(8, 8)) as w:
        w.add_image(np.zeros((8, 8), np.uint8), 0, 0.0)
    marker = path / ".framestore-writing"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid, host in ((sleeper.pid, socket.gethostname()), (1, "elsewhere")):
            marker.write_text(json.dumps({"pid": pid, "host": host}))
            with pytest.raises(framestore.StoreBusyError, match=f"pid {pid} on {host}"):
                recover(path)
            with pytest.raises(framestore.StoreBusyError, match=f"pid {pid}"):
                framestore.new_for_format("npy", path, imgshape=(8, 8), overwrite=True)
        assert main(["recover", "--force-dead", str(path)]) == 0
        assert not marker.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    marker.write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
    recover(path)  # that process is gone now
    with framestore.new_for_filename(path) as store:
        assert store.is_complete and len(store) == 1


# -- 3. symbolic links planted in a store -----------------------------------------------

KILLED_WRITER = """
import os, signal, sys, time
import framestore
from framestore.testing.frames import synthetic_frame
shape = tuple(int(n) for n in sys.argv[4].split(","))
w = framestore.new_for_format(sys.argv[2], sys.argv[1], imgshape=shape, chunksize=10)
for i in range(25):
    w.add_image(synthetic_frame(i, shape), i, 1000.0 + i)
deadline = time.monotonic() + 20
while time.monotonic() < deadline and not os.path.exists(sys.argv[3]):
    time.sleep(0.01)
os.kill(os.getpid(), signal.SIGKILL)
"""


def shape_for(fmt: str) -> tuple[int, ...]:
    """A frame shape ``fmt`` holds: gray where it can."""
    return (48, 64) if "gray8" in resolve_format(fmt).kinds else (48, 64, 3)


def killed_store(path: Path, fmt: str) -> None:
    """A store whose writer was killed with chunks 0 and 1 finished and 5 frames of chunk 2
    in its journal."""
    go = path.with_name("go")
    shape = ",".join(map(str, shape_for(fmt)))
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), fmt, str(go), shape])
    image = resolve_format(fmt).image is not None
    finished = path / "000001" / "index.npz" if image else path / "000001.npz"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not finished.exists():
        time.sleep(0.01)
    time.sleep(0.3)  # the queue drains into chunk 2's journal
    go.touch()
    proc.wait()


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path, str], None]:
    """``killed(path, fmt)``: a copy at ``path`` of a store whose writer was killed (each
    format's made once)."""
    made: dict[str, Path] = {}

    def copy(path: Path, fmt: str) -> None:
        if fmt not in made:
            made[fmt] = tmp_path_factory.mktemp("killed") / "s"
            killed_store(made[fmt], fmt)
        shutil.copytree(made[fmt], path, symlinks=True)

    return copy


def plant(link: Path, target: Path) -> None:
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    else:
        link.unlink(missing_ok=True)
    link.symlink_to(target)


def test_recover_writes_nothing_through_a_planted_link(
    tmp_path: Path, killed: Callable[[Path, str], None]
) -> None:
    path, outside = tmp_path / "s", tmp_path / "outside.bin"
    killed(path, "ffv1/mkv")
    outside.write_bytes(b"precious")
    plant(path / "000002.npz.tmp", outside)  # where the recovered chunk's index is written
    plant(path / "framestore-index.npz.tmp", outside)
    report = recover(path)
    assert report.chunks == {2: 5} and outside.read_bytes() == b"precious"
    with framestore.new_for_filename(path) as store:
        assert store.frame_numbers.tolist() == list(range(25))


def test_recover_refuses_an_unfinished_image_folder_that_is_a_link(
    tmp_path: Path, killed: Callable[[Path, str], None]
) -> None:
    path, outside = tmp_path / "s", tmp_path / "elsewhere"
    killed(path, "npy")
    shutil.copytree(path / "000002", outside)
    (outside / "keep.tmp").write_bytes(b"not the store's")
    plant(path / "000002", outside)
    with pytest.raises(framestore.CorruptStoreError, match="000002: is a symbolic link"):
        recover(path)
    assert (outside / "keep.tmp").exists() and not (outside / "index.npz").exists()


@pytest.mark.parametrize(
    ("fmt", "planted"), [("npy", "000001/000003.npy"), ("ffv1/mkv", "000001.mkv"), ("npy", "000001")]
)
def test_a_reader_refuses_a_frame_from_outside_the_store(tmp_path: Path, fmt: str, planted: str) -> None:
    path = tmp_path / "s"
    with framestore.new_for_format(fmt, path, imgshape=(48, 64), chunksize=10) as w:
        for i in range(25):
            w.add_image(np.full((48, 64), i, np.uint8), i, float(i))
    outside = tmp_path / "outside"
    shutil.copytree(path, outside)
    plant(path / planted, outside / planted)
    with pytest.raises(framestore.CorruptStoreError, match=f"{planted}: is a symbolic link"):
        with framestore.new_for_filename(path) as store:
            store[13]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_store_root_that_is_a_dangling_link_is_named(tmp_path: Path, overwrite: bool) -> None:
    """Writing (or overwriting) through a store root that links to nothing is one
    framestore error naming the link and where it points; one to a store works."""
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    said = f"{link}: is a symbolic link to .*gone, which does not exist"
    with pytest.raises(framestore.StoreExistsError, match=said):
        framestore.new_for_format("raw/nut", link, imgshape=(48, 64), overwrite=overwrite)
    small_store(tmp_path / "gone", "raw/nut")
    with framestore.new_for_format("raw/nut", link, imgshape=(48, 64), overwrite=True) as w:
        w.add_image(np.zeros((48, 64), np.uint8), 7, 0.0)
    with framestore.new_for_filename(tmp_path / "gone") as store:
        assert store.frame_numbers.tolist() == [7]


# -- 4. damaged metadata.yaml -------------------------------------------------------------


def small_store(path: Path, fmt: str, shape: tuple[int, ...] = (48, 64), count: int = 25) -> Path:
    with framestore.new_for_format(fmt, path, imgshape=shape, chunksize=10) as w:
        for i in range(count):
            w.add_image(np.full(shape, i, np.uint8), i, float(i))
    return path


def edit_metadata(path: Path, old: str, new: str, *, keep_checksum: bool) -> None:
    """Change ``metadata.yaml``'s text: as damage would (its checksum kept), or as an edit
    that also dropped the checksum line (a store from before it, or a hand edit)."""
    meta = path / "metadata.yaml"
    text = meta.read_text()
    assert old in text
    text = text.replace(old, new, 1)
    if not keep_checksum:
        text = text[: text.index("# framestore-crc32")]
    meta.write_text(text)


@pytest.mark.parametrize(
    ("old", "new"),
    [("framestore:", "fsamestore:"), ("- 48", "- 40"), ("imgdtype: uint8", "imgdtype: uint16")],
)
def test_one_damaged_byte_in_metadata_fails_its_checksum(tmp_path: Path, old: str, new: str) -> None:
    path = small_store(tmp_path / "s", "ffv1/mkv")
    edit_metadata(path, old, new, keep_checksum=True)
    with pytest.raises(framestore.CorruptStoreError, match=r"metadata\.yaml: fails its checksum"):
        framestore.new_for_filename(path)
    with pytest.raises(framestore.CorruptStoreError, match="checksum"):
        verify(path)


def test_imgstore_still_reads_metadata_with_a_checksum(tmp_path: Path) -> None:
    imgstore = pytest.importorskip("imgstore")
    path = small_store(tmp_path / "s", "npy")
    store = imgstore.new_for_filename(str(path))
    assert store.frame_count == 25
    store.close()


@pytest.mark.parametrize("fmt", ["ffv1/mkv", "mjpeg/avi", "npy", "png"])
@pytest.mark.parametrize(
    ("old", "new"), [("- 64", "- 60"), ("- 48", "- 52"), ("imgdtype: uint8", "imgdtype: uint16")]
)
def test_frames_that_do_not_match_the_metadata_are_refused(
    tmp_path: Path, fmt: str, old: str, new: str
) -> None:
    path = small_store(tmp_path / "s", fmt)
    edit_metadata(path, old, new, keep_checksum=False)
    with framestore.new_for_filename(path) as store:
        with pytest.raises(framestore.CorruptStoreError, match=r"000001(\.avi|\.mkv|/000003)"):
            store[13]
    report = verify(path, workers=1)
    assert len(report.problems) == (25 if fmt in ("npy", "png") else 3) and not report.ok


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("fps: null", "fps: 30n0", "fps must be a positive number"),
        ("codec_options: {}", "codec_options: [1, 2]", "codec_options must be a mapping"),
        ("created_utc: '", "created_utc: 'x", "created_utc must be an ISO date"),
        ("version: 2\n", "version: 2\n" + "x: " + "[" * 40 + "]" * 40 + "\n", "nested deeper than 32"),
    ],
)
def test_bad_metadata_values_name_the_file(tmp_path: Path, old: str, new: str, match: str) -> None:
    path = small_store(tmp_path / "s", "npy", count=1)
    edit_metadata(path, old, new, keep_checksum=False)
    with pytest.raises(framestore.CorruptStoreError, match=rf"metadata\.yaml: .*{match}"):
        framestore.new_for_filename(path)


def test_billion_laughs_metadata_is_refused_before_it_expands(tmp_path: Path) -> None:
    path = small_store(tmp_path / "s", "npy", count=1)
    laughs = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    laughs += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    with open(path / "metadata.yaml", "a") as f:
        f.write("\n".join(laughs) + "\n")
    started = time.monotonic()
    with pytest.raises(framestore.CorruptStoreError, match="aliases are expanded"):
        framestore.new_for_filename(path)
    assert time.monotonic() - started < 5
    (path / "metadata.yaml").write_bytes(b"x" * (2 << 20))
    with pytest.raises(framestore.CorruptStoreError, match="larger than"):
        framestore.new_for_filename(path)


# -- 5. damaged journals ------------------------------------------------------------------


def flip_bit_in_record(journal: Path, record: int, offset: int = 12) -> None:
    """Flip one bit ``offset`` bytes into journal record ``record`` (0-based)."""
    data = bytearray(journal.read_bytes())
    at = -1
    for _ in range(record + 1):
        at = data.index(SYNC, at + 1)
    data[at + offset] ^= 0x10
    journal.write_bytes(bytes(data))


@pytest.mark.parametrize("fmt", ["raw/nut", "ffv1/mkv"])
def test_a_chunk_begun_with_no_frame_finished_is_dropped_by_recover(
    tmp_path: Path, killed: Callable[[Path, str], None], fmt: str
) -> None:
    # a writer killed (or a disk filled) after starting chunk 2 but before any frame of it
    # was finished: a journal of no records beside a begun chunk file
    path = tmp_path / "s"
    killed(path, fmt)
    journal = path / "000002.journal"
    data = journal.read_bytes()
    journal.write_bytes(data[: data.index(SYNC)])
    recover(path)
    assert recover(path).chunks == {}  # nothing left to do
    assert not list(path.glob("000002.*"))
    with framestore.new_for_filename(path) as store:
        assert store.is_complete and store.frame_numbers.tolist() == list(range(20))
    assert verify(path, workers=1).ok


@pytest.mark.parametrize("fmt", ["ffv1/mkv", "npy", "png"])
def test_a_damaged_journal_record_is_skipped_and_the_later_ones_kept(
    tmp_path: Path, killed: Callable[[Path, str], None], fmt: str
) -> None:
    path = tmp_path / "s"
    killed(path, fmt)
    flip_bit_in_record(path / "000002.journal", 1)
    with pytest.warns(framestore.StoreWarning, match=r"000002\.journal: 1 damaged journal record"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
            store = framestore.new_for_filename(path)
    expected = [*range(21), 22, 23, 24]
    assert store.frame_numbers.tolist() == expected
    for k, number in enumerate(expected):
        assert read_barcode(store[k]) == number
    store.close()
    with pytest.warns(framestore.StoreWarning, match="000002.journal"):
        recover(path)
    with framestore.new_for_filename(path) as after:
        assert after.is_complete and after.frame_numbers.tolist() == expected
        assert [read_barcode(after[k]) for k in range(len(after))] == expected
    assert verify(path, workers=1).ok


def test_frames_after_a_lost_one_wait_for_a_keyframe(
    tmp_path: Path, killed: Callable[[Path, str], None]
) -> None:
    path = tmp_path / "s"
    killed(path, "h264/mkv")  # chunk 2: a keyframe, then frames that depend on it
    flip_bit_in_record(path / "000002.journal", 1)
    with pytest.warns(framestore.StoreWarning, match="4 damaged journal record"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
            store = framestore.new_for_filename(path)
    assert store.frame_numbers.tolist() == [*range(21)]


def test_an_unfinished_image_chunk_checks_each_file_against_its_journal(
    tmp_path: Path, killed: Callable[[Path, str], None]
) -> None:
    path = tmp_path / "s"
    killed(path, "npy")
    damaged = path / "000002" / "000003.npy"
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0x01
    damaged.write_bytes(bytes(data))
    with pytest.warns(framestore.IncompleteStoreWarning):
        store = framestore.new_for_filename(path)
    with pytest.raises(framestore.CorruptStoreError, match=r"000002/000003\.npy: fails its CRC32"):
        store[23]
    with pytest.raises(framestore.CorruptStoreError, match=r"000002/000003\.npy: fails the CRC32"):
        recover(path)


# -- 6. a whole chunk deleted -------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "chunk"), [("ffv1/mkv", 2), ("ffv1/mkv", 1), ("npy", 2), ("npy", 0)])
def test_a_deleted_chunk_is_named(tmp_path: Path, fmt: str, chunk: int) -> None:
    path = small_store(tmp_path / "s", fmt)
    for name in (f"{chunk:06d}", f"{chunk:06d}.mkv", f"{chunk:06d}.npz", f"{chunk:06d}.extra.json"):
        if (path / name).is_dir():
            shutil.rmtree(path / name)
        else:
            (path / name).unlink(missing_ok=True)
    with pytest.raises(framestore.CorruptStoreError, match=rf"{chunk:06d}(\.mkv)?: missing"):
        framestore.new_for_filename(path)
    report = verify(path, workers=1)
    assert [p.file.name for p in report.problems] == [
        f"{chunk:06d}.mkv" if fmt == "ffv1/mkv" else f"{chunk:06d}"
    ]


# -- 7. a chunk finished under a reader -----------------------------------------------------


@pytest.mark.parametrize("fmt", ["ffv1/mkv", "h264/mkv", "npy"])
def test_a_reader_goes_on_when_recover_finishes_a_chunk_under_it(
    tmp_path: Path, killed: Callable[[Path, str], None], fmt: str
) -> None:
    path = tmp_path / "s"
    killed(path, fmt)
    with pytest.warns(framestore.IncompleteStoreWarning):
        store = framestore.new_for_filename(path)
    assert read_barcode(store[20]) == 20  # chunk 2 opened from its journal
    recover(path)
    assert [read_barcode(store[k]) for k in (24, 21, 20)] == [24, 21, 20]
    assert [read_barcode(image) for image in store.iter_frames(18)] == list(range(18, 25))
    assert [read_barcode(image) for image in store.get_frames([22, 3])] == [22, 3]
    store.close()


# -- 9. framestore errors, not raw ones -------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "error", "match"),
    [
        ({"fps": 1 / 3000}, framestore.InvalidFrameError, "below 1/2002"),
        ({"chunksize": 0}, framestore.InvalidArgumentError, "chunksize must be at least 1"),
    ],
)
def test_bad_settings_are_framestore_errors(
    tmp_path: Path, settings: dict[str, float], error: type, match: str
) -> None:
    with pytest.raises(error, match=match):
        framestore.new_for_format("ffv1/mkv", tmp_path / "s", imgshape=(48, 64), **settings)  # type: ignore[arg-type]
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


def test_a_frame_number_beyond_64_bits_is_refused_and_the_recording_goes_on(tmp_path: Path) -> None:
    with framestore.new_for_format("ffv1/mkv", tmp_path / "s", imgshape=(48, 64)) as w:
        w.add_image(np.zeros((48, 64), np.uint8), 0, 0.0)
        with pytest.raises(framestore.InvalidFrameError, match="64 bits"):
            w.add_image(np.zeros((48, 64), np.uint8), 2**63, 1.0)
        w.add_image(np.zeros((48, 64), np.uint8), 1, 1.0)
    with framestore.new_for_filename(tmp_path / "s") as store:
        assert store.frame_numbers.tolist() == [0, 1]


def test_to_dask_of_an_empty_store_and_a_bad_block_size(tmp_path: Path) -> None:
    pytest.importorskip("dask")
    framestore.new_for_format("ffv1/mkv", tmp_path / "s", imgshape=(48, 64)).close()
    with framestore.new_for_filename(tmp_path / "s") as store:
        assert store.to_dask().shape == (0, 48, 64)
        with pytest.raises(framestore.InvalidArgumentError, match="block_frames"):
            store.to_dask(block_frames=0)


def test_a_damaged_last_journal_record_warns_but_a_torn_one_does_not(
    tmp_path: Path, killed: Callable[[Path, str], None]
) -> None:
    path = tmp_path / "s"
    killed(path, "ffv1/mkv")
    journal = path / "000002.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole[:-3])  # torn: the writer was killed inside its last write
    with warnings.catch_warnings():
        warnings.simplefilter("error", framestore.StoreWarning)
        warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        assert len(framestore.new_for_filename(path)) == 24
    damaged = bytearray(whole)
    damaged[-3] ^= 0x04
    journal.write_bytes(bytes(damaged))
    with pytest.warns(framestore.StoreWarning, match="1 damaged journal record"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
            assert len(framestore.new_for_filename(path)) == 24


# -- the proof: random bit flips anywhere a read depends on ---------------------------

MUTATIONS = 30  # per store; seeded, so a failure replays


def _frames_by_number(path: Path) -> tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.IncompleteStoreWarning)
        with framestore.new_for_filename(path) as store:
            frames = {int(n): store[k] for k, n in enumerate(store.frame_numbers)}
            return frames, store.frame_numbers.copy(), store.frame_times.copy()


def _check_mutation(
    path: Path, damaged: Path, clean: tuple[dict[int, np.ndarray], np.ndarray, np.ndarray]
) -> None:
    """Opening either fails naming a file of the store, or warns, or reads the same frames
    as before; whatever a read gets differently, verify flags too."""
    frames, numbers, times = clean
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            store = framestore.new_for_filename(path)
        except framestore.FramestoreError as exc:
            assert str(path) in str(exc), f"{damaged.name}: an error that names no file: {exc}"
            return
    warned = any(issubclass(w.category, framestore.StoreWarning) for w in caught)
    changed = not (np.array_equal(store.frame_numbers, numbers) and np.array_equal(store.frame_times, times))
    assert warned or not changed, f"{damaged.name}: frame numbers or times changed silently"
    for k, number in enumerate(store.frame_numbers.tolist()):
        try:
            image = store[k]
        except framestore.FramestoreError as exc:
            assert str(path) in str(exc), f"{damaged.name}: an error that names no file: {exc}"
            changed = True
            continue
        assert number in frames and np.array_equal(image, frames[number]), f"{damaged.name}: wrong pixels"
    store.close()
    if changed:
        try:
            report = verify(path, workers=1)
        except framestore.FramestoreError:
            return
        assert not report.ok, f"{damaged.name}: a damaged store passes verify"


@pytest.mark.parametrize("unfinished", [False, True], ids=["finished", "unfinished"])
@pytest.mark.parametrize("fmt", framestore.get_supported_formats())
def test_random_bit_flips_never_return_wrong_frames(
    tmp_path: Path, killed: Callable[[Path, str], None], fmt: str, unfinished: bool
) -> None:
    pristine = tmp_path / "pristine"
    if unfinished:
        killed(pristine, fmt)
    else:
        shape = shape_for(fmt)
        with framestore.new_for_format(fmt, pristine, imgshape=shape, chunksize=10) as w:
            for i in range(25):
                w.add_image(synthetic_frame(i, shape), 3 * i, 1000.0 + i)
    clean = _frames_by_number(pristine)
    files = sorted(
        p.relative_to(pristine) for p in pristine.rglob("*") if p.is_file() and p.name != ".framestore-lock"
    )
    rng = np.random.default_rng(15)
    for m in range(MUTATIONS):
        path = tmp_path / f"m{m}"
        shutil.copytree(pristine, path)
        damaged = path / files[int(rng.integers(len(files)))]
        data = bytearray(damaged.read_bytes())
        if not data:
            continue
        data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        damaged.write_bytes(bytes(data))
        _check_mutation(path, damaged, clean)
        shutil.rmtree(path)


def test_a_file_system_without_locks_still_writes_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_locks(fd: int, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    path = small_store(tmp_path / "s", "npy", count=3)
    assert recover(path).chunks == {}
    (path / ".framestore-lock").unlink()
    (path / ".framestore-lock").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(framestore.CorruptStoreError, match="framestore-lock: is a symbolic link"):
        recover(path)
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("fmt", ["avc1/mp4", "h264/mkv", "ffv1/mkv", "utvideo/avi"])
def test_a_flipped_bit_in_the_codec_set_up_is_named(tmp_path: Path, fmt: str) -> None:
    # every packet keeps its CRC32, but a changed SPS/PPS (or FFV1's or Ut Video's
    # set-up) would decode every frame of the chunk differently
    path = tmp_path / "s"
    with framestore.new_for_format(fmt, path, imgshape=(48, 64), chunksize=10) as w:
        for i in range(20):
            w.add_image(synthetic_frame(i, (48, 64)), 100 + i, 1000.0 + i)
    before = framestore.new_for_filename(path)[9]
    chunk = next(path.glob("000001.*[!z]"))
    with av.open(str(chunk)) as container:
        extradata = bytes(container.streams.video[0].codec_context.extradata or b"")
    data = bytearray(chunk.read_bytes())
    at = data.find(extradata)
    assert len(extradata) >= 4 and at > 0
    data[at + len(extradata) - 2] ^= 0x10
    chunk.write_bytes(bytes(data))
    store = framestore.new_for_filename(path)
    np.testing.assert_array_equal(store[9], before)  # chunk 0 is intact
    named = rf"{chunk.name}: the codec set-up .* fails its CRC32"
    with pytest.raises(framestore.CorruptStoreError, match=named):
        store[10]
    assert not verify(path, workers=1).ok
