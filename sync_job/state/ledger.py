"""The run history: one line per run, its summary as a JSON object, beside the snapshot.

``state/snapshot.csv.runs.jsonl`` gets a line at the end of every run, and for a run that
could not start once its snapshot was known. Lines are only ever appended (``O_APPEND``, one
``write`` each, fsynced), so two runs ending at once (a dry run beside a live one) never mix
their lines, and a crash leaves at worst a last line cut short, which readers skip. Like the
summary it holds no personal data, so its mode follows the umask.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sync_job.state.files import SHARED

log = logging.getLogger("sync_job")


def ledger_path_for(snapshot: Path) -> Path:
    """``<snapshot>.runs.jsonl``: the history of the runs on this snapshot."""
    return snapshot.with_name(snapshot.name + ".runs.jsonl")


def append_run(path: Path, summary: Mapping[str, Any]) -> None:
    """Append ``summary`` to the history at ``path`` as one line, and fsync it.

    Never follows a symbolic link, and refuses anything but a regular file (a pipe would
    block). Raises ``OSError``."""
    line = json.dumps(summary, ensure_ascii=False, separators=(",", ":")) + "\n"
    flags = (os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
             | os.O_CLOEXEC)
    fd = os.open(path, flags, SHARED)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path}: not a regular file")
        data = line.encode("utf-8")
        # A line a crash cut short must not swallow this one.
        if info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
            data = b"\n" + data
        os.write(fd, data)  # one write: appended whole, whoever else appends
        os.fsync(fd)
    finally:
        os.close(fd)
    if info.st_size == 0:  # a new file: its folder entry must reach the disk too
        with contextlib.suppress(OSError):
            folder = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)


def record_run(snapshot: Path, summary: Mapping[str, Any]) -> bool:
    """Append ``summary`` to the history of ``snapshot``; a problem is logged, never raised:
    the history is a record of the run, not part of its work. Returns whether the line was
    written.

    A run that could not start creates no folder for its line, and writes none beside a
    snapshot path that is not a file (a pipe, ``/dev/zero``)."""
    path = ledger_path_for(snapshot)
    if not snapshot.parent.is_dir() or (snapshot.exists() and not snapshot.is_file()):
        log.debug("no line in the run history %s: no folder, or the snapshot is no file", path)
        return False
    try:
        append_run(path, summary)
    except OSError as exc:
        log.warning("%s: could not record the run in the history (%s)", path,
                    exc.strerror or exc)
        return False
    return True


def read_runs(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Every run in the history, oldest first, and how many lines could not be read (a line a
    crash cut short). No history yet: no runs."""
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return [], 0
    runs, unreadable = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            run = json.loads(line)
        except ValueError:
            unreadable += 1
            continue
        if isinstance(run, dict):
            runs.append(run)
        else:
            unreadable += 1
    return runs, unreadable

