"""The library API, as an orchestrator uses it: exported names, a typed report, typed errors,
no process exit and no process-wide setting changed."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest

import sync_job
from sync_job.simulator import Simulator
from tests.conftest import SNAPSHOT_ROWS, TOKEN, write_csv, write_snapshot

ROOT = Path(__file__).resolve().parent.parent


def test_the_package_exports_its_api() -> None:
    assert sorted(sync_job.__all__) == [
        "ApiConfig", "Config", "ConfigError", "ExitCode", "InputConfig", "InputFileError",
        "JournalError", "PushConfig", "ResultsConfig", "RunLockedError", "RunReport",
        "SnapshotConfig", "SnapshotError", "StartupError", "SyncJobError", "TokenError",
        "load_config", "run_sync"]
    for name in sync_job.__all__:
        assert getattr(sync_job, name) is not None
    assert issubclass(sync_job.TokenError, sync_job.StartupError)
    assert (ROOT / "sync_job" / "py.typed").is_file()


def test_importing_the_package_stays_light() -> None:
    # The command starts reading its files before pandas is imported.
    code = "import sys, sync_job; print('pandas' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.split() == ["False", "False"]


def orchestrator_task(folder: Path, base_url: str) -> dict[str, object]:
    """What the README's Airflow task and Dagster op do (neither needs to be installed)."""
    import dataclasses

    from sync_job import ExitCode, PushConfig, load_config, run_sync

    config = dataclasses.replace(load_config(folder / "config.yaml"),
                                 push=PushConfig(concurrency=2))
    report = run_sync(config, environ={"HUDUMA_API_TOKEN": TOKEN})
    if report.exit_code not in (ExitCode.OK, ExitCode.ROWS_FAILED):
        raise RuntimeError(f"sync-job stopped: {report.stopped_because}")
    return {"run_id": report.run_id, "counts": report.counts, "exit_code": int(report.exit_code)}


def test_an_orchestrator_task_runs_a_sync_and_gets_a_typed_report(tmp_path: Path) -> None:
    with Simulator(SNAPSHOT_ROWS, token=TOKEN) as sim:
        write_snapshot(tmp_path / "state" / "snapshot.csv")
        write_csv(tmp_path / "changes.csv", [["contactId", "names"], ["1001", "Renamed"],
                                             ["1002", "x" * 101]])
        (tmp_path / "config.yaml").write_text(
            f"api:\n  base_url: {sim.base_url}\ninput:\n  path: changes.csv\n"
            f"snapshot:\n  path: state/snapshot.csv\nresults:\n  path: results/out.csv\n",
            encoding="utf-8")
        collecting, interval = gc.isenabled(), sys.getswitchinterval()
        result = orchestrator_task(tmp_path, sim.base_url)
    assert result["exit_code"] == 1
    assert result["counts"] == {"updated": 1, "unchanged": 0, "invalid": 1, "failed": 0,
                                "skipped": 0, "planned": 0}
    assert (gc.isenabled(), sys.getswitchinterval()) == (collecting, interval)
    assert (tmp_path / "results" / "out.csv").is_file()


def test_a_run_that_cannot_start_raises_a_typed_error_and_exits_nothing(tmp_path: Path) -> None:
    config = sync_job.Config(input=sync_job.InputConfig(path=tmp_path / "missing.csv"),
                             snapshot=sync_job.SnapshotConfig(path=tmp_path / "s.csv"),
                             results=sync_job.ResultsConfig(path=tmp_path / "r.csv"),
                             dry_run=True)
    with pytest.raises(sync_job.InputFileError, match="file not found"):
        sync_job.run_sync(config)
    with pytest.raises(sync_job.TokenError):
        sync_job.run_sync(sync_job.Config(
            api=sync_job.ApiConfig(base_url="http://127.0.0.1:9/api/v3"),
            input=config.input, snapshot=config.snapshot, results=config.results),
            environ={})
