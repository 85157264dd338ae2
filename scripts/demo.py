"""``make demo``: the whole job on the sample data, against the bundled simulator.

Works on copies in ``.demo/`` (or the folder ``--scratch`` names) so the committed samples
never change and the demo can run again and again. Four runs show the product:

1. a dry run, as an operator checks a file: what would be sent, row by row, with nothing sent
   (``results/check.csv``, and its HTML report ``results/check.html``);
2. the live run: valid changed rows are sent, everything else is explained
   (``results/results.csv`` and ``results/results.html``), and the rejects file holds the
   invalid and failed rows as they were typed;
3. the same command again: what was confirmed is now unchanged, so re-running is safe;
4. one row of the rejects file fixed, as an operator would, and the file passed back with
   ``--input``: only the fixed row is sent;

then ``sync-job runs`` lists the four from the run history kept beside the snapshot, and the
demo says where the HTML reports are.

Exits 0 when every run ended as the sample data intends (the job itself exits 1, because the
sample holds invalid rows and rows the API rejects on purpose).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / ".demo"
# A stand-in for the real token: the simulator accepts it, the real API never would.
DEMO_TOKEN = "demo-token-for-the-simulator"


def start_simulator(env: dict[str, str], scratch: Path) -> tuple[subprocess.Popen[str], str]:
    simulator = subprocess.Popen(
        [sys.executable, "-m", "sync_job", "simulate", "--port", "0",
         "--contacts", str(scratch / "server_contacts.csv")],
        env=env, stdout=subprocess.PIPE, text=True,
    )
    assert simulator.stdout is not None
    line = simulator.stdout.readline().strip()
    if "listening on " not in line:
        simulator.kill()
        sys.exit(f"demo: the simulator did not start ({line!r})")
    return simulator, line.split("listening on ", 1)[1]


def run_job(title: str, args: list[str], env: dict[str, str], scratch: Path) -> int:
    print(f"\n=== {title}\n$ sync-job {' '.join(args)}", flush=True)
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", "sync_job", *args], env=env, cwd=scratch)
    print(f"(exit code {code}, {time.monotonic() - started:.1f} s)", flush=True)
    return code


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def show_results(path: Path) -> None:
    rows = read_results(path)
    print(f"\n{'row':>4}  {'contactId':<9}  {'status':<9}  {'sent':<12}  message / errors")
    for r in rows:
        detail = r["errors"] or r["message"]
        if len(detail) > 90:
            detail = detail[:87] + "..."
        print(f"{r['row']:>4}  {r['contactId']:<9}  {r['status']:<9}  {r['fields_sent']:<12}  "
              f"{detail}")


def show_rejects(path: Path, scratch: Path, lines: int = 6) -> None:
    """The rejects file's path and its first lines, as a text editor shows them."""
    text = path.read_text(encoding="utf-8-sig").splitlines()
    print(f"\nrejects file {path.relative_to(scratch)} ({len(text) - 1} rows, as they were "
          f"typed, then row and error):")
    for line in text[:lines]:
        print("  " + (line if len(line) <= 110 else line[:107] + "..."))
    if len(text) > lines:
        print(f"  ... {len(text) - lines} more")


def fix_a_row(path: Path, scratch: Path, contact_id: str, column: str, value: str) -> None:
    """Change one cell of the rejects file, as an operator would in a spreadsheet."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    at = rows[0].index(column)
    for row in rows[1:]:
        if row[0] == contact_id:
            row[at] = value
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    print(f"\n(fixed {column} of contact {contact_id} in {path.relative_to(scratch)}: {value})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The whole job on the sample data, against "
                                                 "the bundled simulator.")
    parser.add_argument("--scratch", type=Path, default=SCRATCH,
                        help="the folder to work in, emptied first (default: .demo)")
    scratch: Path = parser.parse_args(argv).scratch.absolute()
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    shutil.copy(ROOT / "sample_data" / "changes.csv", scratch / "changes.csv")
    shutil.copy(ROOT / "sample_data" / "snapshot.csv", scratch / "server_contacts.csv")
    (scratch / "state").mkdir()
    shutil.copy(ROOT / "sample_data" / "snapshot.csv", scratch / "state" / "snapshot.csv")

    env = {**os.environ, "HUDUMA_API_TOKEN": DEMO_TOKEN}
    simulator, base_url = start_simulator(env, scratch)
    try:
        (scratch / "config.yaml").write_text(
            "api:\n"
            f"  base_url: {base_url}\n"
            "input:\n  path: changes.csv\n"
            "snapshot:\n  path: state/snapshot.csv\n"
            "results:\n  path: results/results.csv\n"
            "push:\n  concurrency: 4\n  rate_limit: 50\n",
            encoding="utf-8",
        )
        print(f"demo: simulator at {base_url}; working in {scratch}")
        check = scratch / "results" / "check.csv"
        results = scratch / "results" / "results.csv"
        codes = [run_job("1. dry run, as an operator checks a file: nothing is sent",
                         ["run", "--dry-run", "--results", "results/check.csv"], env, scratch)]
        show_results(check)
        rejects = results.with_name("results.rejects.csv")
        codes.append(run_job("2. live run against the simulator", ["run"], env, scratch))
        show_results(results)
        show_rejects(rejects, scratch)
        codes.append(run_job("3. the same command again: confirmed rows are now unchanged",
                             ["run"], env, scratch))
        resent = [r["row"] for r in read_results(results) if r["status"] == "updated"]
        fix_a_row(rejects, scratch, "1006", "names", "Zawadi M. Kilimanjaro")
        codes.append(run_job("4. the rejects file, one row fixed, passed back: only that row "
                             "is sent", ["run", "--input", "results/results.rejects.csv"], env,
                             scratch))
        show_results(results)
        fixed = [r["contactId"] for r in read_results(results) if r["status"] == "updated"]
        listed = run_job("5. the run history: every run, newest last", ["runs"], env, scratch)
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)

    reports = [check.with_suffix(".html"), results.with_suffix(".html")]
    print(f"\nresults: {check} (the dry run), {results} (the last run)"
          f"\nreport: {reports[0]} (the dry run; open it in a browser)"
          f"\nreport: {reports[1]} (the last run)"
          f"\nrejects: {rejects}\nsnapshot: {scratch / 'state' / 'snapshot.csv'}")
    missing = [str(path) for path in reports if not path.is_file()]
    if codes != [1, 1, 1, 1] or resent or fixed != ["1006"] or listed != 0 or missing:
        print(f"demo: unexpected outcome (exit codes {codes}, re-sent rows {resent}, sent from "
              f"the rejects file {fixed}, runs exited {listed}, reports missing {missing})")
        return 1
    print("demo: done. Exit code 1 is expected: the sample holds rows that are invalid or "
          "that the API rejects, to show how each is reported.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
