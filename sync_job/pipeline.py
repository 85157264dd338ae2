"""``run_sync``: the one place that strings the stages together.

read → normalize → diff → validate → push → record. Everything that can stop a run (config,
token, input file, snapshot, base URL) is checked before anything is sent or written, so a run
that cannot start changes nothing. After that, problems are per row: an invalid row is never
sent, every other row still is.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sync_job.client import ClientSettings, ContactClient, Outcome, full_jitter
from sync_job.config import Config
from sync_job.diff import changed_fields, send_column
from sync_job.errors import ConfigError, StartupError, TokenError
from sync_job.normalize import normalize_changes, normalize_snapshot
from sync_job.progress import ProgressFactory, SilentProgress
from sync_job.push import Update, push_updates
from sync_job.ratelimit import RateGate
from sync_job.reader import ID_FIELD, VALUE_FIELDS, read_input
from sync_job.results import (
    count_statuses,
    payload_dicts,
    plan_results,
    set_rows,
    write_results,
)
from sync_job.schema import validate
from sync_job.state import empty_snapshot, merge_confirmed, read_snapshot, write_snapshot

log = logging.getLogger("sync_job")

EXIT_OK = 0
EXIT_ROWS_FAILED = 1
EXIT_CANNOT_START = 2
EXIT_ABORTED = 3


@dataclass
class RunReport:
    """What a run did, for the summary and the exit code."""

    counts: dict[str, int]
    exit_code: int
    results_path: Path
    elapsed: float
    dry_run: bool
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    push_seconds: float = 0.0
    """Wall time of the push alone (0 in a dry run): rows sent per second is measured on it."""
    aborted_reason: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Timing:
    """Time and chance as the push sees them; real by default, injected by tests."""

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[float], float] = full_jitter


def check_base_url(base_url: str) -> None:
    """The token may only travel over HTTPS, or plain HTTP to this machine (the simulator)."""
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme == "https":
        return
    host = parts.hostname or ""
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if parts.scheme != "http" or not loopback:
        raise ConfigError([
            f"api.base_url: {base_url!r} would send the API token unencrypted; use https:// "
            f"(plain http:// is allowed only for a loopback address such as 127.0.0.1)"
        ])


def _prepare_folder(path: Path, what: str) -> None:
    """Make sure ``path`` can be written later, so a run never fails after sending."""
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartupError(f"{folder}: cannot create the {what} folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise StartupError(f"{folder}: the {what} folder is not writable")


def run_sync(
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[float], float] = full_jitter,
    stop: threading.Event | None = None,
    progress: ProgressFactory | None = None,
) -> RunReport:
    """Run one sync as ``config`` says. Raises StartupError before anything is sent or written.

    ``sleep``, ``clock`` and ``jitter`` drive retry waits and the rate gate (tests inject them);
    ``stop`` set from another thread stops new requests. ``progress`` makes the display of the
    push (see ``sync_job.progress``); without it the push is silent.
    """
    started = time.monotonic()
    environ = os.environ if environ is None else environ
    warnings: list[str] = []

    # ---- everything that can stop the run, before anything is sent or written
    token = ""
    if not config.dry_run:
        check_base_url(config.api.base_url)
        token = environ.get(config.api.token_env, "").strip()
        if not token:
            raise TokenError(
                f"the API token is missing: set the environment variable "
                f"{config.api.token_env} (named by api.token_env), or use --dry-run"
            )
    table = read_input(config.input.path)
    warnings.extend(table.warnings)
    snapshot_raw = read_snapshot(config.snapshot.path)
    if snapshot_raw is None:
        warnings.append(
            f"no snapshot at {config.snapshot.path}: starting from an empty one, so every field "
            f"given is sent" + ("" if config.dry_run else "; this run creates it")
        )
        snapshot_raw = empty_snapshot()
    _prepare_folder(config.results.path, "results")
    if not config.dry_run:
        _prepare_folder(config.snapshot.path, "snapshot")
    for warning in warnings:
        log.warning("%s", warning)

    # ---- pure stages
    raw = table.frame.reset_index(drop=True)
    changes = normalize_changes(
        raw, clear_marker=config.input.clear_marker, empty_cells=config.input.empty_cells)
    snapshot = normalize_snapshot(snapshot_raw)
    sends = changed_fields(changes, snapshot)
    verdict = validate(
        changes, raw, table.headers,
        going_out={name: sends[send_column(name)] for name in VALUE_FIELDS},
        read_problems=table.problems,
    )
    valid = ~verdict.invalid
    sends = sends & valid.to_numpy()[:, np.newaxis]
    going = sends.any(axis=1)
    results = plan_results(changes, raw, sends, verdict, dry_run=config.dry_run)
    log.info("%d rows read: %d to send, %d unchanged, %d invalid", len(changes), int(going.sum()),
             int((~going & valid).sum()), int(verdict.invalid.sum()))
    for row, errors in zip(changes["row"][verdict.invalid], verdict.fields[verdict.invalid],
                           strict=True):
        log.debug("row %d invalid: %s", row, errors)

    report = RunReport(counts={}, exit_code=EXIT_OK, results_path=config.results.path,
                       elapsed=0.0, dry_run=config.dry_run, warnings=warnings)

    # ---- the outside world
    if not config.dry_run:
        positions = np.flatnonzero(going.to_numpy())
        # Built from column arrays in one pass: per-row DataFrame access would cost minutes
        # at half a million updates.
        updates = list(map(
            Update, positions.tolist(), changes["row"].to_numpy()[positions].tolist(),
            changes[ID_FIELD].to_numpy(dtype=object)[positions].tolist(),
            payload_dicts(changes, sends, positions)))
        confirmed = _push(config, token, updates, results, report,
                          Timing(sleep=sleep, clock=clock, jitter=jitter), stop,
                          progress or (lambda total: SilentProgress()))
        snapshot_out = merge_confirmed(snapshot_raw, confirmed)
        if confirmed or not config.snapshot.path.exists():
            write_snapshot(config.snapshot.path, snapshot_out)

    write_results(config.results.path, results)
    report.counts = count_statuses(results["status"])
    report.elapsed = time.monotonic() - started
    report.exit_code = _exit_code(report)
    return report


def _push(
    config: Config,
    token: str,
    updates: list[Update],
    results: pd.DataFrame,
    report: RunReport,
    timing: Timing,
    stop: threading.Event | None,
    progress: ProgressFactory,
) -> dict[str, dict[str, str]]:
    """Send the updates; fill their results lines; return the contacts the API confirmed."""
    stop = stop or threading.Event()
    settings = ClientSettings(
        base_url=config.api.base_url, token=token,
        connect_timeout=config.api.connect_timeout, read_timeout=config.api.read_timeout,
        max_attempts=config.push.max_attempts, backoff_initial=config.push.backoff_initial,
        backoff_max=config.push.backoff_max,
    )
    gate = RateGate(config.push.rate_limit, clock=timing.clock, sleep=timing.sleep)
    client = ContactClient(settings, gate=gate, sleep=timing.sleep, jitter=timing.jitter,
                           cancelled=stop.is_set)
    confirmed: dict[str, dict[str, str]] = {}
    lock = threading.Lock()

    def record(update: Update, outcome: Outcome) -> None:
        if outcome.status == "updated":
            # The server's word wins, also for fields not sent; without a body, what was sent.
            contact = outcome.contact or dict(update.payload)
            with lock:
                confirmed[update.contact_id] = contact
        log.debug("row %d contact %s: %s (HTTP %s, %d attempt(s))", update.row,
                  update.contact_id, outcome.status, outcome.http_status, outcome.attempts)
        display.advance(outcome.status)

    display = progress(len(updates))
    started = time.monotonic()
    try:
        pushed = push_updates(updates, client, concurrency=config.push.concurrency,
                              on_outcome=record, stop=stop)
    finally:
        report.push_seconds = time.monotonic() - started
        display.close()
        client.close()

    if pushed.outcomes:
        positions = list(pushed.outcomes)
        outcomes = list(pushed.outcomes.values())
        filled = {
            "status": [o.status for o in outcomes],
            "http_status": ["" if o.http_status is None else str(o.http_status)
                            for o in outcomes],
            "api_code": ["" if o.api_code is None else str(o.api_code) for o in outcomes],
            "message": [o.message for o in outcomes],
            "errors": [o.errors for o in outcomes],
            "attempts": [str(o.attempts) for o in outcomes],
            "req_id": [o.req_id for o in outcomes],
        }
        for column, values in filled.items():
            set_rows(results, positions, column, values)
    for outcome in pushed.outcomes.values():
        report.requests += outcome.attempts
        report.retries += outcome.retries
        report.throttled += outcome.throttled
    if pushed.aborted is not None:
        report.aborted_reason = pushed.aborted.message
        unsent = [u.position for u in updates if u.position not in pushed.outcomes]
        set_rows(results, unsent, "message", [
            f"not sent: the run stopped after HTTP {pushed.aborted.http_status} "
            f"({pushed.aborted.message})"] * len(unsent))
    return confirmed


def _exit_code(report: RunReport) -> int:
    if report.aborted_reason:
        return EXIT_ABORTED
    if report.counts.get("invalid", 0) or report.counts.get("failed", 0):
        return EXIT_ROWS_FAILED
    return EXIT_OK
