"""Progress of the push: a bar on a terminal, plain lines in a log, nothing with --quiet.

Real runs over HTTP against the simulator; the terminal case runs the CLI on a pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync_job.pipeline import run_sync
from sync_job.push.progress import LogProgress
from sync_job.simulator import Simulator
from tests.conftest import SNAPSHOT_ROWS, TOKEN, Workspace

ROOT = Path(__file__).resolve().parent.parent
# Ten rows: nine renames and one unknown contact (404), so both counts move.
ROWS = [(str(1000 + n), f"Renamed {n}", "", "") for n in range(1, 10)] + [("99999", "Gone", "", "")]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # anything but tab and newline


@pytest.fixture
def slow_sim() -> Iterator[Simulator]:
    with Simulator(SNAPSHOT_ROWS, token=TOKEN, latency_ms=15) as simulator:
        yield simulator


@pytest.fixture
def slow_workspace(tmp_path: Path, slow_sim: Simulator) -> Workspace:
    workspace = Workspace(tmp_path, slow_sim.base_url)
    workspace.write_changes(ROWS)
    return workspace


def test_plain_lines_at_every_tenth_with_counts_and_no_control_characters(
        slow_workspace: Workspace, env: dict[str, str]) -> None:
    lines: list[str] = []
    report = run_sync(slow_workspace.config(concurrency=1), environ=env,
                      progress=lambda total: LogProgress(total, emit=lines.append,
                                                         interval=0.04))

    assert report.counts["updated"] == 9 and report.counts["failed"] == 1
    tenths = [line for line in lines if re.search(r"\((\d+)%\)", line)]
    for share in range(10, 101, 10):
        assert any(f"({share}%)" in line for line in tenths), (share, lines)
    assert lines[-1].startswith("push: 10/10 rows (100%), ")
    assert lines[-1].endswith("updated 9, failed 1")
    assert re.search(r"[\d.]+ rows/s, ETA 0 s", lines[-1])
    # ten rows at 15 ms each take longer than the 40 ms interval: timed lines came too
    assert len(lines) > 10
    assert not [line for line in lines if CONTROL.search(line)]


def test_plain_lines_keep_coming_while_nothing_moves() -> None:
    """A push held by a Retry-After pause still shows signs of life in the log."""
    lines: list[str] = []
    progress = LogProgress(5, emit=lines.append, interval=0.02)
    time.sleep(0.15)
    progress.advance("updated")
    progress.close()
    stalled = [line for line in lines if line.startswith("push: 0/5 rows (0%)")]
    assert len(stalled) >= 3, lines
    assert "ETA unknown" in stalled[0]
    assert lines[-1].startswith("push: 1/5 rows (20%)")
    assert lines[-1].endswith("updated 1, failed 0")


def test_plain_lines_are_thread_safe() -> None:
    lines: list[str] = []
    progress = LogProgress(4000, emit=lines.append, interval=60)
    workers = [threading.Thread(target=lambda: [progress.advance("updated")
                                                for _ in range(1000)]) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    progress.close()
    assert lines[-1].startswith("push: 4000/4000 rows (100%)")
    assert lines[-1].endswith("updated 4000, failed 0")
    assert len(lines) == 10  # one per tenth; the final one is the 100% line itself


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HUDUMA_API_TOKEN", "COLUMNS")}
    env["HUDUMA_API_TOKEN"] = TOKEN
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_cli_without_a_terminal_logs_plain_lines(slow_workspace: Workspace) -> None:
    slow_workspace.config(concurrency=2)
    done = subprocess.run([sys.executable, "-m", "sync_job", "run"], cwd=slow_workspace.root,
                          env=_cli_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    progress = [line for line in done.stderr.splitlines() if "push: " in line]
    assert progress[-1] == progress[-1].rstrip()
    assert re.search(r"sync-job: INFO: push: 10/10 rows \(100%\), [\d.]+ rows/s, ETA 0 s; "
                     r"updated 9, failed 1$", progress[-1]), done.stderr
    assert not CONTROL.search(done.stderr)
    assert "run finished" in done.stdout


def test_cli_quiet_prints_no_progress_but_the_summary(slow_workspace: Workspace) -> None:
    slow_workspace.config(concurrency=2)
    done = subprocess.run([sys.executable, "-m", "sync_job", "run", "--quiet"],
                          cwd=slow_workspace.root, env=_cli_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "push:" not in done.stderr
    assert "run finished" in done.stdout and re.search(r"^  updated\s+9$", done.stdout, re.M)


def _run_on_a_terminal(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run the CLI with stdout and stderr on a pseudo-terminal; return (exit code, output)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "sync_job", *args], cwd=cwd,
                               env=_cli_env(), stdin=subprocess.DEVNULL, stdout=follower,
                               stderr=follower)
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=10), b"".join(chunks).decode("utf-8", "replace")


def test_cli_on_a_terminal_draws_a_bar(slow_workspace: Workspace) -> None:
    slow_workspace.config(concurrency=2)
    code, output = _run_on_a_terminal(["run"], slow_workspace.root)
    assert code == 1, output
    redraws = output.split("\r")  # a bar is redrawn in place
    final = next(part for part in reversed(redraws) if part.startswith("push: 100%"))
    assert re.search(r"^push: 100%\|.+\| 10/10 \[\d\d:\d\d<00:00, +[\d.]+ rows/s, "
                     r"updated=9, failed=1\]", final), output
    assert "run finished" in output
    assert "sync-job: INFO: push:" not in output  # no plain lines on a terminal


def test_cli_on_a_terminal_quiet_draws_nothing(slow_workspace: Workspace) -> None:
    slow_workspace.config(concurrency=2)
    code, output = _run_on_a_terminal(["run", "--quiet"], slow_workspace.root)
    assert code == 1, output
    assert "push" not in output.split("run finished")[0]
    assert "run finished" in output
