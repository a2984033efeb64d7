"""The X display beside OpenCV's window: the screen's size, and every key pressed in a window.

OpenCV's Qt backend keeps one "last key" that each key press overwrites, and its
``waitKey`` handles every pending window event at once: keys typed while a frame is
being drawn are lost but the last. Here a second X connection (libX11 through ctypes,
no extra package) asks for a copy of the window's key presses, which X queues for it
however many arrive. Off X (Windows, macOS, no libX11) ``XDisplay.open`` returns None
and the window falls back to ``cv2.waitKeyEx``.
"""

from __future__ import annotations

import ctypes
import ctypes.util

_KEY_PRESS = 2  # the KeyPress event type
_KEY_PRESS_MASK = 1
_XA_CARDINAL = 6
_MAX_DEPTH = 4  # window-manager frames put a window a few levels under the root


class _XKeyEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", ctypes.c_ulong),
        ("root", ctypes.c_ulong),
        ("subwindow", ctypes.c_ulong),
        ("time", ctypes.c_ulong),
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("x_root", ctypes.c_int),
        ("y_root", ctypes.c_int),
        ("state", ctypes.c_uint),
        ("keycode", ctypes.c_uint),
        ("same_screen", ctypes.c_int),
    ]


class _XEvent(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("key", _XKeyEvent), ("pad", ctypes.c_long * 24)]


_ErrorHandler = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
_handler: dict[str, object] = {}  # the installed error handler (kept alive) and the one before it


def _ignore_errors_on(lib: ctypes.CDLL, connection: int) -> None:
    """Xlib's default error handler ends the process; a window that closes while we look
    at it (BadWindow) must not end the viewer. Errors on other connections go to the
    handler there was before."""
    previous = ctypes.c_void_p()

    def handler(display: int | None, event: int | None) -> int:
        if display == connection or not previous.value:
            return 0
        return int(_ErrorHandler(previous.value)(display, event))

    callback = _ErrorHandler(handler)
    previous.value = lib.XSetErrorHandler(callback)
    _handler.update(callback=callback, previous=previous)


def _load() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("X11")
    try:
        lib = ctypes.CDLL(name or "libX11.so.6")
    except OSError:
        return None
    ulong, ptr = ctypes.c_ulong, ctypes.c_void_p
    lib.XOpenDisplay.restype = ptr
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    lib.XCloseDisplay.argtypes = [ptr]
    lib.XSetErrorHandler.restype = ptr
    lib.XSetErrorHandler.argtypes = [_ErrorHandler]
    lib.XDefaultScreen.argtypes = [ptr]
    lib.XDisplayWidth.argtypes = [ptr, ctypes.c_int]
    lib.XDisplayHeight.argtypes = [ptr, ctypes.c_int]
    lib.XDefaultRootWindow.restype = ulong
    lib.XDefaultRootWindow.argtypes = [ptr]
    lib.XQueryTree.argtypes = [ptr, ulong, *[ctypes.POINTER(ulong)] * 2]
    lib.XQueryTree.argtypes += [ctypes.POINTER(ctypes.POINTER(ulong)), ctypes.POINTER(ctypes.c_uint)]
    lib.XFetchName.argtypes = [ptr, ulong, ctypes.POINTER(ctypes.c_char_p)]
    lib.XFree.argtypes = [ptr]
    lib.XInternAtom.restype = ulong
    lib.XInternAtom.argtypes = [ptr, ctypes.c_char_p, ctypes.c_int]
    lib.XGetWindowProperty.argtypes = [ptr, ulong, ulong, ctypes.c_long, ctypes.c_long, ctypes.c_int, ulong]
    lib.XGetWindowProperty.argtypes += [ctypes.POINTER(ulong), ctypes.POINTER(ctypes.c_int)]
    lib.XGetWindowProperty.argtypes += [*[ctypes.POINTER(ulong)] * 2, ctypes.POINTER(ctypes.c_void_p)]
    lib.XSelectInput.argtypes = [ptr, ulong, ctypes.c_long]
    lib.XSync.argtypes = [ptr, ctypes.c_int]
    lib.XPending.argtypes = [ptr]
    lib.XNextEvent.argtypes = [ptr, ctypes.POINTER(_XEvent)]
    lib.XLookupString.argtypes = [
        ctypes.POINTER(_XKeyEvent),
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.POINTER(ulong),
        ptr,
    ]
    return lib


class XDisplay:
    """One connection to an X display (``None``: ``$DISPLAY``). Make one with :meth:`open`."""

    def __init__(self, lib: ctypes.CDLL, connection: int) -> None:
        self._x = lib
        self._conn = connection
        self.watched: int | None = None  # the window whose key presses are copied to us

    @classmethod
    def open(cls, name: str | None = None) -> XDisplay | None:
        """A connection, or None where there is no libX11 or no X display to reach."""
        lib = _load()
        if lib is None:
            return None
        connection = lib.XOpenDisplay(name.encode() if name else None)
        if not connection:
            return None
        _ignore_errors_on(lib, connection)
        return cls(lib, connection)

    def close(self) -> None:
        if self._conn:
            self._x.XCloseDisplay(self._conn)
            self._conn = 0

    def screen_size(self) -> tuple[int, int]:
        """(width, height) of the default screen in pixels."""
        screen = self._x.XDefaultScreen(self._conn)
        return int(self._x.XDisplayWidth(self._conn, screen)), int(self._x.XDisplayHeight(self._conn, screen))

    def find_window(self, title: str, pid: int) -> int | None:
        """The id of the window named ``title`` that process ``pid`` shows (searched a
        few levels under the root), or None."""
        x, conn = self._x, self._conn
        wanted = title.encode()
        level = [int(x.XDefaultRootWindow(conn))]
        for _ in range(_MAX_DEPTH):
            below: list[int] = []
            for window in level:
                name = ctypes.c_char_p()
                if x.XFetchName(conn, window, ctypes.byref(name)) and name.value is not None:
                    found = name.value == wanted
                    x.XFree(name)
                    if found and self._pid(window) in (pid, None):
                        return window
                below += self._children(window)
            level = below
        return None

    def _pid(self, window: int) -> int | None:
        """The process id a window says it belongs to (``_NET_WM_PID``), if it says."""
        x, conn = self._x, self._conn
        atom = x.XInternAtom(conn, b"_NET_WM_PID", 1)
        if not atom:
            return None
        kind, size, items, after = ctypes.c_ulong(), ctypes.c_int(), ctypes.c_ulong(), ctypes.c_ulong()
        data = ctypes.c_void_p()
        status = x.XGetWindowProperty(
            conn, window, atom, 0, 1, 0, _XA_CARDINAL, *map(ctypes.byref, (kind, size, items, after, data))
        )
        if status != 0 or not data.value:
            return None
        pid = (
            int(ctypes.cast(data, ctypes.POINTER(ctypes.c_ulong))[0])
            if items.value and size.value == 32
            else None
        )
        x.XFree(data)
        return pid

    def _children(self, window: int) -> list[int]:
        root, parent = ctypes.c_ulong(), ctypes.c_ulong()
        children = ctypes.POINTER(ctypes.c_ulong)()
        count = ctypes.c_uint()
        if not self._x.XQueryTree(
            self._conn,
            window,
            ctypes.byref(root),
            ctypes.byref(parent),
            ctypes.byref(children),
            ctypes.byref(count),
        ):
            return []
        found = [int(children[k]) for k in range(count.value)]
        if children:
            self._x.XFree(children)
        return found

    def watch_keys(self, window: int) -> None:
        """Have X copy every key press in ``window`` to this connection (OpenCV still gets them)."""
        self._x.XSelectInput(self._conn, window, _KEY_PRESS_MASK)
        self._x.XSync(self._conn, 0)  # in effect from here on
        self.watched = window

    def keys(self) -> list[int]:
        """The keys pressed since the last call, in order, as ``cv2.waitKeyEx`` codes on
        Linux: the character's code for a key that types one (Enter 13, Esc 27,
        Backspace 8), else the X keysym (Left 65361, PgUp 65365, ...)."""
        x, conn = self._x, self._conn
        event = _XEvent()
        buffer = ctypes.create_string_buffer(8)
        keysym = ctypes.c_ulong()
        out: list[int] = []
        while x.XPending(conn):
            x.XNextEvent(conn, ctypes.byref(event))
            if event.type != _KEY_PRESS:
                continue
            typed = x.XLookupString(ctypes.byref(event.key), buffer, len(buffer), ctypes.byref(keysym), None)
            if typed == 1:
                out.append(buffer.raw[0])
            elif keysym.value:
                out.append(int(keysym.value))
        return out
