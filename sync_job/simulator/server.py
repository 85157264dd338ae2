"""A bundled simulator of the Huduma SMS "update contact" API (``PUT /contacts/{id}``).

Why it exists: the sync job must be tested, demonstrated and benchmarked without touching a real
account. The simulator follows the provider's reference page for that endpoint and adds the
gateway behaviour a production API shows but the page omits (429 with ``Retry-After``, 5xx,
HTML error pages, dropped connections), under the control of the test that runs it.

Standard library only, so it runs anywhere the package does. One lock guards all state; the
configured latency is slept outside the lock so concurrent requests overlap as they would on a
real server.

Order of checks for a request (the first that fails decides the response)::

    rate limit (429) -> route (404) -> method (405) -> auth (401) -> payment (402)
    -> enqueued forced response -> fail_rate (500) -> contact id (400) -> body (400)
    -> unknown contact (404) -> forbidden (403) -> field rules (422/4220)
    -> number taken by another contact (422/4221) -> apply (200)

The latency sleep comes before all of them, at the start of handling.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import hmac
import json
import math
import random
import re
import secrets
import selectors
import signal
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, cast

from sync_job.fields import ALL_FIELDS, VALUE_FIELDS
from sync_job.stopping import STOP_SIGNALS

__all__ = ["RecordedRequest", "Simulator", "load_contacts", "serve"]

AUTH_HEADER = "X-Huduma"
NAMES_MAX = 100
NUMBER_RE = re.compile(r"[1-9][0-9]{7,14}")
ASCII_DIGITS_RE = re.compile(r"[0-9]+")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
EMPTY_BODY_MESSAGE = "At least one of names, number, email is required"

# Reason phrases for the envelope's "status", fixed here so they do not drift with the Python
# version (3.13 renamed 422 to "Unprocessable Content").
_REASONS: dict[int, str] = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

# The envelope "message" for responses that carry no more specific one (forced, 5xx, ...).
_MESSAGES: dict[int, str] = {
    400: "Bad request",
    401: "Invalid or missing API token",
    402: "Payment required: the account has payment issues",
    403: "Insufficient permissions to update this contact",
    404: "Not found",
    405: "Method not allowed",
    422: "Invalid input parameters",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator saw it, for tests to assert on.

    ``path`` is the request target as sent (base path and any query string included);
    ``contact_id`` is the id from a well-formed ``/contacts/{id}`` path, else None.
    Holds no headers and no token, so a log of requests can be printed or compared safely.
    ``status`` is 0 when the connection was dropped on purpose (``enqueue(close=True)``).
    """

    method: str
    path: str
    contact_id: int | None
    body: Any
    raw_body: bytes
    auth_ok: bool
    status: int
    time: float


@dataclass(frozen=True)
class _Forced:
    status: int
    retry_after: str | None
    body: str | None
    close: bool


@dataclass(frozen=True)
class _Incoming:
    """A request reduced to what the rules look at, parsed before the lock is taken."""

    method: str
    api_path: str
    routed: bool
    raw_id: str | None
    contact_id: int | None
    empty: bool
    body: Any
    body_error: str | None
    auth_ok: bool


@dataclass
class _Reply:
    """What the handler writes back; ``drop`` means close the connection and write nothing."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    drop: bool = False


class _BadInput(Exception):
    """A request rejected by validation; carries the envelope fields of the error response."""

    def __init__(self, status: int, code: int, message: str, errors: list[dict[str, Any]]):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors


def _now_iso() -> str:
    """ISO 8601 UTC with milliseconds and ``Z``, the format the API uses for timestamps."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(field_name: str | None, message: str, rejected: Any) -> dict[str, Any]:
    return {
        "field": field_name,
        "message": message,
        "rejectedValue": rejected,
        "rejectingValues": {},
    }


def _reject_constant(name: str) -> Any:
    """NaN/Infinity are not JSON; refusing them keeps every echoed value serialisable."""
    raise ValueError(f"{name} is not valid JSON")


def _parse_body(raw: bytes) -> tuple[Any, str | None]:
    """Parse the body once, outside the lock: (value, error message or None)."""
    if not raw.strip():
        return None, None
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"Malformed JSON: {exc}"


def _positive_int(text: str | None) -> int | None:
    """ASCII digits only: str.isdecimal() and int() would also take other scripts' digits."""
    if text is None or not ASCII_DIGITS_RE.fullmatch(text) or int(text) == 0:
        return None
    return int(text)


def _clean(value: str | None) -> str | None:
    """An empty string and None both mean "no value", which the API returns as null."""
    return value if value else None


class Simulator:
    """The update-contact API on a loopback port, with knobs a test can turn while it runs.

    ``forbidden_ids`` and ``payment_required`` may be changed at any time; ``requests``,
    ``status_counts``, ``contacts()`` and ``put_count()`` report what happened.
    """

    def __init__(
        self,
        contacts: Iterable[Mapping[str, str | None]] = (),
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        fail_rate: float = 0.0,
        rate_limit: float = 0.0,
        seed: int | None = None,
        base_path: str = "/api/v3",
    ) -> None:
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            raise ValueError("token must be a non-empty printable ASCII string without spaces")
        if latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        if rate_limit < 0:
            raise ValueError("rate_limit must be >= 0")
        base_path = "/" + base_path.strip("/") if base_path.strip("/") else ""

        self.forbidden_ids: set[int] = set()
        self.payment_required: bool = False
        self.requests: list[RecordedRequest] = []
        self.status_counts: collections.Counter[int] = collections.Counter()

        self._expected_auth = f"Bearer {token}".encode("ascii")
        self._latency_s = latency_ms / 1000.0
        self._fail_rate = fail_rate
        self._rate = rate_limit
        self._capacity = max(1.0, rate_limit)
        self._tokens = self._capacity
        self._refilled_at = time.monotonic()
        self._rng = random.Random(seed)
        self._base_path = base_path
        self._route = re.compile(re.escape(base_path) + r"/contacts/([^/]+)")
        self._lock = threading.Lock()
        self._queue: collections.deque[_Forced] = collections.deque()
        self._req_prefix = secrets.token_hex(4)
        self._req_seq = 0
        self._contacts: dict[int, dict[str, Any]] = {}
        self._by_number: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._load(contacts)

        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None
        self._stop_requested = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._lifecycle = threading.Lock()
        self._closed = False

    def _load(self, contacts: Iterable[Mapping[str, str | None]]) -> None:
        """Seed the account; a bad fixture fails here, loudly, rather than as odd responses."""
        created = _now_iso()
        for row in contacts:
            raw_id = (row.get("contactId") or "").strip()
            cid = _positive_int(raw_id)
            if cid is None:
                raise ValueError(f"contactId must be a positive integer, got {raw_id!r}")
            if cid in self._contacts:
                raise ValueError(f"duplicate contactId {cid}")
            number = _clean(row.get("number"))
            if number is not None:
                if number in self._by_number:
                    raise ValueError(
                        f"number {number} is used by contacts {self._by_number[number]} and {cid}"
                    )
                self._by_number[number] = cid
            self._contacts[cid] = {
                "createdAt": created,
                "updatedAt": created,
                "id": cid,
                "deletedAt": None,
                "names": _clean(row.get("names")),
                "number": number,
                "email": _clean(row.get("email")),
            }

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """The URL clients put in front of ``/contacts/{id}``, with the real bound port."""
        host, port = self._server.server_address[:2]
        host = str(host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}{self._base_path}"

    def start(self) -> Simulator:
        """Serve in a daemon thread so a test (or the CLI) keeps its own thread."""
        with self._lifecycle:
            if self._closed:
                raise RuntimeError("a stopped Simulator cannot be restarted; create a new one")
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._accept_loop,
                    name="huduma-simulator",
                    daemon=True,
                )
                self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut open keep-alive connections, so no handler outlives the test."""
        self._stop_requested.set()
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            self._wake_w.send(b"x")
            if self._thread is not None:
                self._thread.join()
            self._server.server_close()
            self._wake_r.close()
            self._wake_w.close()
            with self._lock:
                connections = list(self._connections)
            for conn in connections:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def _accept_loop(self) -> None:
        """Accept until stop() writes to the wake-up socket.

        socketserver's own serve_forever() polls for shutdown every poll_interval, which would
        make every stop() (so every test's teardown) wait for the next poll.
        """
        with selectors.DefaultSelector() as selector:
            selector.register(self._server, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stop_requested.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._server and not self._stop_requested.is_set():
                        self._server.handle_request()

    def serve_forever(self) -> None:
        """Block until :meth:`stop` (or a signal handler that calls it); for the CLI."""
        self.start()
        try:
            self._stop_requested.wait()
        finally:
            self.stop()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- knobs and reports

    def enqueue(
        self,
        status: int,
        *,
        retry_after: str | None = None,
        body: str | None = None,
        close: bool = False,
    ) -> None:
        """Force the response of the next authorized PUT (FIFO), to stage a failure exactly."""
        if not 200 <= status <= 599 or status in (204, 205, 304):
            raise ValueError(f"cannot force HTTP status {status}")
        with self._lock:
            self._queue.append(_Forced(status, retry_after, body, close))

    def contacts(self) -> dict[int, dict[str, Any]]:
        """A copy of the account as it is now, keyed by contact id."""
        with self._lock:
            return {cid: dict(contact) for cid, contact in self._contacts.items()}

    def put_count(self, contact_id: int | None = None) -> int:
        """How many PUTs arrived (whatever their outcome), for one id or in all."""
        with self._lock:
            return sum(
                1
                for r in self.requests
                if r.method == "PUT" and (contact_id is None or r.contact_id == contact_id)
            )

    # ----------------------------------------------------------------- request handling

    def _handle(
        self, method: str, target: str, auth: str | None, raw: bytes, arrival: float
    ) -> _Reply:
        """Decide the reply and record the request before a byte of the reply is sent.

        Recording first means a client that has seen a response can rely on ``requests`` and
        ``status_counts`` already including it. Parsing happens before taking the lock.
        """
        path = target.split("?", 1)[0]
        match = self._route.fullmatch(path)
        raw_id = match.group(1) if match else None
        body, body_error = _parse_body(raw)
        base = self._base_path
        incoming = _Incoming(
            method=method,
            api_path=path[len(base) :] if base and path.startswith(base + "/") else path,
            routed=match is not None,
            raw_id=raw_id,
            contact_id=_positive_int(raw_id),
            empty=not raw.strip(),
            body=body,
            body_error=body_error,
            auth_ok=auth is not None
            and hmac.compare_digest(auth.encode("latin-1", "replace"), self._expected_auth),
        )
        with self._lock:
            reply = self._decide(incoming)
            record = RecordedRequest(
                method=method,
                path=target,
                contact_id=incoming.contact_id,
                body=body,
                raw_body=raw,
                auth_ok=incoming.auth_ok,
                status=0 if reply.drop else reply.status,
                time=arrival,
            )
            # Concurrent requests finish out of order; insert by time keeps arrival order.
            i = len(self.requests)
            while i > 0 and self.requests[i - 1].time > arrival:
                i -= 1
            self.requests.insert(i, record)
            if not reply.drop:
                self.status_counts[reply.status] += 1
        return reply

    def _decide(self, req: _Incoming) -> _Reply:
        """The API's rules in the documented order; runs under the lock."""
        path = req.api_path
        retry_in = self._take_token()
        if retry_in is not None:
            return self._envelope(429, 4290, _MESSAGES[429], path, [], [("Retry-After", retry_in)])
        if not req.routed:
            return self._envelope(404, 4040, _MESSAGES[404], path, [])
        if req.method != "PUT":
            return self._envelope(405, 4050, _MESSAGES[405], path, [], [("Allow", "PUT")])
        if not req.auth_ok:
            return self._envelope(401, 4010, _MESSAGES[401], path, [])
        if self.payment_required:
            return self._envelope(402, 4020, _MESSAGES[402], path, [])
        if self._queue:
            return self._forced(self._queue.popleft(), path)
        if self._fail_rate > 0 and self._rng.random() < self._fail_rate:
            return self._envelope(500, 5000, _MESSAGES[500], path, [])
        try:
            cid = self._check_id(req)
            changes = self._check_body(req)
            contact = self._check_contact(cid)
            self._check_fields(cid, changes)
        except _BadInput as bad:
            return self._envelope(bad.status, bad.code, bad.message, path, bad.errors)
        self._apply(contact, changes)
        return self._envelope(200, 0, "Contact updated successfully", path, dict(contact))

    def _protocol_error(self, status: int, target: str) -> _Reply:
        """An error http.server raises before routing; counted, but not a recorded request."""
        path = target.split("?", 1)[0]
        with self._lock:
            self.status_counts[status] += 1
            return self._envelope(status, status * 10, self._reason(status), path, [])

    def _take_token(self) -> str | None:
        """Token bucket over all requests: None if allowed, else whole seconds to wait."""
        if self._rate <= 0:
            return None
        now = time.monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._refilled_at) * self._rate)
        self._refilled_at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return str(max(1, math.ceil((1.0 - self._tokens) / self._rate)))

    @staticmethod
    def _check_id(req: _Incoming) -> int:
        if req.contact_id is None:
            raise _BadInput(
                400,
                4000,
                _MESSAGES[400],
                [_error("contactId", "contactId must be a positive integer", req.raw_id)],
            )
        return req.contact_id

    @staticmethod
    def _check_body(req: _Incoming) -> dict[str, str]:
        """The body must be a non-empty object of known string fields; 400 lists each problem."""
        body = req.body
        if req.body_error is not None:
            raise _BadInput(400, 4000, _MESSAGES[400], [_error("body", req.body_error, None)])
        if req.empty or body == {}:
            raise _BadInput(
                400, 4000, EMPTY_BODY_MESSAGE, [_error("body", EMPTY_BODY_MESSAGE, body)]
            )
        if not isinstance(body, dict):
            raise _BadInput(
                400,
                4000,
                _MESSAGES[400],
                [_error("body", "Request body must be a JSON object", body)],
            )
        errors = []
        for key, value in body.items():
            if key not in VALUE_FIELDS:
                message = f"Unknown field {key!r}; allowed: names, number, email"
                errors.append(_error(key, message, value))
            elif not isinstance(value, str):
                errors.append(_error(key, f"{key} must be a string", value))
        if errors:
            raise _BadInput(400, 4000, _MESSAGES[400], errors)
        return cast(dict[str, str], body)

    def _check_contact(self, cid: int) -> dict[str, Any]:
        contact = self._contacts.get(cid)
        if contact is None:
            raise _BadInput(
                404,
                4040,
                "Contact not found",
                [_error("contactId", f"Contact with ID {cid} does not exist", cid)],
            )
        if cid in self.forbidden_ids:
            raise _BadInput(
                403,
                4030,
                _MESSAGES[403],
                [_error("contactId", f"Not allowed to update contact {cid}", cid)],
            )
        return contact

    def _check_fields(self, cid: int, changes: Mapping[str, str]) -> None:
        """Field rules (4220, every bad field at once), then number uniqueness (4221)."""
        errors = []
        names = changes.get("names")
        if names is not None and len(names) > NAMES_MAX:
            errors.append(_error("names", f"names must be at most {NAMES_MAX} characters", names))
        number = changes.get("number")
        if number == "":
            errors.append(_error("number", "number cannot be removed", number))
        elif number is not None and not NUMBER_RE.fullmatch(number):
            message = (
                "number must be digits only in international format with country code,"
                " e.g. 255712345678"
            )
            errors.append(_error("number", message, number))
        email = changes.get("email")
        if email and not EMAIL_RE.fullmatch(email):
            errors.append(_error("email", "email must be a valid email address", email))
        if errors:
            raise _BadInput(422, 4220, _MESSAGES[422], errors)
        owner = self._by_number.get(number) if number else None
        if owner is not None and owner != cid:
            message = f"Number {number} is already used by contact {owner}"
            raise _BadInput(422, 4221, _MESSAGES[422], [_error("number", message, number)])

    def _apply(self, contact: dict[str, Any], changes: Mapping[str, str]) -> None:
        """Change only the fields sent; "" clears; keep the number index in step."""
        if "number" in changes:
            old = contact["number"]
            if old is not None and self._by_number.get(old) == contact["id"]:
                del self._by_number[old]
            self._by_number[changes["number"]] = contact["id"]
        for key, value in changes.items():
            contact[key] = _clean(value)
        contact["updatedAt"] = _now_iso()

    def _forced(self, forced: _Forced, api_path: str) -> _Reply:
        headers = [("Retry-After", forced.retry_after)] if forced.retry_after is not None else []
        if forced.close:
            return _Reply(forced.status, drop=True)
        if forced.body is not None:
            return _Reply(forced.status, forced.body.encode("utf-8"), headers)
        message = _MESSAGES.get(forced.status, self._reason(forced.status))
        return self._envelope(forced.status, forced.status * 10, message, api_path, [], headers)

    @staticmethod
    def _reason(status: int) -> str:
        try:
            return _REASONS.get(status) or HTTPStatus(status).phrase
        except ValueError:
            return "Unknown"

    def _envelope(
        self,
        status: int,
        code: int,
        message: str,
        api_path: str,
        payload: dict[str, Any] | list[dict[str, Any]],
        headers: list[tuple[str, str]] | None = None,
    ) -> _Reply:
        """The API's response envelope: ``data`` (a dict) on success, else ``errors`` (a list)."""
        self._req_seq += 1
        envelope: dict[str, Any] = {
            "status": f"{status} {self._reason(status).upper()}",
            "code": code,
            "message": message,
            "timestamp": _now_iso(),
            "reqId": f"req-{self._req_prefix}{self._req_seq:08x}",
            "path": api_path,
            ("data" if isinstance(payload, dict) else "errors"): payload,
        }
        body = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
        return _Reply(status, body, headers or [])


class _Server(ThreadingHTTPServer):
    """A threading server sized for a burst of keep-alive clients, quiet about dropped peers."""

    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True
    timeout = 0.5  # handle_request() is only called when ready; this bounds a spurious wake-up

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        """Skip HTTPServer's getfqdn(): a reverse DNS lookup can stall start-up for seconds."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client hanging up (or stop() cutting it off) is normal here, not a traceback."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """HTTP plumbing only: read the request, sleep the latency, write what Simulator decides."""

    protocol_version = "HTTP/1.1"
    server_version = "huduma-simulator/1"

    def version_string(self) -> str:
        """The Server header names the simulator, not the Python version it runs on."""
        return self.server_version

    @property
    def sim(self) -> Simulator:
        return cast(_Server, self.server).sim

    def setup(self) -> None:
        """Disable Nagle: with keep-alive, Nagle + delayed ACK stalls each response (by
        the delayed-ACK timer, tens of milliseconds)."""
        sock = cast(socket.socket, self.request)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        with self.sim._lock:
            self.sim._connections.add(sock)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.sim._lock:
                self.sim._connections.discard(cast(socket.socket, self.request))

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a test run or benchmark should not print a line per request."""

    def _read_body(self) -> bytes:
        """Read exactly Content-Length bytes; other framing cannot be trusted, so hang up after."""
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            return b""
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size < 0:
            self.close_connection = True
            return b""
        return self.rfile.read(size)

    def _dispatch(self) -> None:
        arrival = time.monotonic()
        raw = self._read_body()
        sim = self.sim
        if sim._latency_s > 0:
            time.sleep(sim._latency_s)
        reply = sim._handle(self.command, self.path, self.headers.get(AUTH_HEADER), raw, arrival)
        if reply.drop:
            self.close_connection = True
            return
        self._write(reply)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed HTTP (bad request line, oversized headers, ...) still gets the JSON
        envelope. A well-formed request with a method http.server has no handler for (TRACE,
        an invented verb) is the API's 405, like any other method but PUT."""
        if code == HTTPStatus.NOT_IMPLEMENTED and getattr(self, "headers", None) is not None:
            self._dispatch()
            return
        self.close_connection = True
        # A request line http.server could not read leaves it thinking the client speaks
        # HTTP/0.9, which has no status line: answer as HTTP/1.1 all the same.
        self.request_version = self.protocol_version
        self._write(self.sim._protocol_error(int(code), getattr(self, "path", "") or ""))

    def _write(self, reply: _Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(reply.body)

    do_PUT = do_GET = do_POST = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch


def load_contacts(path: str | Path) -> list[dict[str, str]]:
    """Read a snapshot CSV (contactId,names,number,email) as text, so "007" stays "007".

    Extra columns are ignored; missing columns or ragged rows raise ValueError, because a
    simulator seeded from a misread file would make every later result misleading.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle, restval="")
        header = reader.fieldnames or []
        missing = [c for c in ALL_FIELDS if c not in header]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        rows = []
        for row in reader:
            if None in row:
                raise ValueError(f"{path}: line {reader.line_num} has more cells than the header")
            rows.append({c: row[c] for c in ALL_FIELDS})
        return rows


def serve(
    *,
    contacts_path: Path | None,
    host: str,
    port: int,
    token: str,
    latency_ms: float,
    fail_rate: float,
    rate_limit: float,
) -> None:
    """Run the simulator for ``sync-job simulate`` until Ctrl-C (or SIGTERM), then return cleanly.

    Prints one flushed line with the URL (never the token) so a script can wait for it.
    """
    contacts = load_contacts(contacts_path) if contacts_path is not None else []
    sim = Simulator(
        contacts,
        token=token,
        host=host,
        port=port,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        rate_limit=rate_limit,
    )

    def request_stop(signum: int, frame: FrameType | None) -> None:
        sim._stop_requested.set()

    in_main = threading.current_thread() is threading.main_thread()
    previous = {}
    if in_main:
        for signum in STOP_SIGNALS:  # SIGTERM only where the platform sends it
            previous[signum] = signal.signal(signum, request_stop)
    try:
        sim.start()
        print(f"simulator listening on {sim.base_url}", flush=True)
        sim.serve_forever()
    finally:
        sim.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
