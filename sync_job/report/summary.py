"""The run summary: one JSON file per run, for schedulers and monitors.

Written atomically beside the results file (``results/results.csv`` →
``results/results.summary.json``) unless ``results.summary`` or ``--summary`` say otherwise,
for every run that started: exit codes 0, 1, 3, 4, 5, 130 and 143. The same object is the
run's line in the run history (``state.ledger``), which also records runs that could not
start (exit 2) or met a bug (exit 70): they write no summary file.

It holds counts, ids and paths only: no personal data, never the token. ``problems`` counts
rows by problem code (the results' ``problem_codes``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sync_job import __version__
from sync_job.errors import ExitCode
from sync_job.fields import STATUSES
from sync_job.state.files import SHARED, atomic_binary_writer

OUTCOMES: dict[int, str] = {
    ExitCode.OK: "ok",
    ExitCode.CANNOT_START: "cannot_start",
    ExitCode.ABORTED: "aborted",
    ExitCode.BRAKED: "braked",
    ExitCode.API_UNAVAILABLE: "api_unavailable",
    ExitCode.INTERNAL_ERROR: "internal_error",
    ExitCode.SIGINT: "interrupted",
    ExitCode.SIGTERM: "interrupted",
}


def outcome_of(exit_code: int, counts: Mapping[str, int]) -> str:
    """One word for how the run ended. It follows the exit code, whose precedence decides
    (``pipeline.exit_code``); exit 1 is ``rows_failed`` when the API refused a row, else
    ``rows_invalid``: failed rows outrank invalid ones."""
    if exit_code == ExitCode.ROWS_FAILED:
        return "rows_failed" if counts.get("failed", 0) else "rows_invalid"
    return OUTCOMES.get(exit_code, "internal_error")


def iso_time(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, kw_only=True)
class RunFacts:
    """What the summary says about a run (everything the report does not know)."""

    run_id: str
    started_at: datetime
    ended_at: datetime
    snapshot_path: Path
    input_path: Path | None = None
    """None (null in JSON) where a run that could not start never knew it."""
    input_sha256: str | None = None
    results_path: Path | None = None
    summary_path: Path | None = None
    report_path: Path | None = None
    """The HTML run report; None when it is off or was not written."""
    rejects_path: Path | None = None
    """The rejects file the run wrote; None (null) when it wrote none."""


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def build_summary(
    facts: RunFacts,
    *,
    exit_code: int,
    dry_run: bool,
    counts: Mapping[str, int],
    problems: Mapping[str, int],
    requests: int,
    retries: int,
    throttled: int,
    folded_from_journal: int,
    stopped_because: str,
    invalid_allowed: int,
) -> dict[str, Any]:
    """The summary as a JSON-ready dict (pure). ``problems``: rows per problem code."""
    return {
        "run_id": facts.run_id,
        "sync_job_version": __version__,
        "started_at": iso_time(facts.started_at),
        "ended_at": iso_time(facts.ended_at),
        "elapsed_seconds": round((facts.ended_at - facts.started_at).total_seconds(), 3),
        "dry_run": dry_run,
        "exit_code": exit_code,
        "outcome": outcome_of(exit_code, counts),
        "stopped_because": stopped_because,
        "input": {"path": _text(facts.input_path), "sha256": facts.input_sha256},
        "results_path": _text(facts.results_path),
        "summary_path": _text(facts.summary_path),
        "report": _text(facts.report_path),
        "rejects": _text(facts.rejects_path),
        "snapshot_path": str(facts.snapshot_path),
        "rows": sum(counts.values()),
        "counts": dict(counts),
        "problems": dict(sorted(problems.items())),
        "invalid_allowed": invalid_allowed,
        "requests": requests,
        "retries": retries,
        "throttled_429": throttled,
        "folded_from_journal": folded_from_journal,
    }


def unstarted_summary(facts: RunFacts, *, exit_code: int, dry_run: bool,
                      message: str) -> dict[str, Any]:
    """The history's line for a run that ended before it counted any row: it could not start
    (exit 2, ``message`` the StartupError's, which never holds personal data) or met a bug."""
    return build_summary(facts, exit_code=exit_code, dry_run=dry_run,
                         counts=dict.fromkeys(STATUSES, 0), problems={}, requests=0,
                         retries=0, throttled=0, folded_from_journal=0,
                         stopped_because=message, invalid_allowed=0)


def write_summary(path: Path, summary: Mapping[str, Any]) -> None:
    """Write ``summary`` to ``path`` atomically (temporary file, fsync, rename). It holds no
    personal data, so its mode follows the umask: a monitoring user may read it."""
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    with atomic_binary_writer(path, mode=SHARED) as handle:
        handle.write(text.encode("utf-8"))
