"""Nightly operations: how a run's end is judged (``push.max_invalid``, ``outcome``), JSON on
every line of output, the run history and ``sync-job runs``, a results file per run with
``results.keep``, and files a monitoring user can read. Real processes, real HTTP against the
simulator."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_job.config import load_config
from sync_job.errors import ConfigError
from sync_job.pipeline import run_sync
from sync_job.simulator import Simulator
from tests.conftest import TOKEN, Workspace, write_snapshot
from tests.test_cli import count, sync_job

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


# ------------------------------------------------------------------ alert semantics


def test_invalid_rows_within_max_invalid_exit_0_with_a_warning_and_above_it_exit_1(
        ws: Workspace, big_sim: Simulator) -> None:
    allowed = sync_job("run", "--max-invalid", "5%", cwd=ws.root)
    assert allowed.returncode == 0, allowed.stderr
    assert "exit code 0 (ok)" in allowed.stdout
    assert count(allowed.stdout, "invalid") == 3 and count(allowed.stdout, "updated") == 97
    assert "within push.max_invalid, 5 allowed" in allowed.stdout
    assert "WARNING: 3 invalid row(s), within push.max_invalid (5% of 100 rows = 5)" \
        in allowed.stderr
    summary = json.loads(ws.results.with_name("results.summary.json").read_text())
    assert summary["outcome"] == "ok" and summary["invalid_allowed"] == 5
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


@pytest.mark.parametrize("value", ["lots", "-1", "150%", "off"])
def test_a_bad_max_invalid_is_a_config_error(ws: Workspace, value: str) -> None:
    with pytest.raises(ConfigError, match="--max-invalid: expected a whole number of rows"):
        load_config(ws.root / "config.yaml", {"max_invalid": value})


# ------------------------------------------------------------------ modes


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(("umask", "shared"), [(0o022, 0o644), (0o027, 0o640)])
def test_the_summary_follows_the_umask_while_personal_data_stays_private(
        ws: Workspace, env: dict[str, str], umask: int, shared: int) -> None:
    ws.write_changes(ROWS[:5])
    old = os.umask(umask)
    try:
        report = run_sync(ws.config(), environ=env)
    finally:
        os.umask(old)
    assert report.summary_path is not None
    assert mode(report.summary_path) == shared
    assert mode(report.results_path) == 0o600 and mode(ws.snapshot) == 0o600
    for secret in (TOKEN, *PERSONAL):
        assert secret not in report.summary_path.read_text()
