"""``run_sync``: one run of the job, as a short sequence of named steps.

1. **check it can start**: the base URL and the token (a live run), and that no file the run
   writes is one it reads or keeps. Everything that can stop a run is checked before anything
   is sent, so a run that cannot start changes nothing (:class:`~sync_job.errors.StartupError`).
2. **read the changes file**;
3. **open the state**: a live run takes the lock beside the snapshot (another live run: exit
   2), removes the temporary files interrupted writes left, reads the snapshot and folds into
   it the confirmed updates a dead run left in the journal; a dry run reads both without
   touching them;
4. **plan** (``sync_job.plan``): what each row will do;
5. **apply the brake**: over ``push.max_changes`` (and no ``--force``), nothing is sent (exit 4);
6. **push** (a live run): each update is sent; each 200 goes into the journal before that
   worker starts its next request;
7. **save the snapshot** with what the API confirmed, then let the journal forget it;
8. **finish**: the results file, the rejects file (the invalid and failed rows as they were
   read, to fix and pass back), the exit code, the HTML report and the summary;
9. **remember the run**: its summary as one line of the run history beside the snapshot,
   then, with ``results.keep``, remove the oldest results files the history names.

The history also gets a line when the run cannot start (a
:class:`~sync_job.errors.StartupError` raised here, with outcome ``cannot_start``) or meets a
bug (``internal_error``): ``run_sync`` writes it, and only ``run_sync``, for every error it
raises once its config is known. (The command writes the line of a config that fails to load,
before ``run_sync`` is called.)

After the start, problems are per row: an invalid row is never sent, every other row still
is. Should the lock file be deleted or replaced during the run (so another run may start),
the run stops sending and leaves the snapshot and the journal to the next run (exit 3).
Should a file not be written (a full disk), the run writes what it still can and exits 3; the
journal keeps every confirmed update the snapshot could not take.

``run_sync`` changes no process-wide setting and never exits the process: an orchestrator can
call it like any function.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sync_job.config import Config, ResultsConfig, shown
from sync_job.errors import ConfigError, ExitCode, StartupError
from sync_job.plan.brake import brake_reason
from sync_job.plan.make import Plan, PlanOptions, Update, make_plan
from sync_job.push.access import check_base_url, read_token
from sync_job.push.progress import ProgressFactory, SilentProgress
from sync_job.push.ratelimit import full_jitter
from sync_job.push.timeline import Timeline, TimelineCounts
from sync_job.read.prefetch import Reading, read_soon
from sync_job.read.reader import InputTable
from sync_job.report.naming import RUN_ID, rejects_candidates, report_path_for
from sync_job.report.rejects import rejected_positions, write_rejects
from sync_job.report.results import count_problems, record_outcomes, set_where, write_results
from sync_job.report.summary import RunFacts, build_summary, unstarted_summary, write_summary
from sync_job.state.files import remove_leftovers, write_problem
from sync_job.state.journal import Journal, describe_runs, fold, journal_path_for, read_pending
from sync_job.state.ledger import ledger_path_for, prune_results, read_runs, record_run
from sync_job.state.lock import RunLock, lock_path_for
from sync_job.state.paths import check_paths, prepare_folder, same_file
from sync_job.state.snapshot import (
    empty_snapshot,
    merge_confirmed,
    read_snapshot_table,
    snapshot_frame,
    write_snapshot,
)
from sync_job.stopping import exit_code_of

if TYPE_CHECKING:
    from sync_job.push.client import Outcome
    from sync_job.push.workers import PushResult

log = logging.getLogger("sync_job")

INTERRUPTED = "run interrupted"

LEFTOVER_AGE = 3600.0
"""Seconds after which a temporary file beside the results or summary is a leftover: a dry run,
which takes no lock, may be writing one right now."""


@dataclass
class RunReport:
    """What a run did: the counts, the exit code and why it stopped, for the summary."""

    counts: dict[str, int]
    """Rows per status (``updated``, ``unchanged``, ``invalid``, ``failed``, ``skipped``,
    ``planned``)."""
    exit_code: int
    """An :class:`~sync_job.errors.ExitCode`."""
    results_path: Path
    elapsed: float
    dry_run: bool
    run_id: str = ""
    summary_path: Path | None = None
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    push_seconds: float = 0.0
    """Wall time of the push alone (0 in a dry run): rows sent per second is measured on it."""
    aborted_reason: str = ""
    """Why the run stopped sending on its own (401/402, the journal could not be written, the
    lock file was removed)."""
    unwritten: list[str] = field(default_factory=list)
    """Files that could not be written (a full disk), each with why and what holds its data."""
    braked_reason: str = ""
    """Why the safety brake kept every update back."""
    unavailable_reason: str = ""
    """Why the circuit breaker stopped the run: the API looked unavailable."""
    interrupted: bool = False
    folded: int = 0
    """Journal entries of an earlier, unfinished run folded into the snapshot at the start."""
    warnings: list[str] = field(default_factory=list)
    invalid_allowed: int = 0
    """Invalid rows this run may have and still exit 0 (``push.max_invalid``)."""
    outcome: str = ""
    """One word for how the run ended: ``ok``, ``rows_invalid``, ``rows_failed``, ``aborted``,
    ``braked``, ``api_unavailable``, ``interrupted`` (``sync_job.report.summary.outcome_of``)."""
    problems: dict[str, int] = field(default_factory=dict)
    """Rows per problem code (``number.leading_zero``, ``api.4221``, …; the results'
    ``problem_codes``), sorted by code; a code counts once per row."""
    summary: dict[str, Any] = field(default_factory=dict)
    """The run summary, as written to ``summary_path`` and to the run history."""
    ledger_path: Path | None = None
    """The run history this run was recorded in (``<snapshot>.runs.jsonl``)."""
    report_path: Path | None = None
    """The HTML run report beside the results file; None when ``results.report`` is off or
    it was not written."""
    timeline: TimelineCounts | None = None
    """Requests, retries and 429 answers per interval of the push; None when nothing was
    pushed (a dry run, the brake)."""
    rejects_path: Path | None = None
    """The rejects file this run wrote (its invalid and failed rows as read, to fix and pass
    back with ``--input``); None when it wrote none."""

    @property
    def stopped_because(self) -> str:
        """Why the run stopped early, in words ("" when it did not)."""
        return (self.braked_reason or self.aborted_reason or self.unavailable_reason
                or (self.unwritten[0] if self.unwritten else "")
                or (INTERRUPTED if self.interrupted else ""))


@dataclass(frozen=True)
class Timing:
    """Time and chance as the push sees them; real by default, injected by tests."""

    sleep: Callable[[float], None]
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[float], float] = full_jitter


@dataclass
class Run:
    """One run's working state, handed from step to step."""

    config: Config
    """With the placeholders of the results paths filled for this run."""
    results_template: ResultsConfig
    """``results`` as configured, placeholders and all: which files ``results.keep`` counts."""
    report: RunReport
    stop: threading.Event
    timing: Timing
    progress: ProgressFactory
    started: float
    started_at: datetime
    token: str = ""
    table: InputTable | None = None
    snapshot: pd.DataFrame | None = None
    lock: RunLock | None = None
    journal: Journal | None = None
    plan: Plan | None = None
    confirmed: dict[str, dict[str, str]] = field(default_factory=dict)
    """contactId → the contact as the API returned it, for every update confirmed."""
    unjournaled: int = 0
    """Confirmed updates the journal could not take."""
    confirmed_in: str = "nothing was sent"
    """Where the confirmed updates are, in words, for a file that cannot be written."""
    recorded: bool = False
    """The run's line is in the history: an error after it adds no second one."""


def run_sync(
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    stop: threading.Event | None = None,
    progress: ProgressFactory | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[float], float] = full_jitter,
    run_id: str | None = None,
) -> RunReport:
    """Run one sync as ``config`` says and report what it did.

    Raises a :class:`~sync_job.errors.StartupError` before anything is sent or written when
    the run cannot start (its line in the run history is the only file it writes). Every
    other outcome is in the report: ``exit_code`` is an :class:`~sync_job.errors.ExitCode`.

    ``run_id``: the run's id (default: a new uuid4 hex), for a caller that logged lines about
    this run before calling; letters, digits, ``_``, ``-`` and ``.``, at most 64, as it may
    name files (``results.path: results/{run_id}.csv``).

    ``environ``: where the token is read (default ``os.environ``). ``stop``: set it from
    another thread or a signal handler to send no further request; the run then ends as
    interrupted (exit 130, or the code a :class:`~sync_job.stopping.StopRequest` carries).
    ``progress`` makes the display of the push (``sync_job.push.progress``); without it the
    push is silent. ``sleep``, ``clock`` and ``jitter`` drive retry waits and the rate gate
    (tests inject them; the default sleep wakes up early when ``stop`` is set).
    """
    run = start(config, run_id=run_id, stop=stop, progress=progress,
                timing=(sleep, clock, jitter))
    try:
        check_it_can_start(run, os.environ if environ is None else environ)
        reading = read_soon(run.config)
        with contextlib.ExitStack() as held:
            read_changes(run, reading)
            open_state(run, held, reading.snapshot)
            plan(run)
            apply_brake(run)
            if not run.config.dry_run and not run.report.braked_reason:
                push(run)
                save_snapshot(run)
            finish(run)
            remember(run)  # still under the lock: no other live run prunes meanwhile
    except StartupError as exc:
        _remember_early_end(run, ExitCode.CANNOT_START, str(exc))
        raise
    except Exception as exc:
        # A bug: the type only, as its message might quote a cell.
        _remember_early_end(run, ExitCode.INTERNAL_ERROR,
                            f"internal error: {type(exc).__name__}")
        raise
    return run.report


def start(config: Config, *, run_id: str | None, stop: threading.Event | None,
          progress: ProgressFactory | None,
          timing: tuple[Callable[[float], None] | None, Callable[[], float],
                        Callable[[float], float]]) -> Run:
    """A new run: its id, its results paths (``{run_id}``, ``{date}``, ``{time}`` filled in),
    its report, and how it waits."""
    started, started_at = time.monotonic(), datetime.now(UTC)
    run_id = uuid.uuid4().hex if run_id is None else run_id
    if not RUN_ID.fullmatch(run_id):
        raise ConfigError([f"run_id: expected letters, digits, '_', '-' or '.' (at most 64, "
                           f"not starting with '.'), got {shown(run_id)}"])
    stop = stop if stop is not None else threading.Event()
    sleep, clock, jitter = timing
    if sleep is None:
        def sleep(seconds: float) -> None:
            stop.wait(seconds)  # a stop request cuts a retry wait short

    template = config.results
    config = dataclasses.replace(config, results=template.for_run(run_id=run_id, when=started_at))
    return Run(
        config=config, results_template=template, stop=stop,
        report=RunReport(counts={}, exit_code=ExitCode.OK, results_path=config.results.path,
                         elapsed=0.0, dry_run=config.dry_run, run_id=run_id,
                         summary_path=config.results.summary_path,
                         ledger_path=ledger_path_for(config.snapshot.path)),
        timing=Timing(sleep=sleep, clock=clock, jitter=jitter),
        progress=progress or (lambda total: SilentProgress()),
        started=started, started_at=started_at,
    )


def check_it_can_start(run: Run, environ: Mapping[str, str]) -> None:
    """Everything about the configuration that can stop a live run, before any file is read."""
    if not run.config.dry_run:
        check_base_url(run.config.api.base_url)
        run.token = read_token(environ, run.config.api.token_env)
    check_paths(run.config)


def read_changes(run: Run, reading: Reading) -> None:
    run.table = reading.changes.result()
    run.report.warnings.extend(run.table.warnings)
    log.info("reading %s (%s)", run.config.input.path.name, run.table.details)


def open_state(run: Run, held: contextlib.ExitStack,
               early_snapshot: Future[pa.Table | None] | None) -> None:
    """The snapshot with every confirmed update folded in; a live run holds the lock and the
    journal until the run ends."""
    config, report = run.config, run.report
    if not config.dry_run:
        # The lock comes first: a run that finds another one running creates nothing.
        prepare_folder(config.snapshot.path, "snapshot")
        run.lock = held.enter_context(RunLock(lock_path_for(config.snapshot.path)))
        _remove_leftovers(config)
    prepare_folder(config.results.path, "results")
    prepare_folder(config.results.summary_path, "summary")
    if config.results.report_path is not None:
        prepare_folder(config.results.report_path, "report")
    if config.results.rejects:
        prepare_folder(config.results.rejects_path(config.input.path), "rejects")
    log.info("run %s started%s", report.run_id, " (dry run)" if config.dry_run else "",
             extra={"run_id": report.run_id})
    table = early_snapshot.result() if early_snapshot is not None else \
        read_snapshot_table(config.snapshot.path)
    if table is None:
        report.warnings.append(
            f"no snapshot at {config.snapshot.path}: starting from an empty one, so every field "
            f"given is sent" + ("" if config.dry_run else "; this run creates it"))
    run.snapshot = empty_snapshot() if table is None else snapshot_frame(table)
    if not config.dry_run:
        run.journal = held.enter_context(Journal(journal_path_for(config.snapshot.path)))
    fold_journal(run)
    for warning in report.warnings:
        log.warning("%s", warning)


def fold_journal(run: Run) -> None:
    """Fold into the snapshot the confirmed updates a dead run left in the journal.

    A live run rewrites the snapshot with them and forgets the entries it folded; a dry run
    only plans as if they were folded, reading the journal from a copy.
    """
    assert run.snapshot is not None
    path, journal, report = run.config.snapshot.path, run.journal, run.report
    pending = journal.pending() if journal is not None else read_pending(journal_path_for(path))
    if not pending:
        return
    run.snapshot = merge_confirmed(run.snapshot, fold(pending))
    contacts = len({entry.contact_id for entry in pending})
    if journal is None:
        report.warnings.append(
            f"the journal holds {len(pending)} confirmed update(s) of {contacts} contact(s) from "
            f"{describe_runs(pending)} that did not finish; this dry run plans as if they were "
            f"in the snapshot, as the next live run will fold them")
        return
    assert run.lock is not None
    if not run.lock.still_held():
        raise StartupError(lock_lost_message(run.lock.path) + "; nothing was sent")
    try:
        write_snapshot(path, run.snapshot)
    except OSError as exc:
        raise StartupError(f"{write_problem(path, exc)}: cannot fold the journal into the "
                           f"snapshot; nothing was sent, and the journal keeps its "
                           f"{len(pending)} confirmed update(s) for the next run") from None
    try:
        # Only the entries read above: one written since (by a run that lost its lock file
        # and goes on) stays for the next fold.
        journal.forget_folded(pending)
    except sqlite3.Error as exc:
        # Sending now could make these old entries overwrite newer values at the next fold.
        raise StartupError(f"{journal.path}: cannot clear the entries folded into {path} "
                           f"({exc}); nothing was sent") from None
    report.folded = len(pending)
    report.warnings.append(
        f"folded {len(pending)} confirmed update(s) of {contacts} contact(s) from "
        f"{describe_runs(pending)}, which did not finish, into {path}; they are not sent again")


def plan(run: Run) -> None:
    assert run.table is not None and run.snapshot is not None
    options = PlanOptions(clear_marker=run.config.input.clear_marker,
                          empty_cells=run.config.input.empty_cells,
                          phone_check=run.config.input.phone_check,
                          default_country=run.config.input.default_country,
                          dry_run=run.config.dry_run)
    run.plan = make_plan(run.table, run.snapshot, options)
    counts = run.plan.counts
    log.info("%d rows read: %d to send, %d unchanged, %d invalid", len(run.plan.results),
             run.plan.update_count, counts["unchanged"], counts["invalid"])
    # By row number only: an invalid contactId cell may hold anything, even personal data.
    for row in run.plan.invalid_rows.tolist():
        log.debug("row %d invalid", row, extra={"row": int(row)})


def apply_brake(run: Run) -> None:
    """Over ``push.max_changes``, nothing is sent and the updates stay ``planned``."""
    config, plan = run.config, run.plan
    assert plan is not None and run.snapshot is not None
    if config.push.max_changes is None:
        return
    reason = brake_reason(plan.update_count, config.push.max_changes, len(run.snapshot))
    if reason and config.force:
        log.warning("safety brake overridden by --force: %s", reason.split(";")[0])
    elif reason:
        run.report.braked_reason = reason
        log.error("safety brake: %s", reason)
        prefix = "dry run: the live run would stop here; " if config.dry_run else ""
        set_where(plan.results, plan.sending, "status", "planned")
        set_where(plan.results, plan.sending, "message",
                  f"{prefix}not sent: safety brake: {reason}")


def push(run: Run) -> None:
    """Send every update; record each confirmed one in the journal at once, and each outcome
    in the results."""
    from sync_job.push.client import ClientSettings, ContactClient
    from sync_job.push.ratelimit import RateGate
    from sync_job.push.workers import push_updates

    config, report, plan = run.config, run.report, run.plan
    assert plan is not None and run.journal is not None and run.lock is not None
    journal, lock = run.journal, run.lock
    settings = ClientSettings(
        base_url=config.api.base_url, token=run.token,
        connect_timeout=config.api.connect_timeout, read_timeout=config.api.read_timeout,
        max_attempts=config.push.max_attempts, backoff_initial=config.push.backoff_initial,
        backoff_max=config.push.backoff_max, max_retry_wait=config.push.max_retry_wait,
    )
    timing = run.timing
    timeline = Timeline()
    client = ContactClient(settings, gate=RateGate(config.push.rate_limit, clock=timing.clock,
                                                   sleep=timing.sleep),
                           sleep=timing.sleep, jitter=timing.jitter, cancelled=run.stop.is_set,
                           timeline=timeline)
    updates = plan.updates()
    journal_failures: list[str] = []
    lock_lost: list[bool] = []
    guard = threading.Lock()

    def check_lock() -> None:
        # Before a worker's next request: once the lock file is gone, another run may start
        # and work on the same snapshot and journal; send nothing more.
        if not lock.still_held():
            lock_lost.append(True)
            run.stop.set()

    def record(update: Update, outcome: Outcome) -> None:
        # Runs in the worker thread, before that worker starts its next request.
        if outcome.status == "updated" and outcome.contact is not None:
            try:
                journal.record(run_id=report.run_id, contact_id=update.contact_id,
                               row=update.row, contact=outcome.contact, req_id=outcome.req_id)
            except sqlite3.Error as exc:
                with guard:
                    journal_failures.append(_journal_problem(journal.path, exc))
                run.stop.set()  # without a journal a crash could lose what is confirmed now
            with guard:
                run.confirmed[update.contact_id] = outcome.contact
        check_lock()
        log.debug("row %d contact %s: %s (HTTP %s, %d attempt(s))", update.row,
                  update.contact_id, outcome.status, outcome.http_status, outcome.attempts,
                  extra={"row": update.row, "contactId": update.contact_id})
        display.advance(outcome.status)

    display = run.progress(len(updates))
    started = time.monotonic()
    check_lock()
    try:
        pushed = push_updates(updates, client, concurrency=config.push.concurrency,
                              on_outcome=record, stop=run.stop,
                              stop_after_failures=config.push.stop_after_failures)
    finally:
        report.push_seconds = time.monotonic() - started
        report.timeline = timeline.counts()
        display.close()
        client.close()
    run.unjournaled = len(journal_failures)
    record_outcomes(plan.results, pushed.outcomes)
    for outcome in pushed.outcomes.values():
        report.requests += outcome.attempts
        report.retries += outcome.retries
        report.throttled += outcome.throttled
    _say_why_sending_stopped(run, pushed, bool(lock_lost), journal_failures)


def _say_why_sending_stopped(run: Run, pushed: PushResult, lock_lost: bool,
                             journal_failures: list[str]) -> None:
    report, results = run.report, run.plan.results if run.plan is not None else None
    assert results is not None and run.lock is not None
    unsent = results["status"].eq("skipped").to_numpy()
    if pushed.aborted is not None:
        report.aborted_reason = pushed.aborted.message
        set_where(results, unsent, "message",
                  f"not sent: the run stopped after HTTP {pushed.aborted.http_status} "
                  f"({pushed.aborted.message})")
        return
    if lock_lost:
        report.aborted_reason = lock_lost_message(run.lock.path)
        log.error("%s", report.aborted_reason)
    elif journal_failures:
        report.aborted_reason = f"the journal could not be written ({journal_failures[0]})"
        log.error("%s; stopped sending; the updates confirmed so far go into the snapshot now",
                  report.aborted_reason)
    elif pushed.unavailable is not None:
        report.unavailable_reason = (
            f"the API looks unavailable: {run.config.push.stop_after_failures} row(s) in a row "
            f"failed without a usable answer (the last: {pushed.unavailable.message}); re-run "
            f"later to send the rest")
        log.error("%s", report.unavailable_reason)
    reason = report.aborted_reason or report.unavailable_reason
    if reason:
        set_where(results, unsent, "message", f"not sent: {reason}")


def save_snapshot(run: Run) -> None:
    """Write the snapshot with this run's confirmed updates, then let the journal forget them.

    Neither happens once the lock file was removed or replaced (another run may be working on
    both), and the journal forgets nothing the snapshot could not take."""
    config, report = run.config, run.report
    assert run.lock is not None and run.journal is not None and run.snapshot is not None
    path = config.snapshot.path
    in_journal = "nothing confirmed is lost: the journal holds it for the next run to fold"
    run.confirmed_in = in_journal
    if not run.lock.still_held():
        lost = lock_lost_message(run.lock.path)
        if report.aborted_reason != lost:  # not said yet (lost after the push, or after a 401)
            log.error("%s", lost)
        report.aborted_reason = report.aborted_reason or lost
        return
    if run.confirmed or not path.exists():
        try:
            write_snapshot(path, merge_confirmed(run.snapshot, run.confirmed))
        except OSError as exc:
            lost = (f"; {run.unjournaled} update(s) the API confirmed after the journal failed "
                    f"are in neither and will be sent again by the next run, which changes "
                    f"nothing on the platform" if run.unjournaled else "")
            _not_written(report, f"{write_problem(path, exc)}; the snapshot was not updated: "
                                 f"every confirmed update stays in the journal for the next "
                                 f"run to fold{lost}")
            if run.unjournaled:
                run.confirmed_in = "the journal holds every confirmed update it could take"
            return
    if not run.lock.still_held():
        return
    try:
        # Only now that the snapshot holds them may the journal let them go.
        run.journal.forget_run(report.run_id)
    except sqlite3.Error as exc:
        log.warning("%s: could not clear this run's entries (%s); the next run folds them into "
                    "the snapshot again, which changes nothing", run.journal.path, exc)
    run.confirmed_in = "nothing confirmed is lost: the snapshot holds it"


def finish(run: Run) -> None:
    """The results file, the rejects file, the exit code, the HTML report and the summary."""
    config, report, plan = run.config, run.report, run.plan
    assert plan is not None and run.table is not None
    report.interrupted = (run.stop.is_set() and not report.aborted_reason
                          and not report.unavailable_reason)
    if report.interrupted:
        set_where(plan.results, plan.results["status"].eq("skipped").to_numpy(), "message",
                  INTERRUPTED)
    results_written = True
    try:
        write_results(config.results.path, plan.results, workbook=config.results.workbook,
                      delimiter=config.results.delimiter)
    except OSError as exc:
        results_written = False
        _not_written(report, f"{write_problem(config.results.path, exc)}; the results were "
                             f"not written; {run.confirmed_in}")
    write_rejects_file(run)
    report.counts = plan.counts
    report.problems = count_problems(plan.results["problem_codes"])
    report.invalid_allowed = config.push.max_invalid.allowed(len(plan.results))
    report.exit_code = exit_code(report, run.stop)
    _say_invalid_rows_allowed(run)
    report.elapsed = time.monotonic() - run.started
    ended_at = datetime.now(UTC)
    # The page shows the summary, and the summary names the page: named first, unnamed again
    # should it not be written.
    report.report_path = config.results.report_path if results_written else None
    report.summary = _summary(run, ended_at)
    if report.report_path is not None and not write_html_report(run):
        report.report_path = None
        report.summary = _summary(run, ended_at)
    elif report.report_path is None and results_written:
        _remove_older(run, [report_path_for(config.results.path)], "report")
    try:
        write_summary(config.results.summary_path, report.summary)
    except OSError as exc:
        _not_written(report, f"{write_problem(config.results.summary_path, exc)}; the "
                             f"summary was not written; {run.confirmed_in}")
        report.exit_code = ExitCode.ABORTED
        report.summary = _summary(run, ended_at)  # the history tells how the run really ended
    report.outcome = report.summary["outcome"]


def write_html_report(run: Run) -> bool:
    """The HTML run report beside the results (``sync_job.report.html_report``); whether it
    was written. A report that cannot be made or written is said, and an older one at its
    path removed (it would show another run beside these results); nothing else changes: the
    results file holds all it would show."""
    from sync_job.report.html_report import ReportInput, write_report

    config, report = run.config, run.report
    assert run.plan is not None and run.table is not None and report.report_path is not None
    data = ReportInput(summary=report.summary, results=run.plan.results, cells=run.table.cells,
                       headers=run.table.headers, timeline=report.timeline,
                       results_name=config.results.path.name)
    try:
        write_report(report.report_path, data)
    except OSError as exc:
        problem = f"{write_problem(report.report_path, exc)}; the HTML report was not written"
    except Exception as exc:  # a bug in the page must not cost the run its summary
        problem = (f"{report.report_path}: the HTML report could not be made (internal error: "
                   f"{type(exc).__name__}); the results file holds everything it would show")
    else:
        return True
    log.error("%s", problem)
    report.warnings.append(problem)
    _remove_older(run, [report.report_path], "report")
    return False


def write_rejects_file(run: Run) -> None:
    """The rejects file: every invalid and failed row as it was read (``report.rejects``).

    None is written when no row is rejected (or ``results.rejects`` is off), nor over the
    changes file itself (a rejects file passed back as it is); then, and when it cannot be
    written, an older one at its path is removed, so a rejects file beside the results is
    always this run's."""
    config, report, plan, table = run.config, run.report, run.plan, run.table
    assert plan is not None and table is not None
    path = config.results.rejects_path(config.input.path)
    at = rejected_positions(plan.results) if config.results.rejects else np.empty(0, np.int64)
    if len(at) and same_file(path, config.input.path):
        warning = (f"no rejects file: {path} is this run's changes file, which is never "
                   f"replaced; the results file lists the {len(at)} row(s) still rejected")
        report.warnings.append(warning)
        log.warning("%s", warning)
    elif len(at):
        try:
            write_rejects(path, table, plan.results, at, columns=config.input.columns)
        except OSError as exc:
            _not_written(report, f"{write_problem(path, exc)}; the rejects file was not "
                                 f"written (the results file lists the rejected rows); "
                                 f"{run.confirmed_in}")
        else:
            report.rejects_path = path
            log.info("%d rejected row(s) written to %s", len(at), path)
    _remove_older(run, [older for older in rejects_candidates(config.results.path)
                        if older != report.rejects_path], "rejects file")


def _remove_older(run: Run, paths: Iterable[Path], what: str) -> None:
    """Remove the files at ``paths`` beside the results, an older run's ``what`` that this
    run did not write: beside these results they would tell of another run. Never a file the
    run reads or keeps."""
    kept = _kept_paths(run.config)
    for path in paths:
        if not (path.is_file() or path.is_symlink()) or any(same_file(path, other)
                                                            for other in kept):
            continue
        try:
            path.unlink()  # a link itself, never what it points to
        except FileNotFoundError:
            continue
        except OSError as exc:
            log.warning("%s: could not remove this older %s (%s); it is not this run's", path,
                        what, exc.strerror or exc)
            continue
        log.info("removed %s, an older run's %s", path, what)


def _kept_paths(config: Config) -> list[Path]:
    """The files a run reads or keeps: never removed as an older run's output."""
    snapshot = config.snapshot.path
    return [config.input.path, snapshot, journal_path_for(snapshot), lock_path_for(snapshot),
            ledger_path_for(snapshot), config.results.path, config.results.summary_path]


def _summary(run: Run, ended_at: datetime) -> dict[str, Any]:
    config, report = run.config, run.report
    assert run.table is not None
    return build_summary(
        RunFacts(run_id=report.run_id, started_at=run.started_at, ended_at=ended_at,
                 input_path=config.input.path, input_sha256=run.table.sha256,
                 results_path=config.results.path, summary_path=config.results.summary_path,
                 report_path=report.report_path, snapshot_path=config.snapshot.path,
                 rejects_path=report.rejects_path),
        exit_code=report.exit_code, dry_run=config.dry_run, counts=report.counts,
        problems=report.problems, requests=report.requests, retries=report.retries,
        throttled=report.throttled, folded_from_journal=report.folded,
        stopped_because=report.stopped_because,
        invalid_allowed=report.invalid_allowed,
    )


def _say_invalid_rows_allowed(run: Run) -> None:
    """Invalid rows within ``push.max_invalid`` do not fail the run, but are still said."""
    report, limit = run.report, run.config.push.max_invalid
    invalid = report.counts.get("invalid", 0)
    if not 0 < invalid <= report.invalid_allowed:
        return
    rows = sum(report.counts.values())
    allowed = (str(limit.count) if limit.count is not None else
               f"{limit.percent:g}% of {rows} rows = {report.invalid_allowed}")
    warning = (f"{invalid} invalid row(s), within push.max_invalid ({allowed}): they do not "
               f"fail the run; the results file says what to fix")
    report.warnings.append(warning)
    log.warning("%s", warning)


def remember(run: Run) -> None:
    """The run's line in the history; then, with ``results.keep``, the oldest results files
    the history names are removed."""
    config, report, template = run.config, run.report, run.results_template
    snapshot, ledger = config.snapshot.path, ledger_path_for(config.snapshot.path)
    run.recorded = record_run(snapshot, report.summary)
    if not run.recorded or template.keep is None:
        return
    spare = [config.input.path, snapshot, journal_path_for(snapshot), lock_path_for(snapshot),
             ledger]
    try:
        removed = prune_results(read_runs(ledger)[0], template=template.path,
                                keep=template.keep, spare=spare)
    except OSError as exc:
        log.warning("results.keep: could not remove old results files (%s)", exc)
        return
    if removed:
        log.info("removed %d file(s) of runs older than the newest %d (results.keep)",
                 len(removed), template.keep)


def _remember_early_end(run: Run, code: ExitCode, message: str) -> None:
    """The history's line for a run that raises: it could not start, or met a bug."""
    config, report = run.config, run.report
    if run.recorded:
        return
    facts = RunFacts(run_id=report.run_id, started_at=run.started_at, ended_at=datetime.now(UTC),
                     input_path=config.input.path,
                     input_sha256=run.table.sha256 if run.table is not None else None,
                     results_path=config.results.path, summary_path=config.results.summary_path,
                     snapshot_path=config.snapshot.path)
    record_run(config.snapshot.path, unstarted_summary(facts, exit_code=code,
                                                       dry_run=config.dry_run, message=message))


def exit_code(report: RunReport, stop: threading.Event) -> int:
    """The run's exit code; the first that applies of: aborted or a file not written (3),
    the breaker (5), interrupted (130/143), the brake (4), rows failed or more invalid than
    ``push.max_invalid`` allows (1)."""
    if report.aborted_reason or report.unwritten:
        return ExitCode.ABORTED
    if report.unavailable_reason:
        return ExitCode.API_UNAVAILABLE
    if report.interrupted:
        return exit_code_of(stop)
    if report.braked_reason:
        return ExitCode.BRAKED
    if (report.counts.get("failed", 0)
            or report.counts.get("invalid", 0) > report.invalid_allowed):
        return ExitCode.ROWS_FAILED
    return ExitCode.OK


def lock_lost_message(path: Path) -> str:
    return (f"the lock file {path} was removed or replaced during the run; stopped sending; "
            f"every confirmed update stays in the journal for the next run")


def _remove_leftovers(config: Config) -> None:
    """Remove the temporary files writes killed half-way left: the snapshot's whatever their
    age (under the lock, no other run writes it), the results', summary's, report's and rejects
    file's after an hour."""
    report = config.results.report_path
    paths = ((config.snapshot.path, 0.0), (config.results.path, LEFTOVER_AGE),
             (config.results.summary_path, LEFTOVER_AGE),
             *(((report, LEFTOVER_AGE),) if report is not None else ()),
             *((path, LEFTOVER_AGE) for path in rejects_candidates(config.results.path)))
    for path, age in paths:
        removed = remove_leftovers(path, older_than=age)
        if removed:
            log.info("removed %d temporary file(s) of %s left by writes that were interrupted",
                     removed, path.name)


def _not_written(report: RunReport, problem: str) -> None:
    log.error("%s", problem)
    report.unwritten.append(problem)


def _journal_problem(path: Path, exc: sqlite3.Error) -> str:
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return f"{path}: the disk is full ({exc})"
    return f"{path}: {exc}"
