"""A synthetic wireless-miniscope session: one clean ground truth, several receivers.

Each receiver records the device's stream as a lossless gray video ``{stem}.avi`` plus
``{stem}.csv`` with one row per buffer it received (8 buffers per 200x200 frame), with the
faults real receivers show: bursty buffer loss (lost pixels stay 0), truncated buffers
(zero padding), garbled payloads under clean metadata, whole missing frames, different start
and stop, an extra trailing CSV frame, receive-time jitter and host stalls, and (optionally)
a header glitch that splits one frame across two video frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pandas as pd

from .frames import synthetic_frame

CSV_COLUMNS = [
    "linked_list",
    "frame_num",
    "buffer_count",
    "frame_buffer_count",
    "write_buffer_count",
    "dropped_buffer_count",
    "timestamp",
    "pixel_count",
    "write_timestamp",
    "battery_voltage_raw",
    "input_voltage_raw",
    "buffer_recv_index",
    "buffer_recv_unix_time",
    "black_padding_px",
    "reconstructed_frame_index",
]
SHAPE = (200, 200)
BUFFERS = 8
FPS = 20.0
GLITCH_FRAME_NUM = 2**31 - 1  # what a corrupted header can claim


@dataclass
class ReceiverTruth:
    """What a receiver got, frame by frame, for the tests to check against."""

    stem: str
    frame_nums: list[int] = field(default_factory=list)  # per video frame
    damaged: list[int] = field(default_factory=list)  # damaged pixels per video frame
    split_frame_num: int | None = None


@dataclass
class Session:
    directory: Path
    truth: dict[int, np.ndarray]  # frame_num -> clean frame
    receivers: list[ReceiverTruth]

    def video(self, stem: str) -> Path:
        return self.directory / f"{stem}.avi"


def make_session(
    directory: Path,
    receivers: int = 3,
    frames: int = 120,
    first_frame_num: int = 5000,
    seed: int = 0,
    split_frame: bool = True,
    glitch_frame: bool = True,
) -> Session:
    """Write ``receivers`` recordings of one ``frames``-frame device stream to ``directory``."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    nums = first_frame_num + np.arange(frames)
    truth = {int(n): synthetic_frame(int(n), SHAPE, noise=2.0) for n in nums}
    rows_per_buffer = SHAPE[0] // BUFFERS
    t0 = 1.7e9
    out = []
    for r in range(receivers):
        stem = f"receiver{r}"
        start = int(rng.integers(0, 6)) if r else 0
        stop = frames - (int(rng.integers(0, 6)) if r != 1 else 0)
        loss_state = False
        info = ReceiverTruth(stem)
        records: list[dict[str, Any]] = []
        video_frames: list[np.ndarray] = []
        recv_index = 0
        stall_until = last_t = -1.0
        split_at = start + 10 if (split_frame and r == 0) else -1
        for k in range(start, stop + 1):  # one frame more: the trailing CSV-only frame
            num = int(nums[k]) if k < frames else int(nums[-1]) + 1
            clean = truth.get(num, np.zeros(SHAPE, np.uint8))
            image = np.zeros(SHAPE, np.uint8)
            got = 0
            frame_records = []
            for b in range(BUFFERS):
                loss_state = rng.random() < (0.6 if loss_state else 0.04)  # bursty
                if loss_state:
                    continue
                rows = slice(b * rows_per_buffer, (b + 1) * rows_per_buffer)
                payload = clean[rows].copy()
                padding = 0
                if rng.random() < 0.03:  # truncated buffer, padded with zeros
                    padding = int(rng.integers(50, 2000))
                    payload.reshape(-1)[-padding:] = 0
                if rng.random() < 0.02:  # garbled payload under clean metadata
                    garble = rng.integers(0, 256, payload.shape, dtype=np.uint8)
                    payload[::2] = garble[::2]
                image[rows] = payload
                t = t0 + k / FPS + 0.002 * b + rng.uniform(0, 0.003)
                if rng.random() < 0.01:
                    stall_until = t + 0.3  # the host stalls; buffers arrive in a burst
                # buffers held up by a stall arrive together at its end, still in order
                t = max(t, stall_until, last_t + 1e-5)
                last_t = t
                frame_records.append((b, padding, t))
                got += 1
            if got == 0:
                continue  # the receiver never saw this frame
            video_index = len(video_frames)
            trailing = k == stop
            for b, padding, t in frame_records:
                fn = num
                video_row = video_index
                if video_index == split_at - start and b >= BUFFERS // 2:
                    video_row = video_index + 1  # a header glitch: the frame splits in two
                records.append(
                    {
                        "linked_list": 0,
                        "frame_num": fn,
                        "buffer_count": k * BUFFERS + b,
                        "frame_buffer_count": b,
                        "write_buffer_count": recv_index,
                        "dropped_buffer_count": 0,
                        "timestamp": int((k / FPS + b * 0.002) * 1000),
                        "pixel_count": SHAPE[1] * rows_per_buffer - padding,
                        "write_timestamp": int(t * 1000) % 10**9,
                        "battery_voltage_raw": 700,
                        "input_voltage_raw": 900,
                        "buffer_recv_index": recv_index,
                        "buffer_recv_unix_time": t,
                        "black_padding_px": padding,
                        "reconstructed_frame_index": video_row,
                    }
                )
                recv_index += 1
            if trailing:
                continue  # still being assembled when the recording stopped: CSV only
            if video_index == split_at - start:
                first = image.copy()
                first[rows_per_buffer * (BUFFERS // 2) :] = 0
                second = image.copy()
                second[: rows_per_buffer * (BUFFERS // 2)] = 0
                video_frames += [first, second]
                info.frame_nums += [num, num]
                info.damaged += [
                    int(np.count_nonzero(first != clean)),
                    int(np.count_nonzero(second != clean)),
                ]
                info.split_frame_num = num
                split_at = -2  # later frames shift by one video frame
                continue
            video_frames.append(image)
            info.frame_nums.append(num)
            info.damaged.append(int(np.count_nonzero(image != clean)))
            if glitch_frame and r == 1 and len(video_frames) == 21:
                # a header glitch: one stray buffer under an out-of-range frame_num
                stray = dict(records[-1])
                stray.update(
                    frame_num=GLITCH_FRAME_NUM,
                    frame_buffer_count=0,
                    black_padding_px=0,
                    buffer_recv_index=recv_index,
                    write_buffer_count=recv_index,
                    buffer_recv_unix_time=records[-1]["buffer_recv_unix_time"] + 0.001,
                    reconstructed_frame_index=len(video_frames),
                )
                records.append(stray)
                recv_index += 1
                glitch = np.zeros(SHAPE, np.uint8)
                glitch[:rows_per_buffer] = rng.integers(0, 256, (rows_per_buffer, SHAPE[1]), dtype=np.uint8)
                video_frames.append(glitch)
                info.frame_nums.append(GLITCH_FRAME_NUM)
                info.damaged.append(SHAPE[0] * SHAPE[1])
        _write_video(directory / f"{stem}.avi", video_frames)
        pd.DataFrame(records, columns=CSV_COLUMNS).to_csv(directory / f"{stem}.csv", index=False)
        out.append(info)
    return Session(directory, truth, out)


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=int(FPS))
        stream.width, stream.height, stream.pix_fmt = SHAPE[1], SHAPE[0], "gray"
        for k, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="gray")
            frame.pts = k
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
