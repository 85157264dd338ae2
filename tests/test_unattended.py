"""Real ``sync-job run`` processes killed, signalled, run twice at once, and read for the token.

Each test starts the command as a scheduler would, against the simulator on loopback with
latency, and acts on it part-way by watching the requests the simulator has seen.
"""

from __future__ import annotations

import collections
import csv
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sync_job.pipeline import run_sync
from sync_job.simulator import Simulator
from sync_job.state.journal import _SCHEMA as JOURNAL_SCHEMA
from sync_job.state.journal import journal_path_for, read_pending
from tests.conftest import TOKEN, Workspace, write_snapshot

ROOT = Path(__file__).resolve().parent.parent

CONTACTS = [
    {"contactId": str(3000 + n), "names": f"Member {n}", "number": f"25575{n:07d}",
     "email": f"member{n}@example.org"}
    for n in range(60)
]
# Every contact changes: a new name, and every third one a new email too.
CHANGES = [
    (c["contactId"], f"{c['names']} Renamed", "",
     f"new{n}@example.net" if n % 3 == 0 else "")
    for n, c in enumerate(CONTACTS)
]


def process_env(token: str | None = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HUDUMA_API_TOKEN"}
    if token is not None:
        env["HUDUMA_API_TOKEN"] = token
    env["PYTHONPATH"] = str(ROOT)
    return env


def start_run(ws: Workspace, *args: str, token: str | None = TOKEN) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sync_job", "run", "--config", str(ws.root / "config.yaml"),
         *args],
        cwd=ws.root, env=process_env(token), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if process.poll() is not None:
            _, err = process.communicate()
            pytest.fail(f"the run ended (exit {process.returncode}) before the moment: {err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the moment never came")
        time.sleep(0.002)


def puts_per_contact(sim: Simulator) -> collections.Counter[int | None]:
    return collections.Counter(r.contact_id for r in sim.requests if r.method == "PUT")


def contacts_workspace(root: Path, sim: Simulator, *, concurrency: int = 2) -> Workspace:
    ws = Workspace(root, sim.base_url)
    write_snapshot(ws.snapshot, CONTACTS)
    ws.write_changes(CHANGES)
    ws.config(concurrency=concurrency)
    return ws


def clean_run_snapshot(root: Path) -> bytes:
    """The snapshot an uninterrupted run of the same command produces on fresh copies."""
    with Simulator(CONTACTS, token=TOKEN) as sim:
        ws = contacts_workspace(root, sim)
        report = run_sync(ws.config(concurrency=2), environ={"HUDUMA_API_TOKEN": TOKEN})
    assert report.exit_code == 0 and report.counts["updated"] == len(CONTACTS)
    return ws.snapshot.read_bytes()


# ----------------------------------------------------------------------------- kill -9


@pytest.mark.parametrize("kill_after_puts", [1, 20, 45])
def test_kill_9_then_rerun_sends_nothing_confirmed_twice_and_ends_like_a_clean_run(
        tmp_path: Path, kill_after_puts: int) -> None:
    concurrency = 2
    with Simulator(CONTACTS, token=TOKEN, latency_ms=30) as sim:
        ws = contacts_workspace(tmp_path / "killed", sim, concurrency=concurrency)
        run = start_run(ws)
        wait_until(lambda: sim.put_count() >= kill_after_puts, run)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=30)
        assert run.returncode == -signal.SIGKILL
        journaled = {int(e.contact_id) for e in read_pending(journal_path_for(ws.snapshot))}
        assert len(journaled) >= kill_after_puts - concurrency  # answered, so recorded

        code, _, err = finish(start_run(ws))
        assert code == 0, err
        if journaled:
            assert f"folded {len(journaled)} confirmed update(s)" in err
        assert "taking over" in err  # the dead run's lock file
        puts = puts_per_contact(sim)
        killed_snapshot = ws.snapshot.read_bytes()

    assert set(puts) == {int(c["contactId"]) for c in CONTACTS}
    repeated = {cid for cid, n in puts.items() if n > 1}
    assert all(n <= 2 for n in puts.values())
    assert len(repeated) <= concurrency  # only requests in flight at the kill go again
    assert not repeated & journaled  # nothing the journal had confirmed was sent again
    assert read_pending(journal_path_for(ws.snapshot)) == []
    assert killed_snapshot == clean_run_snapshot(tmp_path / "clean")


# ----------------------------------------------------------------------------- signals


@pytest.mark.parametrize(("signum", "expected_exit"), [(signal.SIGINT, 130),
                                                       (signal.SIGTERM, 143)])
def test_a_signal_lets_in_flight_requests_finish_and_writes_everything(
        tmp_path: Path, signum: int, expected_exit: int) -> None:
    with Simulator(CONTACTS, token=TOKEN, latency_ms=100) as sim:
        ws = contacts_workspace(tmp_path, sim)
        run = start_run(ws)
        wait_until(lambda: sim.put_count() >= 4, run)
        run.send_signal(signum)
        code, out, err = finish(run)
        assert code == expected_exit, err
        assert "stopping" in err and "stopped early: interrupted" in out

        rows = ws.results_by_row()
        updated = {int(r["contactId"]) for r in rows.values() if r["status"] == "updated"}
        skipped = [r for r in rows.values() if r["status"] == "skipped"]
        # every request that went out was answered and recorded: in-flight ones finished
        assert set(puts_per_contact(sim)) == updated
        assert skipped and all(r["message"] == "run interrupted" for r in skipped)
        assert len(updated) + len(skipped) == len(CONTACTS)
        with ws.snapshot.open(encoding="utf-8") as handle:
            renamed = sum("Renamed" in line for line in handle)
        assert renamed == len(updated)
        summary = json.loads(ws.results.with_name("results.summary.json").read_text())
        assert summary["exit_code"] == expected_exit and summary["outcome"] == "interrupted"
        assert summary["counts"]["skipped"] == len(skipped)
        assert read_pending(journal_path_for(ws.snapshot)) == []

        # re-running the same command is the retry: it sends exactly the rest
        sent_before = sim.put_count()
        report = run_sync(ws.config(), environ={"HUDUMA_API_TOKEN": TOKEN})
        assert report.exit_code == 0 and report.counts["updated"] == len(skipped)
        assert sim.put_count() - sent_before == len(skipped)


def test_a_second_ctrl_c_a_second_later_exits_at_once_and_the_journal_keeps_what_was_confirmed(
        tmp_path: Path) -> None:
    with Simulator(CONTACTS, token=TOKEN, latency_ms=2000) as sim:
        ws = contacts_workspace(tmp_path, sim)
        run = start_run(ws)
        wait_until(lambda: sim.put_count() >= 2, run)
        wait_until(lambda: len(read_pending(journal_path_for(ws.snapshot))) >= 1, run)
        run.send_signal(signal.SIGINT)
        assert run.stderr is not None
        while "stopping" not in (line := run.stderr.readline()):
            assert line, "the run ended without saying it was stopping"
        # The same signal within a second of the first is the same request; a second later it
        # is a second one (in-flight requests still have ~0.8 s to go).
        time.sleep(1.2)
        run.send_signal(signal.SIGINT)
        code, _, err = finish(run)
        assert code == 130
        assert "SIGINT again: exiting now" in err
        assert not ws.results.exists()  # it did not wait to write anything
        entries = read_pending(journal_path_for(ws.snapshot))
        assert entries
        journaled = {int(e.contact_id) for e in entries}
        # each entry: the contact as the API returned it, its reqId, row, run id and time
        answered = {r.contact_id for r in sim.requests if r.status == 200}
        assert journaled <= answered
        server = sim.contacts()
        for entry in entries:
            n = int(entry.contact_id) - 3000
            assert entry.row == n + 2 and entry.req_id.startswith("req-")
            assert entry.contact == {k: server[3000 + n][k] for k in ("names", "number", "email")}
            assert entry.contact["names"] == f"Member {n} Renamed"
            assert re.fullmatch(r"[0-9a-f]{32}", entry.run_id) and entry.confirmed_at
        assert len({entry.run_id for entry in entries}) == 1

        # (a worker per row, so the rest goes out in one 2-second round)
        report = run_sync(ws.config(concurrency=60), environ={"HUDUMA_API_TOKEN": TOKEN})
        assert report.exit_code == 0 and report.folded == len(journaled)
        puts = puts_per_contact(sim)
    assert all(puts[cid] == 1 for cid in journaled)
    assert set(puts) == {int(c["contactId"]) for c in CONTACTS}


# ----------------------------------------------------------------------------- two at once


def test_two_runs_at_once_the_second_exits_2_and_touches_nothing(tmp_path: Path) -> None:
    with Simulator(CONTACTS, token=TOKEN, latency_ms=300) as sim:
        ws = contacts_workspace(tmp_path, sim, concurrency=1)
        first = start_run(ws)
        wait_until(lambda: sim.put_count() >= 1, first)
        snapshot_before = ws.snapshot.read_bytes()
        lock = ws.snapshot.with_name("snapshot.csv.lock")
        other_results = tmp_path / "second" / "results.csv"
        code, out, err = finish(start_run(ws, "--results", str(other_results)))
        still_running = first.poll() is None
        first.send_signal(signal.SIGTERM)
        first_code, _, _ = finish(first)

    assert still_running
    assert code == 2
    assert f"another run (pid {first.pid}, started " in err and f"holds {lock}" in err
    assert "Traceback" not in err and out == ""
    assert not other_results.parent.exists()
    assert ws.snapshot.read_bytes() != snapshot_before or first_code == 143
    assert max(puts_per_contact(sim).values()) == 1  # the second run sent nothing


def test_a_journal_that_refuses_writes_stops_the_run_and_keeps_what_is_confirmed(
        tmp_path: Path) -> None:
    """The disk refusing the journal (here a trigger that fails the second insert, a real
    sqlite3 error on the real code path) stops sending: exit 3, the rest skipped."""
    with Simulator(CONTACTS, token=TOKEN) as sim:
        ws = contacts_workspace(tmp_path, sim, concurrency=1)
        journal = journal_path_for(ws.snapshot)
        with sqlite3.connect(journal) as db:
            db.execute(JOURNAL_SCHEMA)
            db.execute("CREATE TRIGGER refuse BEFORE INSERT ON confirmed "
                       "WHEN (SELECT count(*) FROM confirmed) >= 1 "
                       "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
        report = run_sync(ws.config(concurrency=1), environ={"HUDUMA_API_TOKEN": TOKEN})
        sent = sorted(r.contact_id for r in sim.requests if r.contact_id is not None)
    assert report.exit_code == 3
    assert "the journal could not be written" in report.aborted_reason
    assert "disk is full" in report.aborted_reason
    # the first update was journaled; the second was confirmed by the API but not journaled,
    # so the run stopped there; nothing after it was sent
    assert len(sent) == 2
    statuses = [r["status"] for r in ws.results_by_row().values()]
    assert statuses[:2] == ["updated", "updated"]
    assert set(statuses[2:]) == {"skipped"}
    # both confirmed contacts reached the snapshot written at the end
    with ws.snapshot.open(encoding="utf-8", newline="") as handle:
        names = {r["contactId"]: r["names"] for r in csv.DictReader(handle)}
    assert [names[str(cid)] for cid in sent] == ["Member 0 Renamed", "Member 1 Renamed"]
