"""One contact update: a PUT with tenacity retries, its response turned into an outcome.

Every response is classified by :func:`classify` (the one place that decides):

======================  ==========================================================
``SUCCESS``             2xx: the contact is updated
``RETRY``               429, 500, 502, 503, 504, connection errors, timeouts
``ROW_FAILED``          any other status (400, 403, 404, 405, 422, …): final for this row
``FATAL``               401, 402: every further request would fail too; stop the run
======================  ==========================================================

Waits between attempts grow exponentially with full jitter: before retry *n* the client waits a
random time in ``[0, min(backoff_max, backoff_initial · 2^(n-1))]``, and never less than a
``Retry-After`` header asks for. The token goes into one request header and nowhere else.
"""

from __future__ import annotations

import email.utils
import enum
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import tenacity
from requests.adapters import HTTPAdapter

from sync_job.ratelimit import RateGate
from sync_job.ratelimit import full_jitter as full_jitter

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
FATAL_STATUSES = frozenset({401, 402})
PAUSING_STATUSES = frozenset({429, 503})
TRANSPORT_ERRORS = (requests.ConnectionError, requests.Timeout)


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


@dataclass(frozen=True)
class Outcome:
    """What happened to one row's update, as the results file reports it."""

    status: str  # "updated" | "failed"
    attempts: int
    http_status: int | None = None
    api_code: int | None = None
    message: str = ""
    errors: str = ""
    req_id: str = ""
    contact: dict[str, str] | None = None
    """On success: names, number, email as the API returned them ("" for null)."""
    fatal: bool = False
    retries: int = 0
    throttled: int = 0
    """Responses answered 429 along the way."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _api_errors(body: Mapping[str, Any]) -> str:
    entries = body.get("errors")
    if not isinstance(entries, list):
        return ""
    parts = []
    for entry in entries:
        if isinstance(entry, dict):
            name = entry.get("field") or "request"
            parts.append(f"{name}: {entry.get('message', '')}".strip())
    return "; ".join(parts)


def _api_code(code: Any) -> int | None:
    """The body's ``code``; an API that sends it as a digit string still gets it reported."""
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code)
    return None


def _contact(data: Any) -> dict[str, str] | None:
    if not isinstance(data, dict):
        return None
    return {name: "" if data.get(name) is None else str(data.get(name))
            for name in ("names", "number", "email")}


def outcome_from_response(response: requests.Response, attempts: int, **counts: int) -> Outcome:
    """Turn the final response of a row into its outcome."""
    body = _body(response)
    disposition = classify(response.status_code)
    message = body.get("message")
    if not isinstance(message, str) or not message:
        kind = "JSON without a message" if body else "not JSON"
        message = f"HTTP {response.status_code} {response.reason or ''}".rstrip() + \
            f" (response body {kind})"
    return Outcome(
        status="updated" if disposition is Disposition.SUCCESS else "failed",
        attempts=attempts,
        http_status=response.status_code,
        api_code=_api_code(body.get("code")),
        message=message,
        errors=_api_errors(body),
        req_id=str(body.get("reqId") or ""),
        contact=_contact(body.get("data")) if disposition is Disposition.SUCCESS else None,
        fatal=disposition is Disposition.FATAL,
        **counts,
    )


def describe_transport_error(exc: BaseException) -> str:
    """A one-line account of a connection problem (no headers, so no token)."""
    if isinstance(exc, requests.ConnectTimeout):
        kind = "connection timed out"
    elif isinstance(exc, requests.ReadTimeout):
        kind = "no response before the read timeout"
    elif isinstance(exc, requests.ConnectionError):
        kind = "connection failed"
    else:
        kind = type(exc).__name__
    detail = str(exc)
    if len(detail) > 200:
        detail = detail[:197] + "..."
    return f"{kind}: {detail}" if detail else kind


@dataclass(kw_only=True)
class ClientSettings:
    base_url: str
    token: str = field(repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


class ContactClient:
    """Sends contact updates. Safe to share between threads: each thread gets its own session."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        gate: RateGate | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] = full_jitter,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self._settings = settings
        self._gate = gate or RateGate(0)
        self._sleep = sleep
        self._jitter = jitter
        self._cancelled = cancelled
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
            # One keep-alive connection per worker thread; retries are tenacity's job alone.
            adapter = HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.trust_env = False
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
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

    def update(self, contact_id: str, payload: Mapping[str, str]) -> Outcome:
        """PUT ``payload`` to the contact, retrying what is worth retrying."""
        s = self._settings
        url = f"{s.base_url}/contacts/{contact_id}"
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        attempts = 0
        throttled = 0

        def attempt() -> requests.Response:
            nonlocal attempts, throttled
            if not self._gate.wait_turn(self._cancelled):
                raise _Cancelled
            attempts += 1
            response = self._session().put(
                url, data=body, headers=self._headers,
                timeout=(s.connect_timeout, s.read_timeout),
            )
            if response.status_code == 429:
                throttled += 1
            return response

        def wait(state: tenacity.RetryCallState) -> float:
            retry_after = None
            outcome = state.outcome
            if outcome is not None and not outcome.failed:
                response: requests.Response = outcome.result()
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is not None and response.status_code in PAUSING_STATUSES:
                    self._gate.pause_until(self._gate.clock() + retry_after)
            return self.backoff(state.attempt_number, retry_after)

        def retriable(response: requests.Response) -> bool:
            return classify(response.status_code) is Disposition.RETRY and not self._cancelled()

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(s.max_attempts),
            wait=wait,
            retry=(tenacity.retry_if_exception_type(TRANSPORT_ERRORS)
                   | tenacity.retry_if_result(retriable)),
            sleep=self._sleep,
            retry_error_callback=_last_result_or_raise,
        )
        try:
            response = retrying(attempt)
        except _Cancelled:
            return Outcome(status="skipped", attempts=attempts, message="run interrupted",
                           retries=max(0, attempts - 1), throttled=throttled)
        except TRANSPORT_ERRORS as exc:
            times = "once" if attempts == 1 else f"{attempts} times"
            return Outcome(status="failed", attempts=attempts,
                           message=f"tried {times}: {describe_transport_error(exc)}",
                           retries=max(0, attempts - 1), throttled=throttled)
        return outcome_from_response(response, attempts, retries=max(0, attempts - 1),
                                     throttled=throttled)


class _Cancelled(Exception):
    """The run is stopping; this row was never sent."""


def _last_result_or_raise(state: tenacity.RetryCallState) -> Any:
    assert state.outcome is not None
    return state.outcome.result()  # re-raises the last exception, or gives the last response
