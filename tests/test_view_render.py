"""The viewer's drawing, without a window: contrast, panels, grids, what a Scene shows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from _support.receivers import import_receivers

import framestore
from framestore.sessions.align import named_stores
from framestore.sessions.stitch import stitch
from framestore.testing.frames import frame_times_for, read_barcode, synthetic_frame
from framestore.testing.miniscope import make_session
from framestore.view import Scene, render

SHAPE = (48, 72)


def write_store(path, numbers, shape=SHAPE, dtype=np.uint8):
    with framestore.new_for_format("npy", path, imgshape=shape, imgdtype=dtype, chunksize=20) as writer:
        for n, t in zip(numbers, frame_times_for(np.asarray(numbers), fps=30.0), strict=True):
            writer.add_image(synthetic_frame(int(n), shape, dtype), int(n), float(t))
    return framestore.new_for_filename(path)


def frame_of(panel: np.ndarray, shape=SHAPE) -> np.ndarray:
    """The frame's pixels in a panel (under its label)."""
    return panel[render.LINE_HEIGHT : render.LINE_HEIGHT + shape[0], : shape[1]]


def test_contrast():
    image = np.array([[1000, 2000], [3000, 4000]], np.uint16)
    fixed = render.Contrast.parse("1000,3000", np.dtype(np.uint16))
    shown = render.to_display(image, fixed)
    assert shown.shape == (2, 2, 3) and shown.dtype == np.uint8
    assert shown[..., 0].tolist() == [[0, 127], [255, 255]]  # below LOW is black, above HIGH white
    auto = render.to_display(
        np.linspace(0, 60000, 10000).reshape(100, 100).astype(np.uint16), render.Contrast()
    )
    assert auto.min() == 0 and auto.max() >= 254  # stretched to the whole display range
    assert render.Contrast.parse(None, np.dtype(np.uint8)) == render.Contrast(0, 255)
    assert render.Contrast.parse(None, np.dtype(np.uint16)).auto
    assert render.Contrast.parse("full", np.dtype(np.uint16)) == render.Contrast(0, 65535)
    eight = synthetic_frame(3, SHAPE)
    np.testing.assert_array_equal(
        render.to_display(eight, render.Contrast(0, 255))[..., 1], eight
    )  # as stored
    color = synthetic_frame(3, (*SHAPE, 3))
    np.testing.assert_array_equal(render.to_display(color, render.Contrast(0, 255)), color)  # in color
    for bad in ("bright", "5,5", "1,2,3"):
        with pytest.raises(ValueError, match="contrast"):
            render.Contrast.parse(bad, np.dtype(np.uint16))


def test_panels_grid_and_status():
    image = np.full((30, 200, 3), 7, np.uint8)
    p = render.panel(image, "cam0")
    assert p.shape == (30 + render.LINE_HEIGHT, 200, 3)
    np.testing.assert_array_equal(p[render.LINE_HEIGHT :], image)
    narrow = render.panel(image[:, :20], "a label much wider than the frame")
    assert narrow.shape[1] > 20  # widened so the label is readable
    missing = render.missing_panel("cam1: missing", (30, 200))
    assert missing.shape == p.shape
    red = (missing[..., 2] > 200) & (missing[..., 0] < 120)
    assert red[render.LINE_HEIGHT :].sum() > 100  # outlined and marked in red
    two = render.grid([p, missing])
    assert two.shape == (p.shape[0], 400, 3)  # side by side
    np.testing.assert_array_equal(two[:, 200:], missing)
    assert render.grid([p] * 4).shape == (2 * p.shape[0], 400, 3)  # four in a 2x2 grid
    view = render.compose(p, ["line one", "line two"])
    assert view.shape == (p.shape[0] + 2 * render.LINE_HEIGHT, render.MIN_WIDTH, 3)
    assert not np.array_equal(render.status_bar(["frame 1"], 300), render.status_bar(["frame 2"], 300))
    assert render.zoom(image, 2).shape == (60, 400, 3)
    np.testing.assert_array_equal(render.zoom(image, 2)[::2, ::2], image)  # whole pixels


def test_scene_one_store(tmp_path):
    numbers = [10, 11, 12, 15, 16, 17]
    store = write_store(tmp_path / "cam", numbers)
    scene = Scene({"cam": store})
    assert len(scene) == 6
    for position, number in enumerate(numbers):
        body = scene.body(position)
        np.testing.assert_array_equal(frame_of(body)[..., 0], store[position])  # frame-exact
        assert scene.lines(position)[0].startswith(f"frame_index {position} / 6   frame_number {number}   ")
    when = store.convert_frame_time_to_datetime(store.frame_times[3])
    assert f"{when:%Y-%m-%d %H:%M:%S}" in scene.lines(3)[0]
    assert scene.render(2, "paused").shape[0] == scene.render(2).shape[0] + render.LINE_HEIGHT
    assert scene.timeline.position_of_frame_number(15) == 3
    assert scene.timeline.position_of_frame_number(14) in (2, 3)  # nearest
    assert scene.position_of("16") == 4  # an integer is a frame number
    assert scene.position_of("+0.15") == 3  # seconds from the first frame (frame 15 is 5/30 s later)
    when = store.convert_frame_time_to_datetime(store.frame_times[5])
    assert scene.position_of_time(f"{when:%H:%M:%S.%f}") == 5
    assert scene.position_of_time(when.isoformat()) == 5
    with pytest.raises(ValueError, match="not a time"):
        scene.position_of_time("noon")

    cropped = Scene({"cam": store}, roi=(8, 4, 30, 20), scale=2)
    np.testing.assert_array_equal(
        frame_of(cropped.body(1), (40, 60))[::2, ::2, 0], store[1][4:24, 8:38]
    )  # the rectangle, zoomed with whole pixels


def test_scene_stores_side_by_side(tmp_path):
    a = write_store(tmp_path / "a", list(range(100, 110)))
    b = write_store(tmp_path / "b", [n for n in range(100, 110) if n != 104], shape=(*SHAPE, 3))
    scene = Scene(named_stores([a, b]))
    assert len(scene) == 10
    body = scene.body(4)
    assert read_barcode(frame_of(body)) == 104
    cell = body.shape[1] // 2
    right = body[:, cell:]
    blank = (right[render.LINE_HEIGHT :, : SHAPE[1]] == render.BACKGROUND).all(axis=2)
    assert blank.mean() > 0.8  # b has no frame 104: blank, outlined and labelled
    missing = render.missing_panel("b: missing", SHAPE)
    np.testing.assert_array_equal(right[:, : missing.shape[1]], missing)
    np.testing.assert_array_equal(
        scene.body(5)[render.LINE_HEIGHT :, cell : cell + SHAPE[1]][: SHAPE[0]], b[4]
    )
    assert scene.lines(4)[0].startswith("row 4 / 10   frame_number 104")
    deep = write_store(tmp_path / "deep", list(range(100, 110)), dtype=np.uint16)
    shown = frame_of(Scene({"deep": deep}).body(0))
    assert shown.min() == 0 and shown.max() == 255  # 16 bits auto-scaled to the display


@pytest.fixture(scope="module")
def stitched(tmp_path_factory):
    root = tmp_path_factory.mktemp("stitched")
    session = make_session(root / "session", receivers=3, frames=30, seed=4)
    stores = import_receivers(session, root)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", framestore.StoreWarning)
        scores = stitch(stores, root / "out")
    return framestore.new_for_filename(root / "out"), scores


def test_scene_stitched_store(stitched):
    store, scores = stitched
    scene = Scene({"out": store})
    k = int(np.flatnonzero(scores["differing_px"] > 500)[0])
    row = scores.iloc[k]
    assert scene.lines(k)[1] == f"source {row['chosen']} of {row['candidates']}: {row['reason']}"
    with_candidates = Scene({"out": store}, candidates=True)
    body = with_candidates.body(k)
    h, w = store.image_shape
    assert body.shape[1] == 4 * w  # the stitched frame, then its three sources, in one row
    cells = [body[render.LINE_HEIGHT : render.LINE_HEIGHT + h, j * w : (j + 1) * w] for j in range(4)]
    np.testing.assert_array_equal(cells[0][..., 0], store[k])
    names = list(with_candidates.sources)
    chosen = names.index(row["chosen"])
    red = [((c[..., 2] == 255) & (c[..., 1] == 0) & (c[..., 0] == 0)).sum() for c in cells[1:]]
    assert red[chosen] == 0 and max(red) > 500  # the copies that differ are marked where they do
    with pytest.raises(ValueError, match="candidates"):
        Scene({"out": store, "again": store}, candidates=True)
