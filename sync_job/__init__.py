"""sync-job: keep the contacts of a Huduma SMS account in step with a file of changes.

The ``sync-job`` command is a thin shell over this library. From Python (a notebook, an
Airflow task, a Dagster op)::

    from sync_job import load_config, run_sync

    report = run_sync(load_config("config.yaml"))   # raises StartupError if it cannot start
    print(report.exit_code, report.counts)

``run_sync`` returns a :class:`RunReport`, raises only :class:`StartupError` subclasses (before
anything is sent), never exits the process and changes no process-wide setting. A
:class:`Config` built in Python is checked as ``config.yaml`` is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sync_job.config import (
    ApiConfig,
    Config,
    InputConfig,
    PushConfig,
    ResultsConfig,
    SnapshotConfig,
    load_config,
)
from sync_job.errors import (
    ConfigError,
    ExitCode,
    InputFileError,
    JournalError,
    RunLockedError,
    SnapshotError,
    StartupError,
    SyncJobError,
    TokenError,
)

if TYPE_CHECKING:
    from sync_job.pipeline import RunReport, run_sync

__version__ = "0.1.0"

__all__ = [
    "ApiConfig",
    "Config",
    "ConfigError",
    "ExitCode",
    "InputConfig",
    "InputFileError",
    "JournalError",
    "PushConfig",
    "ResultsConfig",
    "RunLockedError",
    "RunReport",
    "SnapshotConfig",
    "SnapshotError",
    "StartupError",
    "SyncJobError",
    "TokenError",
    "load_config",
    "run_sync",
]


def __getattr__(name: str) -> Any:
    # run_sync and RunReport bring pandas and pyarrow with them: imported when first asked
    # for, so the command can start reading its files while they load.
    if name in ("run_sync", "RunReport"):
        from sync_job import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'sync_job' has no attribute {name!r}")
