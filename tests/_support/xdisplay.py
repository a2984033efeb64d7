"""A private X server (Xvfb) for window tests: start it, send keys and mouse moves
(xdotool), and take screenshots (libX11's XGetImage through ctypes, no extra package)."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np

TOOLS = ("Xvfb", "xdotool")
SCREEN = (1280, 1024)
_ZPIXMAP = 2


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


class _XImage(ctypes.Structure):  # the leading fields of Xlib's XImage
    _fields_ = [
        ("width", ctypes.c_int),
        ("height", ctypes.c_int),
        ("xoffset", ctypes.c_int),
        ("format", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)),
        ("byte_order", ctypes.c_int),
        ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int),
        ("bitmap_pad", ctypes.c_int),
        ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int),
        ("bits_per_pixel", ctypes.c_int),
    ]


def _xlib() -> ctypes.CDLL:
    lib = ctypes.CDLL(ctypes.util.find_library("X11") or "libX11.so.6")
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XDefaultRootWindow.restype = ctypes.c_ulong
    lib.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    lib.XGetImage.restype = ctypes.POINTER(_XImage)
    lib.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, *[ctypes.c_int] * 2, *[ctypes.c_uint] * 2]
    lib.XGetImage.argtypes += [ctypes.c_ulong, ctypes.c_int]
    lib.XDestroyImage.argtypes = [ctypes.POINTER(_XImage)]
    lib.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return lib


class XServer:
    """Xvfb on the first free display number from 90, its screen ``screen`` (width, height)."""

    def __init__(self, workdir: Path, screen: tuple[int, int] = SCREEN) -> None:
        self.screen = screen
        number = next(n for n in range(90, 200) if not Path(f"/tmp/.X{n}-lock").exists())
        self.display = f":{number}"
        socket = Path(f"/tmp/.X11-unix/X{number}")
        log = open(workdir / "xvfb.log", "wb")  # open while the server runs
        self._process = subprocess.Popen(
            ["Xvfb", self.display, "-screen", "0", f"{screen[0]}x{screen[1]}x24", "-nolisten", "tcp"],
            stdout=log,
            stderr=log,
        )
        self._log = log
        deadline = time.monotonic() + 10
        while not socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb {self.display} did not start: {(workdir / 'xvfb.log').read_text()}")
            time.sleep(0.05)
        self._x = _xlib()
        self._conn = self._x.XOpenDisplay(self.display.encode())
        if not self._conn:
            raise RuntimeError(f"cannot open X display {self.display}")

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.display}

    def screenshot(self) -> np.ndarray:
        """The whole screen as BGR uint8."""
        x = self._x
        image = x.XGetImage(
            self._conn, x.XDefaultRootWindow(self._conn), 0, 0, *self.screen, 0xFFFFFFFF, _ZPIXMAP
        )
        im = image.contents
        h, w, line, bits = im.height, im.width, im.bytes_per_line, im.bits_per_pixel
        data = np.ctypeslib.as_array(im.data, shape=(h * line,)).copy()
        x.XDestroyImage(image)
        assert bits == 32, f"expected 32 bits per pixel, got {bits}"
        return np.ascontiguousarray(data.reshape(h, line)[:, : 4 * w].reshape(h, w, 4)[..., :3])

    def xdotool(self, *args: str) -> str:
        done = subprocess.run(["xdotool", *args], env=self.env, capture_output=True, text=True, timeout=20)
        if done.returncode:
            raise RuntimeError(f"xdotool {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def close(self) -> None:
        self._x.XCloseDisplay(self._conn)
        self._process.terminate()
        self._process.wait(timeout=10)
        self._log.close()


def find(screen: np.ndarray, patch: np.ndarray) -> tuple[int, int] | None:
    """Where ``patch`` appears pixel for pixel in ``screen`` (x, y), or None."""
    scores = cv2.matchTemplate(screen, patch, cv2.TM_SQDIFF)
    _, _, (x, y), _ = cv2.minMaxLoc(scores)  # float sums: the best match, checked exactly
    if not np.array_equal(screen[y : y + patch.shape[0], x : x + patch.shape[1]], patch):
        return None
    return x, y
