"""A small HTTP file server for tests: byte ranges, no directory listings, and a log of
every request with the bytes it sent (Python's SimpleHTTPRequestHandler has no Range).
``faults`` makes it fail the GETs of chosen paths: answer 500, cut the body short, or
stall, each for the next N requests or for good."""

from __future__ import annotations

import email.utils
import re
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # URL path, e.g. /store/000001.avi
    status: int
    sent: int  # body bytes


class RangeServer:
    """Serves ``root`` on 127.0.0.1 from a background thread; ``requests`` logs each one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[Request] = []
        # URL path -> [fault ("500", "short" or "stall"), how many more GETs it fails (-1: all)]
        self.faults: dict[str, list[object]] = {}
        self.stall_seconds = 5.0
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def fault(self, path: str) -> str | None:
        """The fault this GET of ``path`` meets, counting it down."""
        with self._lock:
            entry = self.faults.get(path)
            if entry is None or entry[1] == 0:
                return None
            kind, left = entry
            assert isinstance(kind, str) and isinstance(left, int)
            entry[1] = left - 1 if left > 0 else left
            return kind

    def take(self) -> list[Request]:
        """The requests since the last call, and forget them."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client hanging up is normal
            super().handle_error(request, client_address)


def _handler_for(server: RangeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
        # headers and body go out in two writes: with Nagle's algorithm the body would
        # wait for the client's delayed ACK of the headers (40 ms per request on Linux)
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _file(self) -> Path | None:
            parts = [p for p in unquote(urlsplit(self.path).path).split("/") if p]
            if any(p in (".", "..") for p in parts):
                return None
            path = server.root.joinpath(*parts)
            return path if path.is_file() else None

        def _reply(self, status: int, headers: dict[str, str], body: bytes, length: int, send: bool) -> None:
            # logged before anything goes out, so a client never sees a reply not yet logged
            server.log(Request(self.command, urlsplit(self.path).path, status, len(body)))
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if send:
                self.wfile.write(body)

        def _serve(self, send: bool) -> None:
            fault = server.fault(urlsplit(self.path).path) if send else None
            if fault == "500":
                self._reply(500, {"Content-Type": "text/plain"}, b"boom", 4, send)
                return
            if fault == "stall":
                time.sleep(server.stall_seconds)
                self.close_connection = True
                return
            path = self._file()
            if path is None:
                self._reply(404, {"Content-Type": "text/plain"}, b"not found" if send else b"", 9, send)
                return
            stat = path.stat()
            size = stat.st_size
            headers = {
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
                "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
            }
            start, stop, status = 0, size, 200
            m = _RANGE.match(self.headers.get("Range", ""))
            if m is not None:
                first, last = m.groups()
                if first:
                    start, stop = int(first), min(size, int(last) + 1 if last else size)
                else:  # a suffix: the last N bytes
                    start = max(0, size - int(last or 0))
                if start >= stop:
                    self._reply(416, {"Content-Range": f"bytes */{size}"}, b"", 0, send)
                    return
                headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
                status = 206
            body = b""
            if send:
                with open(path, "rb") as f:
                    f.seek(start)
                    body = f.read(stop - start)
            if fault == "short":  # promise the whole length, send half, hang up
                self.close_connection = True
                body = body[: len(body) // 2]
            self._reply(status, headers, body, stop - start, send)

        def do_GET(self) -> None:
            self._serve(send=True)

        def do_HEAD(self) -> None:
            self._serve(send=False)

    return Handler
