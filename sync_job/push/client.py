"""One contact update: a PUT with tenacity retries, its answer checked before it is believed.

Each attempt's answer is read whole (at most :data:`MAX_BODY_BYTES`) and then judged by
:func:`classify` on its status:

======================  ==========================================================
``SUCCESS``             2xx: the contact is updated, if the answer is believable
``RETRY``               429, 500, 502, 503, 504, and transport errors: connection refused
                        or reset, timeouts, a body cut off or undecodable, an attempt past
                        its deadline
``ROW_FAILED``          any other status (400, 403, 404, 405, 422, a redirect, …): final
                        for this row
``FATAL``               401, 402: every further request would fail too; stop the run
======================  ==========================================================

A 2xx is believed only when its body is the API's JSON envelope and its ``data`` (when there)
is this contact with text fields; otherwise the row is ``failed`` (a PUT is idempotent: the
next run simply sends it again). A row's outcome is *systemic* when it says the API itself is
not answering: transport errors, 5xx, a body that is not the API's envelope, a redirect, or a
``Retry-After`` longer than ``push.max_retry_wait``. Enough systemic rows in a row stop the run
(``sync_job.push.workers``).

The network is treated as hostile:

* redirects are never followed (the token would go along to whatever host ``Location``
  names), so a 3xx is final for the row;
* every attempt ends within a total deadline (connect + read timeout + :data:`DEADLINE_SLACK`):
  ``read_timeout`` only bounds each socket read, so a server sending one byte a second would
  otherwise hold a worker forever;
* ``Retry-After`` is parsed defensively and never makes a run wait longer than
  ``max_retry_wait``;
* at most :data:`MAX_BODY_BYTES` of any body are read, and the API's texts are cut to
  :data:`MAX_TEXT` characters, without control characters.

Every failed row gets a stable problem code (:attr:`Outcome.code`, :data:`OUTCOME_CODES`):
``api.<code>`` when the API's envelope gives its code, ``http.<status>`` for an HTTP answer
without one, ``transport.<kind>`` when no answer came, and codes of their own for an answer the
job refuses to believe or follow.

Waits between attempts grow exponentially with full jitter: before retry *n* the client waits a
random time in ``[0, min(backoff_max, backoff_initial · 2^(n-1))]``, and never less than a
``Retry-After`` header asks for. The token goes into one request header and nowhere else.
"""

from __future__ import annotations

import contextlib
import email.utils
import enum
import json
import math
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import requests
import tenacity
import urllib3
from requests.adapters import HTTPAdapter

from sync_job.fields import VALUE_FIELDS
from sync_job.push.ratelimit import RateGate
from sync_job.push.ratelimit import full_jitter as full_jitter
from sync_job.push.timeline import Timeline

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FATAL_STATUSES = frozenset({401, 402})
PAUSING_STATUSES = frozenset({429, 503})

MAX_BODY_BYTES = 64 * 1024
"""The most of a response body that is read; the API's envelopes are a few hundred bytes."""
MAX_TEXT = 500
"""The most characters of the API's ``message`` or ``errors`` kept for the results file."""
DEADLINE_SLACK = 2.0
"""Seconds an attempt may take beyond its connect and read timeouts, in all."""


class AttemptDeadlineExceeded(requests.ConnectionError):
    """The attempt did not end within its total deadline; its connection was cut."""


TRANSPORT_ERRORS = (
    requests.ConnectionError,  # refused, reset, DNS, TLS, the attempt deadline
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,  # the body was cut off
    requests.exceptions.ContentDecodingError,  # broken gzip/deflate
)


class Disposition(enum.Enum):
    SUCCESS = "success"
    RETRY = "retry"
    ROW_FAILED = "row_failed"
    FATAL = "fatal"


def classify(status: int) -> Disposition:
    """What an HTTP status means for this row and this run."""
    if 200 <= status < 300:
        return Disposition.SUCCESS
    if status in FATAL_STATUSES:
        return Disposition.FATAL
    if status in RETRY_STATUSES:
        return Disposition.RETRY
    return Disposition.ROW_FAILED


OUTCOME_CODES: dict[str, str] = {
    "api.<code>": "the API refused the update and its answer gives its own code, the HTTP "
                  "status times 10 plus a sub-code: e.g. api.4040 no such contact, api.4220 a "
                  "field refused, api.4221 the number belongs to another contact, api.4010 the "
                  "token refused, api.5000 a server error on every attempt",
    "http.<status>": "an HTTP error status whose answer is not the API's envelope, or has no "
                     "code in it: e.g. http.502 from a gateway on every attempt",
    "http.redirect": "the API answered with a redirect, which sync-job never follows (the "
                     "token must reach no other host): check api.base_url",
    "http.retry_after_too_long": "the API asked to wait longer than push.max_retry_wait "
                                 "before a retry (Retry-After)",
    "api.no_envelope": "a success status whose body is not the API's JSON envelope: the "
                       "update cannot be confirmed, the next run sends it again",
    "api.other_contact": "the API's answer confirms another contact (its data.id is not the "
                         "contactId sent): the update cannot be confirmed",
    "api.not_a_contact": "the API's answer holds data that is not a contact (not an object, "
                         "or a field that is not text): the update cannot be confirmed",
    "transport.timeout": "no answer in time on every attempt: connect or read timeout, or "
                         "the attempt's whole deadline",
    "transport.connection": "the connection failed on every attempt: refused, reset, name "
                            "lookup, TLS",
    "transport.cut_off": "the answer was cut off before its end on every attempt",
    "transport.bad_encoding": "the answer's body could not be decoded (broken compression) on "
                              "every attempt",
    "internal.error": "a bug in sync-job cost this row its update; please report it",
}
"""The problem codes of a row the push failed, each with its meaning (``<code>`` and
``<status>`` stand for the numbers)."""

INTERNAL_ERROR = "internal.error"


@dataclass(frozen=True)
class Outcome:
    """What happened to one row's update, as the results file reports it."""

    status: str  # "updated" | "failed" | "skipped"
    attempts: int
    http_status: int | None = None
    api_code: int | None = None
    message: str = ""
    errors: str = ""
    req_id: str = ""
    contact: dict[str, str] | None = None
    """On success: the fields as the API returned them ("" for null); a field the API did not
    return is left out unless it was sent, then it is what was sent."""
    fatal: bool = False
    """401/402: stop the run."""
    systemic: bool = False
    """The API itself did not answer as the API (see the module docstring)."""
    api_answered: bool = False
    """The API answered with its envelope, believably: a sign it is working."""
    retries: int = 0
    throttled: int = 0
    """Responses answered 429 along the way."""
    code: str = ""
    """A failed row's problem code (one of :data:`OUTCOME_CODES`, e.g. ``api.4221``); ""
    otherwise."""


@dataclass(frozen=True)
class Answer:
    """One attempt's HTTP answer, with its body read and parsed."""

    status: int
    reason: str
    envelope: dict[str, Any] | None
    """The API's JSON envelope; None when the body is not one."""
    body_note: str
    """What the body is when it is not the envelope ("empty", "not JSON", …); else ""."""
    retry_after: float | None
    redirect_host: str
    """For a 3xx: the host its ``Location`` names ("" when none)."""


# ---------------------------------------------------------------- reading an answer

_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: ASCII delta-seconds or an HTTP date.

    None when there is none or it cannot be read (the backoff then decides); ``math.inf`` for
    a number too large to mean anything but "not in this run".
    """
    if not value:
        return None
    value = value.strip()
    if _DIGITS.fullmatch(value):
        # Beyond a day the exact value no longer matters: it is over any cap.
        return float(value) if len(value) <= 6 else math.inf
    if len(value) > 64:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    try:
        return max(0.0, when.timestamp() - current)
    except (OverflowError, OSError, ValueError):
        return math.inf


def plain(text: str, limit: int = MAX_TEXT) -> str:
    """Text from the server as one line without control characters, at most ``limit`` long:
    it reaches terminals and spreadsheets."""
    text = _CONTROL.sub(" ", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_body(response: requests.Response) -> tuple[bytes, bool]:
    """(up to MAX_BODY_BYTES of the body, whether that is all of it). Raises the transport
    errors of a body cut off or undecodable."""
    declared = response.headers.get("Content-Length", "")
    if _DIGITS.fullmatch(declared) and len(declared) < 19 and int(declared) > MAX_BODY_BYTES:
        return b"", False
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(16384):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", False
    return b"".join(chunks), True


def _envelope(raw: bytes, whole: bool) -> tuple[dict[str, Any] | None, str]:
    if not whole:
        return None, f"over {MAX_BODY_BYTES // 1024} KiB, not read"
    if not raw.strip():
        return None, "empty"
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        return None, "not JSON"
    if not isinstance(body, dict) or not ({"code", "data"} & body.keys()):
        return None, "JSON, but not the API's envelope"
    return body, ""


def _redirect_host(url: str, location: str | None) -> str:
    if not location:
        return ""
    try:
        host = urllib3.util.parse_url(urllib.parse.urljoin(url, location)).host or ""
    except (ValueError, urllib3.exceptions.LocationParseError):
        return ""
    return plain(host, 100)


def read_answer(url: str, response: requests.Response) -> Answer:
    """Read and parse ``response`` (then release or drop its connection)."""
    try:
        raw, whole = _read_body(response)
    finally:
        # A body read to its end lets the connection be used again; any other is dropped.
        response.close()
    envelope, note = _envelope(raw, whole)
    return Answer(
        status=response.status_code,
        reason=plain(response.reason or "", 100),
        envelope=envelope,
        body_note=note,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        redirect_host=(_redirect_host(url, response.headers.get("Location"))
                       if 300 <= response.status_code < 400 else ""),
    )


# ---------------------------------------------------------------- judging an answer

def _api_errors(body: Mapping[str, Any]) -> str:
    entries = body.get("errors")
    if not isinstance(entries, list):
        return ""
    parts = []
    for entry in entries[:50]:
        if isinstance(entry, dict):
            name = entry.get("field") or "request"
            parts.append(f"{name}: {entry.get('message', '')}".strip())
    return plain("; ".join(parts))


def _api_code(code: Any) -> int | None:
    """The body's ``code``; an API that sends it as a digit string still gets it reported."""
    if isinstance(code, int) and not isinstance(code, bool) and abs(code) < 10**9:
        return code
    if isinstance(code, str) and _DIGITS.fullmatch(code.strip()) and len(code.strip()) < 10:
        return int(code)
    return None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true or false", int: "a number",
            float: "a number", str: "text"}.get(type(value), type(value).__name__)


def confirmed_contact(data: Any, contact_id: str, payload: Mapping[str, str]
                      ) -> tuple[dict[str, str] | None, str, str]:
    """(the contact a 2xx confirms, "", "") or (None, why it cannot be believed, its problem
    code).

    ``data`` is the envelope's ``data``. The API returns the whole contact; a field it leaves
    out keeps what was sent (or, if not sent, what the snapshot holds).
    """
    cannot = "the update cannot be confirmed; the next run sends it again"
    if data is None:
        return dict(payload), "", ""
    if not isinstance(data, dict):
        return None, (f"the API's answer holds {_kind(data)} as data, not a contact; "
                      f"{cannot}"), "api.not_a_contact"
    if "id" in data:
        given = data["id"]
        same = ((isinstance(given, int) and not isinstance(given, bool)
                 and str(given) == contact_id)
                or (isinstance(given, str) and given.strip() == contact_id))
        if not same:
            shown = plain(str(given), 40) if isinstance(given, int | str) else _kind(given)
            return None, (f"the API confirmed a different contact (id {shown}) than the one "
                          f"sent ({contact_id}); the snapshot keeps its row; {cannot}"
                          ), "api.other_contact"
    contact = dict(payload)
    for name in VALUE_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value is None:
            contact[name] = ""
        elif isinstance(value, str):
            contact[name] = value
        else:
            return None, (f"the API's data gives {name} as {_kind(value)}, not text; "
                          f"{cannot}"), "api.not_a_contact"
    return contact, "", ""


def outcome_from_answer(answer: Answer, contact_id: str, payload: Mapping[str, str],
                        attempts: int, *, max_retry_wait: float = math.inf,
                        **counts: int) -> Outcome:
    """The outcome of a row whose last attempt got ``answer``."""
    status = answer.status
    disposition = classify(status)
    body = answer.envelope
    heading = f"HTTP {status} {answer.reason}".rstrip()
    common: dict[str, Any] = {"attempts": attempts, "http_status": status, **counts}
    if body is not None:
        common.update(api_code=_api_code(body.get("code")), errors=_api_errors(body),
                      req_id=plain(str(body.get("reqId") or ""), 100))
    message = body.get("message") if body is not None else None
    said = plain(message) if isinstance(message, str) and message.strip() else ""
    # The API's own code when its envelope gives one, else the HTTP status.
    code = (f"api.{common['api_code']}" if common.get("api_code") is not None
            else f"http.{status}")

    if 300 <= status < 400:
        to = f" to {answer.redirect_host}" if answer.redirect_host else ""
        return Outcome(status="failed", systemic=True, code="http.redirect", **common, message=(
            f"{heading}: the API answered with a redirect{to}, which sync-job never follows "
            f"(the token must reach no other host); check api.base_url"))
    if disposition is Disposition.FATAL:
        return Outcome(status="failed", fatal=True, code=code, **common,
                       message=said or f"{heading} (response body {answer.body_note or 'JSON'})")
    if (answer.retry_after is not None and answer.retry_after > max_retry_wait
            and disposition is Disposition.RETRY):
        wait = "longer than anyone waits" if math.isinf(answer.retry_after) else \
            f"{answer.retry_after:.0f} s"
        return Outcome(status="failed", systemic=True, code="http.retry_after_too_long",
                       **common, message=(
            f"{heading}: the API asked to wait {wait} before a retry (Retry-After), more than "
            f"push.max_retry_wait ({max_retry_wait:g} s) allows; treated as the API being "
            f"unavailable"))
    if body is None:
        if disposition is Disposition.SUCCESS:
            text = (f"{heading}, but the response body is {answer.body_note}, not the API's "
                    f"JSON envelope: the update cannot be confirmed; the next run sends it again")
            code = "api.no_envelope"
        else:
            text = f"{heading} (response body {answer.body_note}, not the API's envelope)"
        return Outcome(status="failed", systemic=True, code=code, **common, message=text)
    if disposition is Disposition.SUCCESS:
        contact, problem, code = confirmed_contact(body.get("data"), contact_id, payload)
        if contact is None:
            return Outcome(status="failed", systemic=True, code=code, **common, message=problem)
        return Outcome(status="updated", contact=contact, api_answered=True, **common,
                       message=said or heading)
    return Outcome(status="failed", systemic=status >= 500,
                   api_answered=disposition is Disposition.ROW_FAILED, code=code, **common,
                   message=said or f"{heading} (response body JSON without a message)")


def transport_code(exc: BaseException) -> str:
    """The problem code of a row whose last attempt ended in ``exc`` (one of
    :data:`TRANSPORT_ERRORS`)."""
    if isinstance(exc, AttemptDeadlineExceeded | requests.Timeout):
        return "transport.timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "transport.cut_off"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "transport.bad_encoding"
    return "transport.connection"  # requests.ConnectionError: refused, reset, DNS, TLS


def describe_transport_error(exc: BaseException) -> str:
    """A one-line account of a connection problem (no headers, so no token)."""
    if isinstance(exc, AttemptDeadlineExceeded):
        return str(exc)
    if isinstance(exc, requests.ConnectTimeout):
        kind = "connection timed out"
    elif isinstance(exc, requests.ReadTimeout):
        kind = "no response before the read timeout"
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError):
        kind = "the response was cut off before its end"
    elif isinstance(exc, requests.exceptions.ContentDecodingError):
        kind = "the response body could not be decoded (broken compression)"
    elif isinstance(exc, requests.ConnectionError):
        kind = "connection failed"
    else:
        kind = type(exc).__name__
    detail = plain(str(exc), 200)
    return f"{kind}: {detail}" if detail else kind


# ---------------------------------------------------------------- the attempt deadline

_watching = threading.local()


class _Watch:
    """One attempt's deadline, and the connection it uses once the request is under way."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: urllib3.connection.HTTPConnection | None = None
        self.expired = False

    def cut(self) -> None:
        self.expired = True
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Watchdog:
    """Cuts the connection of any attempt that outlives its deadline, from a thread of its own
    that looks every :attr:`tick` seconds (so an attempt ends at most a tick late)."""

    tick = 0.1

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._watches: set[_Watch] = set()
        self._closed = threading.Event()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, seconds: float) -> Iterator[_Watch]:
        """Watch the attempt made in this block, on this thread."""
        current = _Watch(self._clock() + seconds)
        with self._lock:
            self._watches.add(current)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="push-deadlines",
                                                daemon=True)
                self._thread.start()
        _watching.current = current
        try:
            yield current
        finally:
            _watching.current = None
            with self._lock:
                self._watches.discard(current)

    def _run(self) -> None:
        while not self._closed.wait(self.tick):
            now = self._clock()
            with self._lock:
                late = [watch for watch in self._watches if watch.deadline <= now]
            for watch in late:
                # Again at every tick: the connection may have been opening at the first.
                watch.cut()

    def close(self) -> None:
        self._closed.set()


def _register(connection: urllib3.connection.HTTPConnection) -> None:
    current: _Watch | None = getattr(_watching, "current", None)
    if current is not None:
        current.connection = connection
        if current.expired:
            current.cut()


class _WatchedHTTPConnection(urllib3.connection.HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)


class _WatchedHTTPSConnection(urllib3.connection.HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _register(self)
        super().request(*args, **kwargs)


class _WatchedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    """One keep-alive connection, no urllib3 retries (tenacity's job), watched connections."""

    def __init__(self) -> None:
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool,
                                                   "https": _WatchedHTTPSPool}


# ---------------------------------------------------------------- the client

@dataclass(kw_only=True)
class ClientSettings:
    base_url: str
    token: str = field(repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    max_retry_wait: float = 300.0

    @property
    def attempt_deadline(self) -> float:
        """Seconds an attempt may take in all, from the connection to the body's last byte."""
        return self.connect_timeout + self.read_timeout + DEADLINE_SLACK


class ContactClient:
    """Sends contact updates. Safe to share between threads: each thread gets its own session.

    ``timeline``, when given, counts each request sent, each retry and each 429 answer over
    time (for the HTML report's chart)."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        gate: RateGate | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] = full_jitter,
        cancelled: Callable[[], bool] = lambda: False,
        timeline: Timeline | None = None,
    ) -> None:
        self._settings = settings
        self._timeline = timeline
        self._gate = gate or RateGate(0)
        self._sleep = sleep
        self._jitter = jitter
        self._cancelled = cancelled
        self._watchdog = Watchdog()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()
        self._headers = {
            "X-Huduma": f"Bearer {settings.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = _WatchedAdapter()
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.trust_env = False  # no proxies or .netrc from the environment
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        self._watchdog.close()
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed ``attempt`` (1-based)."""
        s = self._settings
        ceiling = min(s.backoff_max, s.backoff_initial * 2 ** (attempt - 1))
        wait = self._jitter(ceiling)
        return max(wait, retry_after) if retry_after is not None else wait

    def _send(self, url: str, body: bytes) -> Answer:
        """One attempt, ended within the attempt deadline."""
        s = self._settings
        with self._watchdog.watch(s.attempt_deadline) as watch:
            try:
                response = self._session().put(
                    url, data=body, headers=self._headers,
                    timeout=(s.connect_timeout, s.read_timeout),
                    allow_redirects=False, stream=True,
                )
                answer = read_answer(url, response)
            except TRANSPORT_ERRORS:
                if not watch.expired:
                    raise
            if watch.expired:  # also when the cut looked like the end of the body
                raise AttemptDeadlineExceeded(
                    f"no complete response within {s.attempt_deadline:g} s (connect timeout "
                    f"+ read timeout + {DEADLINE_SLACK:g} s); the connection was cut")
        return answer

    def update(self, contact_id: str, body: str) -> Outcome:
        """PUT ``body`` (the JSON of the fields to change) to the contact, retrying what is
        worth retrying."""
        try:
            return self._update(contact_id, body)
        except Exception as exc:  # a bug must cost one row, and never show the token
            detail = plain(str(exc), 200).replace(self._settings.token, "[token]")
            return Outcome(status="failed", attempts=0, code=INTERNAL_ERROR,
                           message=f"internal error: {type(exc).__name__}: {detail}")

    def _update(self, contact_id: str, text: str) -> Outcome:
        s = self._settings
        url = f"{s.base_url}/contacts/{contact_id}"
        body = text.encode("utf-8")
        payload: dict[str, str] = json.loads(text)
        attempts = 0
        throttled = 0
        last: Answer | BaseException | None = None

        def attempt() -> Answer:
            nonlocal attempts, throttled, last
            if not self._gate.wait_turn(self._cancelled):
                raise _Cancelled
            attempts += 1
            if self._timeline is not None:
                self._timeline.add("requests")
                if attempts > 1:
                    self._timeline.add("retries")
            try:
                answer = self._send(url, body)
            except TRANSPORT_ERRORS as exc:
                last = exc
                raise
            last = answer
            if answer.status == 429:
                throttled += 1
                if self._timeline is not None:
                    self._timeline.add("throttled")
            return answer

        def too_long(answer: Answer) -> bool:
            return answer.retry_after is not None and answer.retry_after > s.max_retry_wait

        def wait(state: tenacity.RetryCallState) -> float:
            retry_after = None
            outcome = state.outcome
            if outcome is not None and not outcome.failed:
                answer: Answer = outcome.result()
                retry_after = answer.retry_after
                if retry_after is not None and answer.status in PAUSING_STATUSES:
                    self._gate.pause_until(self._gate.clock() + retry_after)
            return self.backoff(state.attempt_number, retry_after)

        def retriable(answer: Answer) -> bool:
            return (classify(answer.status) is Disposition.RETRY and not too_long(answer)
                    and not self._cancelled())

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(s.max_attempts),
            wait=wait,
            retry=(tenacity.retry_if_exception_type(TRANSPORT_ERRORS)
                   | tenacity.retry_if_result(retriable)),
            sleep=self._sleep,
            retry_error_callback=_last_result_or_raise,
        )
        try:
            answer = retrying(attempt)
        except _Cancelled:  # the run stopped this row: a row tried already reports its last try
            if last is None:
                return Outcome(status="skipped", attempts=0, message="run interrupted")
            if isinstance(last, BaseException):
                return self._transport_failure(last, attempts, throttled)
            answer = last
        except TRANSPORT_ERRORS as exc:
            return self._transport_failure(exc, attempts, throttled)
        return outcome_from_answer(answer, contact_id, payload, attempts,
                                   max_retry_wait=s.max_retry_wait,
                                   retries=max(0, attempts - 1), throttled=throttled)

    @staticmethod
    def _transport_failure(exc: BaseException, attempts: int, throttled: int) -> Outcome:
        times = "once" if attempts == 1 else f"{attempts} times"
        return Outcome(status="failed", attempts=attempts, systemic=True,
                       retries=max(0, attempts - 1), throttled=throttled,
                       code=transport_code(exc),
                       message=f"tried {times}: {describe_transport_error(exc)}")


class _Cancelled(Exception):
    """The run is stopping; this row's next attempt is not sent."""


def _last_result_or_raise(state: tenacity.RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()  # re-raises the last exception, or gives the last answer
