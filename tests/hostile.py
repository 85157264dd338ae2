"""An HTTP server on loopback that misbehaves on purpose: the network on a bad day.

Each connection gets a thread. A request (request line, headers, a ``Content-Length`` body) is
read and recorded with its headers, so a test can tell which host saw the token; then the
test's ``behave(request, sock)`` writes whatever it likes on the raw socket: a redirect, a body
cut short, one byte a second, a reset. It returns whether to keep the connection open for the
next request.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes


Behaviour = Callable[[Request, socket.socket], bool]


def response(status: int, body: bytes | str = b"", *, reason: str = "Whatever",
             headers: Iterable[tuple[str, str]] = (), length: int | None = None) -> bytes:
    """The bytes of a response; ``length`` overrides the Content-Length sent."""
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} {reason}",
             f"Content-Length: {len(data) if length is None else length}",
             *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data


def answer(status: int, body: bytes | str = b"", **options: object) -> Behaviour:
    """Answer every request with this response, keeping the connection."""
    data = response(status, body, **options)  # type: ignore[arg-type]

    def behave(request: Request, sock: socket.socket) -> bool:
        sock.sendall(data)
        return True

    return behave


def drip(data: bytes, every: float) -> Behaviour:
    """Send ``data`` one byte at a time, a byte every ``every`` seconds (or until cut off)."""
    def behave(request: Request, sock: socket.socket) -> bool:
        for byte in data:
            sock.sendall(bytes([byte]))
            time.sleep(every)
        return False

    return behave


def reset(sock: socket.socket) -> None:
    """Close with a TCP reset instead of a clean end."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class HostileServer:
    """``HostileServer(behave)``: every request gets ``behave``; ``requests`` lists them all."""

    def __init__(self, behave: Behaviour, *, host: str = "127.0.0.1") -> None:
        self.behave = behave
        self.requests: list[Request] = []
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v3"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stopped.set()
        self._thread.join()
        self._listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._open.add(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        reader = sock.makefile("rb")
        try:
            while not self._stopped.is_set():
                request = _read_request(reader)
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                if not self.behave(request, sock):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(sock)
            with contextlib.suppress(OSError):
                reader.close()
                sock.close()


def _read_request(reader: object) -> Request | None:
    readline = reader.readline  # type: ignore[attr-defined]
    line = readline(65536)
    if not line:
        return None
    method, path, _ = line.decode("latin-1").split(" ", 2)
    headers: dict[str, str] = {}
    while (header := readline(65536)) not in (b"\r\n", b"\n", b""):
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    size = int(headers.get("content-length", "0"))
    body = reader.read(size) if size else b""  # type: ignore[attr-defined]
    return Request(method, path, headers, body)
