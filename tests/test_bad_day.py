"""A bad day for real ``sync-job run`` processes: signals twice at once, a lock file deleted
mid-run, a full disk.

Like tests/test_unattended.py, each test starts the command as a scheduler would, against the
simulator on loopback, and acts on it part-way by watching the requests the simulator has seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sync_job.config import load_config
from sync_job.pipeline import run_sync
from sync_job.simulator import Simulator
from sync_job.state.journal import journal_path_for, read_pending
from sync_job.state.lock import lock_path_for
from sync_job.stopping import StopRequest, stop_on_signals
from tests.conftest import TOKEN, Workspace, read_results
from tests.test_state_safety import snapshot_lines
from tests.test_unattended import (
    CONTACTS,
    contacts_workspace,
    finish,
    process_env,
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


# ----------------------------------------------------------------------------- a full disk


TMPFS_SCRIPT = r"""
for folder in $FOLDERS; do
  size=${folder#*=}; folder=${folder%%=*}
  mount -t tmpfs -o "size=$size,mode=0755" tmpfs "$folder" || exit 97
  cp -a "$folder.seed/." "$folder/"
done
if [ -n "$PREFILL" ]; then cat /dev/zero > "$PREFILL" 2>/dev/null; fi
"$PYTHON" -m sync_job run "$@"
code=$?
for folder in $FOLDERS; do
  folder=${folder%%=*}
  rm -f "$folder/ballast"; mkdir -p "$folder.after"; cp -a "$folder/." "$folder.after/"
done
exit $code
"""


def start_in_tmpfs(ws: Workspace, sizes: dict[Path, str], *args: str,
                   prefill: Path | None = None) -> subprocess.Popen[str]:
    """``sync-job run`` in a private mount namespace where each folder of ``sizes`` is a tmpfs
    of that size holding a copy of the folder's files. When the run ends, what each tmpfs held
    (but a file named ballast) is copied to ``<folder>.after``. ``prefill``: a file that fills
    its tmpfs before the run starts."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.fail("this test needs unshare(1) and mount(8) (util-linux) to give the job a "
                    "small tmpfs of its own; install them (the tests run as root in CI)")
    for folder in sizes:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(folder, folder.with_name(folder.name + ".seed"))
    env = {**process_env(), "PYTHON": sys.executable, "PREFILL": str(prefill or ""),
           "FOLDERS": " ".join(f"{folder}={size}" for folder, size in sizes.items())}
    return subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", TMPFS_SCRIPT, "sh",
         "--config", str(ws.root / "config.yaml"), *args],
        cwd=ws.root, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish_in_tmpfs(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    code, out, err = finish(process)
    if code == 97:
        pytest.fail(f"could not mount a tmpfs in a private mount namespace (the test needs "
                    f"root, unshare and mount): {err}")
    return code, out, err


def fill_up(path: Path) -> None:
    """Write zeros to ``path`` until its file system is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 512):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)


def test_a_full_disk_while_journaling_stops_sending_exits_3_and_loses_nothing_journaled(
        tmp_path: Path) -> None:
    with Simulator(CONTACTS, token=TOKEN, latency_ms=20) as sim:
        ws = contacts_workspace(tmp_path, sim)
        state, results = ws.snapshot.parent, ws.results.parent
        run = start_in_tmpfs(ws, {state: "300k", results: "1m"})
        wait_until(lambda: sim.put_count() >= 10, run)
        # the job's view of its state folder: the tmpfs in its own mount namespace
        fill_up(Path(f"/proc/{run.pid}/root{state}/ballast"))
        code, out, err = finish_in_tmpfs(run)
        sent = puts_per_contact(sim)

        kept = state.with_name("state.after") / "snapshot.csv"
        journaled = {int(e.contact_id) for e in read_pending(journal_path_for(kept))}
        config = load_config(ws.root / "config.yaml",
                             {"snapshot": kept, "results": tmp_path / "again" / "results.csv"})
        again = run_sync(config, environ={"HUDUMA_API_TOKEN": TOKEN})
        puts = puts_per_contact(sim)
        server = sim.contacts()

    assert code == 3, err
    assert "Traceback" not in err and "internal error" not in err
    assert re.search(r"the journal could not be written \(\S+journal.sqlite: the disk is "
                     r"full \(database or disk is full\)\); stopped sending", err), err
    assert (f"{ws.snapshot}: the disk is full (No space left on device); the snapshot was not "
            f"updated: every confirmed update stays in the journal for the next run to fold"
            in err)
    # the results and the summary, on a disk with room, were written
    rows = {int(r["row"]): r for r in read_results(results.with_name("results.after")
                                                   / "results.csv")}
    updated = {int(r["contactId"]) for r in rows.values() if r["status"] == "updated"}
    assert updated == set(sent) and len(rows) == len(CONTACTS)
    summary = json.loads((results.with_name("results.after") / "results.summary.json")
                         .read_text())
    assert summary["exit_code"] == 3 and "the disk is full" in summary["stopped_because"]
    assert "not written:" in out

    # With room again, the next run folds the journal: nothing journaled is sent twice, and
    # only the few confirmed after the journal filled up (at most one per worker) are.
    assert journaled and again.exit_code == 0 and again.folded == len(journaled)
    assert all(puts[cid] == 1 for cid in journaled)
    assert len([cid for cid, n in puts.items() if n > 1]) <= 2
    assert set(puts) == {int(c["contactId"]) for c in CONTACTS}
    snapshot = snapshot_lines(kept)
    assert all(snapshot[str(cid)]["names"] == server[cid]["names"] for cid in server)


def test_a_full_disk_for_the_results_after_the_sends_exits_3_and_loses_nothing(
        tmp_path: Path) -> None:
    with Simulator(CONTACTS, token=TOKEN) as sim:
        ws = contacts_workspace(tmp_path, sim)
        state, results = ws.snapshot.parent, ws.results.parent
        run = start_in_tmpfs(ws, {state: "1m", results: "64k"}, prefill=results / "ballast")
        code, out, err = finish_in_tmpfs(run)
        sent = sim.put_count()

        kept = state.with_name("state.after") / "snapshot.csv"
        config = load_config(ws.root / "config.yaml",
                             {"snapshot": kept, "results": tmp_path / "again" / "results.csv"})
        again = run_sync(config, environ={"HUDUMA_API_TOKEN": TOKEN})
        resent = sim.put_count() - sent

    assert code == 3, err
    assert "Traceback" not in err and "internal error" not in err
    assert sent == len(CONTACTS)
    assert (f"{ws.results}: the disk is full (No space left on device); the results were not "
            f"written; nothing confirmed is lost: the snapshot holds it") in err
    assert f"{results / 'results.summary.json'}: the disk is full" in err
    assert "not written:" in out
    assert not (results.with_name("results.after") / "results.csv").exists()
    # every confirmed update is in the snapshot: the re-run sends nothing again
    assert again.exit_code == 0 and again.counts["unchanged"] == len(CONTACTS)
    assert resent == 0 and read_pending(journal_path_for(kept)) == []
