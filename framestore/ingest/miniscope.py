"""Importing one receiver's recording (a video plus its buffer CSV) into a store.

One row per video frame: ``frame_number`` is the device's ``frame_num``, ``frame_time`` the
first receive time of its buffers, and the per-frame columns ``num_buffers``,
``black_padding_px``, ``first_recv_time`` and ``last_recv_time`` say how complete it is.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import av
import numpy as np
import pandas as pd

from .._disk.index import fps_from_times
from ..codecs.pixels import to_array
from ..core.writer import StoreWriter
from ..errors import CorruptStoreError, StoreWarning

NUM_BUFFERS = "num_buffers"  # buffers (radio packets) received of the frame
BLACK_PADDING_PX = "black_padding_px"  # pixels the receiver padded with zeros
# the format of receivers imported only to be stitched (a scratch copy: fast and exact)
SCRATCH_FORMAT = "utvideo/avi"
FRAME_COLUMNS = {
    NUM_BUFFERS: "int16",
    BLACK_PADDING_PX: "int32",
    "first_recv_time": "float64",
    "last_recv_time": "float64",
}
BUFFER_CSV_COLUMNS = (  # what a receiver's buffer CSV must hold
    "frame_num",
    "buffer_recv_unix_time",
    "black_padding_px",
    "reconstructed_frame_index",
)


def frame_table(csv: Path, video_frames: int) -> pd.DataFrame:
    """Per video frame, what its buffer rows say; checked against the video's length."""
    try:
        buffers = pd.read_csv(csv)
    except (OSError, ValueError) as exc:
        raise CorruptStoreError(f"{csv}: not a readable buffer CSV ({exc})") from None
    missing = [c for c in BUFFER_CSV_COLUMNS if c not in buffers.columns]
    if missing:
        raise CorruptStoreError(f"{csv}: lacks the column(s) {missing}")
    grouped = buffers.groupby("reconstructed_frame_index", sort=True)
    # each frame's frame_num is its buffers' majority (ties: the smallest)
    votes = buffers.groupby(["reconstructed_frame_index", "frame_num"]).size().rename("votes").reset_index()
    votes = votes.sort_values(
        ["reconstructed_frame_index", "votes", "frame_num"], ascending=[True, False, True]
    )
    majority = votes.drop_duplicates("reconstructed_frame_index").set_index("reconstructed_frame_index")
    table = pd.DataFrame(
        {
            "frame_num": majority["frame_num"],
            "num_buffers": grouped.size(),
            "black_padding_px": grouped["black_padding_px"].sum(),
            "first_recv_time": grouped["buffer_recv_unix_time"].min(),
            "last_recv_time": grouped["buffer_recv_unix_time"].max(),
        }
    )
    table["disagreeing"] = table["num_buffers"] - majority["votes"]
    if len(table) and table.index[-1] == video_frames:
        warnings.warn(
            f"{csv}: frame {video_frames} (frame_num {table['frame_num'].iloc[-1]}) has buffers "
            "but no video frame (still being assembled at stop): left out",
            StoreWarning,
            stacklevel=3,
        )
        table = table.iloc[:-1]
    expected = np.arange(video_frames)
    if not np.array_equal(table.index.to_numpy(), expected):
        absent = sorted(int(k) for k in set(expected) - set(table.index))
        extra = sorted(int(k) for k in set(table.index) - set(expected))
        raise CorruptStoreError(
            f"{csv}: its buffers do not match the video's {video_frames} frames "
            f"(video frames without buffers: {absent[:5]}, buffers for frames not in the video: {extra[:5]})"
        )
    glitches = table.index[table["disagreeing"] > 0].tolist()
    if glitches:
        warnings.warn(
            f"{csv}: buffers of video frame(s) {glitches[:5]} disagree on frame_num; the majority is used",
            StoreWarning,
            stacklevel=3,
        )
    return table


def import_recording(
    video: str | os.PathLike[str],
    output: str | os.PathLike[str],
    csv: str | os.PathLike[str] | None = None,
    fmt: str = "ffv1/mkv",
    overwrite: bool = False,
) -> Path:
    """Turn a receiver's ``{stem}.avi`` and ``{stem}.csv`` (found beside it by default) into a
    store at ``output``, one frame per video frame, pixels unchanged in lossless formats."""
    video = Path(video)
    csv_path = Path(csv) if csv is not None else video.with_suffix(".csv")
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            count = sum(1 for _ in container.demux(stream) if _.size)
            height, width = stream.codec_context.height, stream.codec_context.width
    except (av.FFmpegError, IndexError) as exc:
        raise CorruptStoreError(f"{video}: not a readable video ({exc})") from None
    table = frame_table(csv_path, count)
    writer = StoreWriter(
        fmt,
        output,
        imgshape=(height, width),
        fps=round(fps_from_times(table["first_recv_time"].to_numpy(), 20.0), 3),
        overwrite=overwrite,
        frame_columns=FRAME_COLUMNS,
        metadata={"source_video": str(video.resolve()), "source_csv": str(csv_path.resolve())},
    )
    numbers = table["frame_num"].to_numpy()
    times = table["first_recv_time"].to_numpy()
    columns = {name: table[name].to_numpy() for name in FRAME_COLUMNS}
    with writer, av.open(str(video)) as container:
        container.streams.video[0].thread_type = "AUTO"
        for k, frame in enumerate(container.decode(video=0)):
            values = {name: column[k] for name, column in columns.items()}
            writer.add_image(to_array(frame, "gray"), int(numbers[k]), float(times[k]), **values)
    return Path(output)
