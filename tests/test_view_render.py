"""The viewer's drawing, without a window: contrast, panels, grids, what a Scene shows."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from _support.receivers import import_receivers

import framestore
from framestore.sessions.align import named_stores
from framestore.sessions.stitch import stitch
from framestore.testing.damage import clean_frames
from framestore.testing.frames import frame_times_for, read_barcode, synthetic_frame
from framestore.testing.miniscope import make_session
from framestore.view import Scene, render
from framestore.view.player import Player
from framestore.view.stitched import Stitched
from framestore.view.window import Window

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
    later = scene.body(5)  # its labels, so its panels' widths, may differ from body(4)'s
    cell = later.shape[1] // 2
    np.testing.assert_array_equal(later[render.LINE_HEIGHT :, cell : cell + SHAPE[1]][: SHAPE[0]], b[4])
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


def test_stitched_store_read_by_url(stitched):
    pytest.importorskip("fsspec")
    store, scores = stitched
    with framestore.new_for_filename(store.path.as_uri()) as remote:
        record = Stitched.of(remote)
        assert record is not None and record.scores.equals(scores)


def test_timeline_strip_and_clicks():
    spans = [render.Span(20, 39, "reach"), render.Span(60, 79, "groom")]
    strip = render.timeline_strip(408, 101, 50, spans)
    assert strip.shape == (render.STRIP_HEIGHT, 408, 3)
    row = strip[render.STRIP_HEIGHT // 2 - 6]  # above the track: only spans and the marker
    colors = {label: render.SEGMENT_COLORS[k] for k, label in enumerate(["groom", "reach"])}
    # the track runs from x=8 to x=399: 100 steps of 3.92 pixels
    assert tuple(row[render.position_at(8 + 30 * 392 // 100, 101, 408) * 392 // 100 + 8]) == colors["reach"]
    assert tuple(row[8 + 70 * 392 // 100]) == colors["groom"]
    assert tuple(row[8 + 10 * 392 // 100]) == render.BACKGROUND  # no segment there
    marker = np.flatnonzero((strip == render.MARKER_COLOR).all(axis=2).all(axis=0))
    assert marker.tolist() == [203, 204, 205]  # 3 pixels wide, centred on position 50
    assert render.position_at(204, 101, 408) == 50
    assert render.position_at(0, 101, 408) == 0 and render.position_at(407, 101, 408) == 100  # clamped
    assert [render.position_at(8 + round(p * 392 / 100), 101, 408) for p in range(101)] == list(range(101))
    labelled = render.timeline_strip(408, 101, 0, [render.Span(20, 80, "a long enough segment")])
    unlabelled = render.timeline_strip(408, 101, 0, [render.Span(20, 22, "a long enough segment")])
    band = labelled[:, 8 + 20 * 392 // 100 + 2 : 8 + 80 * 392 // 100]
    assert (band == render.TEXT_COLOR).all(axis=2).any()  # its label is written in it
    band = unlabelled[:, 8 + 20 * 392 // 100 : 8 + 22 * 392 // 100]
    assert not (band == render.TEXT_COLOR).all(axis=2).any()  # too narrow for its label


def test_damaged_panel_and_wrap():
    error = "/data/session1/cam0/000003/000017.png: fails its CRC32 check: the file is damaged"
    p = render.damaged_panel("cam0 DAMAGED", (120, 200), error)
    assert p.shape == (120 + render.LINE_HEIGHT, 200, 3)
    orange = (p == render.DAMAGED_COLOR).all(axis=2)
    assert orange[render.LINE_HEIGHT].all() and orange[-1].all()  # outlined
    lines = render.wrap(error, 200)
    assert len(lines) > 1 and "".join(lines).replace(" ", "") == error.replace(" ", "")
    assert all(render.text_width(line) <= 200 for line in lines)
    assert render.wrap("x" * 200, 60)[0] == "x" * len(render.wrap("x" * 200, 60)[0])  # a long word is cut
    assert all(render.text_width(line) <= 60 for line in render.wrap("x" * 200, 60))
    assert not np.array_equal(p, render.missing_panel("cam0 DAMAGED", (120, 200)))


def test_fit_and_fit_size():
    image = np.full((100, 400, 3), 9, np.uint8)
    fitted = render.fit(image, (200, 200))
    assert fitted.shape == (200, 200, 3)
    assert (fitted[:50] == 9).all() and (fitted[50:] == render.BACKGROUND).all()  # halved, padded below
    np.testing.assert_array_equal(render.fit(image, (400, 100)), image)  # already that size
    # a view that fits is left at its size; one that does not is shrunk, the bars kept
    assert render.fit_size((700, 100), 84, (1264, 728)) == (700, 184)
    w, h = render.fit_size((1280, 1000), 84, (1264, 728))
    assert h == 728 and w == round(1280 * (728 - 84) / 1000) and w <= 1264
    assert render.fit_size((3000, 100), 84, (1264, 728)) == (1264, round(100 * 1264 / 3000) + 84)
    assert render.fit_size((100, 50), 84, (1264, 728))[0] == render.MIN_WIDTH


def test_scene_view_at_a_size(tmp_path):
    store = write_store(tmp_path / "cam", list(range(100, 110)))
    scene = Scene({"cam": store})
    natural = scene.view(3, "paused")
    assert natural.shape[0] == SHAPE[0] + render.LINE_HEIGHT + scene.bars_height()
    np.testing.assert_array_equal(natural[: -render.STRIP_HEIGHT], scene.render(3, "paused"))
    np.testing.assert_array_equal(
        natural[-render.STRIP_HEIGHT :], render.timeline_strip(render.MIN_WIDTH, 10, 3)
    )
    big = scene.view(3, "paused", (900, 500))
    assert big.shape == (500, 900, 3)
    assert big[-render.STRIP_HEIGHT :].shape[1] == 900  # the strip spans the window
    rows = 500 - scene.bars_height()
    body = scene.body(3)
    np.testing.assert_array_equal(big[:rows], render.fit(body, (900, rows)))  # panels scaled up
    status = big[rows : rows + render.LINE_HEIGHT]
    np.testing.assert_array_equal(status, render.text_strip(scene.lines(3)[0], 900))  # text kept sharp


def test_contrast_range_in_the_status_bar(tmp_path):
    deep = write_store(tmp_path / "deep", list(range(100, 110)), dtype=np.uint16)
    scene = Scene({"deep": deep})
    low, high = render.Contrast().range_of(deep[4])
    scene.body(4)
    assert scene.lines(4)[1] == f"contrast   {low:g}..{high:g} auto"
    assert Scene({"deep": deep}).lines(4)[1] == scene.lines(4)[1]  # the same without drawing first
    assert Scene({"deep": deep}, contrast="100,4000").lines(4)[1] == "contrast   100..4000 fixed"
    eight = write_store(tmp_path / "eight", list(range(100, 110)))
    assert len(Scene({"eight": eight}).lines(4)) == 1  # 8-bit frames are shown as stored
    both = Scene(named_stores([eight, deep]))
    assert both.lines(4)[1] == f"contrast   deep {low:g}..{high:g} auto"
    scene.toggle_contrast(4)  # held at this frame's range
    assert scene.lines(7)[1] == f"contrast   {low:g}..{high:g} fixed"


def test_damaged_frame_is_a_panel(tmp_path):
    store = write_store(tmp_path / "cam", list(range(100, 110)))
    damaged = store.path / "000000" / "000004.npy"
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 0xFF
    damaged.write_bytes(data)
    scene = Scene({"cam": framestore.new_for_filename(store.path)})
    body = scene.body(4)
    error = scene.damaged[("cam", 4)]
    assert str(damaged) in error and "CRC32" in error
    np.testing.assert_array_equal(body, render.damaged_panel("cam DAMAGED", SHAPE, error))
    assert read_barcode(frame_of(scene.body(5))) == 105  # the next frame reads as usual
    auto = Scene({"cam": framestore.new_for_filename(store.path)}, contrast="auto")
    assert auto.toggle_contrast(4) is False and auto.contrasts["cam"].auto  # no range to hold; no error


def test_dataset_opens_with_its_segments(tmp_path):
    from framestore.sessions.dataset import Dataset
    from framestore.view.cli import open_paths

    root = tmp_path / "session"
    write_store(root / "cam0", list(range(100, 130)))
    write_store(root / "cam1", [n for n in range(100, 130) if n != 105])
    write_store(tmp_path / "other" / "cam0", list(range(100, 130)))
    dataset = Dataset.from_directory(root)
    dataset.add_segment("cam1", "reach", 104, 110, by="frame_number")
    t = float(dataset.recordings["cam0"].frame_times[20])
    dataset.add_segment("cam0", "groom", t, t + 0.19, by="frame_time")  # 6 frames at 30 fps
    stores, segments = open_paths([root, tmp_path / "other" / "cam0"])
    assert list(stores) == ["cam0", "cam1", "cam0_2"]  # the dataset's stores, then the store
    assert [(s.recording, s.label) for s in segments] == [("cam1", "reach"), ("cam0", "groom")]
    scene = Scene(stores, segments=segments)
    assert [s for s, _ in scene.segments] == [render.Span(4, 9, "reach"), render.Span(20, 25, "groom")]
    assert scene.lines(4)[-1] == "segment   reach (cam1)"
    assert scene.lines(12)[-1] == "segment   -"
    assert scene.lines(21)[-1] == "segment   groom (cam0)"
    strip = scene.view(4, "")[-render.STRIP_HEIGHT :]
    np.testing.assert_array_equal(
        strip, render.timeline_strip(strip.shape[1], 30, 4, [s for s, _ in scene.segments])
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(framestore.StoreNotFoundError, match="neither a store nor a dataset"):
        open_paths([tmp_path / "empty"])


def test_timeline_strip_damage_marks():
    damaged = np.zeros(101, bool)
    damaged[[10, 11, 70]] = True
    strip = render.timeline_strip(408, 101, 50, [render.Span(60, 79, "groom")], damaged)
    marked = (strip == render.DAMAGE_MARK_COLOR).all(axis=2)
    columns = np.flatnonzero(marked.any(axis=0))
    assert columns.tolist() == [8 + round(p * 392 / 100) for p in (10, 11, 70)]
    assert marked[:, columns].sum(axis=0).tolist() == [render.DAMAGE_MARK_ROWS] * 3  # the bottom rows
    assert marked[-render.DAMAGE_MARK_ROWS :, columns].all()
    plain = render.timeline_strip(408, 101, 50, [render.Span(60, 79, "groom")])
    unmarked = ~marked.any(axis=0)
    np.testing.assert_array_equal(strip[:, unmarked], plain[:, unmarked])  # nothing else changes
    assert not (plain == render.DAMAGE_MARK_COLOR).all(axis=2).any()


def damaged_store(path, count=12, shape=SHAPE):
    """A store of clean miniscope frames but frame 3 (rows 10..19 blacked out) and frame 7
    (rows 20..29 garbled)."""
    frames = clean_frames(count, shape, seed=3, dark_first=False)
    frames[3, 10:20] = 0
    frames[7, 20:30] = np.random.default_rng(0).integers(0, 256, (10, shape[1]), dtype=np.uint8)
    numbers = np.arange(100, 100 + count)
    with framestore.new_for_format("npy", path, imgshape=shape, imgdtype=np.uint8, chunksize=5) as writer:
        for image, n, t in zip(frames, numbers, frame_times_for(numbers, fps=30.0), strict=True):
            writer.add_image(image, int(n), float(t))
    return framestore.new_for_filename(path)


def test_damage_in_status_bar_and_next_damaged(tmp_path):
    store = damaged_store(tmp_path / "cam")
    scene = Scene({"cam": store})
    assert not any(line.startswith("damage") for line in scene.lines(2))  # clean: no line
    assert scene.lines(3)[-1] == "damage   blacked_out rows 10..19 (score 1.2)"
    assert re.fullmatch(r"damage   check_pattern rows 20\.\.29 \(score [\d.]+\)", scene.lines(7)[-1])
    cropped = Scene({"cam": store}, roi=(0, 5, 72, 30))
    assert cropped.lines(3)[-1].startswith("damage   blacked_out rows 10..19 ")  # rows of the frame

    with pytest.raises(ValueError, match="--damage"):
        scene.next_damaged(0)
    assert not (scene.view(0, "paused") == render.DAMAGE_MARK_COLOR).all(axis=2).any()  # no marks yet
    assert scene.find_damage() == 2
    assert np.flatnonzero(scene.damage_mask).tolist() == [3, 7]
    assert [scene.next_damaged(p) for p in (0, 3, 6, 7)] == [3, 7, 7, None]
    assert [scene.next_damaged(p, -1) for p in (11, 7, 4, 3)] == [7, 3, 3, None]
    strip = scene.view(0, "paused")[-render.STRIP_HEIGHT :]
    np.testing.assert_array_equal(strip, render.timeline_strip(strip.shape[1], 12, 0, (), scene.damage_mask))

    other = write_store(tmp_path / "other", np.arange(103, 115))
    both = Scene(named_stores([store, other]))
    names = list(both.stores)
    assert both.lines(3)[-1] == f"damage   {names[0]}: blacked_out rows 10..19 (score 1.2)"
    assert both.find_damage() == 2
    assert np.flatnonzero(both.damage_mask).tolist() == [3, 7]  # the rows showing frame_number 103, 107


def test_keys_go_to_damaged_frames(tmp_path):
    scene = Scene({"cam": damaged_store(tmp_path / "cam")})
    window = Window(scene, Player(scene.times), "test", tmp_path)  # no window opened: keys only
    window._on_key(ord("d"))
    assert window.player.position == 0
    assert "needs --damage" in window._playback_line()
    scene.find_damage()
    positions = []
    for key in "ddDD":
        assert window._on_key(ord(key))
        positions.append(window.player.position)
    assert positions == [3, 7, 3, 3]
    assert "no damaged frame before this one" in window._playback_line()
    window._on_key(ord("d"))
    window._on_key(ord("d"))
    assert window.player.position == 7
    assert "no damaged frame after this one" in window._playback_line()
