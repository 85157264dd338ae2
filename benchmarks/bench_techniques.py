"""What each speed technique of the dry run buys: the job as built against the same job with
one technique taken out, on the million-row files of ``bench_dry_run.py``.

Each variant is the installed ``sync_job`` package copied to ``.data/techniques/<variant>/``
with one small change to its source (each change is checked to apply, so a variant cannot
silently measure the job as built), or an environment variable. Runs alternate between the
variants, best of ``RUNS`` each, as subprocesses (``python -m sync_job run --dry-run``), and
print per variant its best wall time, its peak RSS and its time as a ratio to the job as
built. Not part of ``make bench`` (it takes a few minutes); after one ``make bench``:

    .venv-bench/bin/python benchmarks/bench_techniques.py [RUNS]

docs/performance.md keeps the figures it printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import DATA, made_elsewhere, make_dataset

import sync_job

MIB = 1 << 20


@dataclass(frozen=True)
class Variant:
    name: str
    edits: list[tuple[str, str, str]] = field(default_factory=list)
    """(file under sync_job/, text as built, text instead)"""
    env: dict[str, str] = field(default_factory=dict)


VARIANTS = [
    Variant("as built"),
    Variant("changes file and snapshot read one after the other, not side by side", [
        ("read/prefetch.py", "threading.Thread(target=run, name=name, daemon=True).start()",
         "run()")]),
    Variant("no repeat check: every row normalized, diffed and validated", [
        ("plan/make.py", "repeating = rows_repeating_snapshot(",
         "repeating = np.zeros(cells.num_rows, dtype=bool) if True else "
         "rows_repeating_snapshot(")]),
    Variant("whole numbers found by regex, not by an int64 parse", [
        ("plan/arrow.py", "parsed = pc.cast(array, pa.int64()) if not array.null_count else None",
         "parsed = None")]),
    Variant("snapshot ids looked up in a hash index, never a direct table", [
        ("plan/diff.py", "if 0 < span <= 4 * len(keys) + 1024:", "if False:")]),
    Variant("phonenumbers asked once per distinct number, not per (code, length)", [
        ("plan/phones.py", 'if check == "possible":\n        return possible_phone_numbers(digits)',
         "if False:\n        return possible_phone_numbers(digits)")]),
    Variant("email-validator asked once per distinct address, not per domain", [
        ("plan/emails.py", "return true_flags(pc.is_null(email_problems(addresses)))",
         "return true_flags(pc.is_null(per_distinct(addresses, email_problem, "
         "pa.large_string())))")]),
    Variant("pyarrow on its default allocator (mimalloc), not jemalloc",
            env={"ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}),
    Variant("pyarrow on the system allocator (glibc malloc)",
            env={"ARROW_DEFAULT_MEMORY_POOL": "system"}),
    Variant("the interpreter torn down at exit, object by object", [
        ("process.py", "    os._exit(code)", "    sys.exit(code)")]),
]


def prepare(variant: Variant, folder: Path) -> Path:
    """A copy of the installed sync_job with the variant's edits; the folder to put on
    PYTHONPATH."""
    home = folder / variant.name.split(":")[0].replace(" ", "-").replace(",", "")
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(Path(sync_job.__file__).parent, home / "sync_job",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name, built, instead in variant.edits:
        path = home / "sync_job" / name
        text = path.read_text(encoding="utf-8")
        if text.count(built) != 1:
            raise SystemExit(f"{variant.name}: {name} no longer holds {built!r} once; "
                             "update the variant to the code as built")
        path.write_text(text.replace(built, instead), encoding="utf-8")
    return home


def dry_run(home: Path, variant: Variant, changes: Path, snapshot: Path,
            results: Path) -> tuple[float, int]:
    """(wall seconds, peak RSS bytes) of one dry run of the variant."""
    env = {**os.environ, "PYTHONPATH": str(home), **variant.env}
    args = [sys.executable, "-m", "sync_job", "run", "--dry-run", "--quiet", "--input",
            str(changes), "--snapshot", str(snapshot), "--results", str(results)]
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               cwd=DATA, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        error = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{variant.name}: exit {code}\n{error[-2000:]}")
    return wall, usage.ru_maxrss * 1024


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    made_elsewhere("make_dataset('dry-1000000', 1_000_000)")
    data = make_dataset("dry-1000000", 1_000_000)
    folder = DATA / "techniques"
    homes = [prepare(variant, folder) for variant in VARIANTS]
    results = folder / "results.csv"
    for home, variant in zip(homes, VARIANTS, strict=True):  # compiles each copy's bytecode
        dry_run(home, variant, data.changes, data.snapshot, results)
    walls: list[list[float]] = [[] for _ in VARIANTS]
    peaks: list[list[int]] = [[] for _ in VARIANTS]
    for attempt in range(runs):
        for at, (home, variant) in enumerate(zip(homes, VARIANTS, strict=True)):
            wall, rss = dry_run(home, variant, data.changes, data.snapshot, results)
            walls[at].append(wall)
            peaks[at].append(rss)
        print(f"  run {attempt + 1}/{runs}: "
              + ", ".join(f"{w[-1]:.2f}" for w in walls), flush=True)
    built = min(walls[0])
    print(f"\n1M-row dry run, best of {runs} each, alternating\n")
    print(f"{'variant':<72} {'wall s':>7} {'÷ built':>8} {'peak MiB':>9}")
    for variant, wall, peak in zip(VARIANTS, walls, peaks, strict=True):
        print(f"{variant.name:<72} {min(wall):>7.2f} {min(wall) / built:>8.2f} "
              f"{max(peak) / MIB:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
