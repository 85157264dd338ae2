"""A bad day for real ``sync-job run`` processes: signals twice at once, a lock file deleted
mid-run, a full disk.

Like tests/test_unattended.py, each test starts the command as a scheduler would, against the
simulator on loopback, and acts on it part-way by watching the requests the simulator has seen.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from sync_job.journal import journal_path_for, read_pending
from sync_job.pipeline import run_sync
from sync_job.runlock import lock_path_for
from sync_job.simulator import Simulator
from sync_job.stopping import StopRequest, stop_on_signals
from tests.conftest import TOKEN
from tests.test_state_safety import snapshot_lines
from tests.test_unattended import (
    CONTACTS,
    contacts_workspace,
    finish,
    puts_per_contact,
    start_run,
    wait_until,
)

# ----------------------------------------------------------------------------- signals


def test_the_same_signal_within_a_second_is_one_request_a_later_one_exits_at_once() -> None:
    now = [100.0]
    exits: list[int] = []
    with stop_on_signals(StopRequest(), hard_exit=exits.append, clock=lambda: now[0]) as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set() and stop.exit_code == 143
        now[0] += 0.2
        signal.raise_signal(signal.SIGTERM)
        now[0] += 0.8  # still within one second of the first
        signal.raise_signal(signal.SIGTERM)
        assert exits == []
        now[0] += 0.01
        signal.raise_signal(signal.SIGTERM)
        assert exits == [143]


def test_another_signal_within_the_second_is_a_second_request() -> None:
    exits: list[int] = []
    with stop_on_signals(StopRequest(), hard_exit=exits.append, clock=lambda: 5.0) as stop:
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
    assert stop.exit_code == 143 and exits == [130]


def test_sigterm_twice_at_once_as_timeout_sends_it_still_writes_everything(
        tmp_path: Path) -> None:
    # coreutils `timeout` signals the job, then its whole process group: two SIGTERMs at once.
    with Simulator(CONTACTS, token=TOKEN, latency_ms=100) as sim:
        ws = contacts_workspace(tmp_path, sim)
        run = start_run(ws)
        wait_until(lambda: sim.put_count() >= 4, run)
        run.send_signal(signal.SIGTERM)
        run.send_signal(signal.SIGTERM)
        assert run.stderr is not None
        while "stopping" not in (line := run.stderr.readline()):
            assert line, "the run ended without saying it was stopping"
        run.send_signal(signal.SIGTERM)  # surely after the first was handled, within a second
        code, out, err = finish(run)

    assert code == 143, err
    assert "exiting now" not in err and "stopped early: interrupted" in out
    rows = ws.results_by_row()
    assert len(rows) == len(CONTACTS)
    assert {r["status"] for r in rows.values()} == {"updated", "skipped"}
    summary = json.loads(ws.results.with_name("results.summary.json").read_text())
    assert summary["exit_code"] == 143 and summary["outcome"] == "interrupted"


# ----------------------------------------------------------------------------- the lock file


def test_a_lock_file_deleted_mid_run_stops_that_run_and_a_second_run_loses_nothing(
        tmp_path: Path) -> None:
    with Simulator(CONTACTS, token=TOKEN, latency_ms=50) as sim:
        ws = contacts_workspace(tmp_path, sim)
        lock = lock_path_for(ws.snapshot)
        first = start_run(ws)
        wait_until(lambda: sim.put_count() >= 10, first)
        lock.unlink()  # someone "cleans up a stale lock"
        second = start_run(ws, "--results", str(tmp_path / "second" / "results.csv"))
        first_code, _, first_err = finish(first)
        second_code, _, second_err = finish(second)
        first_rows = ws.results_by_row()
        # A clean re-run: nothing is left to send, and the snapshot is what the server holds.
        again = run_sync(ws.config(), environ={"HUDUMA_API_TOKEN": TOKEN})
        puts = puts_per_contact(sim)
        server = sim.contacts()

    assert first_code == 3, first_err
    assert (f"the lock file {lock} was removed or replaced during the run; stopped sending; "
            f"every confirmed update stays in the journal for the next run") in first_err
    assert "Traceback" not in first_err
    skipped = [r for r in first_rows.values() if r["status"] == "skipped"]
    assert skipped and all(r["message"].startswith("not sent: the lock file") for r in skipped)
    assert second_code == 0, second_err
    assert "folded " in second_err
    assert again.exit_code == 0 and again.counts["unchanged"] == len(CONTACTS)
    assert max(puts.values()) == 1 and len(puts) == len(CONTACTS)  # no update sent twice
    snapshot = snapshot_lines(ws.snapshot)
    assert set(snapshot) == {c["contactId"] for c in CONTACTS}
    for cid, line in snapshot.items():
        held = server[int(cid)]
        assert [line[k] for k in ("names", "number", "email")] == \
            [held[k] or "" for k in ("names", "number", "email")]
    assert read_pending(journal_path_for(ws.snapshot)) == []
