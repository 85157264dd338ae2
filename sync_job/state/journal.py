"""The journal: every confirmed update, on disk the moment the API answers 200.

A run rewrites the snapshot only at its end. If it dies before (``kill -9``, OOM killer, reboot),
the journal still knows every update the API confirmed, so the next run folds those into the
snapshot first and never sends them again.

The journal is an SQLite database in WAL mode beside the snapshot
(``state/snapshot.csv`` → ``state/snapshot.csv.journal.sqlite``), one row per confirmed update:
contactId, spreadsheet row, the contact as the API returned it, ``reqId``, run id and time.

Durability: each entry is its own transaction with ``synchronous=FULL``, so the commit returns
only after the WAL is fsynced; an entry survives a power cut, not only a killed process
(``NORMAL`` would survive ``kill -9`` but could lose the last commits on power loss). One fsync
per confirmed update is cheap next to the HTTP round trip it records.

The journal and its -wal/-shm files are readable by their owner only (mode 0600), as the
snapshot is.

Life cycle of an entry: written by the run that got the 200; deleted once the snapshot holding it
has been written (by that run at its end, or by the next run's fold at its start). Deleting
after the snapshot rename makes a crash between the two harmless: folding an entry twice gives
the same snapshot.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import stat
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sync_job.errors import JournalError
from sync_job.fields import VALUE_FIELDS
from sync_job.state.links import open_no_follow

JOURNAL_SUFFIX = ".journal.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS confirmed (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id       TEXT NOT NULL,
    contact_id   TEXT NOT NULL,
    row          INTEGER NOT NULL,
    names        TEXT,              -- NULL: the API did not say; the snapshot keeps its value
    number       TEXT,
    email        TEXT,
    req_id       TEXT NOT NULL,
    confirmed_at TEXT NOT NULL
)
"""


def journal_path_for(snapshot_path: Path) -> Path:
    return snapshot_path.with_name(snapshot_path.name + JOURNAL_SUFFIX)


@dataclass(frozen=True)
class Entry:
    """One confirmed update as the journal holds it."""

    run_id: str
    contact_id: str
    row: int
    contact: Mapping[str, str]
    """The fields the API returned (a field it did not return is absent)."""
    req_id: str
    confirmed_at: str
    seq: int = 0
    """Its place in the journal: entries are numbered in the order they were written."""


def fold(entries: Iterable[Entry]) -> dict[str, dict[str, str]]:
    """contactId → fields to merge into the snapshot; later entries win, field by field."""
    confirmed: dict[str, dict[str, str]] = {}
    for entry in entries:
        confirmed.setdefault(entry.contact_id, {}).update(entry.contact)
    return confirmed


def describe_runs(entries: Iterable[Entry]) -> str:
    """"run 3f2a…" or "runs 3f2a…, 9b1c…", in order of first appearance."""
    runs = list(dict.fromkeys(entry.run_id for entry in entries))
    return ("run " if len(runs) == 1 else "runs ") + ", ".join(runs)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _entries(connection: sqlite3.Connection) -> list[Entry]:
    rows = connection.execute(
        "SELECT run_id, contact_id, row, names, number, email, req_id, confirmed_at, seq "
        "FROM confirmed ORDER BY seq").fetchall()
    return [
        Entry(run_id=run_id, contact_id=contact_id, row=row,
              contact={name: value for name, value in zip(VALUE_FIELDS, values, strict=True)
                       if value is not None},
              req_id=req_id, confirmed_at=confirmed_at, seq=seq)
        for run_id, contact_id, row, *values, req_id, confirmed_at, seq in rows
    ]


def _create_private(path: Path) -> None:
    """Create the journal file readable by its owner only, or tighten an existing one, before
    SQLite opens it: it holds names, numbers and e-mails. SQLite gives the -wal and -shm files
    it creates the database file's mode; older ones left by a crash are tightened too. A
    symlink at any of the three is refused: SQLite would follow it."""
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        with contextlib.suppress(FileNotFoundError):
            _make_private(companion, os.O_RDONLY)
    _make_private(path, os.O_RDWR | os.O_CREAT)


def _make_private(path: Path, flags: int) -> None:
    """Open ``path`` without following a symlink (creating it 0600 if ``flags`` say so) and
    take away any access of group and others."""
    try:
        fd = open_no_follow(path, flags, 0o600)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise JournalError(f"{path}: is a symbolic link; the journal's files must be plain "
                               f"files the job creates: remove the link") from None
        raise JournalError(f"{path}: cannot open the journal ({exc.strerror})") from None
    try:
        # Windows has no group and other modes to take away (nor os.fchmod before 3.13).
        if sys.platform != "win32" and stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)
    except OSError as exc:
        raise JournalError(f"{path}: cannot make the journal private ({exc.strerror})") from None
    finally:
        os.close(fd)


class Journal:
    """The writer: one connection, shared by the push workers under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        _create_private(path)
        try:
            # isolation_level=None: every INSERT is its own transaction, committed at once.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as exc:
            with contextlib.suppress(Exception):
                self._db.close()
            raise JournalError(f"{path}: cannot open the journal ({exc})") from None

    def pending(self) -> list[Entry]:
        """Every entry not yet folded into the snapshot, oldest first."""
        with self._lock:
            return _entries(self._db)

    def record(self, *, run_id: str, contact_id: str, row: int, contact: Mapping[str, str],
               req_id: str) -> None:
        """Write one confirmed update durably. Raises sqlite3.Error if the disk refuses."""
        values = [contact.get(name) for name in VALUE_FIELDS]
        with self._lock:
            self._db.execute(
                "INSERT INTO confirmed (run_id, contact_id, row, names, number, email, req_id, "
                "confirmed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, contact_id, row, *values, req_id, _now_iso()))

    def forget_folded(self, entries: Iterable[Entry]) -> None:
        """Delete ``entries``, as :meth:`pending` gave them: the snapshot now holds them (the
        fold at the start of a run). An entry written after they were read (by a run that went
        on after its lock file was deleted) stays, for the next fold."""
        last = max((entry.seq for entry in entries), default=0)
        with self._lock:
            self._db.execute("DELETE FROM confirmed WHERE seq <= ?", (last,))

    def forget_run(self, run_id: str) -> None:
        """Delete ``run_id``'s entries: the snapshot written at its end holds them."""
        with self._lock:
            self._db.execute("DELETE FROM confirmed WHERE run_id = ?", (run_id,))

    def close(self) -> None:
        # The last connection to close checkpoints the WAL into the database and removes it.
        with self._lock, contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def read_pending(path: Path) -> list[Entry]:
    """The entries of the journal at ``path`` without changing anything beside it (dry runs).

    SQLite cannot read a WAL database without creating ``-wal``/``-shm`` files beside it, even
    read-only, so this reads a copy in a temporary folder.
    """
    if not path.exists():
        return []
    with tempfile.TemporaryDirectory(prefix="sync-job-journal-") as scratch:
        copy = Path(scratch) / path.name
        try:
            shutil.copyfile(path, copy)
            wal = path.with_name(path.name + "-wal")
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
            connection = sqlite3.connect(copy)
            try:
                has_table = connection.execute(
                    "SELECT 1 FROM sqlite_master WHERE name = 'confirmed'").fetchone()
                return _entries(connection) if has_table else []
            finally:
                connection.close()
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"{path}: cannot read the journal ({exc})") from None
