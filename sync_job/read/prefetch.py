"""Read the changes file and, in a dry run, the snapshot side by side.

Parsing a big file is pyarrow's work, done without the GIL, so the two files are read on
threads of their own, at once; ``run_sync`` takes each result (or raises its error) at the
step that needs it, so the order of checks and messages is that of reading them in turn.
Nothing here imports pandas.

The snapshot is read early only in a dry run. A live run reads it after taking the run lock,
so that it never plans against a snapshot another run is about to replace.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from sync_job.read.reader import InputTable, ReadOptions, read_input
from sync_job.state.snapshot import read_snapshot_table

if TYPE_CHECKING:
    import pyarrow as pa

    from sync_job.config import Config

T = TypeVar("T")


@dataclass(frozen=True)
class Reading:
    """Files being read: the changes file, and in a dry run the snapshot."""

    changes: Future[InputTable]
    snapshot: Future[pa.Table | None] | None = None


def read_soon(config: Config) -> Reading:
    """Start reading ``config``'s files, each on a thread of its own."""
    options = ReadOptions(encoding=config.input.encoding, delimiter=config.input.delimiter,
                          sheet=config.input.sheet, columns=config.input.columns)
    changes = _in_thread("sync-job-read", lambda: read_input(config.input.path, options))
    snapshot = (_in_thread("sync-job-snapshot", lambda: read_snapshot_table(config.snapshot.path))
                if config.dry_run else None)
    return Reading(changes, snapshot)


def _in_thread(name: str, work: Callable[[], T]) -> Future[T]:
    """``work()`` on a daemon thread; the future holds its result or its exception."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
