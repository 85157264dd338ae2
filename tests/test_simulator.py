"""The bundled simulator over real HTTP on loopback: the API contract the client is tested on."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from sync_job.simulator import RecordedRequest, Simulator, load_contacts

TOKEN = "sim-test-token-5f2c"
AUTH = {"X-Huduma": f"Bearer {TOKEN}"}
CONTACTS: list[dict[str, str | None]] = [
    {
        "contactId": "12345",
        "names": "John Smith",
        "number": "255712345678",
        "email": "john.smith@example.com",
    },
    {"contactId": "12346", "names": "Asha Mwinyi", "number": "255713000001", "email": ""},
    {"contactId": "12347", "names": None, "number": None, "email": None},
]
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ENVELOPE_KEYS = ["status", "code", "message", "timestamp", "reqId", "path"]
PROJECT_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(CONTACTS, token=TOKEN) as running:
        yield running


def put(
    sim: Simulator,
    contact_id: int | str,
    body: Any = None,
    *,
    data: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
) -> requests.Response:
    """PUT like the real client: JSON body, auth header, a (connect, read) timeout."""
    sender = session or requests
    return sender.put(
        f"{sim.base_url}/contacts/{contact_id}",
        json=body,
        data=data,
        headers=AUTH if headers is None else headers,
        timeout=(2, 5),
    )


def assert_error(
    response: requests.Response, status: int, code: int, message: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/json"
    payload: dict[str, Any] = response.json()
    assert list(payload) == [*ENVELOPE_KEYS, "errors"]
    assert payload["code"] == code
    assert payload["status"].startswith(f"{status} ")
    assert payload["status"] == payload["status"].upper()
    if message is not None:
        assert payload["message"] == message
    assert isinstance(payload["errors"], list)
    for entry in payload["errors"]:
        assert list(entry) == ["field", "message", "rejectedValue", "rejectingValues"]
        assert entry["rejectingValues"] == {}
    return payload


# ---------------------------------------------------------------- success


def test_update_returns_the_documented_envelope_and_whole_contact(sim: Simulator) -> None:
    created = sim.contacts()[12345]["createdAt"]
    response = put(sim, 12345, {"names": "John A. Smith"})

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    payload = response.json()
    assert list(payload) == [*ENVELOPE_KEYS, "data"]
    assert payload["status"] == "200 OK"
    assert payload["code"] == 0
    assert payload["message"] == "Contact updated successfully"
    assert ISO_MS.fullmatch(payload["timestamp"])
    assert re.fullmatch(r"req-[0-9a-f]+", payload["reqId"])
    assert payload["path"] == "/contacts/12345"
    data = payload["data"]
    assert list(data) == [
        "createdAt", "updatedAt", "id", "deletedAt", "names", "number", "email"
    ]  # fmt: skip
    assert data["id"] == 12345
    assert data["createdAt"] == created
    assert ISO_MS.fullmatch(data["updatedAt"])
    assert data["updatedAt"] >= created
    assert data["deletedAt"] is None
    assert data == {
        **data,
        "names": "John A. Smith",
        "number": "255712345678",
        "email": "john.smith@example.com",
    }


def test_only_the_fields_sent_change(sim: Simulator) -> None:
    before = sim.contacts()[12345]
    put(sim, 12345, {"number": "255799000111"}).raise_for_status()
    after = sim.contacts()[12345]
    assert after["number"] == "255799000111"
    assert after["names"] == before["names"]
    assert after["email"] == before["email"]
    assert after["createdAt"] == before["createdAt"]
    assert sim.contacts()[12346] == sim.contacts()[12346]


def test_empty_string_clears_a_value_and_it_comes_back_null(sim: Simulator) -> None:
    response = put(sim, 12345, {"email": ""})
    assert response.status_code == 200
    assert response.json()["data"]["email"] is None
    assert sim.contacts()[12345]["email"] is None


def test_seed_values_that_are_empty_or_none_are_null(sim: Simulator) -> None:
    data = put(sim, 12347, {"names": "New Name"}).json()["data"]
    assert data["number"] is None
    assert data["email"] is None
    assert sim.contacts()[12346]["email"] is None


def test_request_ids_are_unique(sim: Simulator) -> None:
    with requests.Session() as session:
        ids = {
            put(sim, 12345, {"names": f"n{i}"}, session=session).json()["reqId"] for i in range(20)
        }
        ids.add(put(sim, 99999, {"names": "x"}, session=session).json()["reqId"])
    assert len(ids) == 21


# ---------------------------------------------------------------- 401 / 402 / 403 / 404 / 405


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Huduma": "Bearer wrong-token"},
        {"X-Huduma": TOKEN},
        {"X-Huduma": f"bearer {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}"},
    ],
    ids=["missing", "wrong-token", "no-scheme", "lowercase-scheme", "authorization-header"],
)
def test_bad_or_missing_token_is_401_and_changes_nothing(
    sim: Simulator, headers: dict[str, str]
) -> None:
    before = sim.contacts()
    payload = assert_error(
        put(sim, 12345, {"names": "X"}, headers=headers), 401, 4010, "Invalid or missing API token"
    )
    assert payload["status"] == "401 UNAUTHORIZED"
    assert sim.contacts() == before
    assert sim.requests[-1].auth_ok is False


def test_payment_required_is_402_for_authorized_requests_only(sim: Simulator) -> None:
    sim.payment_required = True
    assert_error(put(sim, 12345, {"names": "X"}), 402, 4020)
    assert_error(put(sim, 12345, {"names": "X"}, headers={}), 401, 4010)
    sim.payment_required = False
    assert put(sim, 12345, {"names": "X"}).status_code == 200


def test_forbidden_contact_is_403(sim: Simulator) -> None:
    sim.forbidden_ids.add(12346)
    payload = assert_error(put(sim, 12346, {"names": "X"}), 403, 4030)
    assert payload["errors"][0]["field"] == "contactId"
    assert sim.contacts()[12346]["names"] == "Asha Mwinyi"
    assert put(sim, 12345, {"names": "X"}).status_code == 200


def test_unknown_contact_is_404_with_the_documented_error_entry(sim: Simulator) -> None:
    payload = assert_error(put(sim, 99999, {"names": "X"}), 404, 4040, "Contact not found")
    assert payload["status"] == "404 NOT FOUND"
    assert payload["path"] == "/contacts/99999"
    assert payload["errors"] == [
        {
            "field": "contactId",
            "message": "Contact with ID 99999 does not exist",
            "rejectedValue": 99999,
            "rejectingValues": {},
        }
    ]


@pytest.mark.parametrize(
    "path", ["/api/v3/contact/12345", "/api/v2/contacts/12345", "/api/v3/contacts/12345/x", "/"]
)
def test_other_paths_are_404(sim: Simulator, path: str) -> None:
    origin = sim.base_url.removesuffix("/api/v3")
    response = requests.put(origin + path, json={"names": "X"}, headers=AUTH, timeout=5)
    assert_error(response, 404, 4040, "Not found")


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
def test_methods_other_than_put_are_405(sim: Simulator, method: str) -> None:
    response = requests.request(
        method, f"{sim.base_url}/contacts/12345", json={"names": "X"}, headers=AUTH, timeout=5
    )
    assert_error(response, 405, 4050, "Method not allowed")
    assert response.headers["Allow"] == "PUT"
    assert sim.contacts()[12345]["names"] == "John Smith"


# ---------------------------------------------------------------- 400


@pytest.mark.parametrize("contact_id", ["abc", "0", "-5", "1.5"])
def test_contact_id_must_be_a_positive_integer(sim: Simulator, contact_id: str) -> None:
    payload = assert_error(put(sim, contact_id, {"names": "X"}), 400, 4000)
    assert payload["errors"][0]["field"] == "contactId"
    assert payload["errors"][0]["rejectedValue"] == contact_id


@pytest.mark.parametrize(
    ("data", "message", "fields"),
    [
        (b"", "At least one of names, number, email is required", ["body"]),
        (b"{}", "At least one of names, number, email is required", ["body"]),
        (b"{not json", "Bad request", ["body"]),
        (b"\xff\xfe", "Bad request", ["body"]),
        (b"NaN", "Bad request", ["body"]),
        (b"null", "Bad request", ["body"]),
        (b'["names"]', "Bad request", ["body"]),
        (b'"names"', "Bad request", ["body"]),
        (b'{"names": 5}', "Bad request", ["names"]),
        (b'{"email": null}', "Bad request", ["email"]),
        (b'{"name": "X"}', "Bad request", ["name"]),
        (b'{"names": "X", "id": 3, "number": 255712345678}', "Bad request", ["id", "number"]),
    ],
)
def test_body_must_be_a_non_empty_object_of_known_string_fields(
    sim: Simulator, data: bytes, message: str, fields: list[str]
) -> None:
    before = sim.contacts()
    response = put(sim, 12345, data=data, headers={**AUTH, "Content-Type": "application/json"})
    payload = assert_error(response, 400, 4000, message)
    assert [e["field"] for e in payload["errors"]] == fields
    assert sim.contacts() == before


def raw_http(sim: Simulator, request: bytes) -> bytes:
    """Send bytes the requests library would never send, read until the server closes."""
    host, port = sim.base_url.split("//")[1].split("/")[0].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_put_without_content_length_is_an_empty_body(sim: Simulator) -> None:
    reply = raw_http(
        sim,
        b"PUT /api/v3/contacts/12345 HTTP/1.1\r\nHost: x\r\n"
        + f"X-Huduma: Bearer {TOKEN}\r\n".encode()
        + b"Connection: close\r\n\r\n",
    )
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body)["message"] == "At least one of names, number, email is required"


def test_body_is_read_by_content_length_so_pipelined_requests_stay_framed(sim: Simulator) -> None:
    auth = f"X-Huduma: Bearer {TOKEN}\r\n".encode()
    first = b'{"names": "Pipelined"}'
    reply = raw_http(
        sim,
        b"PUT /api/v3/contacts/12345 HTTP/1.1\r\nHost: x\r\n"
        + auth
        + f"Content-Length: {len(first)}\r\n\r\n".encode()
        + first
        + b"PUT /api/v3/contacts/12346 HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"Content-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    assert reply.count(b"HTTP/1.1 ") == 2
    assert b"HTTP/1.1 200 OK" in reply
    assert b"HTTP/1.1 400 Bad Request" in reply
    assert sim.contacts()[12345]["names"] == "Pipelined"


@pytest.mark.parametrize("method", [b"TRACE", b"FROBNICATE", b"CONNECT"])
def test_a_method_http_server_does_not_know_is_405_with_the_envelope(sim: Simulator,
                                                                     method: bytes) -> None:
    reply = raw_http(sim, method + b" /api/v3/contacts/12345 HTTP/1.1\r\nHost: x\r\n"
                     b"Connection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 405 ")
    assert b"Content-Type: application/json" in head and b"Allow: PUT" in head
    envelope = json.loads(body)
    assert (envelope["code"], envelope["message"]) == (4050, "Method not allowed")
    assert sim.status_counts == {405: 1}
    assert sim.requests[-1].method == method.decode()


def test_malformed_http_still_gets_the_json_envelope(sim: Simulator) -> None:
    reply = raw_http(sim, b"PUT /api/v3/contacts/12345 HTTP/1.1 extra\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"Content-Type: application/json" in head
    assert json.loads(body)["code"] == 4000
    assert sim.status_counts == {400: 1}


# ---------------------------------------------------------------- 422


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"names": "x" * 101}, "names", "names must be at most 100 characters"),
        ({"number": "12345"}, "number", None),
        ({"number": "0255712345678"}, "number", None),
        ({"number": "+255712345678"}, "number", None),
        ({"number": "2557123456789012"}, "number", None),
        ({"number": "255 712 345 678"}, "number", None),
        ({"number": ""}, "number", "number cannot be removed"),
        ({"email": "not-an-email"}, "email", "email must be a valid email address"),
        ({"email": "a@b"}, "email", None),
        ({"email": "a b@example.com"}, "email", None),
    ],
)
def test_invalid_field_is_422_with_one_entry(
    sim: Simulator, body: dict[str, str], field: str, message: str | None
) -> None:
    before = sim.contacts()
    payload = assert_error(put(sim, 12345, body), 422, 4220, "Invalid input parameters")
    assert payload["status"] == "422 UNPROCESSABLE ENTITY"
    assert len(payload["errors"]) == 1
    entry = payload["errors"][0]
    assert entry["field"] == field
    assert entry["rejectedValue"] == body[field]
    if message is not None:
        assert entry["message"] == message
    assert sim.contacts() == before


def test_every_invalid_field_is_reported_at_once(sim: Simulator) -> None:
    body = {"names": "y" * 101, "number": "12", "email": "nope"}
    payload = assert_error(put(sim, 12345, body), 422, 4220)
    assert [e["field"] for e in payload["errors"]] == ["names", "number", "email"]


def test_boundary_values_are_accepted(sim: Simulator) -> None:
    body = {"names": "n" * 100, "number": "25571234", "email": "a@b.co"}
    assert put(sim, 12345, body).status_code == 200
    assert put(sim, 12346, {"number": "255712345678901"}).status_code == 200


def test_number_used_by_another_contact_is_4221(sim: Simulator) -> None:
    payload = assert_error(put(sim, 12346, {"number": "255712345678"}), 422, 4221)
    assert payload["errors"] == [
        {
            "field": "number",
            "message": "Number 255712345678 is already used by contact 12345",
            "rejectedValue": "255712345678",
            "rejectingValues": {},
        }
    ]
    assert put(sim, 12345, {"number": "255712345678"}).status_code == 200


def test_a_number_given_up_is_free_for_another_contact(sim: Simulator) -> None:
    assert put(sim, 12345, {"number": "255700000009"}).status_code == 200
    assert put(sim, 12346, {"number": "255712345678"}).status_code == 200
    assert_error(put(sim, 12347, {"number": "255700000009"}), 422, 4221)


# ---------------------------------------------------------------- forced failures


def test_enqueued_429_has_retry_after_and_is_used_once(sim: Simulator) -> None:
    sim.enqueue(429, retry_after="7")
    response = put(sim, 12345, {"names": "X"})
    payload = assert_error(response, 429, 4290, "Too many requests")
    assert response.headers["Retry-After"] == "7"
    assert payload["status"] == "429 TOO MANY REQUESTS"
    assert sim.contacts()[12345]["names"] == "John Smith"
    assert put(sim, 12345, {"names": "X"}).status_code == 200


def test_enqueued_body_replaces_the_envelope_verbatim(sim: Simulator) -> None:
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    sim.enqueue(502, body=html)
    response = put(sim, 12345, {"names": "X"})
    assert response.status_code == 502
    assert response.text == html
    with pytest.raises(ValueError):
        response.json()


def test_enqueued_responses_come_out_in_order_after_auth(sim: Simulator) -> None:
    sim.enqueue(503, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    sim.enqueue(504)
    assert put(sim, 12345, {"names": "X"}, headers={}).status_code == 401
    first = put(sim, 12345, {"names": "X"})
    assert_error(first, 503, 5030, "Service unavailable")
    assert first.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    second = put(sim, 12345, {"names": "X"})
    assert_error(second, 504, 5040)
    assert "Retry-After" not in second.headers
    assert put(sim, 12345, {"names": "X"}).status_code == 200


def test_enqueued_close_drops_the_connection(sim: Simulator) -> None:
    sim.enqueue(500, close=True)
    with requests.Session() as session:
        with pytest.raises(requests.ConnectionError):
            put(sim, 12345, {"names": "X"}, session=session)
        assert put(sim, 12345, {"names": "Y"}, session=session).status_code == 200
    assert sim.contacts()[12345]["names"] == "Y"
    assert [r.status for r in sim.requests] == [0, 200]
    assert sim.status_counts == {200: 1}


def test_enqueue_rejects_statuses_it_cannot_send(sim: Simulator) -> None:
    with pytest.raises(ValueError):
        sim.enqueue(99)
    with pytest.raises(ValueError):
        sim.enqueue(204)


def test_fail_rate_one_fails_every_authorized_put() -> None:
    with Simulator(CONTACTS, token=TOKEN, fail_rate=1.0) as sim:
        for _ in range(3):
            assert_error(put(sim, 12345, {"names": "X"}), 500, 5000, "Internal server error")
        assert_error(put(sim, 12345, {"names": "X"}, headers={}), 401, 4010)
        assert sim.contacts()[12345]["names"] == "John Smith"
        assert sim.status_counts == {500: 3, 401: 1}


def test_fail_rate_is_reproducible_with_a_seed() -> None:
    def statuses(seed: int) -> list[int]:
        with (
            Simulator(CONTACTS, token=TOKEN, fail_rate=0.5, seed=seed) as sim,
            requests.Session() as session,
        ):
            return [put(sim, 12345, {"names": "X"}, session=session).status_code for _ in range(30)]

    first = statuses(7)
    assert first == statuses(7)
    assert {200, 500} == set(first)


# ---------------------------------------------------------------- rate limit, latency, speed


def test_rate_limit_answers_a_burst_with_429_and_retry_after() -> None:
    with Simulator(CONTACTS, token=TOKEN, rate_limit=5) as sim, requests.Session() as session:
        started = time.monotonic()
        responses = [put(sim, 12345, {"names": "X"}, session=session) for _ in range(20)]
        elapsed = time.monotonic() - started
        allowed = [r.status_code for r in responses].count(200)
        limited = [r for r in responses if r.status_code == 429]
        assert [r.status_code for r in responses[:5]] == [200] * 5  # the full bucket
        assert limited, "a burst of 20 at 5/s must be limited"
        assert allowed <= 5 + 5 * elapsed + 1  # the bucket plus what refilled meanwhile
        assert allowed + len(limited) == 20
        for response in limited:
            assert_error(response, 429, 4290, "Too many requests")
            assert int(response.headers["Retry-After"]) >= 1
        assert sim.status_counts[429] == len(limited)
        assert sim.put_count() == 20


def test_latency_delays_every_response() -> None:
    with Simulator(CONTACTS, token=TOKEN, latency_ms=150) as sim:
        for body in ({"names": "X"}, {}):
            started = time.perf_counter()
            put(sim, 12345, body)
            assert time.perf_counter() - started >= 0.15


def test_latency_overlaps_across_concurrent_requests() -> None:
    with Simulator(CONTACTS, token=TOKEN, latency_ms=200) as sim:
        started = time.perf_counter()
        threads = [
            threading.Thread(target=put, args=(sim, 12345, {"names": f"n{i}"})) for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert time.perf_counter() - started < 1.0  # 8 x 200 ms if the sleeps were serialized
        assert sim.status_counts == {200: 8}


def test_keep_alive_is_fast(sim: Simulator) -> None:
    """Regression guard for TCP_NODELAY: Nagle + delayed ACK makes this take ~8 s."""
    with requests.Session() as session:
        started = time.perf_counter()
        for i in range(200):
            assert put(sim, 12345, {"names": f"n{i}"}, session=session).status_code == 200
        elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"200 keep-alive PUTs took {elapsed:.2f} s"


def test_sixteen_concurrent_clients(sim: Simulator) -> None:
    failures: list[str] = []

    def client(worker: int) -> None:
        with requests.Session() as session:
            for i in range(25):
                response = put(sim, 12345, {"names": f"w{worker}-{i}"}, session=session)
                if response.status_code != 200:
                    failures.append(response.text)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sim.put_count(12345) == 400
    times = [r.time for r in sim.requests]
    assert times == sorted(times)


# ---------------------------------------------------------------- what the simulator reports


def test_requests_are_recorded_without_the_token(sim: Simulator) -> None:
    put(sim, 12345, {"names": "X"})
    put(sim, 99999, {"names": "X"}, headers={"X-Huduma": "Bearer nope"})
    requests.get(f"{sim.base_url}/contacts/12345", timeout=5)
    first, second, third = sim.requests
    assert first == RecordedRequest(
        method="PUT",
        path="/api/v3/contacts/12345",
        contact_id=12345,
        body={"names": "X"},
        raw_body=b'{"names": "X"}',
        auth_ok=True,
        status=200,
        time=first.time,
    )
    assert (second.contact_id, second.auth_ok, second.status) == (99999, False, 401)
    assert (third.method, third.body, third.status) == ("GET", None, 405)
    assert first.time <= second.time <= third.time
    assert TOKEN not in repr(sim.requests)
    assert sim.put_count() == 2
    assert sim.put_count(12345) == 1
    assert sim.put_count(12346) == 0
    assert sim.status_counts == {200: 1, 401: 1, 405: 1}


def test_contacts_returns_a_copy(sim: Simulator) -> None:
    snapshot = sim.contacts()
    snapshot[12345]["names"] = "Changed"
    del snapshot[12346]
    assert sim.contacts()[12345]["names"] == "John Smith"
    assert 12346 in sim.contacts()


def test_base_url_has_the_real_port() -> None:
    with Simulator(token=TOKEN, base_path="/v9/") as sim:
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/v9", sim.base_url)
        assert match and int(match.group(1)) > 0
        assert_error(put(sim, 1, {"names": "X"}), 404, 4040, "Contact not found")


@pytest.mark.parametrize(
    "contacts",
    [
        [{"contactId": "abc", "names": "A", "number": "", "email": ""}],
        [{"contactId": "\u0661\u0662"}],
        [{"contactId": "1"}, {"contactId": "1"}],
        [
            {"contactId": "1", "number": "255712345678"},
            {"contactId": "2", "number": "255712345678"},
        ],
    ],
    ids=["bad-id", "non-ascii-digits", "duplicate-id", "duplicate-number"],
)
def test_a_bad_seed_is_refused(contacts: list[dict[str, str]]) -> None:
    with pytest.raises(ValueError):
        Simulator(contacts, token=TOKEN)


def test_stop_cuts_keep_alive_connections() -> None:
    with Simulator(CONTACTS, token=TOKEN) as sim, requests.Session() as session:
        assert put(sim, 12345, {"names": "X"}, session=session).status_code == 200
        sim.stop()
        with pytest.raises(requests.ConnectionError):
            put(sim, 12345, {"names": "Y"}, session=session)


# ---------------------------------------------------------------- load_contacts and serve


def test_load_contacts_reads_every_cell_as_text(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.csv"
    path.write_bytes(
        "\ufeffcontactId,names,number,email,extra\r\n"
        '007,"Smith, John",255712345678,,x\r\n'
        "12346,NA,0712,null\r\n".encode()
    )
    assert load_contacts(path) == [
        {"contactId": "007", "names": "Smith, John", "number": "255712345678", "email": ""},
        {"contactId": "12346", "names": "NA", "number": "0712", "email": "null"},
    ]


@pytest.mark.parametrize(
    "text", ["contactId,names,number\n1,A,2557\n", "contactId,names,number,email\n1,A,2,e,extra\n"]
)
def test_load_contacts_refuses_a_misshapen_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "snapshot.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError):
        load_contacts(path)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_its_url_and_stops_cleanly_on_a_signal(
    tmp_path: Path, signum: signal.Signals
) -> None:
    snapshot = tmp_path / "snapshot.csv"
    snapshot.write_text("contactId,names,number,email\n5,Amina,255712000005,\n", encoding="utf-8")
    code = (
        "from pathlib import Path; from sync_job.simulator import serve; "
        f"serve(contacts_path=Path({str(snapshot)!r}), host='127.0.0.1', port=0, "
        f"token={TOKEN!r}, latency_ms=0, fail_rate=0, rate_limit=0)"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PROJECT_ROOT,
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=10), "serve() printed nothing within 10 s"
        line = proc.stdout.readline()
        match = re.fullmatch(r"simulator listening on (http://127\.0\.0\.1:\d+/api/v3)\n", line)
        assert match, line
        response = requests.put(
            f"{match.group(1)}/contacts/5", json={"names": "Amina J"}, headers=AUTH, timeout=5
        )
        assert response.json()["data"]["names"] == "Amina J"
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert stderr == ""
    assert stdout == ""
    assert TOKEN not in line
