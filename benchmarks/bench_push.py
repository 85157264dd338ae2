"""(a) Push throughput at no rate limit vs a bare client; (b) holding a 50 requests/s limit.

(a) simulator --latency-ms 20, no rate limit; 2,000 changed rows; concurrency 16. The job's rows
    per second of push time (RunReport.push_seconds) against a bare ThreadPoolExecutor of 16
    threads doing the same 2,000 PUTs with requests (one keep-alive session per thread).
    Target: ratio >= 0.95. Best of two runs each, alternating, so both see the same machine.
(b) simulator --rate-limit 50, job --rate-limit 50; 1,000 changed rows.
    Targets: >= 49.5 rows/s (the limit, to the first decimal), every row updated, < 1% of
    requests answered 429.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from common import (
    DATA,
    HEADERS,
    TOKEN,
    Outcome,
    frame_of,
    make_push_dataset,
    report,
    simulator,
    write_config,
)
from requests.adapters import HTTPAdapter

from sync_job.config import load_config
from sync_job.pipeline import run_sync

CONCURRENCY = 16


def bare_client(base_url: str, bodies: list[tuple[str, bytes]]) -> float:
    """Seconds for 16 threads to PUT every body: requests and nothing else."""
    local = threading.local()

    def put(item: tuple[str, bytes]) -> int:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            session.mount("http://", HTTPAdapter(pool_connections=1, pool_maxsize=1))
        contact_id, body = item
        response = session.put(f"{base_url}/contacts/{contact_id}", data=body,
                               headers=HEADERS, timeout=(5, 30))
        return response.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        statuses = list(pool.map(put, bodies))
    elapsed = time.perf_counter() - started
    assert statuses.count(200) == len(bodies), "the bare client saw errors"
    return elapsed


def throughput() -> list[Outcome]:
    dataset = make_push_dataset("push-2000", 2000, changed=2000)
    changes = frame_of(dataset.changes)
    bodies = [(row.contactId, json.dumps({"names": row.names}).encode())
              for row in changes.itertuples()]
    env = {"HUDUMA_API_TOKEN": TOKEN}
    job_rates, bare_rates = [], []
    for attempt in range(2):
        with simulator(dataset.snapshot, latency_ms=20) as base_url:
            bare_rates.append(len(bodies) / bare_client(base_url, bodies))
        with simulator(dataset.snapshot, latency_ms=20) as base_url:
            config = load_config(write_config(DATA / "push-2000" / f"run{attempt}", dataset,
                                              base_url, concurrency=CONCURRENCY))
            result = run_sync(config, environ=env)
            assert result.counts["updated"] == len(bodies), result.counts
            job_rates.append(result.counts["updated"] / result.push_seconds)
        print(f"  (a) run {attempt + 1}: bare {bare_rates[-1]:.0f} rows/s, "
              f"job {job_rates[-1]:.0f} rows/s", flush=True)
    ratio = max(job_rates) / max(bare_rates)
    return [
        Outcome("(a) push, no limit: job rows/s", f"{max(job_rates):.0f}", "", None),
        Outcome("(a) push, no limit: bare client rows/s", f"{max(bare_rates):.0f}", "", None),
        Outcome("(a) push, no limit: job / bare", f"{ratio:.2f}", ">= 0.95", ratio >= 0.95),
    ]


def rate_limited() -> list[Outcome]:
    dataset = make_push_dataset("push-1000", 1000, changed=1000)
    with simulator(dataset.snapshot, rate_limit=50) as base_url:
        config = load_config(write_config(DATA / "push-1000" / "run", dataset, base_url,
                                          concurrency=8, rate_limit=50))
        result = run_sync(config, environ={"HUDUMA_API_TOKEN": TOKEN})
    updated = result.counts["updated"]
    rate = updated / result.push_seconds
    throttled = result.throttled / max(result.requests, 1)
    print(f"  (b) {updated} updated in {result.push_seconds:.1f} s, {result.requests} requests, "
          f"{result.throttled} answered 429", flush=True)
    return [
        Outcome("(b) rate 50/s: rows/s", f"{rate:.1f}", ">= 49.5", rate >= 49.5),
        Outcome("(b) rate 50/s: rows updated", f"{updated}/1000", "all", updated == 1000),
        Outcome("(b) rate 50/s: answered 429", f"{throttled:.2%}", "< 1%", throttled < 0.01),
    ]


if __name__ == "__main__":
    which = sys.argv[1:] or ["throughput", "rate"]
    outcomes = []
    if "throughput" in which:
        outcomes += throughput()
    if "rate" in which:
        outcomes += rate_limited()
    sys.exit(report(outcomes))
