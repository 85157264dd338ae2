"""Shared fixtures: a simulator on loopback and helpers to write inputs and configs."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from sync_job.config import Config, load_config
from sync_job.simulator import Simulator

TOKEN = "test-token-7f3a9c"

SNAPSHOT_ROWS: list[dict[str, str]] = [
    {"contactId": str(1000 + n), "names": f"Person {n}", "number": f"2557123450{n:02d}",
     "email": f"person{n}@example.com"}
    for n in range(1, 11)
]


def write_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def write_snapshot(path: Path, rows: Sequence[dict[str, str]] = SNAPSHOT_ROWS) -> Path:
    return write_csv(path, [["contactId", "names", "number", "email"]]
                     + [[r["contactId"], r["names"], r["number"], r["email"]] for r in rows])


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SNAPSHOT_ROWS, token=TOKEN) as simulator:
        yield simulator


class Workspace:
    """A folder with a config, a snapshot and a changes file, pointed at a simulator."""

    def __init__(self, root: Path, base_url: str) -> None:
        self.root = root
        self.base_url = base_url
        self.changes = root / "changes.csv"
        self.snapshot = root / "state" / "snapshot.csv"
        self.results = root / "results" / "results.csv"
        write_snapshot(self.snapshot)

    def write_changes(self, rows: Sequence[Sequence[str]],
                      header: Sequence[str] = ("contactId", "names", "number", "email")) -> None:
        write_csv(self.changes, [list(header), *[list(r) for r in rows]])

    def config(self, *, dry_run: bool = False, **push: object) -> Config:
        settings = {"concurrency": 2, "rate_limit": 0, "max_attempts": 3,
                    "backoff_initial": 0.01, "backoff_max": 0.05, **push}
        text = (
            f"api:\n  base_url: {self.base_url}\n  read_timeout: 5\n"
            f"input:\n  path: {self.changes}\n"
            f"snapshot:\n  path: {self.snapshot}\n"
            f"results:\n  path: {self.results}\n"
            "push:\n" + "".join(f"  {k}: {v}\n" for k, v in settings.items())
        )
        path = self.root / "config.yaml"
        path.write_text(text, encoding="utf-8")
        return load_config(path, dry_run=dry_run)

    def results_by_row(self) -> dict[int, dict[str, str]]:
        return {int(r["row"]): r for r in read_results(self.results)}


@pytest.fixture
def workspace(tmp_path: Path, sim: Simulator) -> Workspace:
    return Workspace(tmp_path, sim.base_url)


@pytest.fixture
def env() -> dict[str, str]:
    return {"HUDUMA_API_TOKEN": TOKEN}
