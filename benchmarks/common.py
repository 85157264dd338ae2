"""Shared pieces of the benchmarks: seeded data, a simulator subprocess, timing, a result table.

Every benchmark makes its own data with a fixed seed under ``benchmarks/.data/`` (gitignored),
talks only to a simulator it starts itself on loopback, and measures its baseline in the same
run, so the printed ratios compare like with like on whatever machine runs them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / ".data"
TOKEN = "bench-token-for-the-simulator"
# What the baselines send with every PUT, as the API page asks and the job sends.
HEADERS = {"X-Huduma": f"Bearer {TOKEN}", "Content-Type": "application/json",
           "Accept": "application/json"}
SEED = 20240604

FIRST_NAMES = np.array([
    "Amina", "Baraka", "Chausiku", "Daudi", "Eliya", "Fatuma", "Gift", "Halima", "Idrisa",
    "Jabari", "Kesi", "Lulu", "Mosi", "Neema", "Omari", "Pendo", "Rehema", "Saidi", "Tumaini",
    "Upendo", "Wanjiru", "Zawadi",
])
LAST_NAMES = np.array([
    "Mwangi", "Otieno", "Kimaro", "Njoroge", "Mushi", "Achieng", "Massawe", "Wambui", "Shirima",
    "Kariuki", "Mrema", "Okello", "Lyimo", "Chege", "Swai", "Odhiambo",
])


@dataclass(frozen=True)
class Dataset:
    changes: Path
    snapshot: Path
    rows: int
    changed: int


def _text(values: np.ndarray) -> pd.Series:
    return pd.Series(values.astype(str), dtype="str")


def _write(path: Path, columns: dict[str, pd.Series]) -> None:
    table = pa.table({name: pa.array(values.to_numpy(), pa.string())
                      for name, values in columns.items()})
    # No value holds a comma or a quote, so no quoting: files look like a plain export.
    with path.open("wb") as handle:
        handle.write((",".join(columns) + "\n").encode())
        pa_csv.write_csv(table, handle, write_options=pa_csv.WriteOptions(
            include_header=False, quoting_style="none"))


def make_dataset(name: str, rows: int, *, changed_share: float = 0.2, seed: int = SEED,
                 invalid_emails: float = 0.0, swaps: float = 0.0,
                 shared_number: int = 0) -> Dataset:
    """A snapshot of ``rows`` contacts and a changes file naming every one of them.

    ``changed_share`` of the rows change exactly one field (names, number or email, in turn);
    the rest repeat what the snapshot holds. Rows of the changes file come in another order than
    the snapshot's, as an export from another system would. Reused when already generated.

    Files that make a lot of work for validation, on top of that:
    ``invalid_emails``: this share of the rows gets an invalid address (``c100123@``);
    ``swaps``: this share takes the number another contact keeps (a conflicting swap: both
    rows are invalid); ``shared_number``: this many rows get one placeholder number.
    """
    folder = DATA / name
    dataset = Dataset(folder / "changes.csv", folder / "snapshot.csv", rows,
                      int(rows * changed_share))
    if dataset.changes.exists() and dataset.snapshot.exists():
        return dataset
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)

    ids = _text(100_000 + np.arange(rows))
    first = _text(rng.choice(FIRST_NAMES, rows))
    last = _text(rng.choice(LAST_NAMES, rows))
    names = first + " " + last
    numbers = _text(255_710_000_000 + rng.permutation(rows).astype(np.int64) * 3)
    emails = first.str.slice(0, 1).str.lower() + last.str.lower() + ids + "@mail.tz"
    _write(dataset.snapshot, {"contactId": ids, "names": names, "number": numbers,
                              "email": emails})

    picked = rng.choice(rows, dataset.changed, replace=False)
    kind = np.arange(dataset.changed) % 3
    new_names, new_numbers, new_emails = names.copy(), numbers.copy(), emails.copy()
    which = picked[kind == 0]
    new_names.iloc[which] = (_text(rng.choice(FIRST_NAMES, len(which))) + " "
                             + last.iloc[which].to_numpy() + "-" + _text(rng.choice(LAST_NAMES,
                                                                                     len(which))))
    which = picked[kind == 1]
    new_numbers.iloc[which] = _text(255_780_000_000 + np.arange(len(which), dtype=np.int64) * 7)
    which = picked[kind == 2]
    new_emails.iloc[which] = "c" + ids.iloc[which].to_numpy() + "@post.co.ke"

    others = rng.permutation(rows)
    taken = 0
    if invalid_emails:
        which = others[taken:taken + int(rows * invalid_emails)]
        taken += len(which)
        new_emails.iloc[which] = "c" + ids.iloc[which].to_numpy() + "@"
    if swaps:
        count = int(rows * swaps)
        takers, keepers = others[taken:taken + count], others[taken + count:taken + 2 * count]
        taken += 2 * count
        new_numbers.iloc[takers] = numbers.iloc[keepers].to_numpy()
        new_numbers.iloc[keepers] = numbers.iloc[keepers].to_numpy()
    if shared_number:
        new_numbers.iloc[others[taken:taken + shared_number]] = "255700000000"

    order = rng.permutation(rows)
    _write(dataset.changes, {
        "contactId": ids.iloc[order], "names": new_names.iloc[order],
        "number": new_numbers.iloc[order], "email": new_emails.iloc[order],
    })
    return dataset


def made_elsewhere(calls: str) -> None:
    """Run ``calls`` (Python making datasets with this module) in a child process.

    A big dataset is made in memory; made in the benchmark's own process, that memory would
    count in the peak RSS of every job it starts afterwards (Linux carries a process's peak
    RSS across fork and exec)."""
    subprocess.run([sys.executable, "-c", f"from common import *\n{calls}"],
                   cwd=Path(__file__).resolve().parent, check=True)


def make_push_dataset(name: str, rows: int, *, changed: int, seed: int = SEED) -> Dataset:
    """A small snapshot plus changes where ``changed`` rows rename their contact."""
    folder = DATA / name
    dataset = Dataset(folder / "changes.csv", folder / "snapshot.csv", rows, changed)
    if dataset.changes.exists() and dataset.snapshot.exists():
        return dataset
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ids = _text(100_000 + np.arange(rows))
    names = _text(rng.choice(FIRST_NAMES, rows)) + " " + _text(rng.choice(LAST_NAMES, rows))
    numbers = _text(255_710_000_000 + np.arange(rows, dtype=np.int64) * 3)
    emails = "c" + ids + "@mail.tz"
    _write(dataset.snapshot, {"contactId": ids, "names": names, "number": numbers,
                              "email": emails})
    new_names = names.copy()
    picked = np.sort(rng.choice(rows, changed, replace=False))
    new_names.iloc[picked] = new_names.iloc[picked] + " Jr"
    _write(dataset.changes, {"contactId": ids, "names": new_names, "number": numbers,
                             "email": emails})
    return dataset


def job_env() -> dict[str, str]:
    env = dict(os.environ)
    env["HUDUMA_API_TOKEN"] = TOKEN
    return env


@contextlib.contextmanager
def simulator(contacts: Path, *, latency_ms: float = 0, rate_limit: float = 0) -> Iterator[str]:
    """``sync-job simulate`` as a subprocess on loopback; yields its base URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sync_job", "simulate", "--port", "0", "--contacts",
         str(contacts), "--latency-ms", str(latency_ms), "--rate-limit", str(rate_limit)],
        env=job_env(), stdout=subprocess.PIPE, text=True, cwd=DATA)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if "listening on " not in line:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        yield line.split("listening on ", 1)[1]
    finally:
        process.terminate()
        process.wait(timeout=10)


def write_config(folder: Path, dataset: Dataset, base_url: str, **push: object) -> Path:
    """A config for the job over ``dataset``; results and a copy of the snapshot in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    snapshot = folder / "snapshot.csv"
    snapshot.write_bytes(dataset.snapshot.read_bytes())  # the job rewrites its snapshot
    settings = {"concurrency": 4, "rate_limit": 0, "max_attempts": 5, **push}
    text = (f"api:\n  base_url: {base_url}\n"
            f"input:\n  path: {dataset.changes}\n"
            f"snapshot:\n  path: {snapshot}\n"
            f"results:\n  path: {folder / 'results.csv'}\n"
            "push:\n" + "".join(f"  {key}: {value}\n" for key, value in settings.items()))
    path = folder / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class Outcome:
    """One benchmark figure and its target, as ``run_all`` tabulates it."""

    name: str
    measured: str
    target: str
    passed: bool | None  # None: printed for information, no target

    def line(self) -> str:
        verdict = {True: "PASS", False: "FAIL", None: "info"}[self.passed]
        return f"RESULT|{self.name}|{self.measured}|{self.target}|{verdict}"


def report(outcomes: list[Outcome]) -> int:
    for outcome in outcomes:
        print(outcome.line(), flush=True)
    return 0 if all(o.passed is not False for o in outcomes) else 1


def timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def frame_of(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)
