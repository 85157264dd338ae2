"""(e) Files that make validation work hard plan in linear time, and no results cell grows.

Three 1,000,000-row changes files against the same kind of 1,000,000-row snapshot as (d):
10% of rows with an invalid e-mail; 5% of rows taking the number another contact keeps (a
conflicting swap: 10% of rows invalid, each naming the other); 100,000 rows sharing one
placeholder phone number. Each is dry-run as a subprocess and timed against the plain file of
(d), measured in the same run, alternating, best of three of each. Targets: each <= 2x the plain
dry run; no cell of any results file longer than 1,000 characters.
"""

from __future__ import annotations

import sys

import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from bench_dry_run import dry_run
from common import DATA, Outcome, made_elsewhere, make_dataset, report

RUNS = 3
MAX_CELL = 1000


def longest_cell(path: object) -> int:
    table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(
        column_types={}, strings_can_be_null=False, auto_dict_encode=False))
    longest = 0
    for column in table.columns:
        lengths = pc.utf8_length(column.cast("string"))
        longest = max(longest, pc.max(lengths).as_py() or 0)
    return longest


def main() -> int:
    made_elsewhere("make_dataset('dry-1000000', 1_000_000)\n"
                   "make_dataset('dry-1000000-invalid', 1_000_000, invalid_emails=0.10)\n"
                   "make_dataset('dry-1000000-swaps', 1_000_000, swaps=0.05)\n"
                   "make_dataset('dry-1000000-shared', 1_000_000, shared_number=100_000)")
    plain = make_dataset("dry-1000000", 1_000_000)
    shapes = {
        "10% invalid e-mails": make_dataset("dry-1000000-invalid", 1_000_000,
                                            invalid_emails=0.10),
        "5% conflicting swaps": make_dataset("dry-1000000-swaps", 1_000_000, swaps=0.05),
        "100k rows, one number": make_dataset("dry-1000000-shared", 1_000_000,
                                              shared_number=100_000),
    }
    out = DATA / "plan-shapes-results"
    plain_walls: list[float] = []
    walls: dict[str, list[float]] = {name: [] for name in shapes}
    for attempt in range(RUNS):
        plain_walls.append(dry_run(plain.changes, plain.snapshot, out / "plain.csv")[0])
        for index, (name, dataset) in enumerate(shapes.items()):
            walls[name].append(dry_run(dataset.changes, dataset.snapshot,
                                       out / f"shape-{index}.csv", allowed=(1,))[0])
        print(f"  (e) run {attempt + 1}: plain {plain_walls[-1]:.2f} s; " + "; ".join(
            f"{name} {times[-1]:.2f} s" for name, times in walls.items()), flush=True)
    base = min(plain_walls)
    outcomes = [Outcome("(e) plain 1M dry run wall s", f"{base:.2f}", "", None)]
    for name, times in walls.items():
        ratio = min(times) / base
        outcomes.append(Outcome(f"(e) {name} / plain", f"{ratio:.2f} ({min(times):.2f} s)",
                                "<= 2", ratio <= 2))
    longest = max(longest_cell(out / name) for name in
                  ["plain.csv", *(f"shape-{i}.csv" for i in range(len(shapes)))])
    outcomes.append(Outcome("(e) longest results cell", f"{longest} characters",
                            f"<= {MAX_CELL}", longest <= MAX_CELL))
    return report(outcomes)


if __name__ == "__main__":
    sys.exit(main())
