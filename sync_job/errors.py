"""Exceptions of sync-job, and the exit code each one means.

::

    SyncJobError                  base; never raised itself
    ├── StartupError              the run could not start: nothing sent, no file changed (exit 2)
    │   ├── ConfigError           config.yaml or a flag is wrong; lists every problem
    │   ├── InputFileError        the changes file cannot be read as a table
    │   ├── SnapshotError         the snapshot file cannot be read
    │   └── TokenError            the API token is missing
    └── (row-level problems are not exceptions: they become ``invalid`` or ``failed`` rows)

Messages never contain the API token: it is only ever read from the environment and
put into a request header.
"""

from __future__ import annotations

from collections.abc import Iterable

EXIT_CANNOT_START = 2
"""The exit code of every :class:`StartupError`."""


class SyncJobError(Exception):
    """Base of every error sync-job raises on purpose."""

    exit_code = 1


class StartupError(SyncJobError):
    """The run cannot start. Raised before anything is sent or written."""

    exit_code = 2


class ConfigError(StartupError):
    """Every problem found in the configuration, reported at once."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in self.problems))


class InputFileError(StartupError):
    """The changes file is missing, unreadable or not a table with the required columns."""


class SnapshotError(StartupError):
    """The snapshot file exists but cannot be read."""


class TokenError(StartupError):
    """The environment variable that should hold the API token is unset or empty."""
