"""The napari reader plugin: through npe2's API, and in a real napari window under Xvfb."""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest
from _support.media import write_recording
from _support.xdisplay import XServer, missing_tools

import framestore
from framestore.core import dask_array
from framestore.testing.miniscope import make_session
from framestore.view import napari as plugin

npe2 = pytest.importorskip("npe2")
MANIFEST = Path(plugin.__file__).with_name("napari.yaml")


@pytest.fixture(scope="module")
def registered():
    """The plugin's manifest registered with npe2 (as its entry point does when installed)."""
    manager = npe2.PluginManager.instance()
    manager.discover()
    if "framestore" not in {m.name for m in manager.iter_manifests()}:  # not installed, or editable
        manager.register(npe2.PluginManifest.from_file(MANIFEST))
    return manager


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A dataset: a colour camera (MJPEG, chunks of 70) and a stitched miniscope store."""
    root = tmp_path_factory.mktemp("napari")
    session = make_session(root / "session", receivers=2, frames=40, seed=4)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TZ", "Europe/Berlin")  # the recording machine's zone, kept in the store
        write_recording(root / "ds" / "cam0", "mjpeg/avi", "color")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        ds = framestore.Dataset.from_directory(root / "ds")
        for rec in session.receivers:
            ds.add(session.video(rec.stem))
        ds.stitch([rec.stem for rec in session.receivers], name="best")
        ds.close()
    return root / "ds"


def _read(path: Path) -> dict[str, tuple]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        layers = npe2.read([str(path)], stack=False, plugin_name="framestore")
    return {kwargs["name"]: (data, kwargs, kind) for data, kwargs, kind in layers}


def test_the_manifest_is_the_entry_point_and_is_packaged():
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["napari.manifest"] == {
        "framestore": "framestore.view:napari.yaml"
    }
    assert "view/napari.yaml" in project["tool"]["setuptools"]["package-data"]["framestore"]
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    (reader,) = manifest.contributions.readers
    assert reader.accepts_directories and reader.filename_patterns == ["metadata.yaml"]


def test_a_store_its_metadata_and_a_dataset_open_as_lazy_layers(registered, dataset, monkeypatch):
    assert set(_read(dataset)) == {"cam0", "best", "receiver0", "receiver1"}
    assert set(_read(dataset / "cam0" / "metadata.yaml")) == {"cam0"}
    blocks = []
    read_block = dask_array._read_block
    monkeypatch.setattr(
        dask_array, "_read_block", lambda *a: blocks.append(a[2:]) or read_block(*a)
    )  # the graph is built after this, so it calls the recorder
    data, kwargs, kind = _read(dataset / "cam0")["cam0"]
    assert kind == "image" and kwargs["rgb"] and data.shape == (150, 48, 72, 3)
    assert data.chunks[0] == (70, 70, 10)  # one block per chunk
    with framestore.new_for_filename(dataset / "cam0") as store:
        np.testing.assert_array_equal(np.asarray(data[75]), store[75][..., ::-1])  # BGR shown as RGB
        assert blocks == [(70, 140)]  # only the chunk shown was decoded
        meta = kwargs["metadata"]["framestore"]
        assert np.array_equal(meta["frame_number"], store.frame_numbers)
        when = datetime.datetime.fromtimestamp(store.frame_times[75], store.timezone)
        expected = f"cam0: #75 frame {store.frame_numbers[75]} {when.isoformat(' ', 'milliseconds')}"
        assert plugin.frame_label("cam0", meta, 75) == expected
        assert expected.endswith("+01:00")  # local time where it was recorded
        assert plugin.frame_label("cam0", meta, 150) == "cam0: -"


def test_a_stitched_store_says_which_source_each_frame_came_from(registered, dataset):
    data, kwargs, _ = _read(dataset / "best")["best"]
    meta = kwargs["metadata"]["framestore"]
    import pandas as pd

    scores = pd.read_csv(dataset / "best" / "scores.csv")
    assert list(meta["chosen"]) == scores["chosen"].tolist()
    assert list(meta["reason"]) == scores["reason"].tolist()
    assert plugin.frame_label("best", meta, 3).endswith(f"from {scores['chosen'][3]} ({scores['reason'][3]})")
    assert kwargs["contrast_limits"] == [0, 255] and not kwargs["rgb"]


def test_big_frames_are_read_in_blocks_smaller_than_a_chunk(registered, dataset, monkeypatch):
    monkeypatch.setattr(plugin, "BLOCK_BYTES", 48 * 72 * 3 * 30)
    data, _, _ = _read(dataset / "cam0")["cam0"]
    assert data.chunks[0] == (30, 30, 30, 30, 30)


def test_other_paths_are_left_to_other_readers(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.yaml").write_text("a: 1\n")
    assert plugin.get_reader(str(tmp_path / "empty")) is None
    assert plugin.get_reader(str(tmp_path / "notes.yaml")) is None
    assert plugin.get_reader(str(tmp_path / "missing")) is None


VIEWER_SCRIPT = """
import json, sys
import framestore  # first, as napari's plugin discovery imports it (and OpenCV) to find the manifest
import napari, npe2
from qtpy.QtWidgets import QApplication
from framestore.core import dask_array
from framestore.testing.frames import read_barcode

npe2.PluginManager.instance().register(npe2.PluginManifest.from_file(sys.argv[2]))
viewer = napari.Viewer()
blocks = []
read_block = dask_array._read_block
dask_array._read_block = lambda *a: blocks.append(list(a[2:])) or read_block(*a)
(layer,) = viewer.open(sys.argv[1], plugin="framestore")
store = framestore.new_for_filename(sys.argv[1])
out = {"name": layer.name, "steps": []}
for k in (0, 75, 149):
    viewer.dims.set_current_step(0, k)
    QApplication.processEvents()
    text = viewer.text_overlay.text
    viewer.text_overlay.visible = False
    shown = viewer.export_figure()[..., :3].astype(int)
    viewer.text_overlay.visible = True
    expected = store[k][..., ::-1].astype(int)
    out["steps"].append({
        "frame": int(store.frame_numbers[k]),
        "barcode": read_barcode(shown.astype("uint8")),
        "max_difference": int(abs(shown - expected).max()) if shown.shape == expected.shape else -1,
        "text": text,
    })
out["blocks"] = blocks
print(json.dumps(out))
viewer.close()
"""


@pytest.mark.skipif(
    importlib.util.find_spec("napari") is None or importlib.util.find_spec("qtpy") is None,
    reason="needs napari and a Qt binding (framestore[napari])",
)
@pytest.mark.skipif(bool(missing_tools()), reason=f"needs {' and '.join(missing_tools())}")
def test_a_real_napari_viewer_steps_through_a_store(dataset, tmp_path):
    script = tmp_path / "viewer.py"
    script.write_text(VIEWER_SCRIPT)
    server = XServer(tmp_path)
    try:
        env = {**server.env, "QT_QPA_PLATFORM": "xcb", "PYTHONPATH": os.pathsep.join(sys.path)}
        done = subprocess.run(
            [sys.executable, str(script), str(dataset / "cam0"), str(MANIFEST)],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        server.close()
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["name"] == "cam0"
    with framestore.new_for_filename(dataset / "cam0") as store:
        for k, step in zip((0, 75, 149), result["steps"], strict=True):
            assert step["barcode"] == step["frame"] == store.frame_numbers[k]
            assert 0 <= step["max_difference"] <= 2  # the store's pixels, drawn by OpenGL
            meta = plugin.layer_data("cam0", store)[1]["metadata"]["framestore"]
            assert step["text"] == plugin.frame_label("cam0", meta, k)
    # napari opens on the middle frame: only the chunks shown were ever decoded
    assert set(map(tuple, result["blocks"])) == {(0, 70), (70, 140), (140, 150)}
