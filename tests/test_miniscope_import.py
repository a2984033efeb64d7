"""Importing a receiver's recording (video + buffer CSV) into a store."""

from __future__ import annotations

import av
import numpy as np
import pandas as pd
import pytest

import framestore
from framestore.ingest.miniscope import import_recording
from framestore.testing.miniscope import make_session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return make_session(tmp_path_factory.mktemp("session"), receivers=3, frames=60)


def test_import_each_receiver(session, tmp_path):
    for rec in session.receivers:
        video = session.video(rec.stem)
        with pytest.warns(framestore.StoreWarning, match="still being assembled"):
            import_recording(video, tmp_path / rec.stem)
        if rec.split_frame_num is not None:
            with pytest.warns(framestore.StoreWarning, match="repeat"):
                store = framestore.new_for_filename(tmp_path / rec.stem)
        else:
            store = framestore.new_for_filename(tmp_path / rec.stem)
        assert store.frame_numbers.tolist() == rec.frame_nums
        with av.open(str(video)) as container:
            frames = np.stack([f.to_ndarray(format="gray") for f in container.decode(video=0)])
        np.testing.assert_array_equal(store[:], frames)  # bit-exact copy of the video
        buffers = pd.read_csv(video.with_suffix(".csv"))
        counts = buffers.groupby("reconstructed_frame_index").size().to_numpy()[: len(store)]
        df = store.index_dataframe()
        np.testing.assert_array_equal(df["num_buffers"], counts)
        assert (df["frame_time"] == df["first_recv_time"]).all()
        assert (df["last_recv_time"] >= df["first_recv_time"]).all()


def test_a_csv_that_does_not_match_its_video(session, tmp_path):
    rec = session.receivers[1]
    video = session.video(rec.stem)
    buffers = pd.read_csv(video.with_suffix(".csv"))
    buffers = buffers[buffers["reconstructed_frame_index"] != 7]  # video frame 7 loses its rows
    csv = tmp_path / "broken.csv"
    buffers.to_csv(csv, index=False)
    with pytest.raises(framestore.CorruptStoreError, match=r"broken.csv.*without buffers: \[7\]"):
        import_recording(video, tmp_path / "out", csv=csv)
