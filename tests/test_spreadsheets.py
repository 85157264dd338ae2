"""Files as operators hand them over, run through the whole job against the simulator.

The files live in ``tests/data/`` (written by ``tests/data/make_files.py``). Each test asserts
the exact status of every row and that nothing is sent for rows that are invalid.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from sync_job.config import Config
from sync_job.errors import InputFileError
from sync_job.pipeline import run_sync
from sync_job.simulator import Simulator
from tests.conftest import Workspace, write_csv

DATA = Path(__file__).resolve().parent / "data"

# The four data rows every text file in tests/data holds, and what becomes of them.
TEXT_FILE_STATUSES = {2: "updated", 3: "updated", 4: "invalid", 5: "unchanged"}
TEXT_FILE_SENT = {1001: {"names": "José Müller"}, 1002: {"number": "255713000002"}}


def use(workspace: Workspace, name: str) -> Path:
    target = workspace.root / name
    shutil.copy(DATA / name, target)
    workspace.changes = target
    return target


def with_input(config: Config, **changes: object) -> Config:
    return dataclasses.replace(config, input=dataclasses.replace(config.input, **changes))


def sent(sim: Simulator) -> dict[int | None, object]:
    return {r.contact_id: r.body for r in sim.requests if r.method == "PUT"}


def statuses(workspace: Workspace) -> dict[int, str]:
    return {row: r["status"] for row, r in workspace.results_by_row().items()}


@pytest.mark.parametrize(("name", "how"), [
    ("utf8_bom_comma_crlf.csv", "utf-8-sig, comma-separated"),
    ("utf8_semicolon_lf.csv", "utf-8, semicolon-separated"),
    ("cp1252_semicolon_crlf.csv", "cp1252, semicolon-separated"),
    ("utf16_tab.txt", "utf-16, tab-separated"),
    ("pipe_cr.txt", "utf-8, pipe-separated"),
])
def test_every_encoding_and_delimiter_goes_through(
        name: str, how: str, workspace: Workspace, sim: Simulator, env: dict[str, str],
        caplog: pytest.LogCaptureFixture) -> None:
    use(workspace, name)
    with caplog.at_level("INFO", logger="sync_job"):
        report = run_sync(workspace.config(), environ=env)
    assert f"reading {name} ({how})" in caplog.text
    assert statuses(workspace) == TEXT_FILE_STATUSES
    assert sent(sim) == TEXT_FILE_SENT
    errors = workspace.results_by_row()[4]["errors"]
    assert errors == ('number: "2.55712E+11" looks like Excel scientific notation: the '
                      "spreadsheet turned the number into a float and digits were lost; format "
                      "the column as Text and re-enter the number")
    assert report.exit_code == 1


def test_config_can_force_encoding_and_delimiter(workspace: Workspace, sim: Simulator,
                                                 env: dict[str, str]) -> None:
    use(workspace, "cp1252_semicolon_crlf.csv")
    config = workspace.config()
    config = with_input(config, encoding="cp1252", delimiter=";")
    run_sync(config, environ=env)
    assert statuses(workspace) == TEXT_FILE_STATUSES
    assert sent(sim) == TEXT_FILE_SENT


def test_header_aliases_and_trailing_blank_rows(workspace: Workspace, sim: Simulator,
                                                env: dict[str, str]) -> None:
    use(workspace, "header_aliases.csv")
    run_sync(workspace.config(), environ=env)
    assert statuses(workspace) == TEXT_FILE_STATUSES  # the blank rows 6-8 are not rows at all
    assert sent(sim) == TEXT_FILE_SENT
    # errors name the column as the operator's header spells it
    assert workspace.results_by_row()[4]["errors"].startswith('Phone Number: "2.55712E+11"')


def test_xlsx_with_numeric_cells_dates_and_blank_rows(workspace: Workspace, sim: Simulator,
                                                      env: dict[str, str]) -> None:
    use(workspace, "numeric_cells.xlsx")
    config = workspace.config()
    config = with_input(config, sheet="Contacts")
    report = run_sync(config, environ=env)
    results = workspace.results_by_row()
    assert {row: r["status"] for row, r in results.items()} == {
        2: "updated", 3: "updated", 4: "invalid", 6: "unchanged", 7: "invalid", 8: "updated"}
    assert sent(sim) == {
        1001: {"names": "José Müller"},
        1002: {"number": "255713000002"},            # a number cell, every digit kept
        1006: {"names": "Person Six", "number": "255713000006", "email": "x@example.com"},
    }
    assert results[3]["contactId"] == "1002"         # 1002.0 in the sheet
    assert results[4]["errors"] == ('Name: "2024-03-05T00:00:00" is a date, not text; format '
                                    "the column as Text and re-enter the value")
    assert results[7]["errors"].startswith('Phone: "2557130" is not an international phone')
    assert report.exit_code == 1


def test_xlsx_an_instructions_sheet_first_is_passed_over_with_a_warning(
        workspace: Workspace, sim: Simulator, env: dict[str, str]) -> None:
    use(workspace, "numeric_cells.xlsx")
    report = run_sync(workspace.config(), environ=env)
    assert report.warnings[0] == ("numeric_cells.xlsx: sheet 'Notes' has no contactId column; "
                                  "reading sheet 'Contacts', the first with a contactId column "
                                  "(--sheet names another)")
    assert statuses(workspace) == {2: "updated", 3: "updated", 4: "invalid", 6: "unchanged",
                                   7: "invalid", 8: "updated"}


def test_xlsx_unknown_sheet_names_the_sheets(workspace: Workspace, env: dict[str, str]) -> None:
    use(workspace, "numeric_cells.xlsx")
    config = workspace.config()
    config = with_input(config, sheet="Sheet9")
    with pytest.raises(InputFileError, match=r"no sheet named 'Sheet9'.*'Notes', 'Contacts'"):
        run_sync(config, environ=env)


def test_duplicate_headers_stop_the_run(workspace: Workspace, sim: Simulator,
                                        env: dict[str, str]) -> None:
    use(workspace, "duplicate_headers.csv")
    with pytest.raises(InputFileError, match="number ← 'Phone', 'Mobile'"):
        run_sync(workspace.config(), environ=env)
    assert sim.requests == []


def test_ragged_rows_are_judged_one_by_one(workspace: Workspace, sim: Simulator,
                                           env: dict[str, str]) -> None:
    use(workspace, "ragged.csv")
    run_sync(workspace.config(), environ=env)
    results = workspace.results_by_row()
    assert {row: r["status"] for row, r in results.items()} == {
        2: "updated", 3: "invalid", 4: "updated"}
    assert "the row has 5 cells but the header has 4 columns" in results[3]["errors"]
    assert 1002 not in sent(sim)
    assert sent(sim)[1003] == {"names": "Bea"}


@pytest.mark.parametrize(("name", "message"), [
    ("empty.csv", "the file is empty"),
    ("binary_renamed.csv", r"not a text \(CSV\) file"),
])
def test_unreadable_files_stop_the_run_with_a_message(
        name: str, message: str, workspace: Workspace, sim: Simulator,
        env: dict[str, str]) -> None:
    use(workspace, name)
    with pytest.raises(InputFileError, match=message):
        run_sync(workspace.config(), environ=env)
    assert sim.requests == [] and not workspace.results.exists()


def test_header_only_file_is_an_empty_run(workspace: Workspace, sim: Simulator,
                                          env: dict[str, str]) -> None:
    use(workspace, "header_only.csv")
    report = run_sync(workspace.config(), environ=env)
    assert report.exit_code == 0 and sum(report.counts.values()) == 0
    assert sim.requests == []
    assert workspace.results.read_text(encoding="utf-8-sig").startswith('"row","contactId"')


def test_input_columns_maps_any_header(workspace: Workspace, sim: Simulator,
                                       env: dict[str, str]) -> None:
    write_csv(workspace.changes, [["Kitambulisho", "Jina", "Simu"],
                                  ["1001", "Amina", "0713 000 001"],
                                  ["1002", "Baraka", "255713000002"]])
    config = workspace.config()
    config = with_input(config, columns={"Kitambulisho": "contactId", "Jina": "names",
                                         "Simu": "number"})
    run_sync(config, environ=env)
    results = workspace.results_by_row()
    assert results[2]["status"] == "invalid"
    assert results[2]["errors"].startswith('Simu: "0713 000 001" starts with 0')
    assert results[3]["status"] == "updated"
    assert sent(sim) == {1002: {"names": "Baraka", "number": "255713000002"}}


def test_excel_artefacts_in_cells_are_cleaned(workspace: Workspace, sim: Simulator,
                                              env: dict[str, str]) -> None:
    workspace.write_changes([
        ("1001.0", "\u00a0Amina\u200b", "'255713000001", ""),     # NBSP, zero-width, apostrophe
        ("1002", "Jose\u0301", "255713000002.0", ""),            # decomposed é, float artefact
        ("1003", "", "", " C@Example.ORG "),                     # domain case, spaces
    ])
    run_sync(workspace.config(), environ=env)
    assert sent(sim) == {
        1001: {"names": "Amina", "number": "255713000001"},
        1002: {"names": "José", "number": "255713000002"},
        1003: {"email": "C@example.org"},
    }


def test_a_dry_run_checks_a_spreadsheet_without_sending(workspace: Workspace,
                                                        sim: Simulator) -> None:
    use(workspace, "cp1252_semicolon_crlf.csv")
    report = run_sync(workspace.config(dry_run=True), environ={})
    assert sim.requests == []
    assert statuses(workspace) == {2: "planned", 3: "planned", 4: "invalid", 5: "unchanged"}
    assert report.exit_code == 1


@pytest.mark.parametrize("name", ["changes.xlsx", "changes_semicolon_cp1252.csv",
                                  "changes_unicode_text.txt"])
def test_files_saved_by_libreoffice_give_the_same_results_as_the_csv(
        name: str, tmp_path: Path) -> None:
    """sample_data/changes.csv, opened in LibreOffice Calc and saved again (see the README)."""
    root = Path(__file__).resolve().parent.parent

    def dry_run(source: Path, folder: str) -> list[tuple[str, ...]]:
        ws = Workspace(tmp_path / folder, "http://127.0.0.1:9/api/v3")
        shutil.copy(root / "sample_data" / "snapshot.csv", ws.snapshot)
        ws.changes = source
        run_sync(ws.config(dry_run=True), environ={})
        return [(r["row"], r["contactId"], r["status"], r["fields_sent"], r["payload"])
                for r in ws.results_by_row().values()]

    expected = dry_run(root / "sample_data" / "changes.csv", "original")
    assert dry_run(DATA / "libreoffice" / name, "saved") == expected
