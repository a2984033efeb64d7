"""Drawing a stitch's evidence: where a copy differs from the chosen one, and the debug
video of the candidates side by side."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

DIFFERENCE_COLOR = (0, 0, 255)  # BGR red: where a candidate differs from the chosen copy


def mark_differences(display: np.ndarray, image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """A copy of ``display`` (BGR, the way ``image`` is shown) with the pixels where
    ``image`` differs from ``reference`` (a frame of the same shape) painted red."""
    differs = image != reference
    if differs.ndim == 3:
        differs = differs.any(axis=2)
    marked = display.copy()
    marked[differs] = DIFFERENCE_COLOR
    return marked


class DebugVideo:
    """Candidates side by side; red where a copy differs from the chosen one."""

    def __init__(self, path: Path, names: list[str], shape: tuple[int, ...]) -> None:
        self._names = names
        self._h, self._w = shape[0], shape[1]
        self._band = 18  # label strips above the candidates and below them
        self._container = av.open(str(path), "w")
        self._stream = self._container.add_stream("mjpeg", rate=20)
        width = len(names) * self._w
        self._stream.width = width + width % 2
        self._stream.height = self._h + 2 * self._band + self._h % 2
        self._stream.pix_fmt = "yuvj420p"
        self._count = 0

    def add(self, images: dict[str, np.ndarray], chosen: str, frame_number: int, reason: str) -> None:
        canvas = np.zeros((self._stream.height, self._stream.width, 3), np.uint8)
        best = images[chosen]
        for j, name in enumerate(self._names):
            x = j * self._w
            label = f"{name}: missing"
            if name in images:
                image = images[name]
                bgr = image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
                canvas[self._band : self._band + self._h, x : x + self._w] = mark_differences(
                    bgr, image, best
                )
                label = f"{name}{' CHOSEN' if name == chosen else ''}"
            color = (0, 255, 0) if name == chosen else (200, 200, 200)
            cv2.putText(canvas, label, (x + 3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1)
        cv2.putText(
            canvas,
            f"frame_number {frame_number}: {reason}",
            (3, self._band + self._h + 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.35,
            (255, 255, 0),
            1,
        )
        frame = av.VideoFrame.from_ndarray(canvas, format="bgr24")
        frame.pts = self._count
        self._count += 1
        self._container.mux(self._stream.encode(frame))

    def close(self) -> None:
        self._container.mux(self._stream.encode(None))
        self._container.close()
