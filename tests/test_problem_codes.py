"""Problem codes: every rule and reader problem has one, the README lists every one, a row's
codes line up with its errors, a failed row gets the code of its answer (over real HTTP
against the simulator), and the summary counts rows by code."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from sync_job.fields import ALL_FIELDS, ID_FIELD, VALUE_FIELDS
from sync_job.pipeline import run_sync
from sync_job.plan.normalize import normalize_changes
from sync_job.plan.rules import RULES, validate
from sync_job.push.client import OUTCOME_CODES
from sync_job.read.reader import READ_PROBLEMS, RowProblem
from sync_job.report.codes import problem_codes
from sync_job.report.results import count_problems
from sync_job.simulator import Simulator
from sync_job.state.ledger import ledger_path_for, read_runs
from tests.conftest import TOKEN, Workspace, read_results, write_csv
from tests.test_cli import sync_job

ROOT = Path(__file__).resolve().parent.parent
CODE = re.compile(r"(contactId|names|number|email|row)\.[a-z_]+")


# ------------------------------------------------------------------ the registry


def test_every_rule_declares_its_codes_under_its_own_field() -> None:
    meanings: dict[str, str] = {}
    for check, rule in RULES.items():
        assert rule.problems, check
        for code, meaning in rule.codes.items():
            assert CODE.fullmatch(code), code
            assert code.split(".")[0] == (rule.field or "row"), (check, code)
            assert meaning and "|" not in meaning
            # a code shared by two checks (number_possible, number_valid) means one thing
            assert meanings.setdefault(code, meaning) == meaning, code


def test_reader_and_push_codes_are_well_formed() -> None:
    assert all(CODE.fullmatch(code) for code in READ_PROBLEMS)
    for code in OUTCOME_CODES:
        assert re.fullmatch(r"(api|http|transport|internal)\.([a-z_]+|<code>|<status>)", code)
    codes = problem_codes()
    assert len(codes) == (len({c for rule in RULES.values() for c in rule.codes})
                          + len(READ_PROBLEMS) + len(OUTCOME_CODES))


def readme_codes() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Problem codes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)


def test_the_readme_lists_every_code_once() -> None:
    listed = readme_codes()
    assert len(listed) == len(set(listed))
    assert set(listed) == set(problem_codes())


def test_the_readme_columns_table_names_problem_codes() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| `problem_codes` |" in text


# ------------------------------------------------------------------ validation, rule by rule


def verdict_of(rows: Sequence[Mapping[str, str]], *, phone_check: str = "possible",
               headers: Mapping[str, str] | None = None) -> tuple[list[str], list[str]]:
    """(errors, codes) of each row, validated as the pipeline does."""
    raw = pd.DataFrame({"row": pd.Series(range(2, len(rows) + 2), dtype="int64")})
    for name in ALL_FIELDS:
        raw[name] = pd.Series([row.get(name, "") for row in rows], dtype="str")
    changes = normalize_changes(raw, clear_marker="<clear>", empty_cells="unchanged")
    going = {name: pd.Series(True, index=changes.index) for name in VALUE_FIELDS}
    verdict = validate(changes, raw, headers or {}, going, phone_check=phone_check)
    return verdict.errors.tolist(), verdict.codes.tolist()


# One row that has exactly one problem, for every code of the checks.
ROW_FOR_CODE: dict[str, dict[str, str]] = {
    "contactId.missing": {ID_FIELD: "", "names": "Ann"},
    "contactId.not_whole_number": {ID_FIELD: "12a", "names": "Ann"},
    "names.line_break": {ID_FIELD: "1", "names": "Ann\n1006,Bo"},
    "names.control_character": {ID_FIELD: "1", "names": "Ann\x07"},
    "names.too_long": {ID_FIELD: "1", "names": "x" * 101},
    "number.line_break": {ID_FIELD: "1", "number": "255712\n345678"},
    "number.control_character": {ID_FIELD: "1", "number": "255712\x1b345678"},
    "number.cleared": {ID_FIELD: "1", "number": "<clear>"},
    "number.excel_scientific": {ID_FIELD: "1", "number": "2.55712E+11"},
    "number.leading_zero": {ID_FIELD: "1", "number": "0712 345 678"},
    "number.not_international": {ID_FIELD: "1", "number": "12"},
    "number.unknown_country_code": {ID_FIELD: "1", "number": "99912345678"},
    "number.too_short": {ID_FIELD: "1", "number": "177777777"},
    "number.too_long": {ID_FIELD: "1", "number": "177777777777"},
    "number.wrong_length": {ID_FIELD: "1", "number": "777777777777"},
    "email.line_break": {ID_FIELD: "1", "email": "a@b.co\r\n1002"},
    "email.control_character": {ID_FIELD: "1", "email": "a\x7f@b.co"},
    "email.invalid": {ID_FIELD: "1", "email": "khadija.omari@"},
    "row.nothing_to_change": {ID_FIELD: "1"},
}


# A value with a control character is no valid address (or number) either.
ALSO = {"email.control_character": ["email.invalid"], "email.line_break": ["email.invalid"],
        "number.control_character": ["number.not_international"]}


@pytest.mark.parametrize("code", sorted(ROW_FOR_CODE))
def test_each_problem_gets_its_code(code: str) -> None:
    errors, codes = verdict_of([ROW_FOR_CODE[code], {ID_FIELD: "2", "names": "Bo"}])
    found = codes[0].split("|")
    assert found[0] == code, errors
    assert found == [code, *ALSO.get(code, [])], errors
    assert len(error_fields(errors[0], [*ALL_FIELDS, "row"])) == len(found)
    assert codes[1] == errors[1] == ""


def test_the_valid_check_gives_not_valid() -> None:
    _, codes = verdict_of([{ID_FIELD: "1", "number": "17777777"}], phone_check="valid")
    assert codes == ["number.not_valid"]
    _, codes = verdict_of([{ID_FIELD: "1", "number": "17777777"}])  # possible: fine
    assert codes == [""]


def test_duplicates_get_their_codes_on_every_row() -> None:
    rows = [{ID_FIELD: "7", "number": "255799999999"}, {ID_FIELD: "7", "names": "Bo"},
            {ID_FIELD: "8", "number": "255799999999"}]
    _, codes = verdict_of(rows)
    assert codes == ["contactId.duplicate|number.duplicate", "contactId.duplicate",
                     "number.duplicate"]


def test_every_code_of_the_checks_is_reachable_or_a_fallback() -> None:
    tested = {*ROW_FOR_CODE, "number.not_valid", "contactId.duplicate", "number.duplicate"}
    declared = {code for rule in RULES.values() for code in rule.codes}
    # phonenumbers gives no other reason today; the code stays for one it may add.
    assert declared - tested == {"number.not_possible"}


def error_fields(error: str, labels: Sequence[str]) -> list[str]:
    """The label of each message of ``error`` (labels are the headers, or ``row``)."""
    alternatives = "|".join(re.escape(label) for label in labels)
    return re.findall(rf"(?:^|; )({alternatives}): ", error)


def test_codes_line_up_with_errors_for_rows_with_several_problems(tmp_path: Path) -> None:
    header = ["Contact ID", "Full Name", "Phone", "E-mail"]
    rows = [
        ["abc", "x" * 101, "0712 345 678", "bad@"],            # 2: four problems
        ["1001", "Ann\x07", "2.55712E+11", "a@b.co"],           # 3: names, number
        ["1002", "Bo\nLee", "<clear>", "b@@c"],                 # 4: three
        ["1002", "", "", ""],                                   # 5: duplicate, nothing to do
        ["1003", "Cy", "255712345678", "c@d.co"],               # 6: fine
    ]
    write_csv(tmp_path / "changes.csv", [header, *rows])
    (tmp_path / "snapshot.csv").write_text("contactId,names,number,email\n", encoding="utf-8")
    done = sync_job("run", "--dry-run", "--input", "changes.csv", "--snapshot", "snapshot.csv",
                    "--results", "results.csv", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    results = {int(r["row"]): r for r in read_results(tmp_path / "results.csv")}
    assert [results[n]["problem_codes"] for n in range(2, 7)] == [
        "contactId.not_whole_number|names.too_long|number.leading_zero|email.invalid",
        "names.control_character|number.excel_scientific",
        # the whole file's checks last, as in errors
        "names.line_break|number.cleared|email.invalid|contactId.duplicate",
        "row.nothing_to_change|contactId.duplicate",
        "",
    ]
    field_of = dict(zip(header, ALL_FIELDS, strict=True))
    for row in results.values():
        labels = error_fields(row["errors"], [*header, "row"])
        codes = row["problem_codes"].split("|") if row["problem_codes"] else []
        assert [field_of.get(label, label) for label in labels] == [
            code.split(".")[0] for code in codes], row
    summary = json.loads((tmp_path / "results.summary.json").read_text(encoding="utf-8"))
    assert summary["problems"] == {
        "contactId.duplicate": 2, "contactId.not_whole_number": 1, "email.invalid": 2,
        "names.control_character": 1, "names.line_break": 1, "names.too_long": 1,
        "number.cleared": 1, "number.excel_scientific": 1, "number.leading_zero": 1,
        "row.nothing_to_change": 1,
    }
    assert list(summary["problems"]) == sorted(summary["problems"])
    assert "problems (rows with each code" in done.stdout
    assert re.search(r"^    email\.invalid\s+2$", done.stdout, re.MULTILINE), done.stdout


# ------------------------------------------------------------------ the reader's problems


def test_reader_problems_get_their_codes(tmp_path: Path) -> None:
    text = ("contactId,names,number,email,Notes\n"
            "1001,Ann\0,,,\n"                     # 2: NUL in a field
            "1002,Bo,,,note\0\n"                  # 3: NUL in an ignored column
            "1003,Cy,,,a,b\n"                     # 4: a cell too many
            "1004,Di,255712345678,d@e.co,\n")     # 5: fine
    (tmp_path / "changes.csv").write_text(text, encoding="utf-8")
    (tmp_path / "snapshot.csv").write_text("contactId,names,number,email\n", encoding="utf-8")
    done = sync_job("run", "--dry-run", "--input", "changes.csv", "--snapshot", "snapshot.csv",
                    "--results", "results.csv", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    codes = [r["problem_codes"] for r in read_results(tmp_path / "results.csv")]
    assert codes == ["names.nul_byte", "row.nul_byte", "row.too_many_cells", ""]


def test_date_cells_of_a_workbook_get_their_codes(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["contactId", "names", "number", "email"])
    sheet.append([1001, dt.date(2024, 3, 5), "255712345678", "a@b.co"])
    sheet.append([dt.datetime(2024, 3, 5, 9, 15), "Bo", dt.time(14, 30), "x@"])
    book.save(tmp_path / "changes.xlsx")
    (tmp_path / "snapshot.csv").write_text("contactId,names,number,email\n", encoding="utf-8")
    done = sync_job("run", "--dry-run", "--input", "changes.xlsx", "--snapshot", "snapshot.csv",
                    "--results", "results.csv", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    codes = [r["problem_codes"] for r in read_results(tmp_path / "results.csv")]
    assert codes == ["names.date_cell",
                     "contactId.date_cell|number.date_cell|email.invalid"]


def test_a_rows_codes_are_cut_at_1000_characters_at_a_code() -> None:
    raw = pd.DataFrame({"row": pd.Series([2], dtype="int64"),
                        **{name: pd.Series(["1" if name == ID_FIELD else "x"], dtype="str")
                           for name in ALL_FIELDS}})
    changes = normalize_changes(raw, clear_marker="<clear>", empty_cells="unchanged")
    going = {name: pd.Series(True, index=changes.index) for name in VALUE_FIELDS}
    many = [RowProblem(2, None, f"the cell under 'N{n}' holds a NUL byte", "nul_byte")
            for n in range(200)]
    verdict = validate(changes, raw, {}, going, many)
    codes = str(verdict.codes.iat[0])
    assert len(codes) <= 1000 and codes.endswith("|…")
    assert set(codes.split("|")) == {"row.nul_byte", "…"}
    assert count_problems(verdict.codes.astype("category")) == {"row.nul_byte": 1}


# ------------------------------------------------------------------ failed rows, over HTTP


def envelope(data: object) -> str:
    return json.dumps({"status": "200 OK", "code": 0, "message": "ok", "data": data})


def test_failed_rows_get_the_code_of_their_answer(workspace: Workspace, sim: Simulator,
                                                  env: dict[str, str]) -> None:
    # One worker, two attempts a row: the forced answers go to rows 2-8 in turn, and rows
    # 9-11 get the simulator's own.
    workspace.write_changes([
        ("1001", "New 1", "", ""),             # 2: 200 without the envelope
        ("1002", "New 2", "", ""),             # 3: 200 confirming contact 1003
        ("1003", "New 3", "", ""),             # 4: a redirect
        ("1004", "New 4", "", ""),             # 5: 502 from a gateway, twice
        ("1005", "New 5", "", ""),             # 6: 503, come back tomorrow
        ("1006", "New 6", "", ""),             # 7: connection dropped, twice
        ("1010", "New 10", "", ""),            # 8: 500 with the API's envelope, twice
        ("99999", "Ghost", "", ""),            # 9: 404 from the API
        ("1008", "", "255712345001", ""),      # 10: the number of 1001: 422/4221
        ("1009", "New 9", "", ""),             # 11: forbidden: 403/4030
        ("1007", "New 7", "", ""),             # 12: updated
        ("abc", "Someone", "", ""),            # 13: invalid
    ])
    sim.forbidden_ids = {1009}
    sim.enqueue(200, body="OK")
    sim.enqueue(200, body=envelope({"id": 1003, "names": "Person 3"}))
    sim.enqueue(302, body="")
    sim.enqueue(502, body="<html>bad gateway</html>")
    sim.enqueue(502, body="<html>bad gateway</html>")
    sim.enqueue(503, retry_after="86400")
    sim.enqueue(200, close=True)
    sim.enqueue(200, close=True)
    sim.enqueue(500)
    sim.enqueue(500)
    report = run_sync(workspace.config(concurrency=1, max_attempts=2), environ=env)
    rows = workspace.results_by_row()
    assert {n: rows[n]["problem_codes"] for n in range(2, 14)} == {
        2: "api.no_envelope", 3: "api.other_contact", 4: "http.redirect", 5: "http.502",
        6: "http.retry_after_too_long", 7: "transport.connection", 8: "api.5000",
        9: "api.4040", 10: "api.4221", 11: "api.4030", 12: "",
        13: "contactId.not_whole_number",
    }
    assert rows[12]["status"] == "updated"
    assert all(rows[n]["status"] == "failed" for n in range(2, 12))
    expected = {"api.4030": 1, "api.4040": 1, "api.4221": 1, "api.5000": 1,
                "api.no_envelope": 1, "api.other_contact": 1, "contactId.not_whole_number": 1,
                "http.502": 1, "http.redirect": 1, "http.retry_after_too_long": 1,
                "transport.connection": 1}
    assert report.problems == expected
    assert report.summary["problems"] == expected
    written = json.loads(workspace.results.with_name("results.summary.json").read_text())
    assert written["problems"] == expected
    runs, _ = read_runs(ledger_path_for(workspace.snapshot))
    assert runs[-1]["problems"] == expected


def test_a_timeout_on_every_attempt_is_transport_timeout(tmp_path: Path,
                                                         env: dict[str, str]) -> None:
    with Simulator([{"contactId": "1001", "names": "A", "number": "255712345001",
                     "email": ""}], token=TOKEN, latency_ms=1500) as slow:
        workspace = Workspace(tmp_path, slow.base_url)
        workspace.write_changes([("1001", "B", "", "")])
        config = workspace.config(max_attempts=1)
        config = dataclasses.replace(config, api=dataclasses.replace(config.api,
                                                                     read_timeout=0.2))
        report = run_sync(config, environ=env)
    assert workspace.results_by_row()[2]["problem_codes"] == "transport.timeout"
    assert report.problems == {"transport.timeout": 1}


def test_after_a_402_the_failed_row_has_its_code_and_skipped_rows_none(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    workspace.write_changes([("1001", "New 1", "", ""), ("1002", "New 2", "", ""),
                             ("1003", "New 3", "", "")])
    sim.payment_required = True
    report = run_sync(workspace.config(concurrency=1), environ=env)
    rows = workspace.results_by_row()
    assert [rows[n]["status"] for n in (2, 3, 4)] == ["failed", "skipped", "skipped"]
    assert [rows[n]["problem_codes"] for n in (2, 3, 4)] == ["api.4020", "", ""]
    assert report.problems == {"api.4020": 1}


def test_a_run_that_cannot_start_has_no_problems_in_its_history_line(
        workspace: Workspace) -> None:
    workspace.write_changes([("1001", "New 1", "", "")])
    workspace.config()
    done = sync_job("run", "--config", str(workspace.root / "config.yaml"),
                    cwd=workspace.root, token=None)
    assert done.returncode == 2
    runs, _ = read_runs(ledger_path_for(workspace.snapshot))
    assert runs[-1]["outcome"] == "cannot_start" and runs[-1]["problems"] == {}
