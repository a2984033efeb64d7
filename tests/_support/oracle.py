"""The oracle: every frame of a store by a plain full sequential decode of its chunk
files, with PyAV (video) or numpy/OpenCV (image files), without framestore's reader."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

VIDEO_SUFFIXES = (".mkv", ".avi", ".nut", ".mp4")


def _oracle_frame(frame: av.VideoFrame, kind: str) -> np.ndarray:
    if kind == "color":
        return frame.to_ndarray(format="bgr24")
    if kind == "gray16":
        return frame.to_ndarray(format="gray16le")
    if frame.format.name == "gray":
        return frame.to_ndarray(format="gray").copy()
    # gray content in a YUV frame: the luma plane is the image
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : frame.width].copy()


def oracle_decode(path: Path, kind: str) -> np.ndarray:
    """Every frame of the store at ``path``, chunk after chunk in file-name order.

    ``kind`` is ``gray8``, ``gray16`` or ``color`` (BGR, as framestore returns it).
    """
    frames: list[np.ndarray] = []
    video = sorted(p for p in path.iterdir() if p.suffix in VIDEO_SUFFIXES)
    if video:
        for chunk in video:
            with av.open(str(chunk)) as container:
                frames.extend(_oracle_frame(f, kind) for f in container.decode(video=0))
        return np.stack(frames)
    for folder in sorted(p for p in path.iterdir() if p.is_dir()):
        for file in sorted(folder.glob("[0-9]*.*")):
            if file.suffix == ".npy":
                frames.append(np.load(file))
            else:
                flag = {"color": cv2.IMREAD_COLOR, "gray8": cv2.IMREAD_GRAYSCALE}.get(
                    kind, cv2.IMREAD_UNCHANGED
                )
                frames.append(cv2.imread(str(file), flag))
    return np.stack(frames)
