"""The files the job keeps and writes: never one for another, no symlinks followed, no debris,
private journal, a lock that knows when it was taken away. Real files, real HTTP."""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

import pytest

from sync_job.config import load_config
from sync_job.errors import ConfigError, StartupError
from sync_job.pipeline import run_sync
from sync_job.simulator import Simulator
from sync_job.state.journal import Journal, journal_path_for, read_pending
from sync_job.state.ledger import ledger_path_for, read_runs
from sync_job.state.lock import RunLock, lock_path_for
from tests.conftest import Workspace
from tests.test_cli import sync_job


def state_bytes(ws: Workspace) -> dict[str, bytes]:
    """Every file of the workspace but the run history, where a run that cannot start still
    leaves its line."""
    return {p.name: p.read_bytes() for p in sorted(ws.root.rglob("*"))
            if p.is_file() and p != ledger_path_for(ws.snapshot)}


def cannot_start_lines(ws: Workspace) -> list[dict[str, object]]:
    return [run for run in read_runs(ledger_path_for(ws.snapshot))[0]
            if run["outcome"] == "cannot_start"]


# ------------------------------------------------------------------ written vs read or kept


@pytest.mark.parametrize(("flag", "target", "role"), [
    ("results", "changes.csv", "the changes file"),
    ("results", "state/snapshot.csv", "the snapshot"),
    ("results", "state/snapshot.csv.journal.sqlite", "the journal"),
    ("results", "state/snapshot.csv.journal.sqlite-wal", "the journal's -wal file"),
    ("results", "state/snapshot.csv.journal.sqlite-shm", "the journal's -shm file"),
    ("results", "state/snapshot.csv.lock", "the run lock"),
    ("results", "state/snapshot.csv.runs.jsonl", "the run history"),
    ("summary", "state/snapshot.csv", "the snapshot"),
    ("summary", "changes.csv", "the changes file"),
    ("summary", "results/results.csv", "the results file"),
])
def test_a_file_the_run_writes_may_not_be_one_it_reads_or_keeps(
        workspace: Workspace, sim: Simulator, env: dict[str, str], flag: str, target: str,
        role: str) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    before = state_bytes(workspace)
    config = load_config(workspace.root / "config.yaml", {flag: workspace.root / target})
    with pytest.raises(ConfigError) as caught:
        run_sync(config, environ=env)
    [problem] = caught.value.problems
    assert f"the {flag} file (--{flag}, " in problem and role in problem
    assert f" {workspace.root / target} is the same file as the " in problem
    assert problem.endswith("; choose another path")
    assert sim.requests == [] and state_bytes(workspace) == before
    [line] = cannot_start_lines(workspace)
    assert line["exit_code"] == 2 and line["stopped_because"] == str(caught.value)


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_a_link_to_the_snapshot_is_the_snapshot(workspace: Workspace, sim: Simulator,
                                                 env: dict[str, str], link: str) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    elsewhere = workspace.root / "out" / "results.csv"
    elsewhere.parent.mkdir()
    if link == "hard":
        os.link(workspace.snapshot, elsewhere)
    else:
        elsewhere.symlink_to(workspace.snapshot)
    before = workspace.snapshot.read_bytes()
    config = load_config(workspace.root / "config.yaml", {"results": elsewhere})
    with pytest.raises(ConfigError, match="is the same file as the snapshot"):
        run_sync(config, environ=env)
    assert sim.requests == [] and workspace.snapshot.read_bytes() == before


def test_a_dry_run_checks_the_files_it_writes(workspace: Workspace) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    before = state_bytes(workspace)
    for target in ("state/snapshot.csv", "changes.csv"):
        config = load_config(workspace.root / "config.yaml",
                             {"results": workspace.root / target}, dry_run=True)
        with pytest.raises(ConfigError, match="is the same file as"):
            run_sync(config, environ={})
    # a dry run writes no snapshot: the snapshot may be its input (an odd but harmless check)
    config = load_config(workspace.root / "config.yaml", {"input": workspace.snapshot},
                         dry_run=True)
    assert run_sync(config, environ={}).exit_code == 0
    assert state_bytes(workspace)["snapshot.csv"] == before["snapshot.csv"]


def test_results_over_the_snapshot_on_the_command_line_exits_2_naming_both(
        workspace: Workspace, sim: Simulator) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    before = state_bytes(workspace)
    done = sync_job("run", "--config", str(workspace.root / "config.yaml"), "--results",
                    "state/snapshot.csv", cwd=workspace.root)
    assert done.returncode == 2, done.stderr
    assert (f"the results file (--results, results.path) {workspace.snapshot} is the same file "
            f"as the snapshot (--snapshot, snapshot.path) {workspace.snapshot}; choose another "
            f"path") in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert sim.requests == [] and state_bytes(workspace) == before


# ------------------------------------------------------------------ symlinks


def test_a_symlink_at_the_lock_path_is_refused_and_its_target_untouched(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    precious = workspace.root / "precious.txt"
    precious.write_text("do not truncate me\n")
    lock_path_for(workspace.snapshot).symlink_to(precious)
    workspace.write_changes([("1001", "New", "", "")])
    with pytest.raises(StartupError) as caught:
        run_sync(workspace.config(), environ=env)
    assert str(caught.value).startswith(f"{lock_path_for(workspace.snapshot)}: is a symbolic "
                                        f"link")
    assert "remove the link" in str(caught.value)
    assert precious.read_text() == "do not truncate me\n"
    assert sim.requests == []


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_symlink_at_the_journal_path_is_refused(workspace: Workspace, sim: Simulator,
                                                  env: dict[str, str], suffix: str) -> None:
    precious = workspace.root / "precious.db"
    precious.write_bytes(b"not a journal")
    journal = journal_path_for(workspace.snapshot)
    journal.with_name(journal.name + suffix).symlink_to(precious)
    workspace.write_changes([("1001", "New", "", "")])
    with pytest.raises(StartupError, match="is a symbolic link"):
        run_sync(workspace.config(), environ=env)
    assert precious.read_bytes() == b"not a journal"
    assert sim.requests == []


# ------------------------------------------------------------------ journal mode


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_journal_and_its_wal_and_shm_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "snapshot.csv.journal.sqlite"
        with Journal(path) as journal:
            journal.record(run_id="r" * 32, contact_id="1001", row=2,
                           contact={"names": "Ann"}, req_id="req-1")
            files = [path, path.with_name(path.name + "-wal"),
                     path.with_name(path.name + "-shm")]
            assert [mode(p) for p in files] == [0o600] * 3
    finally:
        os.umask(old)


def test_an_existing_readable_journal_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.csv.journal.sqlite"
    wal = path.with_name(path.name + "-wal")
    with Journal(path) as journal:
        journal.record(run_id="r" * 32, contact_id="1001", row=2, contact={"names": "Ann"},
                       req_id="req-1")
        os.chmod(path, 0o644)
        os.chmod(wal, 0o644)
        with Journal(path) as again:  # a second connection, as the next run opens it
            assert [e.contact_id for e in again.pending()] == ["1001"]
            assert mode(path) == 0o600 and mode(wal) == 0o600


# ------------------------------------------------------------------ the lock, taken away


def test_still_held_says_when_the_lock_file_was_removed_or_replaced(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.csv.lock"
    with RunLock(path) as lock:
        assert lock.still_held()
        path.unlink()
        assert not lock.still_held()
        with RunLock(path) as second:  # the file at the path is a new one: free to take
            assert second.still_held() and not lock.still_held()
    assert not lock.still_held()


def test_the_fold_forgets_only_the_entries_it_folded(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.csv.journal.sqlite"
    with Journal(path) as journal, Journal(path) as other_process:
        other_process.record(run_id="a" * 32, contact_id="1001", row=2,
                             contact={"names": "One"}, req_id="req-1")
        pending = journal.pending()
        # written by a run that lost its lock file and went on, after the fold read
        other_process.record(run_id="a" * 32, contact_id="1002", row=3,
                             contact={"names": "Two"}, req_id="req-2")
        journal.forget_folded(pending)
    assert [e.contact_id for e in read_pending(path)] == ["1002"]


# ------------------------------------------------------------------ leftover temporary files


def test_a_live_run_removes_the_temporary_files_interrupted_writes_left(
        workspace: Workspace, env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    config = workspace.config()
    state, results = workspace.snapshot.parent, workspace.results.parent
    results.mkdir()
    two_hours_ago = time.time() - 7200

    def leftover(folder: Path, name: str, *, old: bool = False) -> Path:
        path = folder / name
        path.write_bytes(b"half a file")
        if old:
            os.utime(path, (two_hours_ago, two_hours_ago))
        return path

    gone = [
        leftover(state, ".snapshot.csv.k2x_9qzt.tmp"),  # the snapshot's: whatever its age
        leftover(state, ".snapshot.csv.abcdefgh.tmp", old=True),
        leftover(results, ".results.csv.0a1b2c3d.tmp", old=True),
        leftover(results, ".results.summary.json.zzzzzzzz.tmp", old=True),
    ]
    kept = [
        leftover(results, ".results.csv.fresh123.tmp"),  # a dry run may be writing it now
        leftover(state, ".snapshot.csv.abcdefg.tmp", old=True),  # seven characters
        leftover(state, ".snapshot.csv.abcdefgh.tmp.keep", old=True),
        leftover(state, "snapshot.csv.abcdefgh.tmp", old=True),
        leftover(state, ".snapshot.csv.ABCDEFGH.tmp", old=True),
        leftover(state, ".other.csv.abcdefgh.tmp", old=True),
        leftover(results, "notes.txt", old=True),
    ]
    target = leftover(workspace.root, "target.txt")
    linked = state / ".snapshot.csv.symlink0.tmp"
    linked.symlink_to(target)
    (state / ".snapshot.csv.folder00.tmp").mkdir()

    caplog.set_level(logging.INFO, logger="sync_job")
    assert run_sync(config, environ=env).exit_code == 0
    assert not any(p.exists() for p in gone)
    assert all(p.exists() for p in kept)
    assert linked.is_symlink() and target.read_bytes() == b"half a file"
    assert (state / ".snapshot.csv.folder00.tmp").is_dir()
    assert "removed 2 temporary file(s) of snapshot.csv left by writes that were " \
           "interrupted" in caplog.messages
    assert "removed 1 temporary file(s) of results.csv left by writes that were " \
           "interrupted" in caplog.messages
    assert "removed 1 temporary file(s) of results.summary.json left by writes that were " \
           "interrupted" in caplog.messages


def test_a_dry_run_removes_no_temporary_file(workspace: Workspace) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    leftover = workspace.snapshot.with_name(".snapshot.csv.abcdefgh.tmp")
    leftover.write_bytes(b"half a file")
    assert run_sync(workspace.config(dry_run=True), environ={}).exit_code == 0
    assert leftover.exists()
