"""Every exception sync-job raises on purpose, and the exit codes of the command.

::

    SyncJobError                  base; never raised itself
    └── StartupError              the run could not start: nothing sent, no file changed (exit 2)
        ├── ConfigError           config.yaml, a flag or a Config built in Python is wrong;
        │                         lists every problem
        ├── TokenError            the API token is missing or could not be a header value
        ├── InputFileError        the changes file cannot be read as a table
        ├── SnapshotError         the snapshot file cannot be read
        ├── JournalError          the journal beside the snapshot cannot be opened or read
        └── RunLockedError        another live run holds the lock on this snapshot

Row-level problems are not exceptions: they become ``invalid`` or ``failed`` rows. A run that
started and then stopped early (401/402, the circuit breaker, the safety brake, a signal)
returns a report whose ``exit_code`` says so; it does not raise.

Messages never contain the API token: it is only ever read from the environment and put into
a request header.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from pathlib import Path


class ExitCode(enum.IntEnum):
    """The exit codes of ``sync-job run`` (and ``RunReport.exit_code``)."""

    OK = 0
    """Every row updated or unchanged (a dry run: planned or unchanged)."""
    ROWS_FAILED = 1
    """The run finished, and some rows are invalid or failed."""
    CANNOT_START = 2
    """A :class:`StartupError`: nothing was sent and no file was changed."""
    ABORTED = 3
    """401/402, the journal could not be written, the lock file was removed, a full disk."""
    BRAKED = 4
    """The safety brake: more updates planned than ``push.max_changes`` allows."""
    API_UNAVAILABLE = 5
    """The circuit breaker: ``push.stop_after_failures`` rows in a row without a usable answer."""
    INTERNAL_ERROR = 70
    """A bug in sync-job."""
    SIGINT = 130
    """Interrupted by SIGINT (Ctrl-C)."""
    SIGTERM = 143
    """Interrupted by SIGTERM."""


class SyncJobError(Exception):
    """Base of every error sync-job raises on purpose."""


class StartupError(SyncJobError):
    """The run cannot start. Raised before anything is sent or written."""


class ConfigError(StartupError):
    """Every problem found in the configuration, reported at once.

    ``snapshot_path``: the snapshot the run would have used, when the problems leave it
    known, so the command can still record the run in the history beside it."""

    def __init__(self, problems: Iterable[str], *, snapshot_path: Path | None = None) -> None:
        self.problems = list(problems)
        self.snapshot_path = snapshot_path
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


class TokenError(StartupError):
    """The environment variable that should hold the API token is unset, empty, or holds
    something no header value may."""


class InputFileError(StartupError):
    """The changes file is missing, unreadable or not a table with the required columns."""


class SnapshotError(StartupError):
    """The snapshot file exists but cannot be read."""


class JournalError(StartupError):
    """The journal exists but cannot be opened or read."""


class RunLockedError(StartupError):
    """Another live run holds the lock on this snapshot."""
