"""The objects the store code is built on: a store's description (one per store, in one of
two dialects), a writer's settings, the options of a stitch, and argument modes checked up
front."""

from __future__ import annotations

import inspect
import pickle

import numpy as np
import pytest

import framestore
from framestore._disk.metadata import StoreMetadata
from framestore.core.description import StoreDescription
from framestore.core.dialect import FRAMESTORE, IMGSTORE
from framestore.core.settings import WriteSettings
from framestore.sessions.align import AlignedFrames, align
from framestore.sessions.stitch import StitchOptions, stitch, write_stitched


def test_description_of_a_framestore_store(tmp_path):
    path = tmp_path / "s"
    with framestore.new_for_format("png", path, imgshape=(8, 6), chunksize=2) as w:
        for k in range(3):
            w.add_image(np.full((8, 6), k, np.uint8), k, float(k))
    store = StoreDescription.read(path)
    assert store.dialect is FRAMESTORE and store.index_keys is None and store.conversion is None
    assert store.format.name == "png" and store.spec.shape == store.shape == (8, 6)
    assert store.layout.root == path and store.layout.image_chunks
    again = pickle.loads(pickle.dumps(store))
    assert again.metadata == store.metadata and again.layout == store.layout
    with framestore.new_for_filename(path) as reader:
        assert reader.description.metadata == store.metadata


def test_imgstore_dialect_reads_only_frame_columns_and_even_sizes():
    md = StoreMetadata(
        format="mjpeg",
        store_class="VideoImgStore",
        chunksize=10,
        imgshape=(7, 9),
        imgdtype="uint8",
        extension=".avi",
        written_by_framestore=False,
    )
    assert IMGSTORE.index_keys == ("frame_number", "frame_time")
    assert IMGSTORE.stored_image_shape(md) == (6, 8)
    assert IMGSTORE.read_format(md).extension == ".avi"


def test_write_settings_are_checked_when_built_and_pickle():
    settings = WriteSettings.build(
        "ffv1", imgshape=(4, 6, 1), frame_columns={"a": ">i4"}, derived_from={"method": "x"}
    )
    assert settings.spec.shape == (4, 6) and settings.format.name == "ffv1/mkv"
    assert settings.columns_header == [["a", "<i4"]]
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert settings.new_metadata().derived_from == {"method": "x"}
    assert settings.without_derived_from().derived_from is None
    with pytest.raises(framestore.InvalidFrameError, match="imgshape"):
        WriteSettings.build("ffv1", imgshape=(4,))
    with pytest.raises(ValueError, match="chunksize"):
        WriteSettings.build("ffv1", imgshape=(4, 6), chunksize=0)
    with pytest.raises(ValueError, match="reserved"):
        WriteSettings.build("ffv1", imgshape=(4, 6), metadata={"__store": 1})


def test_the_public_writer_takes_no_internal_settings():
    parameters = inspect.signature(framestore.StoreWriter).parameters
    assert "derived_from" not in parameters and "first_chunk" not in parameters


def test_stitch_options_are_the_arguments_of_both_stitch_functions():
    fields = list(inspect.signature(StitchOptions).parameters)
    for function in (stitch, write_stitched):
        assert list(inspect.signature(function).parameters) == ["stores", "output", *fields]
    with pytest.raises(ValueError, match="by must be one of"):
        StitchOptions(by="frame")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="chunks_per_task"):
        StitchOptions(chunks_per_task=0)
    with pytest.raises(ValueError, match="serial run only"):
        StitchOptions(debug_video="d.avi", workers=2)


def test_modes_are_checked_before_any_store_is_opened(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=r"by must be one of \('frame_number', 'frame_time'\)"):
        align([missing, missing], by="time")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"missing must be one of \('drop', 'hold', 'blank'\)"):
        AlignedFrames({}, None, missing="skip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="by must be one of"):
        stitch([missing, missing], tmp_path / "out", by="time")  # type: ignore[arg-type]
