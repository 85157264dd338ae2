"""``make bench``: every benchmark in turn, then one table of figures against their targets.

Each benchmark runs in its own process (clean memory figures, no shared state) and prints lines
``RESULT|name|measured|target|verdict``; this script gathers them. Exit code 1 if any FAIL.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["bench_push.py", "bench_naive.py", "bench_dry_run.py", "bench_plan_shapes.py"]


def main() -> int:
    rows: list[list[str]] = []
    started = time.monotonic()
    for script in BENCHMARKS:
        print(f"== {script}", flush=True)
        process = subprocess.Popen([sys.executable, str(HERE / script)], stdout=subprocess.PIPE,
                                   text=True)
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("RESULT|"):
                rows.append(line.rstrip("\n").split("|")[1:])
            else:
                print(line, end="", flush=True)
        if process.wait() not in (0, 1):
            rows.append([script, "crashed", "", "FAIL"])
    widths = [max(len(row[i]) for row in [["figure", "measured", "target", ""], *rows])
              for i in range(4)]
    print(f"\nbenchmarks on {sys.platform}, {time.monotonic() - started:.0f} s in all\n")
    for row in [["figure", "measured", "target", "verdict"], *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    return 1 if any(row[3] == "FAIL" for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
