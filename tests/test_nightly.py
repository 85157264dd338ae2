"""Nightly operations: how a run's end is judged (``push.max_invalid``, ``outcome``), JSON on
every line of output, the run history and ``sync-job runs``, a results file per run with
``results.keep``, and files a monitoring user can read. Real processes, real HTTP against the
simulator."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync_job.config import load_config
from sync_job.errors import ConfigError
from sync_job.pipeline import run_sync
from sync_job.simulator import Simulator
from sync_job.state.ledger import append_run, ledger_path_for, read_runs
from tests.conftest import TOKEN, Workspace, write_snapshot
from tests.test_cli import ROOT, count, sync_job

CONTACTS = [
    {"contactId": str(5000 + n), "names": f"Member {n}", "number": f"25576{n:07d}",
     "email": f"member{n}@example.org"}
    for n in range(100)
]
# 100 rows, 3 of them (3%) invalid: a name over 100 characters.
TOO_LONG = "Long Name " * 11
ROWS = [(c["contactId"], TOO_LONG if n in (10, 50, 90) else f"{c['names']} Renamed", "", "")
        for n, c in enumerate(CONTACTS)]
PERSONAL = ("Member 1 Renamed", "257600000", "example.org", "Long Name")


@pytest.fixture
def big_sim() -> Iterator[Simulator]:
    with Simulator(CONTACTS, token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def ws(tmp_path: Path, big_sim: Simulator) -> Workspace:
    workspace = Workspace(tmp_path, big_sim.base_url)
    write_snapshot(workspace.snapshot, CONTACTS)
    workspace.write_changes(ROWS)
    workspace.config()
    return workspace


def json_only(done: subprocess.CompletedProcess[str]) -> tuple[str, list[dict[str, Any]],
                                                              list[dict[str, Any]]]:
    """Every line of stdout and stderr is one JSON object, all with the same run id: that id
    and the objects of each stream."""
    out = [json.loads(line) for line in done.stdout.splitlines()]
    err = [json.loads(line) for line in done.stderr.splitlines()]
    ids = {line["run_id"] for line in out + err}
    assert len(ids) == 1, ids
    run_id = ids.pop()
    assert re.fullmatch(r"[0-9a-f]{32}", run_id)
    assert all({"time", "level", "event", "message"} <= set(line) for line in out + err)
    return run_id, out, err


def history(ws: Workspace) -> list[dict[str, Any]]:
    runs, unreadable = read_runs(ledger_path_for(ws.snapshot))
    assert unreadable == 0
    return runs


# ------------------------------------------------------------------ alert semantics


def test_invalid_rows_within_max_invalid_exit_0_with_a_warning_and_above_it_exit_1(
        ws: Workspace, big_sim: Simulator) -> None:
    allowed = sync_job("run", "--max-invalid", "5%", "--log-format", "json", cwd=ws.root)
    assert allowed.returncode == 0, allowed.stderr
    run_id, out, err = json_only(allowed)
    [summary] = out
    assert summary["event"] == "summary" and summary["outcome"] == "ok"
    assert summary["exit_code"] == 0 and summary["run_id"] == run_id
    assert summary["counts"]["invalid"] == 3 and summary["counts"]["updated"] == 97
    assert summary["invalid_allowed"] == 5
    warning = next(line for line in err if "within push.max_invalid" in line["message"])
    assert warning["level"] == "warning"
    assert "3 invalid row(s), within push.max_invalid (5% of 100 rows = 5)" in warning["message"]
    assert any(line["event"] == "progress" for line in err)  # progress lines are JSON too
    assert big_sim.put_count() == 97

    default = sync_job("run", cwd=ws.root)  # push.max_invalid: 0, as before
    assert default.returncode == 1, default.stderr
    assert "exit code 1 (rows_invalid)" in default.stdout
    assert count(default.stdout, "invalid") == 3 and count(default.stdout, "unchanged") == 97
    summary = json.loads(ws.results.with_name("results.summary.json").read_text())
    assert summary["outcome"] == "rows_invalid" and summary["invalid_allowed"] == 0


def test_a_count_allows_that_many_and_failed_rows_are_never_allowed(
        ws: Workspace, big_sim: Simulator, env: dict[str, str]) -> None:
    ws.write_changes([*ROWS[:12], ("99999", "Ghost", "", "")])  # one invalid, one 404
    report = run_sync(ws.config(max_invalid=1), environ=env)
    assert report.counts["invalid"] == 1 and report.counts["failed"] == 1
    assert (report.exit_code, report.outcome) == (1, "rows_failed")  # failed outranks invalid

    ws.write_changes(ROWS[:12])
    assert run_sync(ws.config(max_invalid=1), environ=env).exit_code == 0
    report = run_sync(ws.config(max_invalid=0), environ=env)
    assert (report.exit_code, report.outcome) == (1, "rows_invalid")
    assert [run["outcome"] for run in history(ws)] == ["rows_failed", "ok", "rows_invalid"]


@pytest.mark.parametrize("value", ["lots", "-1", "150%", "off"])
def test_a_bad_max_invalid_is_a_config_error(ws: Workspace, value: str) -> None:
    with pytest.raises(ConfigError, match="--max-invalid: expected a whole number of rows"):
        load_config(ws.root / "config.yaml", {"max_invalid": value})


# ------------------------------------------------------------------ JSON on every line


def test_every_line_of_a_run_that_cannot_start_or_is_aborted_is_json_with_one_run_id(
        ws: Workspace, big_sim: Simulator) -> None:
    no_token = sync_job("run", "--log-format", "json", cwd=ws.root, token=None)
    assert no_token.returncode == 2
    run_id, out, err = json_only(no_token)
    assert out == []
    assert err[-1]["event"] == "cannot_start" and err[-1]["exit_code"] == 2
    assert "HUDUMA_API_TOKEN" in err[-1]["message"]
    # run_sync raised it, so run_sync wrote its line in the history, and only once
    assert [(r["run_id"], r["outcome"], r["exit_code"]) for r in history(ws)] == [
        (run_id, "cannot_start", 2)]

    aborted = sync_job("run", "--log-format", "json", cwd=ws.root, token="revoked-9d2e")
    assert aborted.returncode == 3
    run_id, out, err = json_only(aborted)
    [summary] = out
    assert summary["event"] == "summary" and summary["outcome"] == "aborted"
    assert summary["exit_code"] == 3 and summary["stopped_because"]
    assert summary["counts"]["failed"] >= 1 and summary["counts"]["skipped"] > 0
    assert "revoked-9d2e" not in aborted.stdout + aborted.stderr
    assert history(ws)[-1]["run_id"] == run_id

    usage = sync_job("run", "--log-format", "json", "--concurrency", "many", cwd=ws.root)
    assert usage.returncode == 2
    _, out, [error] = json_only(usage)
    assert out == [] and error["event"] == "usage_error" and error["exit_code"] == 2
    assert "--concurrency" in error["message"] and error["usage"].startswith("usage: sync-job")
    assert len(history(ws)) == 2  # a command line argparse refuses is no run of a config


def test_an_internal_error_is_one_json_line_with_the_traceback_only_when_verbose(
        ws: Workspace, big_sim: Simulator, tmp_path: Path) -> None:
    # A broken installation: tenacity, imported when the push starts, fails to import.
    broken = tmp_path / "broken"
    (broken / "tenacity").mkdir(parents=True)
    (broken / "tenacity" / "__init__.py").write_text("raise ImportError('tenacity is broken')\n")
    env = {**os.environ, "HUDUMA_API_TOKEN": TOKEN, "PYTHONPATH": f"{broken}{os.pathsep}{ROOT}"}

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sync_job", "run", "--log-format", "json",
                               *flags], cwd=ws.root, env=env, capture_output=True, text=True,
                              timeout=60)

    quiet, verbose = run(), run("-v")
    for done in (quiet, verbose):
        assert done.returncode == 70
        run_id, out, err = json_only(done)
        assert out == [] and err[-1]["event"] == "internal_error"
        assert err[-1]["exit_code"] == 70 and "tenacity is broken" in err[-1]["message"]
        line = next(r for r in history(ws) if r["run_id"] == run_id)
        assert line["outcome"] == "internal_error" and line["exit_code"] == 70
        assert line["stopped_because"] == "internal error: ImportError"
    assert "traceback" not in json_only(quiet)[2][-1] and "Traceback" not in quiet.stderr
    assert "Traceback (most recent call last)" in json_only(verbose)[2][-1]["traceback"]
    assert big_sim.put_count() == 0


# ------------------------------------------------------------------ the run history


def test_five_runs_leave_five_lines_and_sync_job_runs_lists_them(
        ws: Workspace, big_sim: Simulator, env: dict[str, str]) -> None:
    config = str(ws.root / "config.yaml")
    empty = sync_job("runs", "--config", config, cwd=ws.root)
    assert empty.returncode == 0 and "no run recorded yet" in empty.stdout

    ledger = ledger_path_for(ws.snapshot)
    after_each: list[bytes] = []
    ws.write_changes(ROWS[:12])  # one invalid row
    dry = run_sync(ws.config(dry_run=True), environ={})
    after_each.append(ledger.read_bytes())
    live = run_sync(ws.config(), environ=env, run_id="nightly-2026-05-04")
    after_each.append(ledger.read_bytes())
    no_token = sync_job("run", cwd=ws.root, token=None)
    after_each.append(ledger.read_bytes())
    bad_flag = sync_job("run", "--max-changes", "lots", cwd=ws.root)  # load_config refuses it
    after_each.append(ledger.read_bytes())
    stop = threading.Event()
    stop.set()
    interrupted = run_sync(ws.config(), environ=env, stop=stop)
    after_each.append(ledger.read_bytes())

    assert (dry.exit_code, live.exit_code, no_token.returncode, bad_flag.returncode,
            interrupted.exit_code) == (1, 1, 2, 2, 130)
    # append-only: each run only added one line to what was there
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(after_each))
    assert [text.count(b"\n") for text in after_each] == [1, 2, 3, 4, 5]
    runs = history(ws)
    assert [run["outcome"] for run in runs] == ["rows_invalid", "rows_invalid", "cannot_start",
                                                "cannot_start", "interrupted"]
    assert runs[1]["run_id"] == "nightly-2026-05-04" == live.run_id
    assert "--max-changes" in runs[3]["stopped_because"] and runs[3]["exit_code"] == 2
    assert runs[2]["input"]["sha256"] is None and runs[0]["dry_run"] is True
    text = ledger.read_text()
    for secret in (TOKEN, *PERSONAL):
        assert secret not in text

    table = sync_job("runs", "--config", config, cwd=ws.root)
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:4] == ["ended", "(UTC)", "run", "mode"]
    assert len(lines) == 5
    for run, line in zip(runs, lines, strict=True):
        assert run["run_id"][:8] in line and f" {run['outcome']} " in line
    assert "changes.csv" in lines[1] and runs[1]["input"]["sha256"][:12] in lines[1]
    assert re.search(r"\b1\s+rows_invalid\b", lines[1]) and "interrupted" in lines[4]
    assert "run interrupted" in lines[4]  # why it stopped

    last_two = sync_job("runs", "--json", "-n", "2", "--snapshot", str(ws.snapshot),
                        cwd=ws.root)
    assert [json.loads(line) for line in last_two.stdout.splitlines()] == runs[-2:]


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_next_line_starts_fresh(
        tmp_path: Path) -> None:
    ledger = tmp_path / "snapshot.csv.runs.jsonl"
    ledger.write_text('{"run_id": "a", "outcome": "ok"}\n{"run_id": "b", "outc')
    append_run(ledger, {"run_id": "c", "outcome": "ok"})
    runs, unreadable = read_runs(ledger)
    assert [run["run_id"] for run in runs] == ["a", "c"] and unreadable == 1


def test_a_run_id_that_could_not_name_a_file_is_refused(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="run_id: expected letters"):
        run_sync(ws.config(dry_run=True), run_id="../../etc/x")
    assert not ledger_path_for(ws.snapshot).exists()


# ------------------------------------------------------------------ a results file per run


def keep_config(ws: Workspace, path: str, keep: int, *, dry_run: bool = False,
                summary: str | None = None) -> Any:
    config = ws.config(dry_run=dry_run)
    return dataclasses.replace(config, results=dataclasses.replace(
        config.results, path=ws.root / path, keep=keep,
        summary=ws.root / summary if summary else None))


def test_results_keep_keeps_the_newest_files_the_job_made_and_nothing_else(
        ws: Workspace, env: dict[str, str]) -> None:
    ws.write_changes(ROWS[:5])
    foreign = ws.root / "results" / "notes.txt"
    foreign.parent.mkdir()
    foreign.write_text("mine")
    # a dry run of the operator's: the job made it, but not from this template
    check = run_sync(keep_config(ws, "results/check.csv", 1, dry_run=True), environ={})
    reports = []
    for n in range(5):
        config = keep_config(ws, "results/{date}/results-{time}-{run_id}.csv", 3,
                             dry_run=n % 2 == 1)
        reports.append(run_sync(config, environ=env))
        if n == 0:  # looks like one of the job's, but the history does not name it
            lookalike = reports[0].results_path.with_name(
                f"results-000000-{'f' * 32}.csv")
            lookalike.write_text("not the job's")
            lookalike.with_suffix(".html").write_text("not the job's either")

    for report in reports:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", report.results_path.parent.name)
        assert re.fullmatch(rf"results-\d{{6}}-{report.run_id}\.csv", report.results_path.name)
        assert report.summary_path == report.results_path.with_suffix(".summary.json")
        assert report.report_path == report.results_path.with_suffix(".html")
    kept, gone = reports[2:], reports[:2]
    assert all(path is not None and path.is_file()
               for r in kept for path in (r.results_path, r.summary_path, r.report_path))
    assert not any(path is not None and path.exists()
                   for r in gone for path in (r.results_path, r.summary_path, r.report_path))
    assert foreign.read_text() == "mine" and lookalike.read_text() == "not the job's"
    assert lookalike.with_suffix(".html").read_text() == "not the job's either"
    on_disk = {p for p in (ws.root / "results").rglob("*") if p.is_file()}
    assert on_disk == {foreign, lookalike, lookalike.with_suffix(".html"), check.results_path,
                       check.summary_path, check.report_path, *(r.results_path for r in kept),
                       *(r.summary_path for r in kept), *(r.report_path for r in kept)}
    assert [run["results_path"] for run in history(ws)] == [str(r.results_path)
                                                            for r in [check, *reports]]


def test_results_keep_removes_an_emptied_placeholder_folder_and_spares_a_shared_summary(
        ws: Workspace, env: dict[str, str]) -> None:
    ws.write_changes(ROWS[:5])
    reports = [run_sync(keep_config(ws, "results/{run_id}/results.csv", 1,
                                    summary="results/latest.summary.json"), environ=env)
               for _ in range(3)]
    assert sorted(p.name for p in (ws.root / "results").iterdir()) == sorted(
        [reports[-1].run_id, "latest.summary.json"])
    summary = json.loads((ws.root / "results" / "latest.summary.json").read_text())
    assert summary["run_id"] == reports[-1].run_id


def test_an_unknown_placeholder_is_a_config_error(ws: Workspace) -> None:
    path = ws.root / "config.yaml"
    path.write_text(path.read_text().replace(
        f"  path: {ws.results}\n", "  path: results/{user}-{date}.csv\n  keep: 0\n"))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any("results.path: unknown placeholder {user} (known: {run_id}, {date}, {time})"
               in problem for problem in caught.value.problems)
    assert any("results.keep" in problem for problem in caught.value.problems)
    with pytest.raises(ConfigError, match=r"--results: unknown placeholder \{x\}"):
        load_config(None, {"results": "out/{x}.csv"})


# ------------------------------------------------------------------ modes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "shared"), [(0o022, 0o644), (0o027, 0o640)])
def test_summary_and_history_follow_the_umask_while_personal_data_stays_private(
        ws: Workspace, env: dict[str, str], umask: int, shared: int) -> None:
    ws.write_changes(ROWS[:5])
    old = os.umask(umask)
    try:
        report = run_sync(ws.config(), environ=env)
    finally:
        os.umask(old)
    assert report.summary_path is not None
    assert mode(report.summary_path) == shared
    assert mode(ledger_path_for(ws.snapshot)) == shared
    assert mode(report.results_path) == 0o600 and mode(ws.snapshot) == 0o600
    for secret in (TOKEN, *PERSONAL):
        assert secret not in report.summary_path.read_text()
