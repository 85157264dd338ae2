"""The command line as a user runs it: a real process, real exit codes, real output."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sync_job.cli import build_parser
from sync_job.simulator import Simulator
from tests.conftest import TOKEN, Workspace
from tests.test_pipeline import MIXED_ROWS

ROOT = Path(__file__).resolve().parent.parent


def sync_job(*args: str, cwd: Path, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HUDUMA_API_TOKEN"}
    if token is not None:
        env["HUDUMA_API_TOKEN"] = token
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "sync_job", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def count(summary: str, status: str) -> int:
    found = re.search(rf"^  {status}\s+(\d+)$", summary, re.MULTILINE)
    assert found, summary
    return int(found.group(1))


def test_every_command_has_help(tmp_path: Path) -> None:
    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for name in ["", *commands]:
        args = [name, "--help"] if name else ["--help"]
        done = sync_job(*args, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert "usage: sync-job" in done.stdout
    run_help = sync_job("run", "--help", cwd=tmp_path).stdout
    for option in ("--config", "--input", "--snapshot", "--results", "--base-url",
                   "--concurrency", "--rate-limit", "--dry-run", "--max-changes", "--force",
                   "--max-invalid", "--summary", "--no-report", "--log-format", "--verbose",
                   "--quiet"):
        assert option in run_help
    runs_help = sync_job("runs", "--help", cwd=tmp_path).stdout
    for option in ("-n N", "--json", "--config", "--snapshot"):
        assert option in runs_help
    assert "exit codes" in run_help
    for code in (" 0 ", " 1 ", " 2 ", " 3 ", " 4 ", " 70 ", "130 ", "143"):
        assert code in run_help
    sim_help = sync_job("simulate", "--help", cwd=tmp_path).stdout
    for option in ("--host", "--port", "--contacts", "--token", "--latency-ms", "--fail-rate",
                   "--rate-limit"):
        assert option in sim_help


def test_run_prints_a_summary_and_exits_1_when_rows_fail(workspace: Workspace,
                                                         sim: Simulator) -> None:
    workspace.write_changes(MIXED_ROWS)
    workspace.config()
    done = sync_job("run", "--config", str(workspace.root / "config.yaml"), "-v",
                    cwd=workspace.root)
    assert done.returncode == 1, done.stderr
    assert "run finished" in done.stdout
    assert count(done.stdout, "updated") == 3 and count(done.stdout, "invalid") == 4
    assert count(done.stdout, "planned") == 0 and "exit code 1 (rows_failed)" in done.stdout
    assert str(workspace.results) in done.stdout
    assert "Traceback" not in done.stderr
    # -v names rows and contacts by number and id, never the token or personal data
    assert TOKEN not in done.stdout + done.stderr
    assert "Person One Renamed" not in done.stderr and "255713000002" not in done.stderr
    assert "row 2 contact 1001: updated" in done.stderr


def test_default_config_is_taken_from_the_working_directory(workspace: Workspace,
                                                            sim: Simulator) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    done = sync_job("run", cwd=workspace.root)
    assert done.returncode == 0, done.stderr
    assert count(done.stdout, "updated") == 1


def test_flags_override_the_config(workspace: Workspace, sim: Simulator,
                                   tmp_path: Path) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    other = tmp_path / "elsewhere" / "out.csv"
    done = sync_job("run", "--results", str(other), "--dry-run", cwd=workspace.root)
    assert done.returncode == 0, done.stderr
    assert other.exists() and not workspace.results.exists()
    assert sim.requests == []


def test_bad_config_exits_2_listing_every_problem(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "api:\n  read_timeout: soon\npush:\n  concurrency: 0\n  retries: 3\nextra: {}\n",
        encoding="utf-8")
    done = sync_job("run", cwd=tmp_path)
    assert done.returncode == 2
    for key in ("api.read_timeout", "push.concurrency", "push.retries", "extra"):
        assert key in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


def test_bad_flag_exits_2(tmp_path: Path) -> None:
    assert sync_job("run", "--concurrency", "many", cwd=tmp_path).returncode == 2
    assert sync_job("run", "--no-such-flag", cwd=tmp_path).returncode == 2
    done = sync_job("run", "--concurrency", "0", "--dry-run", cwd=tmp_path)
    assert done.returncode == 2 and "--concurrency" in done.stderr


def test_missing_input_exits_2_without_traceback(workspace: Workspace) -> None:
    workspace.config()
    done = sync_job("run", "--input", "nope.csv", cwd=workspace.root)
    assert done.returncode == 2
    assert "nope.csv: file not found" in done.stderr and "Traceback" not in done.stderr


def test_missing_token_exits_2_naming_the_variable(workspace: Workspace,
                                                   sim: Simulator) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    done = sync_job("run", cwd=workspace.root, token=None)
    assert done.returncode == 2 and "HUDUMA_API_TOKEN" in done.stderr
    assert sim.requests == []


def test_revoked_token_exits_3(workspace: Workspace, sim: Simulator) -> None:
    workspace.write_changes([("1001", "New", "", ""), ("1002", "Two", "", "")])
    workspace.config(concurrency=1)
    done = sync_job("run", cwd=workspace.root, token="wrong-5c1b2a9e")
    assert done.returncode == 3
    assert "stopped early" in done.stdout
    assert "wrong-5c1b2a9e" not in done.stdout + done.stderr


@pytest.mark.parametrize("args", [["--host", "0.0.0.0"], ["--fail-rate", "2"]])
def test_simulate_refuses_bad_options(tmp_path: Path, args: list[str]) -> None:
    done = sync_job("simulate", *args, cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_python_dash_m_and_console_script_agree(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "sync-job"
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0
    assert done.stdout.strip() == sync_job("--version", cwd=tmp_path).stdout.strip()


def test_sheet_flag_picks_the_sheet_of_a_workbook(workspace: Workspace, sim: Simulator) -> None:
    workspace.config()
    book = ROOT / "tests" / "data" / "numeric_cells.xlsx"
    done = sync_job("run", "--dry-run", "--input", str(book), "--sheet", "Contacts",
                    cwd=workspace.root)
    assert done.returncode == 1, done.stderr  # the sheet holds invalid rows on purpose
    assert "reading numeric_cells.xlsx (sheet 'Contacts')" in done.stderr
    assert count(done.stdout, "planned") == 3 and count(done.stdout, "invalid") == 2
    assert sim.requests == []


def test_plain_http_to_another_host_exits_2_before_any_connection(workspace: Workspace) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    # .invalid never resolves: had a connection been tried, the row would fail (exit 1)
    done = sync_job("run", "--base-url", "http://sms-api.huduma.invalid/api/v3",
                    cwd=workspace.root)
    assert done.returncode == 2
    assert "unencrypted" in done.stderr and "Traceback" not in done.stderr
    assert not workspace.results.parent.exists()
    assert not workspace.snapshot.with_name("snapshot.csv.lock").exists()


def test_json_log_lines_name_rows_by_number_and_contact_id(workspace: Workspace,
                                                           sim: Simulator) -> None:
    workspace.write_changes(MIXED_ROWS)
    workspace.config()
    done = sync_job("run", "--log-format", "json", "-v", cwd=workspace.root)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]
    assert all({"time", "level", "message"} <= set(line) for line in lines)
    row_2 = next(line for line in lines if line.get("row") == 2)
    assert row_2["contactId"] == "1001" and row_2["level"] == "debug"
    assert "updated" in row_2["message"]
    assert "Person One Renamed" not in done.stderr and "255713000002" not in done.stderr
    [summary] = [json.loads(line) for line in done.stdout.splitlines()]  # the summary too
    assert summary["event"] == "summary" and summary["counts"]["updated"] == 3
    assert {line["run_id"] for line in lines} == {summary["run_id"]}


def test_quiet_logs_only_warnings_but_still_prints_the_summary(workspace: Workspace,
                                                               sim: Simulator) -> None:
    workspace.write_changes([("1001", "New", "", "")])
    workspace.config()
    done = sync_job("run", "--quiet", cwd=workspace.root)
    assert done.returncode == 0
    assert done.stderr == ""
    assert count(done.stdout, "updated") == 1
    both = sync_job("run", "--quiet", "-v", cwd=workspace.root)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_brake_and_force_on_the_command_line(workspace: Workspace, sim: Simulator) -> None:
    workspace.write_changes([(str(1001 + n), f"Renamed {n}", "", "") for n in range(3)])
    workspace.config()
    summary = workspace.root / "out" / "summary.json"
    braked = sync_job("run", "--max-changes", "20%", "--summary", str(summary),
                      cwd=workspace.root)
    assert braked.returncode == 4
    assert "safety brake: 3 updates planned" in braked.stdout + braked.stderr
    assert count(braked.stdout, "planned") == 3  # a live run lists planned rows too
    assert sim.requests == []
    assert json.loads(summary.read_text())["exit_code"] == 4
    forced = sync_job("run", "--max-changes", "20%", "--force", cwd=workspace.root)
    assert forced.returncode == 0 and count(forced.stdout, "updated") == 3
    bad = sync_job("run", "--max-changes", "lots", cwd=workspace.root)
    assert bad.returncode == 2 and "--max-changes" in bad.stderr


def test_the_token_never_leaves_the_request_header(workspace: Workspace,
                                                   sim: Simulator) -> None:
    """Every stream and every file of verbose runs with retries, failures and a 401."""
    workspace.write_changes([*MIXED_ROWS, ("1009", "Nine", "", "")])
    workspace.config(concurrency=1)
    sim.enqueue(503)
    sim.enqueue(429, retry_after="0")
    sim.enqueue(500, close=True)
    wrong = "wrong-token-41c7e0"
    runs = [
        sync_job("run", "-v", cwd=workspace.root),
        sync_job("run", "-v", "--log-format", "json", "--dry-run", cwd=workspace.root),
        sync_job("run", "-v", cwd=workspace.root, token=wrong),
        sync_job("run", "-v", "--results", str(workspace.root), cwd=workspace.root),
    ]
    assert [done.returncode for done in runs] == [1, 1, 3, 2]
    assert sim.status_counts[503] and sim.status_counts[429] and sim.status_counts[401]
    assert sim.status_counts[404] and sim.status_counts[422]
    files = [p for p in workspace.root.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"results.csv", "results.summary.json", "snapshot.csv",
            "snapshot.csv.journal.sqlite", "snapshot.csv.lock"} <= names
    for secret in (TOKEN, wrong):
        for done in runs:
            assert secret not in done.stdout and secret not in done.stderr
        for path in files:
            assert secret.encode() not in path.read_bytes(), path


def test_startup_errors_keep_their_order_though_files_are_read_early(
        workspace: Workspace, sim: Simulator) -> None:
    # The command starts reading the files while it imports the rest of the job; what reading
    # finds is still reported in the order the checks run: token, input file, snapshot.
    workspace.changes.write_text("names\nAnn\n", encoding="utf-8")  # no contactId column
    workspace.snapshot.write_text("id,who\n1,2\n", encoding="utf-8")  # not a snapshot
    workspace.config()
    config = str(workspace.root / "config.yaml")
    no_token = sync_job("run", "--config", config, cwd=workspace.root, token=None)
    assert no_token.returncode == 2
    assert "HUDUMA_API_TOKEN" in no_token.stderr and "contactId" not in no_token.stderr
    live = sync_job("run", "--config", config, cwd=workspace.root)
    assert live.returncode == 2 and "no contactId column" in live.stderr
    dry = sync_job("run", "--config", config, "--dry-run", cwd=workspace.root)
    assert dry.returncode == 2 and "no contactId column" in dry.stderr
    workspace.write_changes(MIXED_ROWS)
    for flags in ((), ("--dry-run",)):
        broken = sync_job("run", "--config", config, *flags, cwd=workspace.root)
        assert broken.returncode == 2 and "lacks column" in broken.stderr, broken.stderr
    assert sim.requests == [] and not workspace.results.exists()
