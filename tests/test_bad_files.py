"""Files that are not what they should be, run through the real command: each ends in exit 2
and one message naming the file and the line (never exit 70, never a traceback), in bounded
time and memory, and nothing it prints holds a cell's content."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from sync_job.simulator import Simulator
from tests.conftest import TOKEN, Workspace

ROOT = Path(__file__).resolve().parent.parent
GIB = 1 << 30


@dataclass
class Run:
    code: int
    out: str
    err: str
    seconds: float
    max_rss: int
    """Bytes, of this process alone."""


def run_job(*args: str, cwd: Path, timeout: float = 60) -> Run:
    """``python -m sync_job`` as a user runs it, with the token set; a run that would read a
    device forever stops at 3 GiB of address space rather than take the machine with it.
    Its output goes to files, so that this process can reap it with ``os.wait4`` and learn
    its peak memory."""
    env = {**os.environ, "HUDUMA_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}

    def bounded() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (3 * GIB, 3 * GIB))

    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen([sys.executable, "-m", "sync_job", *args], cwd=cwd, env=env,
                                   stdout=out, stderr=err, text=True, preexec_fn=bounded)
        watchdog = threading.Timer(timeout, process.kill)
        watchdog.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            watchdog.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        assert seconds < timeout, f"killed after {timeout} s"
        out.seek(0)
        err.seek(0)
        return Run(process.returncode, out.read(), err.read(), seconds, usage.ru_maxrss * 1024)


def refused(run: Run, message: str) -> None:
    """The run could not start, saying ``message`` in one line, with no traceback."""
    assert run.code == 2, run.err
    assert "Traceback" not in run.err and "internal error" not in run.err
    errors = [line for line in run.err.splitlines() if line.startswith("sync-job: error:")]
    assert errors == [f"sync-job: error: {message}"], run.err


def dry_run(ws: Workspace, *flags: str, timeout: float = 60) -> Run:
    ws.config()
    return run_job("run", "--dry-run", "--config", str(ws.root / "config.yaml"), *flags,
                   cwd=ws.root, timeout=timeout)


# ---------------------------------------------------------------- huge lines, devices, pipes


def test_a_200_mb_line_is_refused_quickly_in_little_memory(workspace: Workspace) -> None:
    # One cell of 200 MB: pyarrow refuses a row that long, and Python's csv used to take it
    # in (1.4 GB) before failing on its field limit (exit 70).
    with workspace.changes.open("wb") as handle:
        handle.write(b"contactId,names\n1001,Ann\n1002,")
        handle.write(b"x" * 200_000_000)
        handle.write(b"\n1003,Bo\n")
    try:
        run = dry_run(workspace)
    finally:
        workspace.changes.unlink()
    refused(run, "changes.csv: line 3: the line is longer than 10,000,000 characters, the most "
                 "a line may hold: is this a CSV file?")
    assert run.seconds < 30
    assert run.max_rss < 0.75 * GIB  # the file's bytes and its text, and no copy of either


@pytest.mark.parametrize("which", ["--input", "--snapshot"])
@pytest.mark.parametrize("kind", ["device", "pipe", "folder"])
def test_only_regular_files_are_read(workspace: Workspace, tmp_path: Path, which: str,
                                     kind: str) -> None:
    # /dev/zero used to be read until memory ran out; a pipe blocks until someone writes.
    workspace.write_changes([("1001", "New", "", "")])
    path = {"device": Path("/dev/zero"), "pipe": tmp_path / "pipe.csv",
            "folder": tmp_path / "folder.csv"}[kind]
    if kind == "pipe":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    run = dry_run(workspace, which, str(path), timeout=30)
    refused(run, f"{path}: not a regular file (a folder, a device or a pipe); name a file")


def test_a_snapshot_cell_over_the_limit_is_refused_naming_its_line(
        workspace: Workspace) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    lines = workspace.snapshot.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[4] = f'1004,"{"N" * 100_001}",255712345004,\n'
    workspace.snapshot.write_text("".join(lines), encoding="utf-8")
    run = dry_run(workspace)
    refused(run, f"{workspace.snapshot}: line 5: a cell holds more than 100,000 characters, the "
                 f"most a cell may hold; a quote may be missing before or after a value; the "
                 f"snapshot is written by sync-job and should not be edited by hand: restore it "
                 f"from a backup, or put the platform's export in its place (see the README, The "
                 f"snapshot)")


def test_a_snapshot_line_over_the_limit_is_refused_naming_it(workspace: Workspace) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    with workspace.snapshot.open("a", encoding="utf-8") as handle:
        handle.write("x" * 10_000_001 + "\n")
    run = dry_run(workspace)
    assert run.code == 2
    assert (f"{workspace.snapshot}: line 12: the line is longer than 10,000,000 characters"
            in run.err)
    assert "Traceback" not in run.err


# ---------------------------------------------------------------- no personal data printed

PERSONAL = ["Juma", "Amina", "255712345601", "amina@example.com"]


@pytest.mark.parametrize("flags", [("-v",), ("--log-format", "json", "-v")])
def test_an_unreadable_snapshot_row_is_named_by_its_line_not_its_content(
        workspace: Workspace, sim: Simulator, flags: Sequence[str]) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    with workspace.snapshot.open("a", encoding="utf-8") as handle:
        handle.write("1011,Juma, Amina,255712345601,amina@example.com\n")  # line 12
    workspace.config()
    for dry in ((), ("--dry-run",)):
        run = run_job("run", *dry, *flags, cwd=workspace.root)
        assert run.code == 2
        assert (f"{workspace.snapshot}: line 12: expected 4 cells, found 5; the snapshot is "
                f"written by sync-job and should not be edited by hand" in run.err)
        for value in PERSONAL:
            assert value not in run.out and value not in run.err
    assert sim.requests == []


# Each row holds Juma Amina's data, and each has something wrong with it.
BAD_ROWS = (
    "contactId,names,number,email,Notes\n"
    "1001,Juma, Amina,255712345601,amina@example.com,\n"  # ragged: an unquoted comma
    "1002,Juma Amina,,,amina@example.com\0\n"  # a NUL byte in an ignored column
    "1003,Juma\x07Amina,255712345601,,\n"  # a control character
    '1004,"Juma,,,\n1005,Amina" 255712345601,,,\n'  # stray quotes
    "1006,,Amina 255712345601,,\n"  # not a number
    "1007,,,amina@example.com@Juma,\n"  # not an email
    "Juma Amina 255712345601,x,,,\n"  # not a contact id
)
BAD_FILES: dict[str, str | bytes] = {
    "unclosed quote": 'contactId,names\n1001,"Juma Amina\n1002,255712345601\n',
    "long cell": "contactId,names\n1001,Juma Amina " + "x" * 100_000 + "\n",
    "not text": b"contactId,names\n1001,Juma Amina \x81\n",  # nor cp1252
    "no contactId": "names,number\nJuma Amina,255712345601\n",
}


@pytest.mark.parametrize("kind", ["bad rows", *sorted(BAD_FILES)])
def test_nothing_printed_about_a_bad_changes_file_holds_its_cells(
        workspace: Workspace, kind: str) -> None:
    content = BAD_FILES.get(kind, BAD_ROWS)
    workspace.changes.write_bytes(content if isinstance(content, bytes) else content.encode())
    for flags in (("-v",), ("-v", "--log-format", "json")):
        run = dry_run(workspace, *flags)
        assert run.code == (1 if kind == "bad rows" else 2), run.err
        assert "Traceback" not in run.err
        for value in PERSONAL:
            assert value not in run.out and value not in run.err, (value, run.err)
    if kind == "bad rows":  # the results file may quote them: it is the operator's
        assert "Juma" in workspace.results.read_text(encoding="utf-8-sig")


# ---------------------------------------------------------------- a million columns


def test_a_header_of_a_million_columns_gives_one_message(workspace: Workspace) -> None:
    header = ",".join(f"c{n}" for n in range(999_996)) + ",contactId,names,number,email"
    workspace.changes.write_text(header + "\n1001,New,,\n", encoding="utf-8")
    run = dry_run(workspace)
    refused(run, "changes.csv: line 1: the header has 1,000,000 columns; at most 10,000 are "
                 "read: is this the right file, and the right delimiter?")
    assert len(run.err.splitlines()) <= 3


def test_thousands_of_ignored_columns_give_one_warning(workspace: Workspace) -> None:
    header = ",".join([*(f"c{n}" for n in range(9_000)), "contactId", "names"])
    workspace.changes.write_text(header + "\n" + "," * 9_000 + "1001,New\n", encoding="utf-8")
    run = dry_run(workspace)
    assert run.code == 0, run.err
    warnings = [line for line in run.err.splitlines() if "WARNING" in line]
    assert warnings == ["sync-job: WARNING: changes.csv: ignoring 9,000 columns that are not "
                        "contactId, names, number or email: 'c0', 'c1', 'c2', 'c3', 'c4' and "
                        "8,995 more"]


# ---------------------------------------------------------------- leftovers of the review


@pytest.mark.parametrize("flag", ["--snapshot", "--results", "--summary"])
def test_a_live_run_writes_no_file_beside_or_over_a_pipe(workspace: Workspace, tmp_path: Path,
                                                         flag: str) -> None:
    # A live run used to take its lock and open its journal beside a snapshot that is a pipe
    # (or a device: /dev/zero.lock as root), and to rename its results over a pipe.
    workspace.write_changes([("1001", "New", "", "")])
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    workspace.config()
    run = run_job("run", "--config", str(workspace.root / "config.yaml"), flag, str(pipe),
                  cwd=workspace.root, timeout=30)
    assert run.code == 2, run.err
    assert "is not a regular file" in run.err and "Traceback" not in run.err
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith("pipe")) \
        == ["pipe"]


def test_an_unclosed_quote_in_a_semicolon_file_is_refused(workspace: Workspace) -> None:
    # The quote check used to read every file as comma-separated: in a ;-file it stopped at
    # the first quoted cell, and a quote that never closes went unnoticed.
    workspace.changes.write_text('contactId;names\n1001;"Ann"\n1002;"Bo\n1003;Carl\n1004;Dee\n',
                                 encoding="utf-8")
    run = dry_run(workspace)
    refused(run, "changes.csv: the quote opened in the row starting on line 3 is never closed, "
                 "so every line after it would be read as one cell; fix the quoting")


def test_a_workbook_with_a_damaged_sheet_is_refused(workspace: Workspace,
                                                    tmp_path: Path) -> None:
    import zipfile

    import openpyxl

    good = tmp_path / "good.xlsx"
    book = openpyxl.Workbook()
    book.active.append(["contactId", "names"])
    book.active.append([1001, "Ann"])
    book.save(good)
    damaged = workspace.root / "changes.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]  # cut off mid-element
            target.writestr(item, data)
    run = dry_run(workspace, "--input", str(damaged))
    assert run.code == 2, run.err
    assert "changes.xlsx: sheet 'Sheet' cannot be read: the workbook is damaged" in run.err
    assert "Traceback" not in run.err
