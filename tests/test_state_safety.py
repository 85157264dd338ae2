"""Journal, run lock, safety brake, run summary and formula-looking cells, over real HTTP."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sync_job.config import load_config
from sync_job.errors import ConfigError, RunLockedError, TokenError
from sync_job.pipeline import run_sync
from sync_job.plan.brake import ChangeLimit, parse_change_limit
from sync_job.simulator import Simulator
from sync_job.state.journal import Journal, journal_path_for, read_pending
from sync_job.state.ledger import ledger_path_for
from sync_job.state.lock import RunLock, lock_path_for
from tests.conftest import SNAPSHOT_ROWS, TOKEN, Workspace, read_results

ROOT = Path(__file__).resolve().parent.parent


def snapshot_lines(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return {r["contactId"]: r for r in csv.DictReader(handle)}


def put_ids(sim: Simulator) -> list[int | None]:
    return [r.contact_id for r in sim.requests if r.method == "PUT"]


def leave_journal_entries(ws: Workspace, sim: Simulator, renames: dict[str, str]) -> None:
    """Do what a run killed after its 200s and before its snapshot write leaves behind."""
    import requests

    with Journal(journal_path_for(ws.snapshot)) as journal:
        for n, (cid, name) in enumerate(renames.items()):
            answer = requests.put(f"{sim.base_url}/contacts/{cid}", json={"names": name},
                                  headers={"X-Huduma": f"Bearer {TOKEN}"}, timeout=5).json()
            data = answer["data"]
            journal.record(run_id="deadbeef" * 4, contact_id=cid, row=n + 2,
                           contact={k: data[k] or "" for k in ("names", "number", "email")},
                           req_id=answer["reqId"])


# ------------------------------------------------------------------------------- journal


def test_a_clean_run_leaves_an_empty_journal_beside_the_snapshot(
        workspace: Workspace, env: dict[str, str]) -> None:
    workspace.write_changes([("1001", "New", "", ""), ("1002", "Other", "", "")])
    report = run_sync(workspace.config(), environ=env)
    assert report.counts["updated"] == 2
    journal = workspace.snapshot.with_name("snapshot.csv.journal.sqlite")
    assert journal.exists()
    assert read_pending(journal) == []  # folded into the snapshot, so forgotten


def test_confirmed_updates_of_a_dead_run_are_folded_first_and_not_sent_again(
        workspace: Workspace, sim: Simulator, env: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    leave_journal_entries(workspace, sim, {"1001": "Renamed One", "1002": "Renamed Two"})
    sim.requests.clear()
    workspace.write_changes([("1001", "Renamed One", "", ""), ("1002", "Renamed Two", "", ""),
                             ("1003", "Renamed Three", "", "")])
    report = run_sync(workspace.config(), environ=env)

    assert put_ids(sim) == [1003]
    assert report.folded == 2
    assert any("folded 2 confirmed update(s) of 2 contact(s) from run deadbeef" in m
               for m in caplog.messages)
    rows = workspace.results_by_row()
    assert [rows[n]["status"] for n in (2, 3, 4)] == ["unchanged", "unchanged", "updated"]
    snapshot = snapshot_lines(workspace.snapshot)
    assert snapshot["1001"]["names"] == "Renamed One"
    assert snapshot["1002"]["names"] == "Renamed Two"
    assert snapshot["1003"]["names"] == "Renamed Three"
    assert read_pending(journal_path_for(workspace.snapshot)) == []
    summary = json.loads(workspace.results.with_name("results.summary.json").read_text())
    assert summary["folded_from_journal"] == 2


def test_a_dry_run_plans_against_snapshot_and_journal_and_changes_neither(
        workspace: Workspace, sim: Simulator, env: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    leave_journal_entries(workspace, sim, {"1001": "Renamed One"})
    state = workspace.snapshot.parent
    history = ledger_path_for(workspace.snapshot)
    before = {p.name: p.read_bytes() for p in state.iterdir() if p != history}
    history_before = history.read_bytes() if history.exists() else b""
    sim.requests.clear()
    workspace.write_changes([("1001", "Renamed One", "", ""), ("1002", "Renamed Two", "", "")])
    report = run_sync(workspace.config(dry_run=True), environ={})

    assert sim.requests == []
    assert report.counts["planned"] == 1 and report.counts["unchanged"] == 1
    assert workspace.results_by_row()[2]["status"] == "unchanged"
    assert any("this dry run plans as if they were in the snapshot" in m for m in caplog.messages)
    # nothing in the state folder changed, and no -wal/-shm/lock file appeared; only the run
    # history gained the dry run's line
    assert {p.name: p.read_bytes() for p in state.iterdir() if p != history} == before
    added = history.read_bytes().removeprefix(history_before)
    assert json.loads(added)["dry_run"] is True and added.count(b"\n") == 1
    assert len(read_pending(journal_path_for(workspace.snapshot))) == 1


# ------------------------------------------------------------------------------- run lock


def test_a_second_live_run_on_the_same_snapshot_stops_and_touches_nothing(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    config = workspace.config()
    snapshot_before = workspace.snapshot.read_bytes()
    lock = lock_path_for(workspace.snapshot)
    with RunLock(lock):
        with pytest.raises(RunLockedError) as caught:
            run_sync(config, environ=env)
        assert f"another run (pid {os.getpid()}, started " in str(caught.value)
        assert f"holds {lock}" in str(caught.value)
        # a dry run takes no lock: it only writes its own results
        assert run_sync(workspace.config(dry_run=True), environ={}).exit_code == 0
    assert sim.requests == []
    assert workspace.snapshot.read_bytes() == snapshot_before
    assert not journal_path_for(workspace.snapshot).exists()
    assert lock.read_text() == ""  # released cleanly: emptied, not deleted


def test_a_lock_left_by_a_dead_process_is_taken_over_with_a_warning(
        workspace: Workspace, env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = gone.stdout.strip()
    lock = lock_path_for(workspace.snapshot)
    lock.write_text(f"pid={dead_pid}\nstarted=2026-01-01T02:00:00Z\n")
    workspace.write_changes([("1001", "New", "", "")])
    report = run_sync(workspace.config(), environ=env)
    assert report.exit_code == 0 and report.counts["updated"] == 1
    assert any(f"taking over {lock}" in m and f"pid {dead_pid}" in m for m in caplog.messages)
    assert lock.read_text() == ""


# ------------------------------------------------------------------------------- brake


@pytest.mark.parametrize(("raw", "expected"), [
    (500, ChangeLimit(count=500)), ("500", ChangeLimit(count=500)),
    ("10%", ChangeLimit(percent=10.0)), ("2.5 %", ChangeLimit(percent=2.5)),
    (None, None), (False, None), ("off", None),
])
def test_max_changes_accepts_a_count_a_share_or_off(raw: object,
                                                    expected: ChangeLimit | None) -> None:
    assert parse_change_limit(raw) == (expected, None)


@pytest.mark.parametrize("raw", ["many", "0%", "150%", -1, True, 1.5, "10 percent"])
def test_max_changes_rejects_anything_else(raw: object) -> None:
    value, problem = parse_change_limit(raw)
    assert value is None and problem and "10%" in problem


def test_a_share_is_of_the_snapshot_rounded_down() -> None:
    assert ChangeLimit(percent=10).allowed(1000) == 100
    assert ChangeLimit(percent=10).allowed(15) == 1
    assert ChangeLimit(percent=10).allowed(0) == 0


def test_bad_max_changes_in_config_is_a_config_error(workspace: Workspace) -> None:
    workspace.config()
    path = workspace.root / "config.yaml"
    path.write_text(path.read_text() + "  max_changes: lots\n")
    with pytest.raises(ConfigError, match=r"push\.max_changes"):
        load_config(path)


def test_over_the_brake_nothing_is_sent_and_the_plan_is_written(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(5)]
                            + [("1009", "Person 9", "", "")])
    snapshot_before = workspace.snapshot.read_bytes()
    report = run_sync(workspace.config(max_changes=3), environ=env)

    assert report.exit_code == 4
    assert sim.requests == []
    assert workspace.snapshot.read_bytes() == snapshot_before
    rows = workspace.results_by_row()
    assert [rows[n]["status"] for n in range(2, 8)] == ["planned"] * 5 + ["unchanged"]
    assert "safety brake: 5 updates planned, more than push.max_changes allows (3)" \
        in rows[2]["message"]
    assert json.loads(rows[2]["payload"]) == {"names": "Renamed 0"}
    summary = json.loads(workspace.results.with_name("results.summary.json").read_text())
    assert summary["exit_code"] == 4 and summary["outcome"] == "braked"
    assert "push.max_changes" in summary["stopped_because"]


def test_a_share_brake_counts_against_the_snapshot(workspace: Workspace, sim: Simulator,
                                                   env: dict[str, str]) -> None:
    # 10 contacts in the snapshot: 20% allows 2 updates
    workspace.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(3)])
    assert run_sync(workspace.config(max_changes="20%"), environ=env).exit_code == 4
    assert sim.requests == []
    workspace.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(2)])
    assert run_sync(workspace.config(max_changes="20%"), environ=env).exit_code == 0
    assert len(put_ids(sim)) == 2


def test_force_lets_one_run_through_the_brake(workspace: Workspace, sim: Simulator,
                                              env: dict[str, str]) -> None:
    workspace.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(5)])
    workspace.config(max_changes=3)
    config = load_config(workspace.root / "config.yaml", force=True)
    report = run_sync(config, environ=env)
    assert report.exit_code == 0 and report.counts["updated"] == 5


def test_a_dry_run_over_the_brake_says_the_live_run_would_stop(
        workspace: Workspace, sim: Simulator) -> None:
    workspace.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(5)])
    report = run_sync(workspace.config(dry_run=True, max_changes=3), environ={})
    assert report.exit_code == 4 and sim.requests == []
    assert workspace.results_by_row()[2]["message"].startswith(
        "dry run: the live run would stop here")


def test_the_nightly_sample_config_sets_the_brake() -> None:
    config = load_config(ROOT / "config.nightly.yaml")
    assert config.push.max_changes is not None


# ------------------------------------------------------------------------------- summary


def test_summary_beside_the_results_says_what_the_run_did(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes([("1001", "New", "", ""), ("1002", "Person 2", "", ""),
                             ("99999", "Ghost", "", ""), ("1003", "", "0712", "")])
    sim.enqueue(429, retry_after="0")
    sim.enqueue(503)
    report = run_sync(workspace.config(concurrency=1), environ=env, sleep=lambda s: None)
    summary = json.loads(workspace.results.with_name("results.summary.json").read_text())

    assert re.fullmatch(r"[0-9a-f]{32}", summary["run_id"]) and summary["run_id"] == report.run_id
    assert summary["started_at"] <= summary["ended_at"]
    assert summary["started_at"].endswith("Z")
    assert summary["input"] == {
        "path": str(workspace.changes),
        "sha256": hashlib.sha256(workspace.changes.read_bytes()).hexdigest()}
    assert summary["counts"] == {"updated": 1, "unchanged": 1, "invalid": 1, "failed": 1,
                                 "skipped": 0, "planned": 0}
    assert (summary["requests"], summary["retries"], summary["throttled_429"]) == (4, 2, 1)
    assert summary["exit_code"] == 1 and summary["outcome"] == "rows_failed"
    assert summary["dry_run"] is False and summary["rows"] == 4


def test_summary_path_from_config_and_for_an_aborted_run(workspace: Workspace,
                                                          sim: Simulator) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    path = workspace.root / "config.yaml"
    path.write_text(path.read_text().replace(
        "results:\n", "results:\n  summary: reports/last-run.json\n"))
    report = run_sync(load_config(path), environ={"HUDUMA_API_TOKEN": "revoked"})
    assert report.exit_code == 3
    summary = json.loads((workspace.root / "reports" / "last-run.json").read_text())
    assert summary["exit_code"] == 3 and summary["outcome"] == "aborted"
    assert not workspace.results.with_name("results.summary.json").exists()


def test_a_run_that_cannot_start_writes_no_summary(workspace: Workspace) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    with pytest.raises(TokenError):
        run_sync(workspace.config(), environ={})
    assert not workspace.results.parent.exists()


# ------------------------------------------------------------------------------- formulas

FORMULA_NAMES = ['=HYPERLINK("http://x","y")', "+1", "@SUM(1)", "-2"]


def test_formula_looking_names_round_trip_and_are_defused_in_the_results(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes(
        [(str(1001 + n), name, "", "") for n, name in enumerate(FORMULA_NAMES)]
        + [("=SUM(1)", "Someone", "", "")])
    report = run_sync(workspace.config(), environ=env)
    assert report.counts["updated"] == 4 and report.counts["invalid"] == 1

    # sent exactly as given, and the snapshot holds exactly what the API returned
    sent = {r.contact_id: r.body for r in sim.requests if r.method == "PUT"}
    assert sent == {1001 + n: {"names": name} for n, name in enumerate(FORMULA_NAMES)}
    snapshot = snapshot_lines(workspace.snapshot)
    assert [snapshot[str(1001 + n)]["names"] for n in range(4)] == FORMULA_NAMES
    assert [sim.contacts()[1001 + n]["names"] for n in range(4)] == FORMULA_NAMES

    # the results: no cell a spreadsheet would evaluate; the payload still parses exactly
    results = read_results(workspace.results)
    for line in results:
        for cell in line.values():
            assert not re.match(r"[=+\-@\t\r]", cell), cell
    assert [json.loads(r["payload"])["names"] for r in results[:4]] == FORMULA_NAMES
    assert results[4]["contactId"] == "'=SUM(1)"


def test_snapshot_survives_a_journal_fold_with_formula_names(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    leave_journal_entries(workspace, sim, {"1001": FORMULA_NAMES[0], "1002": "-2"})
    workspace.write_changes([("1003", "Plain", "", "")])
    run_sync(workspace.config(), environ=env)
    snapshot = snapshot_lines(workspace.snapshot)
    assert snapshot["1001"]["names"] == FORMULA_NAMES[0] and snapshot["1002"]["names"] == "-2"
    assert {r["contactId"] for r in SNAPSHOT_ROWS} == set(snapshot)


# ------------------------------------------------------------------------------- atomic files


def test_a_write_that_fails_half_way_leaves_the_old_file_and_no_debris(tmp_path: Path) -> None:
    from sync_job.state.files import atomic_binary_writer

    target = tmp_path / "snapshot.csv"
    target.write_bytes(b"old, whole\n")
    with pytest.raises(OSError, match="disk full"), atomic_binary_writer(target) as handle:
        handle.write(b"new, hal")
        raise OSError("disk full")
    assert target.read_bytes() == b"old, whole\n"
    assert [p.name for p in tmp_path.iterdir()] == ["snapshot.csv"]


def test_a_snapshot_with_line_breaks_in_names_is_read_whole(tmp_path: Path) -> None:
    # The job quotes every cell of the snapshot it writes, and a name may hold a line break.
    # In a file of several megabytes, pyarrow's reader splits the text into blocks; it must
    # not split them at a line break inside a quoted name.
    from sync_job.state.snapshot import read_snapshot, write_snapshot

    names = [f"Line {n} " + "x" * 60 + ("\r\nsecond, \"line\"" if n % 3 else "") for n in
             range(40_000)]
    frame = pd.DataFrame({"contactId": [str(1000 + n) for n in range(40_000)], "names": names,
                          "number": [str(255712000000 + n) for n in range(40_000)],
                          "email": [f"u{n}@example.com" for n in range(40_000)]}, dtype="str")
    path = tmp_path / "snapshot.csv"
    write_snapshot(path, frame)
    assert path.stat().st_size > 3 << 20
    read = read_snapshot(path)
    assert read is not None
    assert read["names"].tolist() == names
    assert read["contactId"].tolist() == frame["contactId"].tolist()
