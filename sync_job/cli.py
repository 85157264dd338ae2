"""The ``sync-job`` command: parse arguments, load config, call the library, print, map
errors to exit codes. The work is the library's (``pipeline.run_sync``, ``simulator.serve``);
the process settings the command makes for itself are in ``process``.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from sync_job import __version__
from sync_job.config import default_config_path, load_config
from sync_job.errors import ExitCode, StartupError
from sync_job.fields import STATUSES
from sync_job.logs import LOG_FORMATS, configure_logging
from sync_job.process import exit_now, use_jemalloc
from sync_job.push.progress import progress_for
from sync_job.read.prefetch import read_soon
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
     sent and no file was changed
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


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
                    "CSV with one line per input row.",
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
                     help="where to write the results CSV (overrides results.path)")
    run.add_argument("--sheet", metavar="NAME",
                     help="for an .xlsx input: the sheet to read (default: the first; "
                          "overrides input.sheet)")
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
    run.add_argument("--log-format", choices=LOG_FORMATS, default="text",
                     help="log lines on stderr as text (default) or one JSON object per line")
    loudness = run.add_mutually_exclusive_group()
    loudness.add_argument("-v", "--verbose", action="store_true",
                          help="debug detail on stderr (rows by number and contactId, never "
                               "personal data or the token)")
    loudness.add_argument("-q", "--quiet", action="store_true",
                          help="no progress bar or progress lines, and log only warnings and "
                               "errors; the final summary still prints")

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
    run, where the brake leaves rows planned), elapsed time, results path."""
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
    if not report.dry_run:
        lines.append(f"  {'requests':<10} {report.requests:>8}  ({report.retries} retries, "
                     f"{report.throttled} answered 429)")
        sent = sum(report.counts.get(status, 0) for status in ("updated", "failed"))
        rate = f", {sent / report.push_seconds:.1f} rows/s" if report.push_seconds > 0 else ""
        lines.append(f"  push       {report.push_seconds:.1f} s{rate}")
    lines.append(f"  results    {report.results_path}")
    if report.summary_path is not None:
        lines.append(f"  summary    {report.summary_path}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    overrides = {
        "input": args.input, "snapshot": args.snapshot, "results": args.results,
        "base_url": args.base_url, "concurrency": args.concurrency, "rate_limit": args.rate_limit,
        "sheet": args.sheet, "max_changes": args.max_changes, "summary": args.summary,
        "max_invalid": args.max_invalid,
    }
    config = load_config(args.config or default_config_path(), overrides,
                         dry_run=args.dry_run, force=args.force)
    use_jemalloc()
    # The files are read while pandas and the rest of the job are imported (a third of a
    # second); run_sync raises what reading found, in its turn.
    reading = read_soon(config)
    from sync_job.pipeline import run_sync

    with stop_on_signals(StopRequest()) as stop:
        report = run_sync(config, stop=stop, progress=progress_for(sys.stderr, quiet=args.quiet),
                          reading=reading)
    print(format_summary(report), flush=True)
    return report.exit_code


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
    args = build_parser().parse_args(argv)
    configure_logging(level=_log_level(args), log_format=getattr(args, "log_format", "text"))
    try:
        return _run(args) if args.command == "run" else _simulate(args)
    except StartupError as exc:
        print(f"sync-job: error: {exc}", file=sys.stderr, flush=True)
        return ExitCode.CANNOT_START
    except KeyboardInterrupt:
        print("sync-job: interrupted", file=sys.stderr, flush=True)
        return ExitCode.SIGINT
    except Exception as exc:  # a bug: say so briefly; never dump locals that may hold the token
        print(f"sync-job: internal error: {type(exc).__name__}: {exc}", file=sys.stderr,
              flush=True)
        if getattr(args, "verbose", False):
            import traceback

            traceback.print_exc(limit=20, file=sys.stderr)
        return ExitCode.INTERNAL_ERROR
