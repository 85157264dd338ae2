"""(c) The job against a naive loop, on 5,000 rows of which 20% changed.

Naive: one PUT per input row with every field, one after another, no diff (a single keep-alive
requests.Session, so the comparison is kind to it). The job: ``sync-job run`` as a subprocess,
concurrency 8, no client rate limit, timed from start to exit. Simulator latency 5 ms. The
ratio of wall times is printed; the issue sets no target for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import requests
from common import (
    DATA,
    HEADERS,
    Outcome,
    frame_of,
    job_env,
    make_dataset,
    report,
    simulator,
    write_config,
)

LATENCY_MS = 5


def naive_loop(base_url: str, rows: list[dict[str, str]]) -> float:
    started = time.perf_counter()
    with requests.Session() as session:
        for row in rows:
            body = {"names": row["names"], "number": row["number"], "email": row["email"]}
            response = session.put(f"{base_url}/contacts/{row['contactId']}",
                                   data=json.dumps(body), headers=HEADERS, timeout=(5, 30))
            assert response.status_code == 200, response.text
    return time.perf_counter() - started


def main() -> int:
    dataset = make_dataset("naive-5000", 5000)
    rows = frame_of(dataset.changes).to_dict("records")
    with simulator(dataset.snapshot, latency_ms=LATENCY_MS) as base_url:
        naive = naive_loop(base_url, rows)
    print(f"  (c) naive loop: {len(rows)} PUTs in {naive:.1f} s", flush=True)
    with simulator(dataset.snapshot, latency_ms=LATENCY_MS) as base_url:
        config = write_config(DATA / "naive-5000" / "run", dataset, base_url, concurrency=8)
        started = time.perf_counter()
        # Run in the data folder: the installed sync-job, not the source tree of the cwd.
        done = subprocess.run([sys.executable, "-m", "sync_job", "run", "--quiet", "--config",
                               str(config)], env=job_env(), capture_output=True, text=True,
                              timeout=600, cwd=DATA)
        job = time.perf_counter() - started
    assert done.returncode == 0, done.stdout + done.stderr
    print(f"  (c) sync-job run: {dataset.changed} PUTs in {job:.1f} s", flush=True)
    return report([
        Outcome("(c) naive loop wall s", f"{naive:.1f}", "", None),
        Outcome("(c) sync-job run wall s", f"{job:.1f}", "", None),
        Outcome("(c) naive / job wall time", f"{naive / job:.1f}x", "printed", None),
    ])


if __name__ == "__main__":
    sys.exit(main())
