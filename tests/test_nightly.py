"""Nightly operations: how a run's end is judged (``push.max_invalid``, ``outcome``), JSON on
every line of output, the run history and ``sync-job runs``, a results file per run with
``results.keep``, and files a monitoring user can read. Real processes, real HTTP against the
simulator."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_job.pipeline import run_sync
from sync_job.simulator import Simulator
from tests.conftest import TOKEN, Workspace, write_snapshot

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
