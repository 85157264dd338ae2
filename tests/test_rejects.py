"""The rejects file: the invalid and failed rows as they were read, in the input's own format,
fixed by a program as an operator would and passed back with ``--input``. Real HTTP against
the simulator."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest

from sync_job.config import Config, load_config
from sync_job.errors import ConfigError
from sync_job.pipeline import RunReport, run_sync
from sync_job.read.reader import ReadOptions, read_input
from sync_job.report.rejects import added_names, write_rejects
from sync_job.simulator import Simulator
from tests.conftest import Workspace, read_results
from tests.odsfile import write_ods
from tests.test_cli import sync_job
from tests.test_libreoffice import soffice
from tests.test_nightly import history, keep_config
from tests.test_workbooks import write_xlsx

# An operator's sheet: columns the job ignores before and after its own, headers in their
# words, and cells as people type them.
HEADER = ["Notes", "contactId", "Name", "Phone", "email", "Account"]
ROWS = [
    ["fine", "1001", "Person One Renamed", "", "", "A-1"],                 # 2: updated
    ["called", "1002", "", "0712 345 002", "", "000123456789012345678"],   # 3: invalid number
    ["", "1003", "N" * 101, "", "", ""],                                   # 4: invalid name
    ["left", "99999", "Ghost", "", "", "x"],                               # 5: failed, 404
    ["", "  1004 ", "", "+255 713 000 004", "", ""],                       # 6: updated
    ["asked", "0001005", "", "", "ann@", "007"],                           # 7: invalid email
    ["=SUM(A1)", "1007", "=Ann", "0713", "", "+1"],                        # 8: invalid number
    ["", "1006", "", "", "", ""],                                          # 9: nothing to change
]
REJECTED = {3, 4, 5, 7, 8, 9}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def rejects_of(report: RunReport) -> Path:
    assert report.rejects_path is not None
    assert report.summary["rejects"] == str(report.rejects_path)
    return report.rejects_path


def read_csv_rows(path: Path, *, encoding: str = "utf-8-sig",
                  delimiter: str = ",") -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def write_rows(path: Path, rows: Sequence[Sequence[str]]) -> None:
    """Save as a spreadsheet program saves "CSV UTF-8": a byte-order mark, CRLF line ends."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(rows)


def puts_since(sim: Simulator, start: int) -> dict[int | None, Any]:
    return {r.contact_id: r.body for r in sim.requests[start:] if r.method == "PUT"}


def with_input(config: Config, source: Path, **results: Any) -> Config:
    return dataclasses.replace(config, input=dataclasses.replace(config.input, path=source),
                               results=dataclasses.replace(config.results, **results))


# ------------------------------------------------------------------------- a CSV


def test_a_csv_rejects_file_holds_the_rows_as_typed_and_sends_only_what_was_fixed(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes(ROWS, header=HEADER)
    report = run_sync(workspace.config(), environ=env)
    assert report.counts["invalid"] == 5 and report.counts["failed"] == 1
    path = rejects_of(report)
    assert path == workspace.results.with_name("results.rejects.csv")
    assert mode(path) == 0o600
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")

    lines = read_csv_rows(path)
    # The input's headers in their order, ignored columns included, then row and error.
    assert lines[0] == [*HEADER, "row", "error"]
    assert [line[:6] for line in lines[1:]] == [ROWS[n - 2] for n in sorted(REJECTED)]
    assert [int(line[6]) for line in lines[1:]] == sorted(REJECTED)
    errors = {int(line[6]): line[7] for line in lines[1:]}
    results = workspace.results_by_row()
    assert errors[3] == results[3]["errors"] and errors[3].startswith('Phone: "0712 345 002"')
    assert errors[5] == "Contact not found: contactId: Contact with ID 99999 does not exist"
    assert errors[9] == results[9]["errors"]

    # The operator fixes three rows in place, leaves two broken and deletes one.
    fixed = [lines[0]]
    for line in lines[1:]:
        row = int(line[6])
        if row == 3:
            line[3] = "255 713 000 002"
        elif row == 5:
            line[1] = "1009"
        elif row == 8:
            line[3] = "255713000007"
        elif row == 9:
            continue
        fixed.append(line)
    write_rows(path, fixed)
    edited = path.read_bytes()
    start = len(sim.requests)

    again = run_sync(with_input(workspace.config(), path), environ=env)

    # Exactly the fixed rows, with the formula-looking name sent as it was typed.
    assert puts_since(sim, start) == {1002: {"number": "255713000002"},
                                      1009: {"names": "Ghost"},
                                      1007: {"names": "=Ann", "number": "255713000007"}}
    rows = workspace.results_by_row()
    assert [rows[n]["status"] for n in range(2, 7)] == ["updated", "invalid", "updated",
                                                        "invalid", "updated"]
    assert rows[3]["errors"] == results[4]["errors"]
    assert rows[5]["errors"] == results[7]["errors"]
    # The rejects file is the input now: never written over, and said so.
    assert again.rejects_path is None and again.summary["rejects"] is None
    assert path.read_bytes() == edited
    assert any("no rejects file" in warning and str(path) in warning
               for warning in again.warnings)

    # Passed back under another name, the rows still broken come back exactly as they were.
    copy = workspace.root / "fixed.csv"
    copy.write_bytes(edited)
    third = run_sync(with_input(workspace.config(), copy,
                                path=workspace.root / "results" / "round3.csv"), environ=env)
    assert third.counts["updated"] == 0 and third.counts["invalid"] == 2
    lines3 = read_csv_rows(rejects_of(third))
    assert lines3[0] == [*HEADER, "row", "error", "row (rejects)", "error (rejects)"]
    assert [line[:8] for line in lines3[1:]] == [line for line in fixed[1:]
                                                 if int(line[6]) in (4, 7)]
    assert [line[8] for line in lines3[1:]] == ["3", "5"]


def test_the_input_encoding_and_delimiter_are_kept_and_read_back_the_same(
        tmp_path: Path) -> None:
    header = ["contactId", "Jina", "Simu", "Maelezo"]
    rows = [["1001", "Zoë Müller", "0712 000 001", "café; “quoted”"],
            ["1002", 'Ann "the" Bo', "2.55712E+11", "line\nbreak"]]
    for encoding, delimiter in (("cp1252", ";"), ("utf-16", "\t"), ("utf-8", ",")):
        source = tmp_path / f"in-{encoding}.csv"
        with source.open("w", encoding=encoding, newline="") as handle:
            csv.writer(handle, delimiter=delimiter).writerows([header, *rows])
        options = ReadOptions(columns={"Jina": "names", "Simu": "number"})
        table = read_input(source, options)
        results = pd.DataFrame({"row": [2, 3], "status": ["invalid", "failed"],
                                "message": ["not sent: fix Simu", "Contact not found"],
                                "errors": ["Simu: starts with 0 → use 255…", ""]})
        out = tmp_path / f"out-{encoding}.csv"
        write_rejects(out, table, results, np.array([0, 1]), columns=options.columns)
        written = "utf-8-sig" if encoding == "utf-8" else encoding
        lines = read_csv_rows(out, encoding=written, delimiter=delimiter)
        assert lines[0] == [*header, "row", "error"]
        assert [line[:4] for line in lines[1:]] == rows
        # cp1252 has no arrow: the job's own words lose it, the cells lose nothing
        assert lines[1][5] == ("Simu: starts with 0 ? use 255…" if encoding == "cp1252"
                               else "Simu: starts with 0 → use 255…")
        assert lines[2][5] == "Contact not found"
        again = read_input(out, options)
        assert again.cells.drop_columns(["row"]).to_pylist() == \
            table.cells.drop_columns(["row"]).to_pylist()
        assert again.details.split(", ")[1] == table.details.split(", ")[1]


def test_a_row_with_too_many_cells_keeps_them_and_is_refused_again(
        workspace: Workspace, env: dict[str, str]) -> None:
    workspace.changes.write_text("contactId,names,number\n1001,Smith, Ann,255712345001\n"
                                 "1002,Bo,255712345002\n", encoding="utf-8")
    report = run_sync(workspace.config(dry_run=True), environ={})
    lines = read_csv_rows(rejects_of(report))
    assert lines[0] == ["contactId", "names", "number", "row", "error"]
    assert lines[1][:3] == ["1001", "Smith", " Ann"]
    assert lines[1][3] == "2" and "4 cells but the header has 3" in lines[1][4]
    assert lines[1][5:] == ["255712345001"]
    again = run_sync(with_input(workspace.config(dry_run=True), rejects_of(report),
                                path=workspace.root / "again.csv"), environ={})
    assert again.counts["invalid"] == 1 and again.counts["planned"] == 0


def test_columns_called_row_or_error_are_kept_and_the_added_ones_named_apart(
        workspace: Workspace, env: dict[str, str]) -> None:
    workspace.write_changes([["1", "1001", "", "0712", "", "mine"]],
                            header=["Row", "contactId", "names", "number", "email", "Error"])
    report = run_sync(workspace.config(dry_run=True), environ={})
    lines = read_csv_rows(rejects_of(report))
    assert lines[0] == ["Row", "contactId", "names", "number", "email", "Error",
                        "row (rejects)", "error (rejects)"]
    assert lines[1][:6] == ["1", "1001", "", "0712", "", "mine"]
    # A name that input.columns maps to a field is never used.
    assert added_names(["row"], {"Row (rejects)": "names"}) == ("row (rejects 2)", "error")


# ------------------------------------------------------------------------- workbooks


def test_an_xlsx_rejects_file_is_a_workbook_of_text_cells_and_sends_only_what_was_fixed(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    book = write_xlsx(workspace.root / "contacts.xlsx", {
        "Read me": [["Fill in the Contacts sheet"]],
        "Contacts": [
            ["November changes"],
            [],
            ["contactId", "Name", "Phone", "Account", "Since"],
            [1001, "Renamed", None, "000123", dt.datetime(2020, 1, 2)],           # 4: updated
            [1002, None, "0712345002", "000123456789012345678901", None],        # 5: invalid
            [1003, dt.datetime(2024, 3, 5), None, 12345678901234567890, None],   # 6: a date
            [99999, "Ghost", None, None, None],                                   # 7: 404
            [1004, "Dee", 255712345004, None, dt.datetime(2021, 5, 6, 7, 8)],    # 8: updated
        ],
    })
    config = with_input(workspace.config(), book)
    report = run_sync(config, environ=env)
    assert report.counts == {"updated": 2, "unchanged": 0, "invalid": 2, "failed": 1,
                             "skipped": 0, "planned": 0}
    path = rejects_of(report)
    assert path == workspace.results.with_name("results.rejects.xlsx") and mode(path) == 0o600

    rejects = openpyxl.load_workbook(path)
    assert rejects.sheetnames == ["Contacts"]
    sheet = rejects["Contacts"]
    assert sheet.freeze_panes == "A2"
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0] == ["contactId", "Name", "Phone", "Account", "Since", "row", "error"]
    assert [row[:5] for row in values[1:]] == [
        ["1002", None, "0712345002", "000123456789012345678901", None],
        ["1003", dt.datetime(2024, 3, 5), None, "1.234567890123457e+19", None],  # as read
        ["99999", "Ghost", None, None, None],
    ]
    assert [row[5] for row in values[1:]] == [5, 6, 7]
    assert values[1][6].startswith('Phone: "0712345002" starts with 0')
    assert values[2][6].startswith('Name: "2024-03-05T00:00:00" is a date')
    assert values[3][6].startswith("Contact not found")
    for row in sheet.iter_rows(min_row=2):
        for cell in row[:5]:
            if cell.value is not None and not isinstance(cell.value, dt.datetime):
                assert cell.data_type == "s" and cell.number_format == "@"

    # Fixed as an operator would, in the workbook: one phone number, one contact id.
    sheet["C2"] = "255713000002"
    sheet["A4"] = "1009"
    rejects.save(path)
    start = len(sim.requests)
    again = run_sync(with_input(config, path), environ=env)
    assert puts_since(sim, start) == {1002: {"number": "255713000002"}, 1009: {"names": "Ghost"}}
    rows = workspace.results_by_row()
    assert [rows[n]["status"] for n in (2, 3, 4)] == ["updated", "invalid", "updated"]
    assert rows[3]["errors"].startswith('Name: "2024-03-05T00:00:00" is a date')
    assert again.rejects_path is None


def test_a_rejects_workbook_saved_again_by_libreoffice_reads_back_the_same(
        workspace: Workspace) -> None:
    book = write_ods(workspace.root / "contacts.ods", {"Contacts": [
        ["contactId", "names", "number", "Account"],
        [1001, "=Ann", "0712345001", "000123456789012345678901"],
        [1002, dt.datetime(2024, 3, 5), "+255 712 345 002", "007"],
    ]})
    report = run_sync(with_input(workspace.config(dry_run=True), book), environ={})
    path = rejects_of(report)
    saved = soffice(workspace.root / "calc", "xlsx", path) / path.name
    options = ReadOptions()
    read = read_input(saved, options)
    assert read.cells.to_pylist() == read_input(path, options).cells.to_pylist()
    assert read.cells.column("names").to_pylist() == ["=Ann", "2024-03-05T00:00:00"]
    again = run_sync(with_input(workspace.config(dry_run=True), saved,
                                path=workspace.root / "again.csv"), environ={})
    assert again.counts["invalid"] == 2


def test_an_ods_gives_an_xlsx_rejects_file(workspace: Workspace) -> None:
    book = write_ods(workspace.root / "contacts.ods", {"Contacts": [
        ["contactId", "names", "number", "Notes"],
        [1001, "Ann", 712345001, "leading zero lost"],
        [1002, "Bo", 255712345002, dt.date(2024, 1, 2)],
    ]})
    report = run_sync(with_input(workspace.config(dry_run=True), book), environ={})
    path = rejects_of(report)
    assert path.suffix == ".xlsx"
    values = [[cell.value for cell in row] for row in openpyxl.load_workbook(path).active]
    assert values == [["contactId", "names", "number", "Notes", "row", "error"],
                      ["1001", "Ann", "712345001", "leading zero lost", 2, values[1][5]]]
    assert "712345001" in values[1][5]


# ------------------------------------------------------------------------- which rows, when


def test_no_rejects_file_when_nothing_is_rejected_and_an_old_one_is_removed(
        workspace: Workspace, env: dict[str, str]) -> None:
    old = [workspace.results.with_name(f"results.rejects.{suffix}") for suffix in ("csv", "xlsx")]
    for path in old:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("an older run's")
    workspace.write_changes([["1001", "Renamed", "", ""]])
    report = run_sync(workspace.config(), environ=env)
    assert report.exit_code == 0 and report.rejects_path is None
    assert report.summary["rejects"] is None
    assert not any(path.exists() for path in old)


def test_rejects_off_writes_none(workspace: Workspace) -> None:
    workspace.write_changes([["1001", "", "0712", ""]])
    config = workspace.config(dry_run=True)
    report = run_sync(dataclasses.replace(
        config, results=dataclasses.replace(config.results, rejects=False)), environ={})
    assert report.counts["invalid"] == 1 and report.rejects_path is None
    assert not workspace.results.with_name("results.rejects.csv").exists()


def test_results_rejects_is_true_or_false_in_config_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("results:\n  rejects: false\n", encoding="utf-8")
    assert load_config(path).results.rejects is False
    path.write_text("results:\n  rejects: sometimes\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"results\.rejects: expected true or false"):
        load_config(path)


def test_a_braked_run_rejects_its_invalid_rows_only(workspace: Workspace,
                                                    env: dict[str, str]) -> None:
    workspace.write_changes([["1001", "Renamed", "", ""], ["1002", "Bo", "", ""],
                             ["1003", "", "0712", ""]])
    report = run_sync(workspace.config(max_changes=1), environ=env)
    assert report.braked_reason and report.counts["planned"] == 2
    lines = read_csv_rows(rejects_of(report))
    assert [line[0] for line in lines[1:]] == ["1003"]


def test_forbidden_contacts_are_rejected_with_the_apis_words(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    sim.forbidden_ids = {1002}
    workspace.write_changes([["1001", "Renamed", "", ""], ["1002", "Bo", "", ""]])
    report = run_sync(workspace.config(), environ=env)
    assert report.counts["failed"] == 1
    lines = read_csv_rows(rejects_of(report))
    result = workspace.results_by_row()[3]
    assert lines[1][:5] == ["1002", "Bo", "", "", "3"]
    said = result["message"] + (f": {result['errors']}" if result["errors"] else "")
    assert lines[1][5] == said
    assert result["http_status"] == "403"


def test_a_row_every_attempt_failed_for_is_rejected_with_what_happened(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    for _ in range(3):  # max_attempts
        sim.enqueue(500)
    workspace.write_changes([["1002", "Bo", "", ""]])
    report = run_sync(workspace.config(), environ=env)
    result = workspace.results_by_row()[2]
    assert result["status"] == "failed" and result["attempts"] == "3"
    lines = read_csv_rows(rejects_of(report))
    assert lines[1][:5] == ["1002", "Bo", "", "", "2"]
    assert lines[1][5] == result["message"] + (f": {result['errors']}" if result["errors"]
                                               else "")
    assert lines[1][5].startswith("Internal server error")  # the API's message


def test_an_interrupted_run_rejects_the_rows_rejected_so_far(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    stop = threading.Event()
    stop.set()  # before the first request: every update stays skipped
    workspace.write_changes([["1001", "Renamed", "", ""], ["1003", "", "0712", ""]])
    report = run_sync(workspace.config(), environ=env, stop=stop)
    assert report.interrupted and report.counts["skipped"] == 1
    assert [line[0] for line in read_csv_rows(rejects_of(report))[1:]] == ["1003"]


def test_the_summary_may_not_be_written_over_the_rejects_file(workspace: Workspace) -> None:
    workspace.write_changes([["1001", "Renamed", "", ""]])
    config = workspace.config(dry_run=True)
    config = dataclasses.replace(config, results=dataclasses.replace(
        config.results, summary=workspace.results.with_name("results.rejects.csv")))
    with pytest.raises(ConfigError, match="the rejects file"):
        run_sync(config, environ={})


def test_results_keep_removes_the_rejects_file_with_its_results(
        workspace: Workspace, env: dict[str, str]) -> None:
    workspace.write_changes([["1001", "", "0712", ""]])
    reports = [run_sync(keep_config(workspace, "results/{run_id}.csv", 1, dry_run=True),
                        environ={}) for _ in range(2)]
    gone, kept = reports
    assert not rejects_of(gone).exists() and rejects_of(kept).is_file()
    assert [run["rejects"] for run in history(workspace)] == [str(rejects_of(r))
                                                             for r in reports]


# ------------------------------------------------------------------------- the command


def test_the_command_says_where_the_rejects_are_and_what_to_do(workspace: Workspace) -> None:
    workspace.write_changes([["1001", "", "0712", ""], ["1002", "Bo", "", ""]])
    workspace.config()
    done = sync_job("run", "--dry-run", cwd=workspace.root)
    assert done.returncode == 1, done.stderr
    rejects = workspace.results.with_name("results.rejects.csv")
    assert f"rejects    {rejects}" in done.stdout
    assert f"fix the rows in {rejects} and run again with --input {rejects}" in done.stdout
    summary = json.loads(workspace.results.with_name("results.summary.json").read_text())
    assert summary["rejects"] == str(rejects)
    assert read_csv_rows(rejects)[1][:3] == ["1001", "", "0712"]
    assert read_results(workspace.results)[0]["status"] == "invalid"
