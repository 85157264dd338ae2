"""The ``sync-job`` command: parse arguments, load config, call the library, print, map
errors to exit codes. The work is the library's (``pipeline.run_sync``, ``simulator.serve``);
the process settings the command makes for itself are in ``process``.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from sync_job import __version__
from sync_job.config import default_config_path, load_config
from sync_job.errors import ConfigError, ExitCode, StartupError
from sync_job.fields import STATUSES
from sync_job.logs import LOG_FORMATS, configure_logging, event_line
from sync_job.process import exit_now, use_jemalloc
from sync_job.push.progress import progress_for
from sync_job.stopping import StopRequest, stop_on_signals

if TYPE_CHECKING:
    from sync_job.pipeline import RunReport


log = logging.getLogger("sync_job")

RUN_EPILOG = """\
exit codes:
  0  every row updated or unchanged (dry run: planned or unchanged)
  1  the run finished, and some rows failed, or more are invalid than
     push.max_invalid allows (see the results file)
  2  the run could not start (bad config, input, flag or missing token, another run
     holds the lock, a file it would write is one it reads or keeps): nothing was
     sent and no file was changed but for the run's line in the run history
  3  aborted: the API answered 401 or 402, the journal could not be written, or the
     lock file was removed during the run, so no further request was sent; or a file
     could not be written (a full disk): the journal keeps every confirmed update
  4  safety brake: more updates planned than push.max_changes allows; nothing sent
     (review the results, then re-run with --force)
  5  API unavailable: push.stop_after_failures rows in a row got no usable answer
     (connection errors, 5xx, answers that are not the API's, redirects, an over-long
     Retry-After), so no further request was sent; re-run later to send the rest
 70  internal error (a bug in sync-job): nothing confirmed is lost; please report it
130  interrupted by SIGINT (Ctrl-C); 143: by SIGTERM. In-flight requests finished,
     results and snapshot written; re-run the same command to send the rest
"""


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def _how_many(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {text!r}")
    return value


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


class UsageError(Exception):
    """A command line argparse cannot take; raised instead of exiting, so the command can say
    it as text or as a JSON line."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    # Its subcommands' parsers are of this class too (argparse makes them with type(self)).
    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sync-job",
        description="Keep the contacts of a Huduma SMS account in step with a file of changes: "
                    "validate every row, send only what changed, report row by row.",
    )
    parser.add_argument("--version", action="version", version=f"sync-job {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="validate, diff and push a changes file; write results and the snapshot",
        description="Validate every row of the changes file, compare it with the snapshot, send "
                    "only the changed fields with PUT /contacts/{contactId}, and write a results "
                    "file (CSV, or .xlsx) with one line per input row.",
        epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--config", type=Path, metavar="PATH",
                     help="config file (default: ./config.yaml when it exists, else defaults)")
    run.add_argument("--input", type=Path, metavar="PATH",
                     help="changes file to apply (overrides input.path)")
    run.add_argument("--snapshot", type=Path, metavar="PATH",
                     help="snapshot of what the platform holds; read and rewritten by the run "
                          "(overrides snapshot.path)")
    run.add_argument("--results", type=Path, metavar="PATH",
                     help="where to write the results: a CSV, or a workbook when the path ends "
                          "in .xlsx (overrides results.path and results.format)")
    run.add_argument("--sheet", metavar="NAME",
                     help="for a workbook (.xlsx, .ods): the sheet to read, capitals ignored "
                          "(default: the first with a contactId column; overrides input.sheet)")
    run.add_argument("--base-url", metavar="URL",
                     help="API base URL, e.g. https://sms-api.huduma.cloud/api/v3 "
                          "(overrides api.base_url)")
    run.add_argument("--concurrency", type=_whole_number, metavar="N",
                     help="requests in flight at once (overrides push.concurrency)")
    run.add_argument("--rate-limit", type=_number, metavar="R",
                     help="requests per second over all workers, 0 = no limit "
                          "(overrides push.rate_limit)")
    run.add_argument("--dry-run", action="store_true",
                     help="send nothing, need no token, leave the snapshot alone; write results "
                          "with 'planned' rows and the exact payload each would send")
    run.add_argument("--max-changes", metavar="N|P%",
                     help="safety brake: send nothing and exit 4 when more updates than this are "
                          "planned, e.g. 500 or 10%% (of the snapshot's contacts); 'off' disables "
                          "(overrides push.max_changes)")
    run.add_argument("--force", action="store_true",
                     help="let this run through the safety brake once")
    run.add_argument("--max-invalid", metavar="N|P%",
                     help="invalid rows the run may have and still exit 0 (with a warning), "
                          "e.g. 5 or 2%% (of the file's rows); default 0 "
                          "(overrides push.max_invalid)")
    run.add_argument("--summary", type=Path, metavar="PATH",
                     help="where to write the run summary JSON (overrides results.summary; "
                          "default: beside the results file, e.g. results/results.summary.json)")
    run.add_argument("--no-report", action="store_true",
                     help="write no HTML report beside the results file (overrides "
                          "results.report; default: results/results.csv gets "
                          "results/results.html)")
    run.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                     help="text (default), or json: every line on stdout and stderr is one "
                          "JSON object carrying the run id, the final summary included")
    loudness = run.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="debug detail on stderr (rows by number and contactId, never "
                               "personal data or the token)")
    loudness.add_argument("-q", "--quiet", action="store_true",
                          help="no progress bar or progress lines, and log only warnings and "
                               "errors; the final summary still prints")

    runs = commands.add_parser(
        "runs", help="list recent runs from the run history beside the snapshot",
        description="List recent runs, oldest first and newest last, from the run history "
                    "(<snapshot>.runs.jsonl): when each ended, dry or live, exit code and "
                    "outcome, the input file and its SHA-256, the counts, and why it stopped.",
    )
    runs.add_argument("-n", type=_how_many, default=20, metavar="N",
                      help="show the last N runs (default: 20; 0: all)")
    runs.add_argument("--json", action="store_true",
                      help="print the history's lines as they are: one JSON summary per run")
    runs.add_argument("--config", type=Path, metavar="PATH",
                      help="config file naming the snapshot (default: ./config.yaml when it "
                           "exists)")
    runs.add_argument("--snapshot", type=Path, metavar="PATH",
                      help="the snapshot whose history to read (then no config is read)")

    sim = commands.add_parser(
        "simulate", help="serve the bundled Huduma API simulator on loopback",
        description="Serve PUT /api/v3/contacts/{contactId} as the Huduma reference describes, "
                    "on a loopback address, for trying the job and for tests.",
    )
    sim.add_argument("--host", default="127.0.0.1",
                     help="loopback address to listen on (default: 127.0.0.1)")
    sim.add_argument("--port", type=_whole_number, default=8765,
                     help="port to listen on (default: 8765; 0 picks a free one)")
    sim.add_argument("--contacts", type=Path, metavar="PATH",
                     help="contacts to serve, in snapshot format (contactId,names,number,email)")
    sim.add_argument("--token", default=None,
                     help="the token clients must send (default: $HUDUMA_API_TOKEN)")
    sim.add_argument("--latency-ms", type=_number, default=0.0, metavar="N",
                     help="delay every request by N milliseconds (default: 0)")
    sim.add_argument("--fail-rate", type=_number, default=0.0, metavar="P",
                     help="answer this share of updates (0..1) with HTTP 500 (default: 0)")
    sim.add_argument("--rate-limit", type=_number, default=0.0, metavar="R",
                     help="answer 429 with Retry-After above R requests per second "
                          "(default: 0 = no limit)")
    return parser


def _log_level(args: argparse.Namespace) -> int:
    if getattr(args, "verbose", False):
        return logging.DEBUG
    if getattr(args, "quiet", False):
        return logging.WARNING
    return logging.INFO


def format_summary(report: RunReport) -> str:
    """The end-of-run summary: counts per status (every status, also ``planned`` in a live
    run, where the brake leaves rows planned), elapsed time, the files written, and what to
    do with the rejects file."""
    title = "dry run finished" if report.dry_run else "run finished"
    lines = [f"sync-job: {title} in {report.elapsed:.1f} s, exit code {report.exit_code} "
             f"({report.outcome})"]
    if report.aborted_reason:
        lines.append(f"  stopped early: {report.aborted_reason}")
    if report.unavailable_reason:
        lines.append(f"  stopped early: {report.unavailable_reason}")
    if report.interrupted:
        lines.append("  stopped early: interrupted; re-run the same command to send the rest")
    if report.braked_reason:
        lines.append(f"  safety brake: {report.braked_reason}")
    lines.extend(f"  not written: {problem}" for problem in report.unwritten)
    if report.folded:
        lines.append(f"  folded     {report.folded:>8}  (confirmed by an earlier run that did "
                     f"not finish)")
    for status in STATUSES:
        lines.append(f"  {status:<10} {report.counts.get(status, 0):>8}")
    if 0 < report.counts.get("invalid", 0) <= report.invalid_allowed:
        lines.append(f"  (the invalid rows are within push.max_invalid, {report.invalid_allowed} "
                     f"allowed: they do not fail the run)")
    if report.problems:
        lines.append("  problems (rows with each code; see the results' problem_codes)")
        width = max(len(code) for code in report.problems)
        lines.extend(f"    {code:<{width}} {rows:>6}" for code, rows in report.problems.items())
    if not report.dry_run:
        lines.append(f"  {'requests':<10} {report.requests:>8}  ({report.retries} retries, "
                     f"{report.throttled} answered 429)")
        sent = sum(report.counts.get(status, 0) for status in ("updated", "failed"))
        rate = f", {sent / report.push_seconds:.1f} rows/s" if report.push_seconds > 0 else ""
        lines.append(f"  push       {report.push_seconds:.1f} s{rate}")
    lines.append(f"  results    {report.results_path}")
    if report.summary_path is not None:
        lines.append(f"  summary    {report.summary_path}")
    if report.report_path is not None:
        lines.append(f"  report     {report.report_path}")
    if report.rejects_path is not None:
        rejected = report.counts.get("invalid", 0) + report.counts.get("failed", 0)
        lines.append(f"  rejects    {report.rejects_path}  ({rejected} invalid or failed rows, "
                     f"as they were read)")
        lines.append(f"             fix the rows in {report.rejects_path} and run again with "
                     f"--input {report.rejects_path}")
    return "\n".join(lines)


class Say:
    """What the command prints besides its log: text for people, or with ``--log-format
    json`` one JSON object per line carrying the run id."""

    def __init__(self, *, json_lines: bool, run_id: str) -> None:
        self.json_lines = json_lines
        self.run_id = run_id

    def summary(self, report: RunReport) -> None:
        if not self.json_lines:
            print(format_summary(report), flush=True)
            return
        level = "info" if report.exit_code == ExitCode.OK else "error"
        title = "dry run finished" if report.dry_run else "run finished"
        print(event_line("summary", run_id=self.run_id, level=level,
                         message=f"{title}: exit code {report.exit_code} ({report.outcome})",
                         fields=report.summary), flush=True)

    def problem(self, event: str, message: str, exit_code: int, *, label: str = "",
                **fields: Any) -> None:
        """On stderr: ``sync-job: <label><message>``, or an ``event`` line with the exit
        code."""
        if self.json_lines:
            line = event_line(event, run_id=self.run_id, level="error", message=message,
                              fields={"exit_code": exit_code, **fields})
        else:
            line = f"sync-job: {label}{message}"
        print(line, file=sys.stderr, flush=True)

    def usage(self, exc: UsageError) -> int:
        if self.json_lines:
            self.problem("usage_error", exc.message, ExitCode.CANNOT_START,
                         usage=exc.parser.format_usage().strip())
        else:  # as argparse itself says it
            exc.parser.print_usage(sys.stderr)
            print(f"{exc.parser.prog}: error: {exc.message}", file=sys.stderr, flush=True)
        return ExitCode.CANNOT_START


def _asks_for_json(argv: Sequence[str]) -> bool:
    """Whether ``argv`` says ``--log-format json`` (or an abbreviation argparse accepts),
    found before parsing, so that even a usage error is said as JSON."""
    for at, arg in enumerate(argv):
        name, _, value = arg.partition("=")
        if len(name) >= 3 and "--log-format".startswith(name):
            following = argv[at + 1] if at + 1 < len(argv) else ""
            return (value if "=" in arg else following) == "json"
    return False


def _run(args: argparse.Namespace, run_id: str, say: Say) -> int:
    overrides = {
        "input": args.input, "snapshot": args.snapshot, "results": args.results,
        "base_url": args.base_url, "concurrency": args.concurrency, "rate_limit": args.rate_limit,
        "sheet": args.sheet, "max_changes": args.max_changes, "summary": args.summary,
        "max_invalid": args.max_invalid, "report": False if args.no_report else None,
    }
    started_at = datetime.now(UTC)
    try:
        config = load_config(args.config or default_config_path(), overrides,
                             dry_run=args.dry_run, force=args.force)
    except ConfigError as exc:
        # run_sync is never called, so the run's line in the history is the command's.
        _record_config_error(exc, run_id, started_at, args.dry_run)
        raise
    use_jemalloc()
    from sync_job.pipeline import run_sync

    progress = progress_for(sys.stderr, quiet=args.quiet, lines=say.json_lines)
    with stop_on_signals(StopRequest()) as stop:
        report = run_sync(config, stop=stop, progress=progress, run_id=run_id)
    say.summary(report)
    return report.exit_code


def _record_config_error(exc: ConfigError, run_id: str, started_at: datetime,
                         dry_run: bool) -> None:
    """The history's ``cannot_start`` line of a config that does not load, when its problems
    leave the snapshot known (else there is no history to write to)."""
    from sync_job.report.summary import RunFacts, unstarted_summary
    from sync_job.state.ledger import record_run

    if exc.snapshot_path is None:
        return
    facts = RunFacts(run_id=run_id, started_at=started_at, ended_at=datetime.now(UTC),
                     snapshot_path=exc.snapshot_path)
    record_run(exc.snapshot_path, unstarted_summary(
        facts, exit_code=ExitCode.CANNOT_START, dry_run=dry_run, message=str(exc)))


def _runs(args: argparse.Namespace) -> int:
    from sync_job.report.history import format_runs
    from sync_job.state.ledger import ledger_path_for, read_runs

    if args.snapshot is not None:
        snapshot = args.snapshot.absolute()
    else:
        snapshot = load_config(args.config or default_config_path()).snapshot.path
    path = ledger_path_for(snapshot)
    runs, unreadable = read_runs(path)
    if unreadable:
        log.warning("%s: %d line(s) could not be read (a run cut short while writing its line)",
                    path, unreadable)
    shown = runs[-args.n:] if args.n else runs
    if args.json:
        for run in shown:
            print(json.dumps(run, ensure_ascii=False), flush=True)
    elif not runs:
        print(f"no run recorded yet in {path}", flush=True)
    else:
        print(format_runs(shown), flush=True)
    return ExitCode.OK


def _simulate(args: argparse.Namespace) -> int:
    from sync_job.simulator import serve

    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise StartupError(f"--host {args.host}: the simulator only listens on loopback "
                           f"addresses such as 127.0.0.1")
    token = args.token or os.environ.get("HUDUMA_API_TOKEN", "")
    if not token:
        raise StartupError("the simulator needs a token: pass --token or set HUDUMA_API_TOKEN")
    if not 0.0 <= args.fail_rate <= 1.0:
        raise StartupError(f"--fail-rate: expected a share between 0 and 1, got {args.fail_rate}")
    try:
        serve(contacts_path=args.contacts, host=args.host, port=args.port, token=token,
              latency_ms=args.latency_ms, fail_rate=args.fail_rate, rate_limit=args.rate_limit)
    except (ValueError, OSError) as exc:
        raise StartupError(f"simulator: {exc}") from None
    return 0


def console() -> NoReturn:
    """The ``sync-job`` command (and ``python -m sync_job``): :func:`main`, then exit at once
    (``sync_job.process``)."""
    exit_now(main())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sync-job`` console script and ``python -m sync_job``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    # The run's id comes first: every line of this run carries it, a usage error's included.
    run_id = uuid.uuid4().hex
    say = Say(json_lines=_asks_for_json(argv), run_id=run_id)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return say.usage(exc)
    configure_logging(level=_log_level(args), log_format=getattr(args, "log_format", "text"),
                      run_id=run_id)
    try:
        if args.command == "run":
            return _run(args, run_id, say)
        return _runs(args) if args.command == "runs" else _simulate(args)
    except StartupError as exc:
        problems = {"problems": exc.problems} if isinstance(exc, ConfigError) else {}
        say.problem("cannot_start", str(exc), ExitCode.CANNOT_START, label="error: ",
                    **problems)
        return ExitCode.CANNOT_START
    except KeyboardInterrupt:
        say.problem("interrupted", "interrupted", ExitCode.SIGINT)
        return ExitCode.SIGINT
    except Exception as exc:  # a bug: say so briefly; never dump locals that may hold the token
        import traceback

        trace = traceback.format_exc(limit=20) if getattr(args, "verbose", False) else ""
        in_json = {"traceback": trace} if trace and say.json_lines else {}
        say.problem("internal_error", f"internal error: {type(exc).__name__}: {exc}",
                    ExitCode.INTERNAL_ERROR, **in_json)
        if trace and not say.json_lines:
            print(trace, end="", file=sys.stderr, flush=True)
        return ExitCode.INTERNAL_ERROR
