"""``run_sync``: the one place that strings the stages together.

read → normalize → diff → validate → brake → push → record. Everything that can stop a run
(config, token, input file, base URL, the run lock, snapshot, journal) is checked before anything
is sent, so a run that cannot start changes nothing. After that, problems are per row: an invalid
row is never sent, every other row still is.

A live run, in order:

1. check that no file it writes is a file it reads or keeps (exit 2);
2. take the lock beside the snapshot (another live run: exit 2, nothing touched); remove the
   temporary files interrupted writes left;
3. fold journal entries a dead run left behind into the snapshot (written atomically);
4. plan; if the plan is over ``push.max_changes`` (and no ``--force``): send nothing, exit 4;
5. push; each 200 goes into the journal before the worker starts its next request;
6. write the snapshot, then forget this run's journal entries; write results and summary.

Should the lock file be deleted or replaced during the run (so another run may start), the run
stops sending and leaves the snapshot and the journal to the next run (exit 3). Should a file
not be written (a full disk), the run writes what it still can and exits 3; the journal keeps
every confirmed update the snapshot could not take.

A dry run takes no lock and writes only its results and summary; it plans against the snapshot
plus any journal entries not yet folded (read from a copy), as the next live run would.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_job.config import Config, base_url_problem, redact_userinfo
from sync_job.errors import ConfigError, ExitCode, StartupError, TokenError
from sync_job.fields import ID_FIELD, VALUE_FIELDS
from sync_job.plan.brake import brake_reason
from sync_job.plan.diff import ContactIndex, changed_fields, send_column
from sync_job.plan.normalize import (
    normalize_changes,
    normalize_ids,
    normalize_snapshot,
    text_array,
    true_flags,
    whole_number_keys,
)
from sync_job.plan.repeats import key_groups, repeats_snapshot, shared_keys
from sync_job.plan.rules import validate
from sync_job.push.progress import ProgressFactory, SilentProgress
from sync_job.push.ratelimit import full_jitter
from sync_job.read.prefetch import Reading, read_soon
from sync_job.read.reader import InputTable
from sync_job.report.results import (
    count_statuses,
    payload_dicts,
    payload_json,
    plan_results,
    set_rows,
    set_where,
    write_results,
)
from sync_job.report.summary import RunFacts, build_summary, write_summary
from sync_job.sidebyside import both, tuned_for_kernels
from sync_job.state.journal import Journal, describe_runs, fold, journal_path_for, read_pending
from sync_job.state.lock import RunLock, lock_path_for
from sync_job.state.paths import check_paths
from sync_job.state.snapshot import (
    empty_snapshot,
    merge_confirmed,
    read_snapshot_table,
    remove_leftovers,
    snapshot_frame,
    write_problem,
    write_snapshot,
)
from sync_job.stopping import exit_code_of

if TYPE_CHECKING:
    from sync_job.push.client import Outcome
    from sync_job.push.workers import Update

log = logging.getLogger("sync_job")


INTERRUPTED = "run interrupted"

LEFTOVER_AGE = 3600.0
"""Seconds after which a temporary file beside the results or summary is a leftover: a dry run,
which takes no lock, may be writing one right now."""


def lock_lost_message(path: Path) -> str:
    return (f"the lock file {path} was removed or replaced during the run; stopped sending; "
            f"every confirmed update stays in the journal for the next run")


@dataclass
class RunReport:
    """What a run did, for the summary and the exit code."""

    counts: dict[str, int]
    exit_code: int
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


@dataclass(frozen=True)
class Timing:
    """Time and chance as the push sees them; real by default, injected by tests."""

    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    jitter: Callable[[float], float] = full_jitter


def check_base_url(base_url: str) -> None:
    """The token may only travel over HTTPS, or plain HTTP to this machine (the simulator).

    The URL is read by urllib3's parser, the one requests connects with, after
    :func:`~sync_job.config.base_url_problem` refused anything parsers might read differently.
    """
    import urllib3

    problem = base_url_problem(base_url)
    if problem:
        raise ConfigError([f"api.base_url: {problem}, got {redact_userinfo(repr(base_url))}"])
    parts = urllib3.util.parse_url(base_url)
    if parts.scheme == "https":
        return
    host = (parts.host or "").strip("[]")
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if parts.scheme != "http" or not loopback:
        raise ConfigError([
            f"api.base_url: {base_url!r} would send the API token unencrypted; use https:// "
            f"(plain http:// is allowed only for a loopback address such as 127.0.0.1)"
        ])


def read_token(environ: Mapping[str, str], name: str) -> str:
    """The API token from the variable ``name``; refused before anything is sent when it is
    missing or could not be a header value (a line break would break every request, and the
    error would quote it). Messages name the variable, never the value."""
    token = environ.get(name, "").strip()
    if not token:
        raise TokenError(
            f"the API token is missing: set the environment variable {name} (named by "
            f"api.token_env), or use --dry-run")
    if not token.isascii() or any(not character.isprintable() for character in token):
        raise TokenError(
            f"the API token in the environment variable {name} holds a line break, another "
            f"control character or a non-ASCII character; set it to the token alone")
    return token


def _prepare_folder(path: Path, what: str) -> None:
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


def run_sync(
    config: Config,
    *,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    jitter: Callable[[float], float] = full_jitter,
    stop: threading.Event | None = None,
    progress: ProgressFactory | None = None,
    reading: Reading | None = None,
) -> RunReport:
    """Run one sync as ``config`` says. Raises StartupError before anything is sent or written.

    ``reading``: the files, already being read (:func:`~sync_job.read.prefetch.read_soon`), so the
    command can read them while the rest of the job is still being imported; their errors are
    raised here, in their turn.

    ``sleep``, ``clock`` and ``jitter`` drive retry waits and the rate gate (tests inject them;
    the default sleep wakes up early when ``stop`` is set). ``stop`` set from another thread or
    a signal handler stops new requests; the run then ends as interrupted (exit 130, or the
    code a :class:`~sync_job.stopping.StopRequest` carries). ``progress`` makes the display of
    the push (see ``sync_job.push.progress``); without it the push is silent.

    While it reads and plans, ``run_sync`` pauses Python's cyclic garbage collector and
    shortens the GIL switch interval to 0.2 ms: process-wide settings, restored before the
    push and when it returns or raises.
    """
    started = time.monotonic()
    started_at = datetime.now(UTC)
    run_id = uuid.uuid4().hex
    environ = os.environ if environ is None else environ
    stop = stop if stop is not None else threading.Event()
    if sleep is None:
        def sleep(seconds: float) -> None:
            stop.wait(seconds)

    # ---- everything that can stop the run, before anything is sent or written
    token = ""
    if not config.dry_run:
        check_base_url(config.api.base_url)
        token = read_token(environ, config.api.token_env)
    check_paths(config)
    with contextlib.ExitStack() as held:
        # Until the push, which makes garbage for minutes.
        end_planning = held.enter_context(tuned_for_kernels())
        reading = reading or read_soon(config)
        table = reading.changes.result()
        log.info("reading %s (%s)", config.input.path.name, table.details)

        report = RunReport(counts={}, exit_code=ExitCode.OK, results_path=config.results.path,
                           elapsed=0.0, dry_run=config.dry_run, run_id=run_id,
                           summary_path=config.results.summary_path, warnings=list(table.warnings))

        journal: Journal | None = None
        run_lock: RunLock | None = None
        if not config.dry_run:
            # The lock comes first: a run that finds another one running creates nothing.
            _prepare_folder(config.snapshot.path, "snapshot")
            run_lock = held.enter_context(RunLock(lock_path_for(config.snapshot.path)))
            _remove_leftovers(config)
        _prepare_folder(config.results.path, "results")
        _prepare_folder(config.results.summary_path, "summary")
        log.info("run %s started%s", run_id, " (dry run)" if config.dry_run else "",
                 extra={"run_id": run_id})
        snapshot_raw = _read_snapshot(config, report, reading.snapshot)
        if not config.dry_run:
            journal = held.enter_context(Journal(journal_path_for(config.snapshot.path)))
        snapshot_raw = _fold_journal(snapshot_raw, config, journal, report, run_lock)
        for warning in report.warnings:
            log.warning("%s", warning)

        results, changes, sends, going = _plan(table, snapshot_raw, config)
        if config.push.max_changes is not None:
            reason = brake_reason(int(going.sum()), config.push.max_changes, len(snapshot_raw))
            if reason and config.force:
                log.warning("safety brake overridden by --force: %s", reason.split(";")[0])
            elif reason:
                report.braked_reason = reason
                log.error("safety brake: %s", reason)
                prefix = "dry run: the live run would stop here; " if config.dry_run else ""
                set_where(results, going, "status", "planned")
                set_where(results, going, "message", f"{prefix}not sent: safety brake: {reason}")

        # Said when the results or the summary cannot be written.
        confirmed_in = "nothing was sent"
        if not config.dry_run and not report.braked_reason:
            assert journal is not None and run_lock is not None
            from sync_job.push.workers import (
                Update,  # requests and tenacity: only a live run needs them
            )

            end_planning()

            # ``changes`` and ``sends`` hold the judged rows; their index is the row's position.
            local = np.flatnonzero(sends.any(axis=1).to_numpy())
            # Built from column arrays in one pass: per-row DataFrame access would cost minutes
            # at half a million updates.
            updates = list(map(
                Update, changes.index.to_numpy()[local].tolist(),
                changes["row"].to_numpy()[local].tolist(),
                changes[ID_FIELD].to_numpy(dtype=object)[local].tolist(),
                payload_dicts(changes, sends, local)))
            confirmed, unjournaled = _push(config, token, updates, results, report, journal,
                                           run_lock, Timing(sleep=sleep, clock=clock,
                                                            jitter=jitter), stop,
                                           progress or (lambda total: SilentProgress()))
            confirmed_in = _save_snapshot(config, report, journal, run_lock,
                                          lambda: merge_confirmed(snapshot_raw, confirmed),
                                          changed=bool(confirmed), unjournaled=unjournaled)

        report.interrupted = (stop.is_set() and not report.aborted_reason
                              and not report.unavailable_reason)
        if report.interrupted:
            unsent = results["status"].eq("skipped")
            set_where(results, unsent, "message", INTERRUPTED)
        try:
            write_results(config.results.path, results)
        except OSError as exc:
            _not_written(report, f"{write_problem(config.results.path, exc)}; the results were "
                                 f"not written; {confirmed_in}")
        report.counts = count_statuses(results["status"])
        report.exit_code = _exit_code(report, stop)
        report.elapsed = time.monotonic() - started
        summary = build_summary(
            RunFacts(run_id=run_id, started_at=started_at, ended_at=datetime.now(UTC),
                     input_path=config.input.path, input_sha256=table.sha256,
                     results_path=config.results.path, snapshot_path=config.snapshot.path),
            exit_code=report.exit_code, dry_run=config.dry_run, counts=report.counts,
            requests=report.requests, retries=report.retries, throttled=report.throttled,
            folded_from_journal=report.folded,
            stopped_because=report.braked_reason or report.aborted_reason
            or report.unavailable_reason
            or (report.unwritten[0] if report.unwritten else "")
            or (INTERRUPTED if report.interrupted else ""),
        )
        try:
            write_summary(config.results.summary_path, summary)
        except OSError as exc:
            _not_written(report, f"{write_problem(config.results.summary_path, exc)}; the "
                                 f"summary was not written; {confirmed_in}")
            report.exit_code = ExitCode.ABORTED
    return report


def _remove_leftovers(config: Config) -> None:
    """Remove the temporary files writes killed half-way left: the snapshot's whatever their
    age (under the lock, no other run writes it), the results' and summary's after an hour."""
    for path, age in ((config.snapshot.path, 0.0), (config.results.path, LEFTOVER_AGE),
                      (config.results.summary_path, LEFTOVER_AGE)):
        removed = remove_leftovers(path, older_than=age)
        if removed:
            log.info("removed %d temporary file(s) of %s left by writes that were interrupted",
                     removed, path.name)


def _not_written(report: RunReport, problem: str) -> None:
    log.error("%s", problem)
    report.unwritten.append(problem)


def _save_snapshot(config: Config, report: RunReport, journal: Journal, run_lock: RunLock,
                   merged: Callable[[], pd.DataFrame], *, changed: bool,
                   unjournaled: int) -> str:
    """Write the snapshot with this run's confirmed updates, then let the journal forget them;
    return where the confirmed updates are now, in words.

    Neither happens once the lock file was removed or replaced (another run may be working
    on both), and the journal forgets nothing the snapshot could not take."""
    path = config.snapshot.path
    in_journal = "nothing confirmed is lost: the journal holds it for the next run to fold"
    if not run_lock.still_held():
        lost = lock_lost_message(run_lock.path)
        if report.aborted_reason != lost:  # not said yet (lost after the push, or after a 401)
            log.error("%s", lost)
        report.aborted_reason = report.aborted_reason or lost
        return in_journal
    if changed or not path.exists():
        try:
            write_snapshot(path, merged())
        except OSError as exc:
            lost = (f"; {unjournaled} update(s) the API confirmed after the journal failed are "
                    f"in neither and will be sent again by the next run, which changes nothing "
                    f"on the platform" if unjournaled else "")
            _not_written(report, f"{write_problem(path, exc)}; the snapshot was not updated: "
                                 f"every confirmed update stays in the journal for the next "
                                 f"run to fold{lost}")
            return "the journal holds every confirmed update it could take" if unjournaled \
                else in_journal
    if not run_lock.still_held():
        return in_journal
    try:
        # Only now that the snapshot holds them may the journal let them go.
        journal.forget_run(report.run_id)
    except sqlite3.Error as exc:
        log.warning("%s: could not clear this run's entries (%s); the next run folds them into "
                    "the snapshot again, which changes nothing", journal.path, exc)
    return "nothing confirmed is lost: the snapshot holds it"


def _read_snapshot(config: Config, report: RunReport,
                   early: Future[pa.Table | None] | None) -> pd.DataFrame:
    path = config.snapshot.path
    table = early.result() if early is not None else read_snapshot_table(path)
    snapshot = None if table is None else snapshot_frame(table)
    if snapshot is None:
        report.warnings.append(
            f"no snapshot at {path}: starting from an empty one, so every field given is sent"
            + ("" if config.dry_run else "; this run creates it"))
        snapshot = empty_snapshot()
    return snapshot


def _fold_journal(snapshot: pd.DataFrame, config: Config, journal: Journal | None,
                  report: RunReport, run_lock: RunLock | None) -> pd.DataFrame:
    """The snapshot with the confirmed updates a dead run left in the journal folded in.

    A live run (``journal`` and ``run_lock`` given) rewrites the snapshot with them and
    forgets the entries it folded; a dry run only plans as if they were folded, reading the
    journal from a copy.
    """
    path = config.snapshot.path
    pending = journal.pending() if journal is not None else read_pending(journal_path_for(path))
    if not pending:
        return snapshot
    snapshot = merge_confirmed(snapshot, fold(pending))
    contacts = len({entry.contact_id for entry in pending})
    if journal is None:
        report.warnings.append(
            f"the journal holds {len(pending)} confirmed update(s) of {contacts} contact(s) from "
            f"{describe_runs(pending)} that did not finish; this dry run plans as if they were "
            f"in the snapshot, as the next live run will fold them")
        return snapshot
    assert run_lock is not None
    if not run_lock.still_held():
        raise StartupError(lock_lost_message(run_lock.path) + "; nothing was sent")
    try:
        write_snapshot(path, snapshot)
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
    return snapshot


def _plan(
    table: InputTable, snapshot_raw: pd.DataFrame, config: Config, *,
    skip_repeats: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.Series]:
    """Rows and snapshot → (results so far, normalized changes, fields to send, going).

    ``results`` and ``going`` have one row per input row; ``changes`` and ``sends`` only the
    judged rows, indexed by their position among the input rows.

    Rows that repeat the snapshot (see ``sync_job.plan.repeats``) are ``unchanged`` at once: only
    the other rows are normalized, diffed against their contacts' snapshot rows and judged by
    the schema, plus every row that shares a contactId or number with another row, so the
    whole-file duplicate checks see all of those. ``skip_repeats=False`` judges every row
    (the tests compare both).
    """
    cells = table.cells
    size = cells.num_rows
    options = {"clear_marker": config.input.clear_marker,
               "empty_cells": config.input.empty_cells}
    # The snapshot's index and the file's ids as numbers: two passes, side by side.
    contacts, id_keys = both(lambda: ContactIndex(*normalize_ids(snapshot_raw[ID_FIELD])),
                             lambda: whole_number_keys(cells.column(ID_FIELD)))
    repeats, held_at, number_keys = (
        repeats_snapshot(cells, snapshot_raw, contacts, ascii=table.ascii, id_keys=id_keys,
                         **options)
        if skip_repeats
        else (np.zeros(size, dtype=bool), np.full(size, -1, dtype=np.int64),
              np.zeros(size, dtype=np.int64)))
    rows = cells.column("row").to_numpy()
    if table.problems:  # a row the reader had trouble with is explained in full
        repeats &= ~np.isin(rows, [problem.row for problem in table.problems])

    judged = np.flatnonzero(~repeats)
    raw_judged = _rows_at(cells, judged)
    changes = normalize_changes(raw_judged, **options)
    positions = contacts.positions(changes[ID_FIELD])
    if repeats.any():
        # A repeating row that shares its contactId or number with another row is judged too.
        shared = (_shared_contacts(held_at, judged, positions, changes[ID_FIELD],
                                   len(snapshot_raw))
                  | shared_keys(_keys(number_keys, judged, changes["number"]), size))
        extra = np.flatnonzero(repeats & shared)
        if len(extra):
            repeats[extra] = False
            judged = np.flatnonzero(~repeats)
            changes = pd.concat([changes, normalize_changes(_rows_at(cells, extra), **options)])
            changes = changes.loc[judged]
            raw_judged = _rows_at(cells, judged)
            positions = contacts.positions(changes[ID_FIELD])
    changes = changes.reset_index(drop=True)
    raw_judged = raw_judged.reset_index(drop=True)

    # Diff against the snapshot rows of these contacts only, normalized now.
    wanted = np.zeros(len(snapshot_raw), dtype=bool)
    wanted[positions[positions >= 0]] = True
    held = np.flatnonzero(wanted)  # sorted, each once
    snapshot = normalize_snapshot(snapshot_raw.iloc[held].reset_index(drop=True))
    found = positions >= 0
    at = np.full(len(positions), -1, dtype=np.int64)
    at[found] = (np.cumsum(wanted) - 1)[positions[found]]  # its place among the rows held
    sends = changed_fields(changes, snapshot, at)
    # The request bodies are made (in pyarrow, without the GIL) while pandera validates;
    # those of rows found invalid are dropped after.
    verdict, bodies = both(
        lambda: validate(
            changes, raw_judged, table.headers,
            going_out={name: sends[send_column(name)] for name in VALUE_FIELDS},
            read_problems=table.problems,
            phone_check=config.input.phone_check,
        ),
        lambda: (sends.any(axis=1).to_numpy(), payload_json(changes, sends)),
    )
    sends = sends & (~verdict.invalid).to_numpy()[:, np.newaxis]

    results = plan_results(changes, rows, text_array(cells.column(ID_FIELD)), sends, verdict,
                           dry_run=config.dry_run, judged=judged, bodies=bodies)
    marks = np.zeros(size, dtype=bool)
    marks[judged] = sends.any(axis=1).to_numpy()
    going = pd.Series(marks)
    invalid = int(verdict.invalid.sum())
    log.info("%d rows read: %d to send, %d unchanged, %d invalid", size, int(going.sum()),
             size - int(going.sum()) - invalid, invalid)
    # By row number only: an invalid contactId cell may hold anything, even personal data.
    for row, problem in zip(changes["row"][verdict.invalid], verdict.fields[verdict.invalid],
                            strict=True):
        log.debug("row %d invalid: %s", row, problem, extra={"row": int(row)})
    changes.index = sends.index = pd.Index(judged)
    return results, changes, sends, going


def _rows_at(cells: pa.Table, at: np.ndarray) -> pd.DataFrame:
    """The reader's rows at positions ``at`` as a pandas frame indexed by those positions."""
    frame: pd.DataFrame = cells.take(pa.array(at)).to_pandas()
    frame.index = pd.Index(at)
    return frame


def _shared_contacts(held_at: np.ndarray, judged: np.ndarray, positions: np.ndarray,
                     ids: pd.Series, known: int) -> np.ndarray:
    """Rows whose normalized contactId is also on another row. Ids the snapshot holds are equal
    exactly when their snapshot rows are (``held_at`` for repeating rows, ``positions`` for
    the judged rows at ``judged``), so those are counted per snapshot row; the judged ids it
    lacks are compared among themselves."""
    size = len(held_at)
    repeating = held_at >= 0
    found = positions >= 0
    rows_per_contact = np.bincount(np.concatenate([held_at[repeating], positions[found]]),
                                   minlength=known)
    shared = np.zeros(size, dtype=bool)
    shared[repeating] = rows_per_contact[held_at[repeating]] > 1
    shared[judged[found]] = rows_per_contact[positions[found]] > 1
    if (~found).sum() > 1:
        lacking = ~found
        shared |= shared_keys(_keys(np.zeros(size, dtype=np.int64), judged[lacking],
                                    ids[lacking]), size)
    return shared


def _keys(repeating: np.ndarray, judged: np.ndarray,
          values: pd.Series) -> list[tuple[np.ndarray, np.ndarray]]:
    """Duplicate-check keys of every row: int64 keys of repeating rows (0: none), and the
    normalized ``values`` of the judged rows at ``judged`` (missing or "": none)."""
    array = text_array(values)
    usable = true_flags(pc.not_equal(array, ""))
    groups = []
    for index, (where, keys) in enumerate(key_groups(array, usable)):
        full_where = repeating != 0 if index == 0 else np.zeros(len(repeating), dtype=bool)
        full_keys = repeating.copy() if index == 0 else np.empty(len(repeating), dtype=object)
        full_where[judged[where]] = True
        full_keys[judged[where]] = keys[where]
        groups.append((full_where, full_keys))
    return groups


def _push(
    config: Config,
    token: str,
    updates: list[Update],
    results: pd.DataFrame,
    report: RunReport,
    journal: Journal,
    run_lock: RunLock,
    timing: Timing,
    stop: threading.Event,
    progress: ProgressFactory,
) -> tuple[dict[str, dict[str, str]], int]:
    """Send the updates; fill their results lines; return the contacts the API confirmed, and
    how many of those confirmations the journal could not take."""
    from sync_job.push.client import ClientSettings, ContactClient
    from sync_job.push.ratelimit import RateGate
    from sync_job.push.workers import push_updates

    settings = ClientSettings(
        base_url=config.api.base_url, token=token,
        connect_timeout=config.api.connect_timeout, read_timeout=config.api.read_timeout,
        max_attempts=config.push.max_attempts, backoff_initial=config.push.backoff_initial,
        backoff_max=config.push.backoff_max, max_retry_wait=config.push.max_retry_wait,
    )
    gate = RateGate(config.push.rate_limit, clock=timing.clock, sleep=timing.sleep)
    client = ContactClient(settings, gate=gate, sleep=timing.sleep, jitter=timing.jitter,
                           cancelled=stop.is_set)
    confirmed: dict[str, dict[str, str]] = {}
    journal_failures: list[str] = []
    lock_lost: list[bool] = []
    lock = threading.Lock()

    def check_lock() -> None:
        # Before a worker's next request: once the lock file is gone, another run may start
        # and work on the same snapshot and journal; send nothing more.
        if not run_lock.still_held():
            lock_lost.append(True)
            stop.set()

    def record(update: Update, outcome: Outcome) -> None:
        # Runs in the worker thread, before that worker starts its next request.
        fields = {"row": update.row, "contactId": update.contact_id}
        if outcome.status == "updated":
            # The server's word wins, also for fields not sent; without a body, what was sent.
            contact = outcome.contact or dict(update.payload)
            try:
                journal.record(run_id=report.run_id, contact_id=update.contact_id,
                               row=update.row, contact=contact, req_id=outcome.req_id)
            except sqlite3.Error as exc:
                with lock:
                    journal_failures.append(_journal_problem(journal.path, exc))
                stop.set()  # without a journal a crash could lose what is confirmed from here
            with lock:
                confirmed[update.contact_id] = contact
        check_lock()
        log.debug("row %d contact %s: %s (HTTP %s, %d attempt(s))", update.row,
                  update.contact_id, outcome.status, outcome.http_status, outcome.attempts,
                  extra=fields)
        display.advance(outcome.status)

    display = progress(len(updates))
    started = time.monotonic()
    check_lock()
    try:
        pushed = push_updates(updates, client, concurrency=config.push.concurrency,
                              on_outcome=record, stop=stop,
                              stop_after_failures=config.push.stop_after_failures)
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
    unsent = results["status"].eq("skipped")
    if pushed.aborted is not None:
        report.aborted_reason = pushed.aborted.message
        set_where(results, unsent, "message",
                  f"not sent: the run stopped after HTTP {pushed.aborted.http_status} "
                  f"({pushed.aborted.message})")
    elif lock_lost:
        report.aborted_reason = lock_lost_message(run_lock.path)
        log.error("%s", report.aborted_reason)
        set_where(results, unsent, "message", f"not sent: {report.aborted_reason}")
    elif journal_failures:
        report.aborted_reason = f"the journal could not be written ({journal_failures[0]})"
        log.error("%s; stopped sending; the updates confirmed so far go into the snapshot now",
                  report.aborted_reason)
        set_where(results, unsent, "message", f"not sent: {report.aborted_reason}")
    elif pushed.unavailable is not None:
        count = config.push.stop_after_failures
        report.unavailable_reason = (
            f"the API looks unavailable: {count} row(s) in a row failed without a usable answer "
            f"(the last: {pushed.unavailable.message}); re-run later to send the rest")
        log.error("%s", report.unavailable_reason)
        set_where(results, unsent, "message", f"not sent: {report.unavailable_reason}")
    return confirmed, len(journal_failures)


def _journal_problem(path: Path, exc: sqlite3.Error) -> str:
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return f"{path}: the disk is full ({exc})"
    return f"{path}: {exc}"


def _exit_code(report: RunReport, stop: threading.Event) -> int:
    if report.aborted_reason or report.unwritten:
        return ExitCode.ABORTED
    if report.unavailable_reason:
        return ExitCode.API_UNAVAILABLE
    if report.interrupted:
        return exit_code_of(stop)
    if report.braked_reason:
        return ExitCode.BRAKED
    if report.counts.get("invalid", 0) or report.counts.get("failed", 0):
        return ExitCode.ROWS_FAILED
    return ExitCode.OK
