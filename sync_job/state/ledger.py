"""The run history: one line per run, its summary as a JSON object, beside the snapshot.

``state/snapshot.csv.runs.jsonl`` gets a line at the end of every run, and for a run that
could not start once its snapshot was known. Lines are only ever appended (``O_APPEND``, one
``write`` each, fsynced), so two runs ending at once (a dry run beside a live one) never mix
their lines, and a crash leaves at worst a last line cut short, which readers skip. Like the
summary it holds no personal data, so its mode follows the umask.

It is also how the job knows the results files it made itself: ``results.keep`` removes old
ones named in the history, never a file it does not name (:func:`prune_results`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sync_job.report.naming import has_placeholders, pattern, rejects_candidates, report_path_for
from sync_job.state.files import SHARED

log = logging.getLogger("sync_job")

# Never through a symlink, never blocking on a pipe, not inherited (POSIX only); bytes as
# written (Windows would otherwise turn each line end into CR LF).
_FLAGS: int = (os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
               | getattr(os, "O_BINARY", 0))


def ledger_path_for(snapshot: Path) -> Path:
    """``<snapshot>.runs.jsonl``: the history of the runs on this snapshot."""
    return snapshot.with_name(snapshot.name + ".runs.jsonl")


def append_run(path: Path, summary: Mapping[str, Any]) -> None:
    """Append ``summary`` to the history at ``path`` as one line, and fsync it.

    Never follows a symbolic link, and refuses anything but a regular file (a pipe would
    block). Raises ``OSError``."""
    line = json.dumps(summary, ensure_ascii=False, separators=(",", ":")) + "\n"
    if not getattr(os, "O_NOFOLLOW", 0) and path.is_symlink():
        raise OSError(f"{path}: is a symbolic link")
    fd = os.open(path, _FLAGS, SHARED)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{path}: not a regular file")
        data = line.encode("utf-8")
        # A line a crash cut short must not swallow this one. (O_APPEND writes at the end
        # whatever the offset this read leaves.)
        if info.st_size:
            os.lseek(fd, -1, os.SEEK_END)
            if os.read(fd, 1) != b"\n":
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


def _rejects_of(results: str, rejects: Any) -> str:
    """The rejects file a run's line names, if it is one beside its results file ("")."""
    candidates = {str(path) for path in rejects_candidates(Path(results))}
    return rejects if isinstance(rejects, str) and rejects in candidates else ""


def _report_of(results: str, report: Any) -> str:
    """The HTML report a run's line names, if it is the one beside its results file ("")."""
    beside = str(report_path_for(Path(results)))
    return report if isinstance(report, str) and report == beside else ""


def prune_results(runs: Iterable[Mapping[str, Any]], *, template: Path, keep: int,
                  spare: Iterable[Path]) -> list[Path]:
    """Remove the results files (and their summaries, HTML reports and rejects files) of all
    but the newest ``keep`` runs whose results path the ``template`` made; return the files
    removed.

    Only files the history names are candidates, and only those matching the template: a
    dry run's ``--results check.csv`` or a file someone put in the folder is never touched,
    nor a path a kept run still uses, nor any path of ``spare`` (the files this run reads and
    keeps), nor anything but a regular file. A report or a rejects file is removed only where
    the history names it and it is the one beside that run's results file (``results.html``,
    ``results.rejects.csv`` beside ``results.csv``). A folder named by a placeholder is removed
    once empty."""
    made = pattern(template)
    newest_first: list[tuple[str, ...]] = []
    for run in reversed(list(runs)):
        results, summary = run.get("results_path"), run.get("summary_path")
        if run.get("outcome") == "cannot_start" or not isinstance(results, str):
            continue  # a run that did not start made no file
        if made.fullmatch(results):
            newest_first.append((results, summary if isinstance(summary, str) else "",
                                 _report_of(results, run.get("report")),
                                 _rejects_of(results, run.get("rejects"))))
    kept: set[str] = set()
    doomed: list[str] = []
    distinct: set[str] = set()
    for files in newest_first:
        results = files[0]
        if results not in distinct and len(distinct) < keep:
            kept.update(files)
        elif results not in kept:
            doomed.extend(files)
        distinct.add(results)
    never = {os.path.realpath(path) for path in spare}
    removed = []
    for name in dict.fromkeys(doomed):  # in order, once each
        if not name or name in kept or os.path.realpath(name) in never:
            continue
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISREG(os.lstat(name).st_mode):
                os.unlink(name)
                removed.append(Path(name))
    if has_placeholders(template.parent):
        made_folder = pattern(template.parent)
        for folder in {path.parent for path in removed}:
            if made_folder.fullmatch(str(folder)):
                with contextlib.suppress(OSError):  # not empty: a kept run's, or someone's
                    folder.rmdir()
    return removed
