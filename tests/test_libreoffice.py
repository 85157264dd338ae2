"""Workbooks saved by LibreOffice Calc itself, made at test time with ``soffice --headless``.

``sample_data/changes.csv`` opened in Calc (numbers become number cells, ``2.55712E+11`` a number
formatted as scientific) and saved as .ods, .xlsx and .xls; and small hand-made workbooks (an
instructions sheet first, title rows above the header, number, date and scientific cells)
saved again by Calc. Each workbook must give the same row-by-row results as the file it was
made from. ``make test`` installs LibreOffice when ``soffice`` is missing: these tests fail
without it, they are never skipped.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from sync_job.errors import InputFileError
from sync_job.pipeline import run_sync
from tests.conftest import Workspace
from tests.odsfile import scientific, write_ods

ROOT = Path(__file__).resolve().parent.parent
CHANGES = ROOT / "sample_data" / "changes.csv"
NUMERIC_CELLS = ROOT / "tests" / "data" / "numeric_cells.xlsx"  # 'Notes' first, 'Contacts'

# As an operator's Calc opens a CSV: comma-separated, UTF-8, from line 1; numbers as numbers.
CSV_AS_CALC_OPENS_IT = "CSV:44,34,76,1"


@dataclass(frozen=True)
class Made:
    """The files Calc made, and the hand-made ones they were made from."""

    hand: Path
    ods: dict[str, Path]
    xlsx: dict[str, Path]
    xls: Path


def soffice(out: Path, target: str, *sources: Path, infilter: str | None = None,
            extension: str | None = None) -> Path:
    """Convert ``sources`` to ``target`` files in folder ``out``, in one start of LibreOffice
    (``extension``: the files' suffix, when ``target`` names a filter and its options)."""
    executable = shutil.which("soffice")
    assert executable, ("LibreOffice's soffice is not installed: `make test` installs it "
                        "(apt-get install libreoffice-calc)")
    # A profile of its own: with the user's, a Calc already open would take the job over.
    profile = (out.parent / "profile").as_uri()
    command = [executable, f"-env:UserInstallation={profile}", "--headless",
               "--convert-to", target, "--outdir", str(out)]
    if infilter:
        command.append(f"--infilter={infilter}")
    done = subprocess.run([*command, *map(str, sources)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    for source in sources:
        made = out / f"{source.stem}.{extension or target}"
        assert made.is_file(), (done.stdout, done.stderr)
    return out


def hand_made(path: Path) -> Path:
    """An instructions sheet, then the contacts under a title, with Calc's kinds of cells."""
    return write_ods(path, {
        "Read me": [["How to fill in this workbook"], ["One row per contact, on 'Contacts'"]],
        "Contacts": [
            ["November changes"],                                     # row 1: a title
            [],                                                       # row 2
            ["Contact ID", "Name", "Phone", "Email"],                 # row 3: the header
            [1001, "José Müller", None, None],                        # updated name
            [1002.0, None, 255713000002, None],                       # a number cell
            [1003, dt.datetime(2024, 3, 5), None, None],              # a date: invalid
            [],                                                       # row 7: blank
            [1004, "Person 4", 255712345004, None],                   # unchanged
            [1005, None, scientific(255712000000, "2.56E+11"), None],  # digits lost: invalid
            [1006, "Person Six", "255713000006", "x@Example.COM"],    # text cells
        ],
    })


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    """Four starts of LibreOffice, a few files each (a start takes a second or two)."""
    folder = tmp_path_factory.mktemp("libreoffice")
    hand = hand_made(folder / "hand.ods")
    from_csv = soffice(folder / "from-csv", "ods", CHANGES, infilter=CSV_AS_CALC_OPENS_IT)
    xlsx = soffice(folder / "xlsx", "xlsx", from_csv / "changes.ods", hand)
    ods = soffice(folder / "ods", "ods", hand, NUMERIC_CELLS)
    xls = soffice(folder / "xls", "xls", from_csv / "changes.ods")
    return Made(
        hand=hand,
        ods={"changes": from_csv / "changes.ods", "hand": ods / "hand.ods",
             "numeric_cells": ods / "numeric_cells.ods"},
        xlsx={"changes": xlsx / "changes.xlsx", "hand": xlsx / "hand.xlsx"},
        xls=xls / "changes.xls",
    )


def dry_run(tmp_path: Path, source: Path, folder: str) -> list[tuple[str, ...]]:
    """Every results row of a dry run of ``source``, against the tests' snapshot."""
    workspace = Workspace(tmp_path / folder, "http://127.0.0.1:9/api/v3")
    workspace.changes = source
    run_sync(workspace.config(dry_run=True), environ={})
    return [(r["row"], r["contactId"], r["status"], r["fields_sent"], r["payload"], r["errors"])
            for r in workspace.results_by_row().values()]


@pytest.mark.parametrize("kind", ["ods", "xlsx"])
def test_sample_changes_saved_by_calc_give_the_csvs_results(
        made: Made, kind: str, tmp_path: Path) -> None:
    saved = made.ods["changes"] if kind == "ods" else made.xlsx["changes"]
    assert dry_run(tmp_path, saved, kind) == dry_run(tmp_path, CHANGES, "csv")


def test_a_hand_made_workbook_reads_the_same_once_calc_saved_it(
        made: Made, tmp_path: Path) -> None:
    expected = dry_run(tmp_path, made.hand, "hand")
    assert [(r[0], r[2]) for r in expected] == [
        ("4", "planned"), ("5", "planned"), ("6", "invalid"), ("8", "unchanged"),
        ("9", "invalid"), ("10", "planned")]
    planned = {r[1]: json.loads(r[4]) for r in expected if r[2] == "planned"}
    assert planned == {
        "1001": {"names": "José Müller"},
        "1002": {"number": "255713000002"},  # every digit of a number cell
        "1006": {"names": "Person Six", "number": "255713000006", "email": "x@example.com"},
    }
    assert expected[2][5] == ('Name: "2024-03-05T00:00:00" is a date, not text; format the '
                              "column as Text and re-enter the value")
    assert expected[4][5].startswith('Phone: "2.55712E+11" looks like Excel scientific notation')
    assert dry_run(tmp_path, made.ods["hand"], "ods") == expected
    assert dry_run(tmp_path, made.xlsx["hand"], "xlsx") == expected


def test_an_openpyxl_workbook_saved_as_ods_by_calc_reads_as_the_xlsx(
        made: Made, tmp_path: Path) -> None:
    # Its first sheet, 'Notes', has no contactId column: 'Contacts' is read in both.
    assert dry_run(tmp_path, made.ods["numeric_cells"], "ods") == \
        dry_run(tmp_path, NUMERIC_CELLS, "xlsx")


def refused(tmp_path: Path, source: Path, name: str) -> str:
    copy = tmp_path / name
    shutil.copy(source, copy)
    workspace = Workspace(tmp_path / name.replace(".", "-"), "http://127.0.0.1:9/api/v3")
    workspace.changes = copy
    with pytest.raises(InputFileError) as caught:
        run_sync(workspace.config(dry_run=True), environ={})
    assert not workspace.results.exists()
    return str(caught.value)


@pytest.mark.parametrize("name", ["changes.xls", "changes.csv", "changes.xlsx"])
def test_an_xls_saved_by_calc_is_refused_with_what_to_do(
        made: Made, tmp_path: Path, name: str) -> None:
    assert refused(tmp_path, made.xls, name) == (
        f"{name}: this is an old Excel workbook (.xls), or a workbook protected with a "
        f"password; open it in Excel and save it as .xlsx or as .csv (CSV UTF-8), without a "
        f"password")


@pytest.mark.parametrize("name", ["changes.csv", "changes.xlsx", "changes.txt"])
def test_an_ods_under_another_name_is_told_to_be_renamed(
        made: Made, tmp_path: Path, name: str) -> None:
    assert refused(tmp_path, made.ods["changes"], name) == (
        f"{name}: this is a LibreOffice Calc spreadsheet (OpenDocument, .ods) saved under "
        f"another name; rename it to .ods")


def test_an_xlsx_saved_by_calc_as_ods_is_told_to_be_renamed(made: Made, tmp_path: Path) -> None:
    assert refused(tmp_path, made.xlsx["changes"], "changes.ods") == (
        "changes.ods: this is an Excel workbook (.xlsx) saved under another name; rename it "
        "to .xlsx")
