"""The files a run reads, keeps and writes must be distinct files.

``--results state/snapshot.csv`` would silently replace the snapshot (and every later run would
exit 2), ``--summary changes.csv`` the operator's input. Before anything is sent or written, a
run compares every file it writes with every other file it reads, keeps or writes: by resolved
path (symlinks followed) and, for files that exist, by device and inode (hard links).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sync_job.config import Config
from sync_job.errors import ConfigError, StartupError
from sync_job.state.journal import journal_path_for
from sync_job.state.ledger import ledger_path_for
from sync_job.state.lock import lock_path_for


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same resolved path, or (both existing) the
    same device and inode."""
    with contextlib.suppress(OSError, RuntimeError):  # RuntimeError: a symlink loop
        if a.resolve() == b.resolve():
            return True
    with contextlib.suppress(OSError):  # one of them does not exist (yet): not the same
        return os.path.samefile(a, b)
    return False


REJECTS = "the rejects file (beside the results file)"


def check_paths(config: Config) -> None:
    """Raise :class:`ConfigError` naming both roles when a file the run writes is also another
    file of the run. A dry run writes only its results, summary, HTML report and rejects
    file."""
    snapshot = config.snapshot.path
    journal = journal_path_for(snapshot)
    reports = [
        ("the results file (--results, results.path)", config.results.path),
        ("the summary file (--summary, results.summary)", config.results.summary_path),
    ]
    if config.results.report_path is not None:
        reports.append(("the HTML report beside the results file (results.report)",
                        config.results.report_path))
    kept = [
        ("the snapshot (--snapshot, snapshot.path)", snapshot),
        ("the journal", journal),
        ("the journal's -wal file", journal.with_name(journal.name + "-wal")),
        ("the journal's -shm file", journal.with_name(journal.name + "-shm")),
        ("the run lock", lock_path_for(snapshot)),
        ("the run history", ledger_path_for(snapshot)),
    ]
    if config.results.rejects:
        # Not compared with the changes file: a rejects file passed back is read, and the
        # run then writes no rejects file rather than replace it (pipeline.write_rejects).
        reports.append((REJECTS, config.results.rejects_path(config.input.path)))
    read = [("the changes file (--input, input.path)", config.input.path)]
    written, others = (reports, kept + read) if config.dry_run else (reports + kept, read)
    problems = []
    for at, (role, path) in enumerate(written):
        for other_role, other in written[at + 1:] + others:
            if same_file(path, other) and not (role == REJECTS and other == config.input.path):
                problems.append(f"{role} {path} is the same file as {other_role} {other}; "
                                f"choose another path")
    if problems:
        raise ConfigError(problems)


def prepare_folder(path: Path, what: str) -> None:
    """Make sure ``path`` can be written later, so a run never fails after sending."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"{folder}: cannot create the {what} folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise StartupError(f"{folder}: the {what} folder is not writable")
    if path.is_dir():
        raise StartupError(f"{path}: is a folder; the {what} path must name a file")
    if path.exists() and not path.is_file():
        raise StartupError(f"{path}: is not a regular file (a device or a pipe); the {what} "
                           f"path must name a file")
