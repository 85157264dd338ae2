"""The HTML run report without a browser: what it groups and counts, that it escapes every
cell, when it is written and when not, and the push's timeline it draws. (Opening it in a real
browser: tests/test_report_browser.py.)"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import threading
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from sync_job.config import load_config
from sync_job.errors import ConfigError, StartupError
from sync_job.pipeline import run_sync
from sync_job.push.timeline import Timeline
from sync_job.report.html_report import (
    ReportInput,
    failure_groups,
    invalid_rows,
    problem_groups,
    render,
    split_problems,
)
from sync_job.report.results import RESULT_COLUMNS
from sync_job.simulator import Simulator
from tests.conftest import Workspace, read_results
from tests.test_cli import sync_job
from tests.test_pipeline import MIXED_ROWS

HEADERS = {"contactId": "contactId", "names": "Name", "number": "Phone", "email": "email"}
HOSTILE = ("<script>alert(1)</script>", '"><img src=x onerror=alert(2)>')


def results_frame(lines: list[dict[str, str]]) -> pd.DataFrame:
    columns = RESULT_COLUMNS
    frame = pd.DataFrame([{name: line.get(name, "") for name in columns} for line in lines],
                         columns=list(columns))
    frame["row"] = frame["row"].astype("int64")
    return frame


# ------------------------------------------------------------------ grouping


def test_problems_are_split_where_a_label_follows_not_at_every_semicolon() -> None:
    errors = ('contactId: contact 1008 is also on row 10; keep one row per contact; '
              'Phone: "0712" starts with 0; row: nothing to change')
    assert split_problems(errors, ["contactId", "Phone", "row"]) == [
        "contactId: contact 1008 is also on row 10; keep one row per contact",
        'Phone: "0712" starts with 0', "row: nothing to change"]
    assert split_problems("", ["row"]) == []


def test_with_codes_problems_group_by_code_and_a_row_counts_once_per_code() -> None:
    lines = [
        {"row": "2", "status": "invalid", "problem_codes": "number.leading_zero",
         "errors": 'Phone: "0712 1" starts with 0'},
        {"row": "3", "status": "invalid", "problem_codes": "number.leading_zero|names.too_long",
         "errors": 'Phone: "0713 2" starts with 0; Name: is 120 characters long'},
        {"row": "4", "status": "invalid", "problem_codes": "contactId.duplicate",
         "errors": "contactId: contact 9 is also on row 5; keep one row per contact"},
        {"row": "5", "status": "invalid", "problem_codes": "contactId.duplicate",
         "errors": "contactId: contact 9 is also on row 4; keep one row per contact"},
        {"row": "6", "status": "failed", "problem_codes": "api.4221", "http_status": "422"},
        {"row": "7", "status": "invalid",
         "problem_codes": "names.control|names.control|email.invalid",
         "errors": "Name: contains U+0007; Name: contains U+0008; email: is not an address"},
    ]
    groups = {g.key: g for g in problem_groups(results_frame(lines), HEADERS)}
    assert {key: g.rows for key, g in groups.items()} == {
        "number.leading_zero": 2, "contactId.duplicate": 2, "names.too_long": 1,
        "names.control": 1, "email.invalid": 1}
    assert groups["names.control"].description == "Name: contains U+0007"
    assert groups["email.invalid"].description == "email: is not an address"
    assert groups["number.leading_zero"].description == 'Phone: "0712 1" starts with 0'
    assert groups["names.too_long"].description == "Name: is 120 characters long"
    assert groups["contactId.duplicate"].first_rows == [4, 5]


def test_failed_rows_group_by_http_status_and_api_code() -> None:
    lines = [
        {"row": "2", "status": "failed", "http_status": "404", "api_code": "4040",
         "message": "Contact not found"},
        {"row": "3", "status": "failed", "http_status": "422", "api_code": "4221",
         "message": "Invalid input parameters"},
        {"row": "4", "status": "failed", "http_status": "404", "api_code": "4040",
         "message": "Contact not found"},
        {"row": "5", "status": "failed", "message": "tried 3 times: connection failed"},
        {"row": "6", "status": "updated", "http_status": "200", "api_code": "2000"},
    ]
    groups = failure_groups(results_frame(lines))
    assert [(g.http_status, g.api_code, g.rows, g.first_rows) for g in groups] == [
        ("404", "4040", 2, [2, 4]), ("422", "4221", 1, [3]), ("", "", 1, [5])]
    assert groups[0].message == "Contact not found"


def test_the_invalid_rows_table_marks_the_cells_the_problems_name_and_is_capped() -> None:
    lines = [{"row": str(n + 2), "status": "invalid", "contactId": str(n),
              "errors": "Phone: bad; row: nothing to change" if n == 0 else "Name: bad"}
             for n in range(7)]
    cells = pa.table({"row": list(range(2, 9)), "contactId": [str(n) for n in range(7)],
                      "names": ["x" * 100] * 7, "number": ["0712\x07"] * 7})
    table, total = invalid_rows(results_frame(lines), cells, HEADERS, limit=5)
    assert total == 7 and len(table) == 5
    assert table[0].marked == {"number", "row"} and table[1].marked == {"names"}
    assert table[0].cells["names"] == "x" * 59 + "…"  # cut as messages quote cells
    assert table[0].cells["number"] == "0712\ufffd"  # HTML cannot hold a bell
    assert set(table[0].cells) == {"contactId", "names", "number"}


# ------------------------------------------------------------------ the page


def test_every_cell_is_escaped_so_markup_in_the_file_is_inert() -> None:
    script, image = HOSTILE
    lines = [{"row": "2", "status": "invalid", "contactId": script,
              "errors": f'contactId: "{script}" is not a contact id; Name: "{image}" is bad'},
             {"row": "3", "status": "failed", "http_status": "422", "api_code": "4221",
              "message": image}]
    cells = pa.table({"row": [2, 3], "contactId": [script, "1001"], "names": [image, "x"]})
    page = render(ReportInput(
        summary={"outcome": "rows_failed", "exit_code": 1, "dry_run": False,
                 "input": {"path": f"/in/{script}.csv"}, "counts": {"invalid": 1, "failed": 1},
                 "stopped_because": image},
        results=results_frame(lines), cells=cells, headers={"contactId": "contactId",
                                                            "names": image},
        results_name=f"{image}.csv"))
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "onerror=alert(2)&gt;" in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img" in page  # no attribute can be closed early either


def test_the_page_loads_nothing_and_runs_nothing() -> None:
    page = render(ReportInput(summary={"outcome": "ok", "counts": {}},
                              results=results_frame([])))
    assert "default-src 'none'" in page and "<script" not in page
    for loads in ("src=", "href=", "url(", "@import", "http://", "https://"):
        assert loads not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert '<meta name="viewport"' in page and "@media print" in page


# ------------------------------------------------------------------ the timeline


def test_the_timeline_counts_per_second_and_merges_buckets_when_the_run_grows() -> None:
    now = [100.0]
    timeline = Timeline(clock=lambda: now[0], buckets=4)
    for at, kind in ((0.2, "requests"), (0.9, "requests"), (1.5, "requests"),
                     (1.6, "retries"), (3.1, "throttled")):
        now[0] = 100.0 + at
        timeline.add(kind)
    counts = timeline.counts()
    assert counts.width == 1.0 and counts.counts["requests"] == [2, 1, 0, 0]
    now[0] = 100.0 + 9.5  # past 4 buckets of 1 s, and of 2 s: 4 buckets of 4 s
    timeline.add("requests")
    counts = timeline.counts()
    assert counts.width == 4.0
    assert counts.counts == {"requests": [3, 0, 1], "retries": [1, 0, 0],
                             "throttled": [1, 0, 0]}
    assert counts.total("requests") == 4


def test_the_timeline_counts_every_event_of_many_threads() -> None:
    timeline = Timeline(buckets=8)

    def work() -> None:
        for _ in range(2000):
            timeline.add("requests")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert timeline.counts().total("requests") == 16000


# ------------------------------------------------------------------ when it is written


def test_a_live_run_writes_the_report_beside_the_results_privately_and_names_it(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes(MIXED_ROWS)
    report = run_sync(workspace.config(), environ=env)
    page_path = workspace.results.with_name("results.html")
    assert report.report_path == page_path and page_path.is_file()
    assert report.summary["report"] == str(page_path)
    summary = json.loads(report.summary_path.read_text()) if report.summary_path else {}
    assert summary["report"] == str(page_path)
    if os.name == "posix":
        assert stat.S_IMODE(page_path.stat().st_mode) & 0o077 == 0
    assert report.timeline is not None and report.timeline.total("requests") == report.requests
    page = page_path.read_text(encoding="utf-8")
    assert 'id="timeline-chart"' in page and 'data-status="updated" data-count="3"' in page
    rejects = report.rejects_path
    assert rejects is not None and f'<code id="rejects">{rejects.name}</code>' in page
    assert f"run again with <code>--input {rejects.name}</code>" in page
    assert not list(page_path.parent.glob(".*.tmp"))


def test_results_report_false_and_no_report_write_none(
        workspace: Workspace, sim: Simulator) -> None:
    workspace.write_changes(MIXED_ROWS)
    config = workspace.config(dry_run=True)
    run_sync(config, environ={})
    assert workspace.results.with_name("results.html").is_file()  # an older run's report
    off = dataclasses.replace(config, results=dataclasses.replace(config.results, report=False))
    report = run_sync(off, environ={})
    assert report.report_path is None and report.summary["report"] is None
    # removed: beside these results it would show another run
    assert not workspace.results.with_name("results.html").exists()

    path = workspace.root / "config.yaml"
    path.write_text(path.read_text().replace("results:\n", "results:\n  report: false\n"))
    assert load_config(path).results.report is False
    path.write_text(path.read_text().replace("report: false", "report: maybe"))
    with pytest.raises(ConfigError, match=r"results\.report: expected true or false"):
        load_config(path)

    path.write_text(path.read_text().replace("  report: maybe\n", ""))
    done = sync_job("run", "--dry-run", "--no-report", cwd=workspace.root)
    assert done.returncode == 1, done.stderr
    assert "  report " not in done.stdout and not workspace.results.with_name(
        "results.html").exists()
    done = sync_job("run", "--dry-run", cwd=workspace.root)
    assert f"  report     {workspace.results.with_name('results.html')}" in done.stdout


def test_a_dry_run_a_braked_run_and_an_interrupted_run_each_get_a_report(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes(MIXED_ROWS)
    page = workspace.results.with_name("results.html")
    dry = run_sync(workspace.config(dry_run=True), environ={})
    assert dry.report_path == page and 'data-status="planned" data-count="5"' in \
        page.read_text()
    assert 'id="timeline"' not in page.read_text()  # a dry run sends nothing: no chart

    braked = run_sync(workspace.config(max_changes=1), environ=env)
    assert braked.outcome == "braked" and braked.report_path == page
    text = page.read_text()
    assert 'data-outcome="braked"' in text and "Safety brake:</strong> 5 updates" in text
    assert "No request was sent." in text

    stop = threading.Event()
    stop.set()
    stopped = run_sync(workspace.config(), environ=env, stop=stop)
    assert stopped.outcome == "interrupted" and 'data-outcome="interrupted"' in page.read_text()
    assert 'data-status="skipped" data-count="5"' in page.read_text()


def test_a_report_path_that_is_the_results_file_is_refused_before_anything_runs(
        workspace: Workspace, sim: Simulator) -> None:
    workspace.write_changes(MIXED_ROWS)
    config = workspace.config(dry_run=True)
    same = dataclasses.replace(config, results=dataclasses.replace(
        config.results, path=workspace.root / "out.html"))
    with pytest.raises(ConfigError, match="the HTML report beside the results file"):
        run_sync(same, environ={})
    folder = dataclasses.replace(config, results=dataclasses.replace(
        config.results, path=workspace.root / "out" / "r.csv"))
    (workspace.root / "out" / "r.html").mkdir(parents=True)
    with pytest.raises(StartupError, match="is a folder; the report path must name a file"):
        run_sync(folder, environ={})
    assert not (workspace.root / "out" / "r.csv").exists()


def test_a_report_that_cannot_be_written_is_said_and_the_run_ends_as_it_would(
        workspace: Workspace, sim: Simulator, env: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sync_job.report.html_report as html_report

    def broken(path: Path, data: ReportInput) -> None:
        raise OSError(28, "No space left on device")

    workspace.write_changes(MIXED_ROWS)
    older = run_sync(workspace.config(dry_run=True), environ={}).report_path
    assert older is not None and older.is_file()
    monkeypatch.setattr(html_report, "write_report", broken)
    report = run_sync(workspace.config(), environ=env)
    assert not older.exists()  # it would show the dry run beside this run's results
    assert (report.exit_code, report.outcome) == (1, "rows_failed")
    assert report.report_path is None and report.summary["report"] is None
    assert any("the HTML report was not written" in w and "the disk is full" in w
               for w in report.warnings)
    assert len(read_results(workspace.results)) == len(MIXED_ROWS)


def test_the_page_lists_the_commonest_causes_and_counts_the_rest() -> None:
    lines = [{"row": str(n + 2), "status": "invalid", "errors": f"Phone: problem {n}",
              "problem_codes": f"number.problem_{n}"} for n in range(105)]
    page = render(ReportInput(summary={"outcome": "rows_invalid", "counts": {"invalid": 105}},
                              results=results_frame(lines), headers=HEADERS))
    assert page.count("data-problem=") == 100
    assert 'data-more="5">and 5 more causes: see the results file.' in page


def test_with_codes_failed_rows_without_an_answer_group_by_what_went_wrong() -> None:
    lines = [
        {"row": "2", "status": "failed", "problem_codes": "transport.timeout",
         "message": "tried 3 times: no response before the read timeout"},
        {"row": "3", "status": "failed", "problem_codes": "transport.connection",
         "message": "tried 3 times: connection failed"},
        {"row": "4", "status": "failed", "problem_codes": "transport.timeout",
         "message": "tried 3 times: no response before the read timeout"},
        {"row": "5", "status": "failed", "problem_codes": "api.4040", "http_status": "404",
         "api_code": "4040", "message": "Contact not found"},
    ]
    groups = failure_groups(results_frame(lines))
    assert [(g.http_status, g.api_code, g.code, g.rows) for g in groups] == [
        ("", "", "transport.timeout", 2), ("", "", "transport.connection", 1),
        ("404", "4040", "api.4040", 1)]


def test_a_coded_cause_says_what_its_code_means_and_gives_its_first_message() -> None:
    lines = [{"row": "2", "status": "invalid", "problem_codes": "number.leading_zero",
              "errors": 'Phone: "0712 1" starts with 0'}]
    page = render(ReportInput(summary={"outcome": "rows_invalid", "counts": {"invalid": 1}},
                              results=results_frame(lines), headers=HEADERS))
    assert ('<p class="meaning">Digits starting with 0: a local number, written without its '
            'country code.</p>') in page
    assert '<p class="example">e.g. Phone: &quot;0712 1&quot; starts with 0</p>' in page
