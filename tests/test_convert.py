"""framestore convert: any store, imgstore's included, into another format, losing nothing."""

from __future__ import annotations

import numpy as np
import pytest
from _support.imgstore_stores import imgstore_frames, write_with_imgstore
from _support.media import write_recording

import framestore
from framestore.cli.main import main


@pytest.mark.parametrize("target", ["ffv1", "npy", "mjpeg"])
def test_convert_an_imgstore_store(tmp_path, target):
    pytest.importorskip("imgstore")
    write_with_imgstore(tmp_path / "src", "mjpeg/avi", "gray", count=45, chunksize=20)
    theirs, frames, _ = imgstore_frames(tmp_path / "src")
    assert main(["convert", str(tmp_path / "src"), str(tmp_path / "dst"), "--format", target]) == 0
    out = framestore.new_for_filename(tmp_path / "dst")
    assert out.format == framestore.codecs.resolve_format(target).name
    assert out.get_frame_metadata() == theirs.get_frame_metadata()
    assert out.user_metadata == theirs.user_metadata
    assert out.get_extra_data().equals(theirs.get_extra_data())
    if target != "mjpeg":
        np.testing.assert_array_equal(out[:], frames)  # lossless targets keep the pixels


def test_convert_refuses_an_existing_destination(tmp_path):
    write_recording(tmp_path / "src", "npy", "gray8", count=5, chunksize=5)
    write_recording(tmp_path / "dst", "npy", "gray8", count=3, chunksize=5)
    assert main(["convert", str(tmp_path / "src"), str(tmp_path / "dst"), "--format", "png"]) == 1
    assert len(framestore.new_for_filename(tmp_path / "dst")) == 3
    assert main(["convert", str(tmp_path / "src"), str(tmp_path / "dst"), "--format", "png", "--force"]) == 0
    assert len(framestore.new_for_filename(tmp_path / "dst")) == 5
