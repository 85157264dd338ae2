"""One update over real HTTP against the simulator: every status, every retry rule."""

from __future__ import annotations

import email.utils
import json
import socket
import time

import pytest

from sync_job.push.client import (
    ClientSettings,
    ContactClient,
    Disposition,
    classify,
    parse_retry_after,
)
from sync_job.push.ratelimit import RateGate
from sync_job.simulator import Simulator
from tests.conftest import TOKEN


class Waits:
    """An injected sleep: records every wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_client(base_url: str, *, token: str = TOKEN, sleep: Waits | None = None,
                max_attempts: int = 5, read_timeout: float = 5.0,
                jitter: object = None) -> ContactClient:
    """A client whose retry waits are recorded, and whose rate gate runs on a fake clock."""
    settings = ClientSettings(base_url=base_url, token=token, max_attempts=max_attempts,
                              backoff_initial=0.5, backoff_max=30.0, read_timeout=read_timeout)
    clock = FakeClock()
    return ContactClient(settings, gate=RateGate(0, clock=clock.time, sleep=clock.sleep),
                         sleep=sleep or Waits(),
                         jitter=jitter or (lambda ceiling: ceiling))  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "disposition"), [
    (200, Disposition.SUCCESS), (400, Disposition.ROW_FAILED), (401, Disposition.FATAL),
    (402, Disposition.FATAL), (403, Disposition.ROW_FAILED), (404, Disposition.ROW_FAILED),
    (405, Disposition.ROW_FAILED), (422, Disposition.ROW_FAILED), (429, Disposition.RETRY),
    (500, Disposition.RETRY), (502, Disposition.RETRY), (503, Disposition.RETRY),
    (504, Disposition.RETRY), (501, Disposition.ROW_FAILED),
])
def test_classify(status: int, disposition: Disposition) -> None:
    assert classify(status) is disposition


def test_success_returns_the_contact_as_the_api_holds_it(sim: Simulator) -> None:
    outcome = make_client(sim.base_url).update("1001", json.dumps({"names": "New Name"}))
    assert outcome.status == "updated"
    assert (outcome.http_status, outcome.api_code, outcome.attempts) == (200, 0, 1)
    assert outcome.message == "Contact updated successfully"
    assert outcome.req_id.startswith("req-")
    assert outcome.contact == {"names": "New Name", "number": "255712345001",
                               "email": "person1@example.com"}
    request = sim.requests[-1]
    assert request.method == "PUT" and request.path == "/api/v3/contacts/1001"
    assert request.body == {"names": "New Name"}
    assert request.auth_ok


def test_cleared_field_is_sent_as_empty_string_and_comes_back_empty(sim: Simulator) -> None:
    outcome = make_client(sim.base_url).update("1001", json.dumps({"email": ""}))
    assert sim.requests[-1].body == {"email": ""}
    assert outcome.contact is not None and outcome.contact["email"] == ""


@pytest.mark.parametrize(("status", "api_code"), [(400, 4000), (403, 4030), (404, 4040),
                                                  (405, 4050), (422, 4220)])
def test_client_errors_are_final_for_the_row(sim: Simulator, status: int, api_code: int) -> None:
    sim.enqueue(status)
    waits = Waits()
    outcome = make_client(sim.base_url, sleep=waits).update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "failed"
    assert (outcome.http_status, outcome.api_code, outcome.attempts) == (status, api_code, 1)
    assert not outcome.fatal
    assert waits.waits == []
    assert sim.put_count(1001) == 1


def test_404_reports_the_api_errors_list(sim: Simulator) -> None:
    outcome = make_client(sim.base_url).update("99999", json.dumps({"names": "Ghost"}))
    assert (outcome.status, outcome.http_status, outcome.api_code) == ("failed", 404, 4040)
    assert outcome.message == "Contact not found"
    assert outcome.errors == "contactId: Contact with ID 99999 does not exist"


def test_422_reports_every_field_error(sim: Simulator) -> None:
    outcome = make_client(sim.base_url).update(
        "1001", json.dumps({"names": "x" * 101, "email": "nope"}))
    assert (outcome.http_status, outcome.api_code) == (422, 4220)
    fields = [part.split(":")[0] for part in outcome.errors.split("; ")]
    assert fields == ["names", "email"]


@pytest.mark.parametrize("status", [401, 402])
def test_401_and_402_are_fatal(sim: Simulator, status: int) -> None:
    if status == 402:
        sim.payment_required = True
        client = make_client(sim.base_url)
    else:
        client = make_client(sim.base_url, token="wrong-token")
    outcome = client.update("1001", json.dumps({"names": "X"}))
    assert outcome.fatal and outcome.status == "failed"
    assert outcome.http_status == status and outcome.attempts == 1


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_then_succeed(sim: Simulator, status: int) -> None:
    sim.enqueue(status)
    sim.enqueue(status)
    waits = Waits()
    outcome = make_client(sim.base_url, sleep=waits).update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "updated"
    assert outcome.attempts == 3 and outcome.retries == 2
    assert waits.waits == [0.5, 1.0]
    assert outcome.throttled == (2 if status == 429 else 0)


def test_backoff_doubles_up_to_the_cap_and_gives_up_after_max_attempts(sim: Simulator) -> None:
    for _ in range(8):
        sim.enqueue(503)
    waits = Waits()
    settings = ClientSettings(base_url=sim.base_url, token=TOKEN, max_attempts=8,
                              backoff_initial=0.5, backoff_max=4.0)
    client = ContactClient(settings, sleep=waits, jitter=lambda ceiling: ceiling)
    outcome = client.update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "failed" and outcome.http_status == 503
    assert outcome.attempts == 8
    assert waits.waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert sim.put_count(1001) == 8


def test_full_jitter_draws_between_zero_and_the_ceiling(sim: Simulator) -> None:
    for _ in range(4):
        sim.enqueue(500)
    waits = Waits()
    settings = ClientSettings(base_url=sim.base_url, token=TOKEN, max_attempts=5,
                              backoff_initial=0.5, backoff_max=30.0)
    draws: list[float] = []

    def jitter(ceiling: float) -> float:
        draws.append(ceiling)
        return ceiling / 4

    ContactClient(settings, sleep=waits, jitter=jitter).update("1001", json.dumps({"names": "X"}))
    assert draws == [0.5, 1.0, 2.0, 4.0]
    assert waits.waits == [0.125, 0.25, 0.5, 1.0]


def test_default_jitter_stays_within_bounds(sim: Simulator) -> None:
    for _ in range(4):
        sim.enqueue(500)
    waits = Waits()
    settings = ClientSettings(base_url=sim.base_url, token=TOKEN, max_attempts=5,
                              backoff_initial=0.5, backoff_max=30.0)
    ContactClient(settings, sleep=waits).update("1001", json.dumps({"names": "X"}))
    ceilings = [0.5, 1.0, 2.0, 4.0]
    assert len(waits.waits) == 4
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(waits.waits, ceilings, strict=True))


def test_retry_after_seconds_is_the_minimum_wait(sim: Simulator) -> None:
    sim.enqueue(429, retry_after="7")
    waits = Waits()
    outcome = make_client(sim.base_url, sleep=waits).update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "updated"
    assert waits.waits == [7.0]


def test_retry_after_below_backoff_does_not_shorten_it(sim: Simulator) -> None:
    sim.enqueue(503, retry_after="0")
    waits = Waits()
    make_client(sim.base_url, sleep=waits).update("1001", json.dumps({"names": "X"}))
    assert waits.waits == [0.5]


def test_retry_after_http_date_is_honored(sim: Simulator) -> None:
    later = email.utils.formatdate(time.time() + 20, usegmt=True)
    sim.enqueue(503, retry_after=later)
    waits = Waits()
    make_client(sim.base_url, sleep=waits).update("1001", json.dumps({"names": "X"}))
    assert len(waits.waits) == 1 and 17 <= waits.waits[0] <= 20


def test_retry_after_parsing() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 60) == 60.0


def test_retry_after_pauses_the_shared_gate_for_every_worker(sim: Simulator) -> None:
    sim.enqueue(429, retry_after="3")
    clock = FakeClock()
    gate = RateGate(0, clock=clock.time, sleep=clock.sleep)
    settings = ClientSettings(base_url=sim.base_url, token=TOKEN)
    outcome = ContactClient(settings, gate=gate, sleep=Waits(), jitter=lambda c: c).update(
        "1001", json.dumps({"names": "X"}))
    assert outcome.status == "updated" and outcome.attempts == 2
    # The retry itself was held by the gate until 3 s after the 429 …
    assert sum(clock.slept) == pytest.approx(3.0)
    # … and so is any other worker that asks the gate during the pause.
    gate.pause_until(clock.now + 2)
    before = clock.now
    assert gate.wait_turn()
    assert clock.now - before == pytest.approx(2.0)


def test_rate_gate_spaces_request_starts_evenly() -> None:
    clock = FakeClock()
    gate = RateGate(4, clock=clock.time, sleep=clock.sleep)
    starts = []
    for _ in range(9):
        assert gate.wait_turn()
        starts.append(clock.now - 100.0)
    assert starts == pytest.approx([0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])


def test_rate_gate_does_not_save_up_a_burst_while_idle() -> None:
    clock = FakeClock()
    gate = RateGate(2, clock=clock.time, sleep=clock.sleep)
    assert gate.wait_turn()
    clock.now += 60  # a long idle spell
    first = clock.now
    assert gate.wait_turn() and gate.wait_turn()
    assert clock.now - first == pytest.approx(0.5)


def test_rate_gate_wait_is_cancellable() -> None:
    clock = FakeClock()
    gate = RateGate(0, clock=clock.time, sleep=clock.sleep)
    gate.pause_until(clock.now + 1000)
    assert gate.wait_turn(cancelled=lambda: True) is False


def test_dropped_connection_is_retried(sim: Simulator) -> None:
    sim.enqueue(200, close=True)
    waits = Waits()
    outcome = make_client(sim.base_url, sleep=waits).update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "updated" and outcome.attempts == 2
    assert waits.waits == [0.5]


def test_html_gateway_page_is_reported_without_crashing(sim: Simulator) -> None:
    for _ in range(3):
        sim.enqueue(502, body="<html><body>Bad Gateway</body></html>")
    outcome = make_client(sim.base_url, max_attempts=3).update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "failed" and outcome.http_status == 502
    assert outcome.api_code is None and outcome.req_id == ""
    assert "HTTP 502" in outcome.message and "not JSON" in outcome.message


def test_connection_refused_fails_after_max_attempts_without_the_token() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits = Waits()
    outcome = make_client(f"http://127.0.0.1:{port}/api/v3", sleep=waits,
                          max_attempts=3).update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "failed" and outcome.http_status is None
    assert outcome.attempts == 3 and len(waits.waits) == 2
    assert outcome.message.startswith("tried 3 times: connection failed")
    assert TOKEN not in outcome.message


def test_read_timeout_is_retried_and_reported() -> None:
    with Simulator([{"contactId": "1", "names": "A", "number": "255712345678", "email": ""}],
                   token=TOKEN, latency_ms=400) as slow:
        outcome = make_client(slow.base_url, max_attempts=2, read_timeout=0.1).update(
            "1", json.dumps({"names": "B"}))
    assert outcome.status == "failed" and outcome.attempts == 2
    assert "read timeout" in outcome.message


def test_a_code_sent_as_text_is_still_reported(sim: Simulator) -> None:
    sim.enqueue(422, body='{"code": "4221", "message": "Number taken", "errors": []}')
    outcome = make_client(sim.base_url).update("1001", json.dumps({"number": "255712345002"}))
    assert (outcome.http_status, outcome.api_code, outcome.message) == (422, 4221,
                                                                        "Number taken")
