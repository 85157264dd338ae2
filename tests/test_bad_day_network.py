"""The network on a bad day, over real sockets on loopback: redirects, odd URLs and tokens,
endless waits, answers that cannot be believed, and APIs that are down.

Each test stages one misbehaviour with the simulator or with ``tests.hostile.HostileServer``
(a server that writes whatever the test likes on the raw socket).
"""

from __future__ import annotations

import email.utils
import gzip
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from sync_job.config import load_config
from sync_job.errors import ConfigError, TokenError
from sync_job.pipeline import run_sync
from sync_job.push.client import (
    MAX_BODY_BYTES,
    MAX_TEXT,
    ClientSettings,
    ContactClient,
    Outcome,
    parse_retry_after,
)
from sync_job.simulator import Simulator
from tests.conftest import TOKEN, Workspace, read_results
from tests.hostile import HostileServer, Request, answer, drip, reset, response
from tests.test_client import Waits, make_client

ROOT = Path(__file__).resolve().parent.parent

RENAMES = [(str(1001 + n), f"Renamed {n}", "", "") for n in range(10)]


def envelope(data: object, *, status: int = 200) -> str:
    return json.dumps({"status": f"{status} OK", "code": 0, "message": "Contact updated",
                       "reqId": "req-x", "data": data})


def contact(contact_id: int, **fields: object) -> dict[str, object]:
    return {"id": contact_id, "names": "Person", "number": "255712345001",
            "email": "person@example.com", **fields}


# ------------------------------------------------------------------ the token goes nowhere else

@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_and_fails_the_row(tmp_path: Path, status: int,
                                                        env: dict[str, str]) -> None:
    with HostileServer(answer(200, envelope(contact(1001)))) as elsewhere:
        location = f"http://localhost:{elsewhere.port}/api/v3/contacts/1001"
        with HostileServer(answer(status, headers=[("Location", location)])) as api:
            ws = Workspace(tmp_path, api.base_url)
            ws.write_changes([("1001", "New Name", "", "")])
            report = run_sync(ws.config(max_attempts=3), environ=env)
            row = ws.results_by_row()[2]
    assert elsewhere.requests == []  # the token never reached the other host
    assert len(api.requests) == 1  # a redirect is final: no retry, no loop
    assert (row["status"], row["http_status"]) == ("failed", str(status))
    assert "redirect to localhost" in row["message"] and "api.base_url" in row["message"]
    assert report.exit_code == 1
    assert "New Name" not in ws.snapshot.read_text(encoding="utf-8")


@pytest.mark.parametrize("url", [
    "http://127.1:{port}\\@127.0.0.1/api/v3",
    "http://attacker.example\\@127.0.0.1:{port}/api/v3",
    "http://user:s3cret-pass@127.0.0.1:{port}/api/v3",
    "http://127.0.0.1:{port}/api/v3?debug=1",
    "http://127.0.0.1:{port}/api/v3#top",
    "http://127.0.0.1:{port}/api /v3",
])
def test_a_base_url_parsers_may_read_differently_is_refused(tmp_path: Path, url: str) -> None:
    with HostileServer(answer(200, envelope(contact(1001)))) as listener:
        bad = url.format(port=listener.port)
        ws = Workspace(tmp_path, "http://127.0.0.1:1/api/v3")
        ws.write_changes([("1001", "New Name", "", "")])
        config_path = tmp_path / "config.yaml"
        ws.config()
        config_path.write_text(config_path.read_text(encoding="utf-8").replace(
            "http://127.0.0.1:1/api/v3", json.dumps(bad)), encoding="utf-8")
        with pytest.raises(ConfigError) as refused:
            load_config(config_path)
        process = subprocess.run(
            [sys.executable, "-m", "sync_job", "run", "--config", str(config_path),
             "--base-url", bad], capture_output=True, text=True, timeout=60,
            env={**os.environ, "HUDUMA_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)})
    assert listener.requests == []
    assert process.returncode == 2, process.stderr
    assert "api.base_url" in str(refused.value) and "--base-url" in process.stderr
    for text in (str(refused.value), process.stderr, process.stdout):
        assert "s3cret-pass" not in text
        assert "Traceback" not in text


@pytest.mark.parametrize("token", ["abc\ndef", "abc\rdef", "abc\x00def", "abc\x1bdef",
                                   "tökén"])
def test_a_token_with_a_control_character_is_refused_before_anything_is_sent(
        workspace: Workspace, sim: Simulator, token: str) -> None:
    workspace.write_changes([("1001", "New Name", "", "")])
    with pytest.raises(TokenError) as refused:
        run_sync(workspace.config(), environ={"HUDUMA_API_TOKEN": token})
    assert "HUDUMA_API_TOKEN" in str(refused.value)
    assert "abc" not in str(refused.value) and "def" not in str(refused.value)
    assert sim.requests == [] and not workspace.results.exists()


# ------------------------------------------------------------------ every wait has a ceiling

def test_retry_after_is_read_defensively() -> None:
    assert parse_retry_after("999999") == 999999.0
    assert parse_retry_after("99999999999999999999") == math.inf  # no OverflowError
    assert parse_retry_after("²") is None  # not ASCII digits: no ValueError
    assert parse_retry_after("\uff11\uff12") is None  # full-width digits
    assert parse_retry_after("-5") is None
    assert parse_retry_after("Fri, 01 Jan 2099 00:00:00 GMT", now=0.0) > 10**9
    assert parse_retry_after("Fri, 01 Jan 99999 00:00:00 GMT") is None
    assert parse_retry_after("x" * 10_000) is None


@pytest.mark.parametrize("retry_after", ["999999", "99999999999999999999",
                                         "Fri, 01 Jan 2099 00:00:00 GMT"])
def test_a_retry_after_over_the_cap_ends_the_row_without_waiting(
        sim: Simulator, retry_after: str) -> None:
    sim.enqueue(429, retry_after=retry_after)
    waits = Waits()
    outcome = make_client(sim.base_url, sleep=waits).update("1001", json.dumps({"names": "X"}))
    assert waits.waits == []
    assert (outcome.status, outcome.http_status, outcome.attempts) == ("failed", 429, 1)
    assert outcome.systemic
    assert "push.max_retry_wait (300 s)" in outcome.message


def test_an_unreadable_retry_after_falls_back_to_the_backoff(sim: Simulator) -> None:
    sim.enqueue(503, retry_after="²")
    waits = Waits()
    outcome = make_client(sim.base_url, sleep=waits).update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "updated" and waits.waits == [0.5]


def test_a_retry_after_date_within_the_cap_is_still_honoured(sim: Simulator) -> None:
    sim.enqueue(503, retry_after=email.utils.formatdate(time.time() + 100, usegmt=True))
    waits = Waits()
    outcome = make_client(sim.base_url, sleep=waits).update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "updated" and 95 <= waits.waits[0] <= 100


def deadline_client(base_url: str, **settings: float) -> ContactClient:
    options = {"connect_timeout": 0.5, "read_timeout": 0.5, "max_attempts": 1, **settings}
    return ContactClient(ClientSettings(base_url=base_url, token=TOKEN,  # type: ignore[arg-type]
                                        **options), sleep=lambda seconds: None)


@pytest.mark.parametrize("stage", ["headers", "body"])
def test_a_server_that_drips_bytes_is_cut_off_at_the_attempt_deadline(stage: str) -> None:
    body = envelope(contact(1001)).encode()
    if stage == "headers":
        behave = drip(response(200, body), every=0.2)
    else:
        head = response(200, body)[: -len(body)]

        def behave(request: Request, sock: socket.socket) -> bool:
            sock.sendall(head)
            return drip(body, every=0.2)(request, sock)

    with HostileServer(behave) as api:
        client = deadline_client(api.base_url)
        started = time.monotonic()
        outcome = client.update("1001", json.dumps({"names": "X"}))
        took = time.monotonic() - started
        client.close()
    # connect 0.5 + read 0.5 + 2 s of slack: each read is quick, the whole is not
    assert 2.9 <= took < 4.5
    assert outcome.status == "failed" and outcome.systemic
    assert "no complete response within 3 s" in outcome.message


def test_sigterm_ends_a_run_stuck_on_a_dripping_server_within_the_bound(
        tmp_path: Path) -> None:
    with HostileServer(drip(b"HTTP/1.1 200 OK\r\n" * 100, every=0.5)) as api:
        ws = Workspace(tmp_path, api.base_url)
        ws.write_changes(RENAMES)
        ws.config(concurrency=2)
        config = tmp_path / "config.yaml"
        config.write_text(config.read_text(encoding="utf-8").replace(
            "read_timeout: 5", "read_timeout: 2\n  connect_timeout: 1"), encoding="utf-8")
        process = subprocess.Popen(
            [sys.executable, "-m", "sync_job", "run", "--config", str(config)],
            env={**os.environ, "HUDUMA_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not api.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert api.requests, "the run never sent"
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        _, err = process.communicate(timeout=30)
        took = time.monotonic() - signalled
    # connect 1 + read 2 + slack 2 = 5 s for the attempts in flight, then the results
    assert process.returncode == 143, err
    assert took < 8
    statuses = [row["status"] for row in read_results(ws.results)]
    assert statuses.count("failed") <= 2 and statuses.count("skipped") >= 8
    assert "no complete response" in err or "no complete response" in "".join(
        row["message"] for row in read_results(ws.results))


# ------------------------------------------------------------------ the server's word is checked

def test_a_200_confirming_another_contact_is_failed_and_the_snapshot_keeps_its_row(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    sim.enqueue(200, body=envelope(contact(1002, names="Someone Else")))
    workspace.write_changes([("1001", "New Name", "", "")])
    before = workspace.snapshot.read_bytes()
    report = run_sync(workspace.config(), environ=env)
    row = workspace.results_by_row()[2]
    assert row["status"] == "failed" and row["http_status"] == "200"
    assert "confirmed a different contact (id 1002)" in row["message"]
    assert workspace.snapshot.read_bytes() == before
    assert report.exit_code == 1


@pytest.mark.parametrize(("data", "said"), [
    ([], "a list as data"), (True, "true or false as data"), ("ok", "text as data"),
    ({"id": 1001, "names": ["A"]}, "names as a list"),
    ({"id": 1001, "email": 5}, "email as a number"),
    ({"id": "1001x"}, "different contact"), ({"id": True}, "different contact"),
])
def test_a_200_whose_data_is_not_a_contact_is_failed(
        workspace: Workspace, sim: Simulator, env: dict[str, str], data: object,
        said: str) -> None:
    sim.enqueue(200, body=envelope(data))
    workspace.write_changes([("1001", "New Name", "", "")])
    before = workspace.snapshot.read_bytes()
    run_sync(workspace.config(), environ=env)
    row = workspace.results_by_row()[2]
    assert row["status"] == "failed" and said in row["message"]
    assert workspace.snapshot.read_bytes() == before


def test_a_200_with_empty_data_keeps_the_fields_it_does_not_name(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    sim.enqueue(200, body=envelope({}))
    workspace.write_changes([("1001", "New Name", "", "")])
    run_sync(workspace.config(), environ=env)
    assert workspace.results_by_row()[2]["status"] == "updated"
    snapshot = workspace.snapshot.read_text(encoding="utf-8")
    assert '"1001","New Name","255712345001","person1@example.com"' in snapshot


@pytest.mark.parametrize(("body", "note"), [
    ("", "empty"), ("<html><body>Welcome to the proxy</body></html>", "not JSON"),
    ('{"hello": "world"}', "not the API's envelope"), ("[1, 2]", "not the API's envelope"),
])
def test_a_2xx_that_is_not_the_apis_envelope_is_not_counted_updated(
        workspace: Workspace, sim: Simulator, env: dict[str, str], body: str,
        note: str) -> None:
    sim.enqueue(200, body=body)
    workspace.write_changes([("1001", "New Name", "", "")])
    before = workspace.snapshot.read_bytes()
    report = run_sync(workspace.config(), environ=env)
    row = workspace.results_by_row()[2]
    assert row["status"] == "failed" and note in row["message"]
    assert "next run sends it again" in row["message"]
    assert workspace.snapshot.read_bytes() == before
    # and the next run does
    report = run_sync(workspace.config(), environ=env)
    assert report.counts["updated"] == 1 and sim.put_count(1001) == 2


def cut_short(request: Request, sock: socket.socket) -> bool:
    sock.sendall(response(200, envelope(contact(1001))[:20], length=400))
    sock.close()
    return False


def reset_mid_body(request: Request, sock: socket.socket) -> bool:
    sock.sendall(response(200, envelope(contact(1001))[:20], length=400))
    reset(sock)
    return False


def broken_gzip(request: Request, sock: socket.socket) -> bool:
    sock.sendall(response(200, gzip.compress(b"{}")[:-6] + b"garbage!",
                          headers=[("Content-Encoding", "gzip")]))
    return True


@pytest.mark.parametrize(("first", "said"), [
    (cut_short, "cut off before its end"), (reset_mid_body, "cut off before its end"),
    (broken_gzip, "could not be decoded"),
])
def test_a_broken_body_is_a_transport_error_and_retried(
        first: object, said: str, tmp_path: Path, env: dict[str, str]) -> None:
    attempts = []

    def behave(request: Request, sock: socket.socket) -> bool:
        attempts.append(request)
        if len(attempts) <= 2:
            return first(request, sock)  # type: ignore[operator]
        return answer(200, envelope(contact(1001, names="New Name")))(request, sock)

    with HostileServer(behave) as api:
        ws = Workspace(tmp_path, api.base_url)
        ws.write_changes([("1001", "New Name", "", "")])
        report = run_sync(ws.config(max_attempts=3), environ=env, sleep=lambda s: None)
    row = ws.results_by_row()[2]
    assert row["status"] == "updated" and row["attempts"] == "3"
    assert report.requests == 3 and report.retries == 2
    # the same, when every attempt breaks: reported in words, every attempt counted
    with HostileServer(first) as api:  # type: ignore[arg-type]
        outcome = make_client(api.base_url, max_attempts=2).update(
            "1001", json.dumps({"names": "X"}))
    assert (outcome.status, outcome.attempts, outcome.retries) == ("failed", 2, 1)
    assert outcome.message.startswith("tried 2 times: ") and said in outcome.message


def test_a_huge_body_is_not_read_and_no_cell_grows_with_it(tmp_path: Path,
                                                           env: dict[str, str]) -> None:
    sent = []

    def huge(request: Request, sock: socket.socket) -> bool:
        head = response(404, b"", length=50_000_000)
        sock.sendall(head)
        try:
            for _ in range(50_000_000 // 65536):
                sock.sendall(b"x" * 65536)
                sent.append(65536)
        except OSError:  # the client hung up: it read no more than it needed
            pass
        return False

    with HostileServer(huge) as api:
        outcome = make_client(api.base_url).update("1001", json.dumps({"names": "X"}))
    assert outcome.status == "failed" and outcome.http_status == 404
    assert "not read" in outcome.message
    assert sum(sent) < 10_000_000

    long_message = {"code": 4220, "message": "m" * 30_000,
                    "errors": [{"field": "names", "message": "e" * 500}] * 40}
    body = json.dumps(long_message)
    assert len(body) < MAX_BODY_BYTES
    with HostileServer(answer(422, body)) as api:
        ws = Workspace(tmp_path, api.base_url)
        ws.write_changes([("1001", "New Name", "", "")])
        run_sync(ws.config(), environ=env)
    row = ws.results_by_row()[2]
    assert len(row["message"]) <= MAX_TEXT and len(row["errors"]) <= MAX_TEXT
    assert row["api_code"] == "4220" and row["message"].endswith("…")


def test_control_characters_from_the_server_never_reach_a_terminal(sim: Simulator) -> None:
    sim.enqueue(404, body=json.dumps({"code": 4040, "message": "gone\x1b[2J\x07 away\r\n",
                                      "reqId": "r\x1b1"}))
    outcome = make_client(sim.base_url).update("1001", json.dumps({"names": "X"}))
    assert outcome.message == "gone [2J  away" and outcome.req_id == "r 1"


# ------------------------------------------------------------------ systemic failures stop the run

def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_against(tmp_path: Path, base_url: str, env: dict[str, str], rows: int = 10,
                **push: object) -> tuple[int, list[dict[str, str]], str]:
    ws = Workspace(tmp_path, base_url)
    ws.write_changes([(str(5000 + n), f"Renamed {n}", "", "") for n in range(rows)])
    settings = {"concurrency": 1, "max_attempts": 2, "stop_after_failures": 3, **push}
    report = run_sync(ws.config(**settings), environ=env, sleep=lambda s: None)
    return report.exit_code, read_results(ws.results), report.unavailable_reason


def assert_breaker_opened(code: int, rows: list[dict[str, str]], reason: str) -> None:
    assert code == 5
    statuses = [row["status"] for row in rows]
    assert statuses[:3] == ["failed"] * 3 and set(statuses[3:]) == {"skipped"}
    assert "the API looks unavailable: 3 row(s) in a row" in reason
    assert all("not sent: the API looks unavailable" in row["message"] for row in rows[3:])


def test_a_dead_api_stops_the_run_after_a_few_rows(tmp_path: Path,
                                                   env: dict[str, str]) -> None:
    code, rows, reason = run_against(tmp_path, f"http://127.0.0.1:{closed_port()}/api/v3",
                                     env, rows=50)
    assert_breaker_opened(code, rows, reason)
    assert "connection failed" in reason


def test_a_storm_of_500s_stops_the_run(tmp_path: Path, env: dict[str, str]) -> None:
    with Simulator([], token=TOKEN, fail_rate=1.0) as sim:
        code, rows, reason = run_against(tmp_path, sim.base_url, env, rows=200)
        assert sim.put_count() == 3 * 2  # three rows, two attempts each, then nothing
    assert_breaker_opened(code, rows, reason)


@pytest.mark.parametrize("behave", [
    answer(404, "<html>Not Found</html>"),  # a wrong base_url: not the API's 404
    answer(302, headers=[("Location", "https://login.example/")]),
    answer(429, headers=[("Retry-After", "86400")]),
])
def test_answers_that_are_not_the_apis_stop_the_run(tmp_path: Path, env: dict[str, str],
                                                    behave: object) -> None:
    with HostileServer(behave) as api:  # type: ignore[arg-type]
        code, rows, reason = run_against(tmp_path, api.base_url, env, rows=30)
        assert len(api.requests) == 3
    assert_breaker_opened(code, rows, reason)


def test_one_believable_answer_closes_the_breaker_again(workspace: Workspace,
                                                        sim: Simulator,
                                                        env: dict[str, str]) -> None:
    # two rows fail on 500s, the API itself refuses one (its 404 envelope), two more fail on
    # 500s: never three systemic failures in a row
    workspace.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(6)])
    for status in (500, 500, 404, 500, 500):
        sim.enqueue(status)
    report = run_sync(workspace.config(concurrency=1, max_attempts=1, stop_after_failures=3),
                      environ=env)
    statuses = [row["status"] for row in read_results(workspace.results)]
    assert statuses == ["failed"] * 5 + ["updated"]
    assert report.exit_code == 1 and not report.unavailable_reason


def test_the_breaker_can_be_turned_off(tmp_path: Path, env: dict[str, str]) -> None:
    code, rows, _ = run_against(tmp_path, f"http://127.0.0.1:{closed_port()}/api/v3", env,
                                rows=8, stop_after_failures=0, max_attempts=1)
    assert code == 1 and {row["status"] for row in rows} == {"failed"}


def test_exit_5_is_in_the_help_and_the_summary(tmp_path: Path, env: dict[str, str]) -> None:
    ws = Workspace(tmp_path, f"http://127.0.0.1:{closed_port()}/api/v3")
    ws.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(6)])
    ws.config(concurrency=1, max_attempts=1, stop_after_failures=2)
    process = subprocess.run(
        [sys.executable, "-m", "sync_job", "run", "--config", str(tmp_path / "config.yaml")],
        env={**os.environ, "HUDUMA_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60)
    assert process.returncode == 5, process.stderr
    assert "stopped early: the API looks unavailable" in process.stdout
    summary = json.loads((ws.results.parent / "results.summary.json").read_text())
    assert summary["outcome"] == "api_unavailable" and summary["exit_code"] == 5
    assert summary["counts"]["skipped"] == 4
    help_text = subprocess.run([sys.executable, "-m", "sync_job", "run", "--help"],
                               capture_output=True, text=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert "  5  API unavailable" in help_text


# ------------------------------------------------------------------ stopping mid-retry

def test_a_row_stopped_while_waiting_to_retry_reports_its_last_answer(sim: Simulator) -> None:
    sim.enqueue(503)
    stop = threading.Event()
    client = ContactClient(ClientSettings(base_url=sim.base_url, token=TOKEN),
                           sleep=lambda seconds: stop.set(), cancelled=stop.is_set)
    outcome: Outcome = client.update("1001", json.dumps({"names": "X"}))
    assert (outcome.status, outcome.http_status, outcome.attempts) == ("failed", 503, 1)
    assert sim.put_count(1001) == 1
