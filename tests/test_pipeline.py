"""The whole run, over real HTTP against the simulator: statuses, payloads, snapshot, exit codes."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import pytest

from sync_job.errors import ConfigError, InputFileError, SnapshotError, TokenError
from sync_job.pipeline import run_sync
from sync_job.report.results import RESULT_COLUMNS
from sync_job.simulator import Simulator
from tests.conftest import SNAPSHOT_ROWS, TOKEN, Workspace, read_results, write_snapshot

MIXED_ROWS = [
    ("1001", "Person One Renamed", "", ""),          # 2: changed name
    ("1002", "", "+255 713 000 002", ""),            # 3: changed number
    ("1003", "", "", "<clear>"),                     # 4: cleared email
    ("1004", "Person 4", "255712345004", ""),        # 5: unchanged
    ("1005", "", "0712345005", ""),                  # 6: invalid number
    ("1006", "N" * 101, "", ""),                     # 7: name too long
    ("99999", "Ghost", "", ""),                      # 8: unknown contact -> 404
    ("1007", "A", "", ""),                           # 9: duplicated contactId
    ("1007", "B", "", ""),                           # 10: duplicated contactId
    ("1008", "", "255712345001", ""),                # 11: number of 1001 -> 422 from the API
]


def sent_bodies(sim: Simulator) -> dict[int | None, object]:
    return {r.contact_id: r.body for r in sim.requests if r.method == "PUT"}


def test_mixed_file_gets_every_status_right(workspace: Workspace, sim: Simulator,
                                            env: dict[str, str]) -> None:
    workspace.write_changes(MIXED_ROWS)
    report = run_sync(workspace.config(), environ=env)

    assert report.exit_code == 1
    assert report.counts == {"updated": 3, "unchanged": 1, "invalid": 4, "failed": 2,
                             "skipped": 0, "planned": 0}
    # exactly the changed fields of exactly the changed, valid rows
    assert sent_bodies(sim) == {1001: {"names": "Person One Renamed"},
                                1002: {"number": "255713000002"},
                                1003: {"email": ""},
                                99999: {"names": "Ghost"},
                                1008: {"number": "255712345001"}}
    rows = workspace.results_by_row()
    assert [rows[n]["status"] for n in range(2, 12)] == [
        "updated", "updated", "updated", "unchanged", "invalid", "invalid", "failed",
        "invalid", "invalid", "failed"]
    assert rows[2]["fields_sent"] == "names" and rows[2]["http_status"] == "200"
    assert rows[2]["api_code"] == "0" and rows[2]["req_id"].startswith("req-")
    assert rows[2]["attempts"] == "1"
    assert json.loads(rows[4]["payload"]) == {"email": ""}
    assert rows[5]["message"] == "already up to date" and rows[5]["payload"] == ""
    assert rows[6]["errors"].startswith('number: "0712345005" starts with 0')
    assert rows[6]["attempts"] == "0" and rows[6]["http_status"] == ""
    assert rows[7]["errors"] == "names: is 101 characters long; at most 100 are allowed"
    assert (rows[8]["http_status"], rows[8]["api_code"]) == ("404", "4040")
    assert rows[8]["message"] == "Contact not found"
    assert rows[8]["errors"] == "contactId: Contact with ID 99999 does not exist"
    assert "also on row 10" in rows[9]["errors"] and "also on row 9" in rows[10]["errors"]
    assert (rows[11]["http_status"], rows[11]["api_code"]) == ("422", "4221")
    assert rows[11]["errors"].startswith("number: ")


def test_results_columns_and_encoding(workspace: Workspace, env: dict[str, str]) -> None:
    workspace.write_changes(MIXED_ROWS)
    run_sync(workspace.config(), environ=env)
    raw = workspace.results.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    header = next(csv.reader([raw.decode("utf-8-sig").splitlines()[0]]))
    assert tuple(header) == RESULT_COLUMNS
    assert [int(r["row"]) for r in read_results(workspace.results)] == list(range(2, 12))


def test_snapshot_takes_the_servers_word_for_updated_contacts(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes(MIXED_ROWS)
    run_sync(workspace.config(), environ=env)
    with workspace.snapshot.open(encoding="utf-8") as handle:
        snapshot = {r["contactId"]: r for r in csv.DictReader(handle)}
    server = sim.contacts()
    for cid in ("1001", "1002", "1003"):
        held = server[int(cid)]
        assert snapshot[cid] == {"contactId": cid, "names": held["names"] or "",
                                 "number": held["number"], "email": held["email"] or ""}
    # contacts that were not updated keep their old snapshot line
    original = {r["contactId"]: r for r in SNAPSHOT_ROWS}
    for cid in ("1004", "1005", "1006", "1007", "1008", "1009", "1010"):
        assert snapshot[cid] == original[cid]
    assert "99999" not in snapshot


def test_fields_changed_by_someone_else_come_back_into_the_snapshot(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    # Someone changed 1001's email on the platform since the last sync.
    import requests

    requests.put(f"{sim.base_url}/contacts/1001", json={"email": "moved@example.org"},
                 headers={"X-Huduma": f"Bearer {TOKEN}"}, timeout=5)
    workspace.write_changes([("1001", "Renamed", "", "")])
    run_sync(workspace.config(), environ=env)
    with workspace.snapshot.open(encoding="utf-8") as handle:
        line = next(r for r in csv.DictReader(handle) if r["contactId"] == "1001")
    assert line["names"] == "Renamed" and line["email"] == "moved@example.org"


def test_rerunning_the_same_file_sends_only_what_is_still_different(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes(MIXED_ROWS)
    run_sync(workspace.config(), environ=env)
    before = len(sim.requests)
    report = run_sync(workspace.config(), environ=env)
    again = {r.contact_id for r in sim.requests[before:]}
    assert again == {99999, 1008}  # the two the API refused; the updated ones are unchanged
    assert report.counts["updated"] == 0 and report.counts["unchanged"] == 4


def test_dry_run_sends_nothing_needs_no_token_and_keeps_the_snapshot(
        workspace: Workspace, sim: Simulator) -> None:
    workspace.write_changes(MIXED_ROWS)
    snapshot_before = workspace.snapshot.read_bytes()
    report = run_sync(workspace.config(dry_run=True), environ={})
    assert sim.requests == []
    assert workspace.snapshot.read_bytes() == snapshot_before
    assert report.exit_code == 1  # the file has invalid rows
    rows = workspace.results_by_row()
    assert [rows[n]["status"] for n in (2, 3, 4, 5, 8, 11)] == [
        "planned", "planned", "planned", "unchanged", "planned", "planned"]
    assert json.loads(rows[3]["payload"]) == {"number": "255713000002"}
    assert rows[2]["attempts"] == "0" and rows[2]["http_status"] == ""


def test_dry_run_of_a_clean_file_exits_0(workspace: Workspace) -> None:
    workspace.write_changes([("1001", "New", "", ""), ("1002", "Person 2", "", "")])
    report = run_sync(workspace.config(dry_run=True), environ={})
    assert report.exit_code == 0
    assert report.counts["planned"] == 1 and report.counts["unchanged"] == 1


def test_clean_live_run_exits_0(workspace: Workspace, env: dict[str, str]) -> None:
    workspace.write_changes([("1001", "New", "", ""), ("1002", "Person 2", "", "")])
    report = run_sync(workspace.config(), environ=env)
    assert report.exit_code == 0 and report.counts["updated"] == 1


@pytest.mark.parametrize("status", [401, 402])
def test_401_or_402_stops_the_run(workspace: Workspace, sim: Simulator, status: int) -> None:
    rows = [(str(1001 + n), f"Renamed {n}", "", "") for n in range(10)]
    workspace.write_changes(rows)
    if status == 402:
        sim.payment_required = True
        env = {"HUDUMA_API_TOKEN": TOKEN}
    else:
        env = {"HUDUMA_API_TOKEN": "revoked-token"}
    snapshot_before = workspace.snapshot.read_bytes()
    report = run_sync(workspace.config(concurrency=1), environ=env)
    assert report.exit_code == 3
    assert len(sim.requests) == 1
    results = workspace.results_by_row()
    assert results[2]["status"] == "failed" and results[2]["http_status"] == str(status)
    assert all(results[n]["status"] == "skipped" for n in range(3, 12))
    assert "the run stopped after HTTP" in results[3]["message"]
    assert report.counts["skipped"] == 9
    assert workspace.snapshot.read_bytes() == snapshot_before


def test_transient_errors_are_retried_within_a_run(workspace: Workspace, sim: Simulator,
                                                   env: dict[str, str]) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    sim.enqueue(503)
    sim.enqueue(500)
    waits: list[float] = []
    report = run_sync(workspace.config(), environ=env, sleep=waits.append,
                      jitter=lambda ceiling: ceiling)
    assert report.counts["updated"] == 1 and report.retries == 2 and report.requests == 3
    assert waits == [0.01, 0.02]
    assert workspace.results_by_row()[2]["attempts"] == "3"


def test_rows_that_exhaust_retries_fail_and_the_run_goes_on(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes([("1001", "New", "", ""), ("1002", "Other", "", "")])
    for _ in range(3):
        sim.enqueue(500)
    report = run_sync(workspace.config(concurrency=1), environ=env, sleep=lambda s: None)
    results = workspace.results_by_row()
    assert results[2]["status"] == "failed" and results[2]["attempts"] == "3"
    assert results[3]["status"] == "updated"
    assert report.exit_code == 1


def most_within(times: list[float], window: float) -> int:
    """The largest number of request arrivals inside any span of ``window`` seconds."""
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t < start + window)
               for i, start in enumerate(times))


def test_rate_limit_caps_request_starts_per_second(tmp_path: Path, env: dict[str, str]) -> None:
    with Simulator(SNAPSHOT_ROWS, token=TOKEN, latency_ms=10) as sim:
        ws = Workspace(tmp_path, sim.base_url)
        ws.write_changes([(str(1001 + n % 10), f"Renamed {n}", "", "") for n in range(10)])
        report = run_sync(ws.config(concurrency=4, rate_limit=8), environ=env)
        times = [r.time for r in sim.requests]
    assert report.counts["updated"] == 10
    # 8 per second, spaced 125 ms apart: 10 starts span at least 9 gaps; one slack for jitter
    assert max(times) - min(times) >= 9 * 0.125 - 0.05
    assert most_within(times, 1.0) <= 9


def test_concurrency_caps_requests_in_flight(tmp_path: Path, env: dict[str, str]) -> None:
    with Simulator(SNAPSHOT_ROWS, token=TOKEN, latency_ms=250) as sim:
        ws = Workspace(tmp_path, sim.base_url)
        ws.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(9)])
        report = run_sync(ws.config(concurrency=3, rate_limit=0), environ=env)
        times = [r.time for r in sim.requests]
    assert report.counts["updated"] == 9
    # each request holds its worker 250 ms: never more than 3 arrive within 200 ms
    assert most_within(times, 0.2) <= 3
    assert max(times) - min(times) >= 2 * 0.25 - 0.05


def test_missing_snapshot_is_an_empty_one_and_the_run_creates_it(
        workspace: Workspace, sim: Simulator, env: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    workspace.snapshot.unlink()
    workspace.write_changes([("1001", "Person 1", "255712345001", "")])
    report = run_sync(workspace.config(), environ=env)
    assert sent_bodies(sim) == {1001: {"names": "Person 1", "number": "255712345001"}}
    assert any("no snapshot at" in w for w in report.warnings)
    with workspace.snapshot.open(encoding="utf-8") as handle:
        assert [r["contactId"] for r in csv.DictReader(handle)] == ["1001"]


def test_missing_token_stops_before_anything_happens(workspace: Workspace,
                                                     sim: Simulator) -> None:
    workspace.write_changes(MIXED_ROWS)
    with pytest.raises(TokenError, match="HUDUMA_API_TOKEN"):
        run_sync(workspace.config(), environ={})
    assert sim.requests == [] and not workspace.results.exists()


def test_unreadable_input_stops_before_anything_happens(workspace: Workspace,
                                                        sim: Simulator,
                                                        env: dict[str, str]) -> None:
    workspace.changes.write_text("names,number\nA,255712345678\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="no contactId column"):
        run_sync(workspace.config(), environ=env)
    assert sim.requests == [] and not workspace.results.exists()


def test_broken_snapshot_stops_before_anything_happens(workspace: Workspace, sim: Simulator,
                                                       env: dict[str, str]) -> None:
    workspace.write_changes(MIXED_ROWS)
    workspace.snapshot.write_text("id,who\n1,2\n", encoding="utf-8")
    with pytest.raises(SnapshotError, match="lacks column"):
        run_sync(workspace.config(), environ=env)
    assert sim.requests == [] and not workspace.results.exists()


def test_a_snapshot_with_a_repeated_column_stops_before_anything_happens(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes(MIXED_ROWS)
    workspace.snapshot.write_text("contactId,names,number,email,names\n1,a,2557,e,b\n",
                                  encoding="utf-8")
    with pytest.raises(SnapshotError, match="more than one names column"):
        run_sync(workspace.config(), environ=env)
    assert sim.requests == [] and not workspace.results.exists()


def test_plain_http_to_another_host_is_refused(tmp_path: Path, env: dict[str, str]) -> None:
    ws = Workspace(tmp_path, "http://sms-api.huduma.cloud/api/v3")
    ws.write_changes(MIXED_ROWS)
    with pytest.raises(ConfigError, match="unencrypted"):
        run_sync(ws.config(), environ=env)
    assert not ws.results.exists()


def test_stop_event_leaves_unsent_rows_skipped(workspace: Workspace, sim: Simulator,
                                               env: dict[str, str]) -> None:
    workspace.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(10)])
    stop = threading.Event()
    stop.set()
    report = run_sync(workspace.config(), environ=env, stop=stop)
    assert sim.requests == []
    assert report.counts["skipped"] == 10


def test_snapshot_order_is_kept_and_new_contacts_are_appended(
        tmp_path: Path, env: dict[str, str]) -> None:
    contacts = [*SNAPSHOT_ROWS, {"contactId": "2001", "names": "Newcomer",
                                 "number": "255700000001", "email": ""}]
    with Simulator(contacts, token=TOKEN) as sim:
        ws = Workspace(tmp_path, sim.base_url)
        write_snapshot(ws.snapshot, SNAPSHOT_ROWS[:3])
        ws.write_changes([("2001", "Newcomer Renamed", "", ""), ("1002", "Two", "", "")])
        run_sync(ws.config(), environ=env)
    with ws.snapshot.open(encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert [r["contactId"] for r in lines] == ["1001", "1002", "1003", "2001"]
    assert lines[3] == {"contactId": "2001", "names": "Newcomer Renamed",
                        "number": "255700000001", "email": ""}


def test_run_sync_changes_no_process_wide_setting(
        workspace: Workspace, sim: Simulator, env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # An orchestrator embeds run_sync: the garbage collector, the GIL switch interval and
    # pyarrow's allocator stay as the process had them, while planning and pushing too.
    import gc
    import sys

    import pyarrow as pa

    import sync_job.pipeline as pipeline

    seen: dict[str, tuple[bool, float, str]] = {}
    real_plan = pipeline.make_plan
    before = (gc.isenabled(), sys.getswitchinterval(), pa.default_memory_pool().backend_name)

    def plan(*args: object, **kwargs: object) -> object:
        seen["planning"] = (gc.isenabled(), sys.getswitchinterval(),
                            pa.default_memory_pool().backend_name)
        return real_plan(*args, **kwargs)  # type: ignore[arg-type]

    def progress(total: int) -> object:
        seen["pushing"] = (gc.isenabled(), sys.getswitchinterval(),
                           pa.default_memory_pool().backend_name)
        from sync_job.push.progress import SilentProgress
        return SilentProgress()

    monkeypatch.setattr(pipeline, "make_plan", plan)
    workspace.write_changes(MIXED_ROWS[:3])
    report = run_sync(workspace.config(), environ=env, progress=progress)  # type: ignore[arg-type]
    assert report.counts["updated"] == 3
    assert seen == {"planning": before, "pushing": before}
    assert (gc.isenabled(), sys.getswitchinterval(),
            pa.default_memory_pool().backend_name) == before


def test_an_email_domain_beyond_ascii_compares_ignoring_case(workspace: Workspace,
                                                             env: dict[str, str]) -> None:
    rows = [dict(row) for row in SNAPSHOT_ROWS]
    rows[0]["email"] = "ann@почта.рф"
    write_snapshot(workspace.snapshot, rows)
    workspace.write_changes([("1001", "", "", "ann@ПОЧТА.РФ"), ("1002", "", "", "Bo@ÜBER.de")])
    report = run_sync(workspace.config(dry_run=True), environ={})
    results = workspace.results_by_row()
    assert results[2]["status"] == "unchanged"
    assert json.loads(results[3]["payload"]) == {"email": "Bo@über.de"}
    assert report.counts["planned"] == 1


# ---------------------------------------------------------------- bad cells, end to end


def test_stray_quotes_make_the_row_that_swallowed_the_next_ones_invalid(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    # A quote opened before "Alice New" and one after "Carl": rows 1002 and 1003 are read as
    # part of 1001's name. That name must not be sent; the rows after it still are.
    workspace.changes.write_text(
        "contactId,Name,number,email\n"
        '1001,"Alice New,,\n'
        "1002,Bob New,,\n"
        '1003,Carl" New,,\n'
        "1004,Dee New,,\n"
        "1005,,255712345105,\n", encoding="utf-8")
    report = run_sync(workspace.config(), environ=env)
    assert report.exit_code == 1
    assert sent_bodies(sim) == {1004: {"names": "Dee New"}, 1005: {"number": "255712345105"}}
    rows = workspace.results_by_row()
    assert [rows[n]["status"] for n in (2, 3, 4)] == ["invalid", "updated", "updated"]
    assert rows[2]["contactId"] == "1001" and rows[2]["payload"] == ""
    assert rows[2]["errors"] == ("Name: contains a line break: a quote may be missing before "
                                 "or after it")
    assert set(sim.contacts()[1001].items()) >= {("names", "Person 1")}.union(
        {("email", "person1@example.com")})


def test_a_cell_with_a_control_character_is_never_taken_for_a_repeat(
        tmp_path: Path, env: dict[str, str]) -> None:
    # A row repeating the snapshot is not judged value by value; one with a control character
    # repeats it only when the snapshot holds that very text (and then sends nothing).
    contacts = [*SNAPSHOT_ROWS, {"contactId": "2001", "names": "Two\nLines",
                                 "number": "255700000001", "email": "two@example.com"}]
    with Simulator(contacts, token=TOKEN) as sim:
        ws = Workspace(tmp_path, sim.base_url)
        write_snapshot(ws.snapshot, contacts)
        ws.write_changes([
            ("1001", "Person\x071", "", ""),             # 2: a control character inside
            ("1002", "Person 2\n", "", ""),              # 3: a line break around: trimmed
            ("1003", "Person 3", "2557123450\n03", ""),  # 4: the number, as typed
            ("2001", "Two\nLines", "", ""),              # 5: what the snapshot holds
            ("1004", "Person 4", "", "person4@exa\x00mple.com"),  # 6: a NUL byte
            ("1005", "Person 5", "", ""),                # 7: a true repeat
        ])
        report = run_sync(ws.config(), environ=env)
        assert sim.requests == []
    rows = ws.results_by_row()
    assert [rows[n]["status"] for n in range(2, 8)] == [
        "invalid", "unchanged", "invalid", "unchanged", "invalid", "unchanged"]
    assert rows[2]["errors"] == "names: contains a control character (U+0007); delete it"
    assert rows[4]["errors"] == ("number: contains a line break: a quote may be missing before "
                                 "or after it")
    # one problem per cell: the reader's, not the email check's too
    assert rows[6]["errors"] == ("email: holds a NUL byte, which no text holds: the file may be "
                                 "damaged or not saved as text")
    assert report.exit_code == 1


def test_a_nul_byte_in_an_ignored_column_keeps_its_row_back_only(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes([("1001", "New One", "pasted\x00junk"), ("1002", "New Two", "ok")],
                            header=("contactId", "names", "Notes"))
    report = run_sync(workspace.config(), environ=env)
    assert sent_bodies(sim) == {1002: {"names": "New Two"}}
    rows = workspace.results_by_row()
    assert rows[2]["status"] == "invalid" and rows[3]["status"] == "updated"
    assert rows[2]["errors"] == ("row: the cell under 'Notes' holds a NUL byte, which no text "
                                 "holds: the file may be damaged or not saved as text")
    assert report.exit_code == 1


def test_a_snapshot_keeps_one_row_per_contact_whatever_its_ids_looked_like(
        tmp_path: Path, env: dict[str, str]) -> None:
    # A hand-edited (or old) snapshot may spell an id 0004 or 1005.0, or name a contact twice.
    # A live run used to append a second row for such a contact and keep the stale one.
    contacts = [{"contactId": "4", "names": "Four", "number": "255712340004", "email": ""},
                {"contactId": "1005", "names": "Five", "number": "255712341005", "email": ""},
                {"contactId": "1006", "names": "Six", "number": "255712341006", "email": ""}]
    with Simulator(contacts, token=TOKEN) as sim:
        ws = Workspace(tmp_path, sim.base_url)
        write_snapshot(ws.snapshot, [
            {"contactId": "0004", "names": "Four", "number": "255712340004", "email": ""},
            {"contactId": "1005.0", "names": "Five", "number": "255712341005", "email": ""},
            {"contactId": "1006", "names": "Old Six", "number": "255712341006", "email": ""},
            {"contactId": "1006", "names": "Six", "number": "255712341006", "email": ""},
        ])
        ws.write_changes([("4", "Four Renamed", "", ""), ("1005", "Five Renamed", "", ""),
                          ("1006", "Six", "", "")])
        report = run_sync(ws.config(), environ=env)
    assert report.counts["updated"] == 2 and report.counts["unchanged"] == 1
    with ws.snapshot.open(encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert [(r["contactId"], r["names"]) for r in lines] == [
        ("4", "Four Renamed"), ("1005", "Five Renamed"), ("1006", "Six")]


def test_the_brake_counts_contacts_not_snapshot_rows(tmp_path: Path,
                                                    env: dict[str, str]) -> None:
    # Ten contacts, each on two rows of a hand-edited snapshot: 10% allows one update, not two.
    doubled = [dict(row, contactId=spelling) for row in SNAPSHOT_ROWS
               for spelling in ("0" + row["contactId"], row["contactId"])]
    ws = Workspace(tmp_path, "http://127.0.0.1:9/api/v3")
    write_snapshot(ws.snapshot, doubled)
    ws.write_changes([("1001", "Renamed", "", ""), ("1002", "Renamed", "", "")])
    config = ws.config(dry_run=True, max_changes='"10%"')
    report = run_sync(config, environ={})
    assert report.exit_code == 4
    assert "10% of 10 contacts in the snapshot = 1" in report.braked_reason


def test_no_results_cell_grows_with_a_long_cell(workspace: Workspace) -> None:
    # An invalid row's contactId is written as typed, and a cell may hold up to 100,000
    # characters; quoted cells in messages are cut too.
    workspace.write_changes([("7" * 5000, "", "", ""), ("1001", "", "", "a" * 5000 + "@")])
    run_sync(workspace.config(dry_run=True), environ={})
    rows = workspace.results_by_row()
    assert rows[2]["status"] == "invalid" and rows[2]["contactId"] == "7" * 59 + "…"
    assert max(len(cell) for row in rows.values() for cell in row.values()) <= 1000
