"""NWB export: behaviour stores referenced as they are, imaging stores written into the file,
read back with pynwb and checked with nwbinspector."""

from __future__ import annotations

import datetime
import sys
import warnings
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest
import yaml
from _support.media import write_recording

import framestore
from framestore.cli.main import main
from framestore.sessions.dataset import Dataset
from framestore.testing.frames import read_barcode
from framestore.testing.miniscope import make_session
from framestore.tools import nwb as nwb_export

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

SESSION = {
    "session_description": "a stitched miniscope session with two behaviour cameras",
    "experimenter": ["Doe, Jane"],
    "lab": "test lab",
    "institution": "test institute",
    "experiment_description": "synthetic",
    "keywords": ["miniscope", "behavior"],
    "subject": {"subject_id": "m1", "species": "Mus musculus", "sex": "F", "age": "P90D"},
    "device": {"name": "scope", "description": "wireless miniscope"},
    "imaging_plane": {
        "name": "ca1",
        "indicator": "GCaMP6f",
        "location": "CA1",
        "excitation_lambda": 470.0,
        "optical_channel": {"name": "green", "description": "GCaMP", "emission_lambda": 525.0},
    },
}


def _read(path: Path):
    io = pynwb.NWBHDF5IO(str(path), mode="r")
    return io, io.read()


def _serious_findings(path: Path) -> list[str]:
    serious = {nwbinspector.Importance.CRITICAL, nwbinspector.Importance.BEST_PRACTICE_VIOLATION}
    return [
        f"{m.importance.name} {m.check_function_name}: {m.message}"
        for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(path))
        if m.importance in serious
    ]


def _check_external(series, store: framestore.StoreReader, nwb_file: Path) -> None:
    """Every frame the series' files hold, decoded by PyAV where its starting_frame says,
    is the store's frame (its barcode), and the files are the store's chunks."""
    files = list(series.external_file[:])
    starts = list(series.starting_frame[:])
    assert starts == [int(s) for s in store.chunk_starts[:-1]]
    assert all(not Path(f).is_absolute() for f in files)
    assert [(nwb_file.parent / f).resolve() for f in files] == [
        Path(store.file_of(s)).resolve() for s in starts
    ]
    decoded = []
    for f in files:
        with av.open(str(nwb_file.parent / f)) as container:
            decoded += [read_barcode(frame.to_ndarray(format="gray")) for frame in container.decode(video=0)]
    assert decoded == store.frame_numbers.tolist()


def _check_times(series, store: framestore.StoreReader, start: datetime.datetime) -> None:
    """The series' timestamps are the store's frame times on the session clock (raised
    where they go backwards)."""
    expected = np.maximum.accumulate(store.frame_times)
    np.testing.assert_allclose(series.timestamps[:] + start.timestamp(), expected, rtol=0, atol=2e-6)


@pytest.fixture(scope="module")
def session_dataset(tmp_path_factory) -> Path:
    """A dataset: two miniscope receivers, their stitched store, and two behaviour cameras
    (H.264 MP4 colour, MJPEG AVI gray)."""
    root = tmp_path_factory.mktemp("nwb")
    session = make_session(root / "session", receivers=2, frames=210, seed=5)
    dataset = Dataset.from_directory(root / "ds", create=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        for rec in session.receivers:
            dataset.add(session.video(rec.stem))
        stems = [rec.stem for rec in session.receivers]
        framestore.stitch(
            {n: dataset.recordings[n] for n in stems}, root / "ds" / "best", chunksize=25, workers=1
        )
    dataset.close()
    write_recording(root / "ds" / "cam0", "avc1/mp4", "color")
    write_recording(root / "ds" / "cam1", "mjpeg/avi", "gray8", count=90, chunksize=40)
    (root / "session.yaml").write_text(yaml.safe_dump(SESSION))
    return root


def test_a_stitched_session_and_its_cameras_export_to_one_file(session_dataset):
    root = session_dataset
    out = root / "session.nwb"
    # the stitched store's times go backwards once: a receiver stalled
    with pytest.warns(framestore.StoreWarning, match=r"best: frame times go backwards at \d+ frame\(s\)"):
        framestore.export_nwb(root / "ds", out, session=root / "session.yaml")
    with Dataset.from_directory(root / "ds") as dataset:
        stores = dict(dataset.recordings)
        (stitched_name,) = dataset.stitched()
        receivers = dataset.sources(stitched_name)
        stitched = stores[stitched_name]
        io, nwb = _read(out)
        with io:
            # the receivers are the stitched store's sources: left out, named in its provenance
            assert set(nwb.acquisition) == {"cam0", "cam1", stitched_name}
            start = nwb.session_start_time
            first = min(s.frame_time_min for n, s in stores.items() if n not in receivers)
            assert start.timestamp() == pytest.approx(first, abs=1e-6)
            assert start.utcoffset() == datetime.datetime.fromtimestamp(first, stitched.timezone).utcoffset()

            imaging = nwb.acquisition[stitched_name]
            assert imaging.neurodata_type == "OnePhotonSeries"
            assert imaging.data.dtype == np.uint8 and imaging.data.compression == "gzip"
            np.testing.assert_array_equal(imaging.data[:], stitched[:])
            _check_times(imaging, stitched, start)
            plane = imaging.imaging_plane
            assert (plane.name, plane.indicator, plane.device.name) == ("ca1", "GCaMP6f", "scope")
            assert plane.optical_channel[0].emission_lambda == 525.0

            for name in ("cam0", "cam1"):
                series = nwb.acquisition[name]
                assert series.neurodata_type == "ImageSeries" and series.format == "external"
                _check_external(series, stores[name], out)
                _check_times(series, stores[name], start)
                frames = nwb.processing["framestore"][f"{name}_frames"].to_dataframe()
                assert frames["frame_number"].tolist() == stores[name].frame_numbers.tolist()

            tables = nwb.processing["framestore"]
            frames = tables[f"{stitched_name}_frames"].to_dataframe()
            assert frames["frame_number"].tolist() == stitched.frame_numbers.tolist()
            assert frames["frame_time"].tolist() == stitched.frame_times.tolist()  # as recorded
            assert np.array_equal(frames["timestamp"], imaging.timestamps[:])
            assert (np.diff(stitched.frame_times) < 0).sum() == 1
            assert frames["source"].tolist() == stitched.index_dataframe()["source"].tolist()
            scores = tables[f"{stitched_name}_stitch_scores"].to_dataframe()
            on_disk = pd.read_csv(stitched.path / "scores.csv")
            assert scores["chosen"].tolist() == on_disk["chosen"].tolist()
            assert scores["reason"].tolist() == on_disk["reason"].tolist()
            assert len(scores) == len(stitched)
            meta = tables["store_metadata"].to_dataframe()
            mine = meta[meta["store"] == stitched_name].set_index("key")["value"]
            assert mine["derived_from.method"] == '"framestore.stitch/2"'
            source_uuids = {mine[f"derived_from.sources.{k}.uuid"].strip('"') for k in range(2)}
            assert source_uuids == {stores[r].uuid for r in receivers}
            cam = meta[meta["store"] == "cam0"].set_index("key")["value"]
            assert (cam["user.rig"], cam["user.n"]) == ('"test"', "3")
            kinds = tables["stores"].to_dataframe().set_index("store")["kind"].to_dict()
            assert kinds == {"cam0": "behavior", "cam1": "behavior", stitched_name: "imaging"}
            assert nwb.subject.subject_id == "m1" and nwb.lab == "test lab"
    assert _serious_findings(out) == []
    assert not list(root.glob(".*partial*"))


def test_a_gray16_miniscope_store_reads_back_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # the recording machine's zone, kept in the store
    written = write_recording(tmp_path / "scope", "ffv1/mkv", "gray16")
    # buffers of 3 frames: the store is fed to HDF5 in many pieces, never whole
    monkeypatch.setattr(nwb_export, "_BUFFER_BYTES", 3 * 48 * 72 * 2)
    done = []
    out = framestore.export_nwb(
        [tmp_path / "scope"],
        tmp_path / "scope.nwb",
        session=SESSION,
        imaging=["scope"],
        progress=lambda a, b: done.append((a, b)),
    )
    assert done[0] == (3, 150) and done[-1] == (150, 150) and len(done) == 50
    io, nwb = _read(out)
    with io:
        series = nwb.acquisition["scope"]
        assert series.data.dtype == np.uint16 and series.data.shape == (150, 48, 72)
        assert series.data.chunks[1:] == (48, 72) and series.data.compression == "gzip"
        np.testing.assert_array_equal(series.data[:], written.images)
        start = nwb.session_start_time
        assert start.utcoffset() == datetime.timedelta(hours=-5)  # 14 November 2023 in New York
        with framestore.new_for_filename(tmp_path / "scope") as store:
            _check_times(series, store, start)
    assert _serious_findings(out) == []


def test_frames_are_handed_over_in_bounded_buffers(tmp_path, monkeypatch):
    written = write_recording(tmp_path / "s", "ffv1/mkv", "gray8", count=50, chunksize=20)
    monkeypatch.setattr(nwb_export, "_BUFFER_BYTES", 7 * 48 * 72)
    with framestore.new_for_filename(tmp_path / "s") as store:
        pieces = list(nwb_export._FrameBuffers(store, lambda n: None))
    assert [len(p.data) for p in pieces] == [7] * 7 + [1]
    assert [p.selection[0] for p in pieces][:2] == [slice(0, 7), slice(7, 14)]
    np.testing.assert_array_equal(np.concatenate([p.data for p in pieces]), written.images)


@pytest.mark.parametrize("fmt", ["ffv1/mkv", "png"])
def test_copy_video_writes_playable_chunks_and_references_them(tmp_path, fmt):
    write_recording(tmp_path / "cam", fmt, "gray8", count=50, chunksize=20)
    out = tmp_path / "cam.nwb"
    framestore.export_nwb(tmp_path / "cam", out, session=SESSION, copy_video=tmp_path / "videos")
    io, nwb = _read(out)
    with io, framestore.new_for_filename(tmp_path / "videos" / "cam") as copy:
        assert copy.format == "avc1/mp4"
        series = nwb.acquisition["cam"]
        assert list(series.external_file[:]) == [f"videos/cam/00000{k}.mp4" for k in range(3)]
        _check_external(series, copy, out)
        _check_times(series, copy, nwb.session_start_time)
    assert _serious_findings(out) == []


def test_unplayable_chunks_are_referenced_with_a_warning(tmp_path):
    write_recording(tmp_path / "cam", "utvideo/avi", "gray8", count=20)
    with pytest.warns(framestore.StoreWarning, match="utvideo/avi chunks .* --copy-video"):
        framestore.export_nwb(tmp_path / "cam", tmp_path / "cam.nwb", session=SESSION)


def test_refusals_name_the_problem(tmp_path):
    write_recording(tmp_path / "png", "png", "gray8", count=5)
    write_recording(tmp_path / "color", "ffv1/mkv", "color", count=5)
    out = tmp_path / "x.nwb"
    with pytest.raises(
        framestore.InvalidArgumentError, match=r"png: its chunks are image files.*--copy-video"
    ):
        framestore.export_nwb(tmp_path / "png", out, session=SESSION)
    with pytest.raises(framestore.InvalidArgumentError, match="imaging data must be gray"):
        stores = [tmp_path / "png", tmp_path / "color"]
        framestore.export_nwb(stores, out, session=SESSION, imaging=["color"], copy_video=tmp_path / "v")
    assert not (tmp_path / "v").exists()  # refused before the png store was copied
    with pytest.raises(framestore.InvalidArgumentError, match=r"no store named \['nope'\]"):
        framestore.export_nwb(tmp_path / "color", out, imaging=["nope"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("subjekt: {}\n")
    with pytest.raises(framestore.InvalidArgumentError, match=r"bad.yaml: unknown key\(s\) \['subjekt'\]"):
        framestore.export_nwb(tmp_path / "color", out, session=bad)
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))
    out.write_bytes(b"")
    with pytest.raises(framestore.StoreExistsError, match="x.nwb: already exists"):
        framestore.export_nwb(tmp_path / "color", out, session=SESSION)


def test_a_store_without_user_metadata_exports(tmp_path):
    with framestore.new_for_format("mjpeg/avi", tmp_path / "bare", imgshape=(48, 72), chunksize=4) as writer:
        for k in range(10):
            writer.add_image(np.full((48, 72), 10 * k, np.uint8), k, 1.7e9 + k / 30)
    out = framestore.export_nwb(tmp_path / "bare", tmp_path / "bare.nwb", session=SESSION)
    io, nwb = _read(out)
    with io:
        assert "store_metadata" not in nwb.processing["framestore"].data_interfaces
        assert list(nwb.acquisition["bare"].starting_frame[:]) == [0, 4, 8]


def test_without_a_subject_it_warns(tmp_path):
    write_recording(tmp_path / "cam", "mjpeg/avi", "gray8", count=10)
    with pytest.warns(framestore.StoreWarning, match="no subject"):
        framestore.export_nwb(tmp_path / "cam", tmp_path / "cam.nwb")


def test_without_pynwb_the_error_says_what_to_install(tmp_path, monkeypatch):
    write_recording(tmp_path / "cam", "mjpeg/avi", "gray8", count=10)
    monkeypatch.setitem(sys.modules, "pynwb", None)
    with pytest.raises(ImportError, match=r"pip install 'framestore\[nwb\]'"):
        framestore.export_nwb(tmp_path / "cam", tmp_path / "cam.nwb")


def test_the_command(tmp_path, capsys):
    write_recording(tmp_path / "scope", "ffv1/mkv", "gray8", count=30)
    write_recording(tmp_path / "cam", "avc1/mp4", "gray8", count=30)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SESSION))
    out = tmp_path / "out.nwb"
    args = [str(tmp_path / "scope"), str(tmp_path / "cam"), str(out), "--session", str(tmp_path / "s.yaml")]
    assert main(["export-nwb", *args, "--imaging", "scope", "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == f"{out}: written"
    io, nwb = _read(out)
    with io:
        assert nwb.acquisition["scope"].neurodata_type == "OnePhotonSeries"
        assert nwb.acquisition["cam"].format == "external"
    assert main(["export-nwb", *args]) == 1
    assert "already exists; pass --force" in capsys.readouterr().err
