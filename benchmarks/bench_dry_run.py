"""(d) A million-row dry run against pandas.read_csv, its peak memory, and linearity.

``sync-job run --dry-run`` on a 1,000,000-row changes file and a 1,000,000-row snapshot (about
55 MB each, 20% of rows changed, fixed seed), results CSV included, run as a subprocess and
timed from start to exit; peak memory is that child's max RSS (os.wait4).

Baseline, measured in the same run: ``pandas.read_csv(path, dtype=str)`` of the changes file,
also as a subprocess (interpreter start and ``import pandas`` included, as they are for the
job). Its in-process time is printed too. Targets: job / read_csv <= 1.8; max RSS <= 700 MiB;
time grows linearly: time(1M) / time(100k) <= 11 and time(3M) / time(1M) <= 3.3 (10x rows in
at most 11x time). Best of five runs of each (best of two for 3M rows), alternating: this
VM's speed drifts, and a slow spell should not decide the figure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from common import DATA, Outcome, made_elsewhere, make_dataset, report

MIB = 1 << 20
RUNS = 5  # of each side, alternating; the best of each counts


def run_child(args: list[str], allowed: tuple[int, ...] = (0,)) -> tuple[float, int, str]:
    """(wall seconds, max RSS bytes, stdout) of one child process, run in the data folder:
    the installed sync-job (not the source tree of the project folder), which must not pick
    up the demo's ./config.yaml there either: it runs on its defaults and the flags given."""
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=DATA)
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in allowed:
        raise RuntimeError(f"{args[:4]} exited {process.returncode}: {output.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024, output.decode()


def dry_run(changes: Path, snapshot: Path, results: Path,
            allowed: tuple[int, ...] = (0,)) -> tuple[float, int]:
    """(wall seconds, max RSS bytes) of a dry run; ``allowed``: its expected exit codes."""
    wall, rss, _ = run_child([sys.executable, "-m", "sync_job", "run", "--dry-run", "--quiet",
                              "--input", str(changes), "--snapshot", str(snapshot),
                              "--results", str(results)], allowed)
    return wall, rss


def read_csv(path: Path) -> tuple[float, float]:
    """(subprocess wall seconds, in-process seconds) of pandas.read_csv(path, dtype=str)."""
    code = ("import sys, time, pandas; t = time.perf_counter(); "
            f"pandas.read_csv({str(path)!r}, dtype=str); print(time.perf_counter() - t)")
    wall, _, output = run_child([sys.executable, "-c", code])
    return wall, float(output.strip().splitlines()[-1])


def main() -> int:
    made_elsewhere("make_dataset('dry-1000000', 1_000_000)\n"
                   "make_dataset('dry-100000', 100_000)\n"
                   "make_dataset('dry-3000000', 3_000_000)")
    big = make_dataset("dry-1000000", 1_000_000)
    small = make_dataset("dry-100000", 100_000)
    huge = make_dataset("dry-3000000", 3_000_000)
    print(f"  (d) changes {big.changes.stat().st_size / 1e6:.0f} MB, snapshot "
          f"{big.snapshot.stat().st_size / 1e6:.0f} MB", flush=True)
    out = DATA / "dry-run-results"
    pandas_walls, pandas_inner, job_walls, job_rss, small_walls = [], [], [], [], []
    for attempt in range(RUNS):
        wall, inner = read_csv(big.changes)
        pandas_walls.append(wall)
        pandas_inner.append(inner)
        wall, rss = dry_run(big.changes, big.snapshot, out / "results-1m.csv")
        job_walls.append(wall)
        job_rss.append(rss)
        small_walls.append(dry_run(small.changes, small.snapshot, out / "results-100k.csv")[0])
        print(f"  (d) run {attempt + 1}: read_csv {pandas_walls[-1]:.2f} s "
              f"({pandas_inner[-1]:.2f} s in-process); dry run 1M {job_walls[-1]:.2f} s, "
              f"{job_rss[-1] / 2**20:.0f} MiB; dry run 100k {small_walls[-1]:.2f} s", flush=True)
    huge_walls = [dry_run(huge.changes, huge.snapshot, out / "results-3m.csv")[0]
                  for _ in range(2)]
    print(f"  (d) dry run 3M {min(huge_walls):.2f} s", flush=True)
    job, pandas_wall, inner = min(job_walls), min(pandas_walls), min(pandas_inner)
    rss = max(job_rss)
    linear = job / min(small_walls)
    onward = min(huge_walls) / job
    return report([
        Outcome("(d) dry run 1M rows wall s", f"{job:.2f}", "", None),
        Outcome("(d) pandas.read_csv wall s (in-process)", f"{pandas_wall:.2f} ({inner:.2f})",
                "", None),
        Outcome("(d) dry run / read_csv (both processes)", f"{job / pandas_wall:.2f}",
                "<= 1.8", job / pandas_wall <= 1.8),
        Outcome("(d) dry run / read_csv in-process time", f"{job / inner:.2f}", "printed", None),
        Outcome("(d) dry run peak RSS", f"{rss / MIB:.0f} MiB", "<= 700 MiB", rss <= 700 * MIB),
        Outcome("(d) time 1M / time 100k", f"{linear:.1f}", "<= 11", linear <= 11),
        Outcome("(d) time 3M / time 1M", f"{onward:.1f}", "<= 3.3", onward <= 3.3),
    ])


if __name__ == "__main__":
    sys.exit(main())
