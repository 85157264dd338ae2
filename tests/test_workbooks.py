"""Workbooks as operators save them: .ods cell by cell, the layouts of both .xlsx and .ods (an
instructions sheet first, titles above the header, ``--sheet`` in other capitals), and files
that are not what their name says. Every file is made here, in code."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest

from sync_job.errors import InputFileError
from sync_job.read.reader import InputTable, ReadOptions, RowProblem, read_input
from tests.conftest import read_results
from tests.odsfile import Cell, Xml, number, scientific, write_ods
from tests.test_cli import sync_job

Sheets = dict[str, list[list[Cell] | Xml]]


def write_xlsx(path: Path, sheets: Sheets) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.worksheets[0])
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for number_, row in enumerate(rows, start=1):
            assert not isinstance(row, Xml)
            for column, value in enumerate(row, start=1):
                assert not isinstance(value, Xml)
                sheet.cell(number_, column, value)
    book.save(path)
    return path


def workbook(tmp_path: Path, kind: str, sheets: Sheets) -> Path:
    path = tmp_path / f"book.{kind}"
    return write_ods(path, sheets) if kind == "ods" else write_xlsx(path, sheets)


def rows(table: InputTable) -> list[dict[str, object]]:
    return table.cells.to_pylist()


def refused(path: Path, sheet: str | None = None) -> str:
    with pytest.raises(InputFileError) as caught:
        read_input(path, ReadOptions(sheet=sheet))
    return str(caught.value)


HEADER: list[Cell] = ["contactId", "names", "number"]
README: list[list[Cell] | Xml] = [["How to fill in this workbook"], ["One row per contact"]]
CONTACTS: list[list[Cell] | Xml] = [HEADER, [1001, "Ann", 255712345678]]


# ------------------------------------------------------------------------- .ods cells


def test_ods_numbers_keep_every_digit_and_scientific_ones_are_caught(tmp_path: Path) -> None:
    table = read_input(write_ods(tmp_path / "c.ods", {"Contacts": [
        HEADER,
        [1001, "Ann", 255712345678],                               # a phone typed as a number
        [number(1002, "1,002.00"), "Bo", number(2.5, "2.50")],      # shown with a format
        [1003, "Cy", scientific(255712000000, "2.56E+11")],         # formatted as scientific
        [1004, "Di", number(1e20, "1E+20")],                        # too big: shown so too
        [1005, number(0.1, "10%"), Xml('<table:table-cell office:value-type="boolean" '
                                       'office:boolean-value="true"><text:p>TRUE</text:p>'
                                       "</table:table-cell>")],
    ]}))
    assert rows(table) == [
        {"row": 2, "contactId": "1001", "names": "Ann", "number": "255712345678"},
        {"row": 3, "contactId": "1002", "names": "Bo", "number": "2.5"},
        {"row": 4, "contactId": "1003", "names": "Cy", "number": "2.55712E+11"},
        {"row": 5, "contactId": "1004", "names": "Di", "number": "1.00000E+20"},
        {"row": 6, "contactId": "1005", "names": "0.1", "number": "TRUE"},
    ]
    assert table.problems == [] and table.details == "sheet 'Contacts'"


def test_ods_dates_and_times_are_problems_of_their_cells(tmp_path: Path) -> None:
    table = read_input(write_ods(tmp_path / "d.ods", {"Contacts": [
        HEADER,
        [1001, dt.date(2024, 3, 5), None],
        [1002, "Bo", dt.time(14, 30)],
        [1003, dt.datetime(2024, 3, 5, 9, 15), None],
    ]}))
    assert [r["names"] for r in rows(table)] == ["2024-03-05T00:00:00", "Bo",
                                                 "2024-03-05T09:15:00"]
    assert table.problems == [
        RowProblem(2, "names", '"2024-03-05T00:00:00" is a date, not text; format the column '
                               "as Text and re-enter the value", "date_cell"),
        RowProblem(3, "number", '"14:30:00" is a date, not text; format the column as Text and '
                                "re-enter the value", "date_cell"),
        RowProblem(4, "names", '"2024-03-05T09:15:00" is a date, not text; format the column '
                               "as Text and re-enter the value", "date_cell"),
    ]


def test_ods_text_as_calc_stores_it(tmp_path: Path) -> None:
    spaced = Xml('<table:table-cell office:value-type="string"><text:p>Ann<text:s text:c="3"/>'
                 '<text:span>Lee</text:span><text:tab/>x<text:line-break/>y</text:p>'
                 "<text:p>second paragraph</text:p></table:table-cell>")
    commented = Xml('<table:table-cell office:value-type="string"><office:annotation>'
                    "<text:p>a comment, not the value</text:p></office:annotation>"
                    "<text:p>Bo</text:p></table:table-cell>")
    table = read_input(write_ods(tmp_path / "t.ods", {"S": [
        ["contactId", "names"], [1001, spaced], [1002, commented], [1003, "<clear>"]]}))
    assert [r["names"] for r in rows(table)] == [
        "Ann   Lee\tx\ny\nsecond paragraph", "Bo", "<clear>"]


def test_ods_repeated_rows_and_cells_keep_the_numbers_and_columns_operators_see(
        tmp_path: Path) -> None:
    empty_rows = Xml('<table:table-row table:number-rows-repeated="3"><table:table-cell '
                     'table:number-columns-repeated="1024"/></table:table-row>')
    twice = Xml('<table:table-row table:number-rows-repeated="2"><table:table-cell '
                'office:value-type="float" office:value="1003"><text:p>1003</text:p>'
                '</table:table-cell><table:table-cell table:number-columns-repeated="2"/>'
                '<table:table-cell office:value-type="string"><text:p>c@x.org</text:p>'
                '</table:table-cell><table:table-cell table:number-columns-repeated="16000"/>'
                "</table:table-row>")
    merged = Xml('<table:table-row><table:table-cell table:number-columns-spanned="2" '
                 'office:value-type="string"><text:p>1004</text:p></table:table-cell>'
                 '<table:covered-table-cell/><table:table-cell office:value-type="string">'
                 "<text:p>255712345678</text:p></table:table-cell></table:table-row>")
    rest_of_sheet = Xml('<table:table-row table:number-rows-repeated="1048570">'
                        "<table:table-cell/></table:table-row>")
    table = read_input(write_ods(tmp_path / "r.ods", {"S": [
        ["contactId", "names", "number", "email"],
        [1001, "Ann", None, None],
        empty_rows,                          # rows 3-5
        twice,                               # rows 6 and 7
        merged,                              # row 8: a merged cell covers column B
        rest_of_sheet,
    ]}))
    assert rows(table) == [
        {"row": 2, "contactId": "1001", "names": "Ann", "number": "", "email": ""},
        {"row": 6, "contactId": "1003", "names": "", "number": "", "email": "c@x.org"},
        {"row": 7, "contactId": "1003", "names": "", "number": "", "email": "c@x.org"},
        {"row": 8, "contactId": "1004", "names": "", "number": "255712345678", "email": ""},
    ]


@pytest.mark.parametrize(("row", "message"), [
    (Xml('<table:table-row table:number-rows-repeated="2000000"><table:table-cell '
         'office:value-type="string"><text:p>1</text:p></table:table-cell></table:table-row>'),
     "r.ods, sheet 'S': the sheet goes on past row 1,048,576, the most a spreadsheet holds: "
     "the file is damaged"),
    (Xml('<table:table-row><table:table-cell table:number-columns-repeated="20000" '
         'office:value-type="string"><text:p>1</text:p></table:table-cell></table:table-row>'),
     "r.ods, sheet 'S', row 2: the row goes on past column 16,384, the most a spreadsheet "
     "holds: the file is damaged"),
])
def test_ods_repeats_beyond_a_sheet_are_refused(tmp_path: Path, row: Xml, message: str) -> None:
    assert refused(write_ods(tmp_path / "r.ods", {"S": [HEADER, row]})) == message


@pytest.mark.parametrize("cell", [
    "n" * 100_001,
    Xml('<table:table-cell office:value-type="string"><text:p>n<text:s text:c="999999999"/>'
        "</text:p></table:table-cell>"),
])
def test_ods_a_cell_over_the_limit_is_refused_naming_sheet_row_and_column(
        tmp_path: Path, cell: Cell) -> None:
    path = write_ods(tmp_path / "long.ods", {"S": [HEADER, [1001, "Ann"], [], [1002, cell]]})
    assert refused(path) == ("long.ods, sheet 'S', row 4, column B ('names'): a cell holds "
                             "more than 100,000 characters, the most a cell may hold")


def test_ods_damaged_or_protected_with_a_password_is_refused(tmp_path: Path) -> None:
    good = write_ods(tmp_path / "good.ods", {"Contacts": CONTACTS * 20})
    cut = tmp_path / "cut.ods"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(cut, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "content.xml":
                data = data[: len(data) * 2 // 3]  # cut off mid-element
            target.writestr(item, data)
    assert refused(cut) == ("cut.ods: sheet 'Contacts' cannot be read: the workbook is damaged "
                            "or protected with a password (ParseError); open it in your "
                            "spreadsheet program and save it again without a password")


# --------------------------------------------------------------- layouts, .xlsx and .ods


KINDS = pytest.mark.parametrize("kind", ["xlsx", "ods"])


@KINDS
def test_an_instructions_sheet_first_is_passed_over_with_a_warning(
        tmp_path: Path, kind: str) -> None:
    table = read_input(workbook(tmp_path, kind, {"Read me": README, "Contacts": CONTACTS}))
    assert table.warnings == [f"book.{kind}: sheet 'Read me' has no contactId column; reading "
                              f"sheet 'Contacts', the first with a contactId column (--sheet "
                              f"names another)"]
    assert table.details == "sheet 'Contacts'"
    assert rows(table) == [{"row": 2, "contactId": "1001", "names": "Ann",
                            "number": "255712345678"}]


@KINDS
def test_an_empty_first_sheet_is_passed_over_with_a_warning(tmp_path: Path, kind: str) -> None:
    table = read_input(workbook(tmp_path, kind, {"Sheet1": [], "Contacts": CONTACTS}))
    assert table.warnings == [f"book.{kind}: sheet 'Sheet1' is empty; reading sheet "
                              f"'Contacts', the first with a contactId column (--sheet names "
                              f"another)"]


@KINDS
def test_titles_above_the_header_are_skipped_and_rows_keep_their_numbers(
        tmp_path: Path, kind: str) -> None:
    table = read_input(workbook(tmp_path, kind, {"Contacts": [
        ["Contact changes, November"], ["prepared by the front desk"], [],
        HEADER, [1001, "Ann", None], [], [1002, "Bo", None]]}))
    assert table.details == "sheet 'Contacts', header on row 4"
    assert table.warnings == []
    assert [(r["row"], r["contactId"]) for r in rows(table)] == [(5, "1001"), (7, "1002")]


@KINDS
def test_a_header_below_the_first_ten_rows_is_not_looked_for(tmp_path: Path, kind: str) -> None:
    titles: list[list[Cell] | Xml] = [[f"note {n}"] for n in range(10)]
    path = workbook(tmp_path, kind, {"Contacts": [*titles, HEADER, [1001, "Ann", None]]})
    assert refused(path) == (
        f"book.{kind}, sheet 'Contacts': no contactId column in its first 10 rows (accepted "
        f"headers: contactId, contact id, id). Headers found: 'note 0'")


@KINDS
def test_no_sheet_with_a_contact_id_names_the_sheets_with_data(tmp_path: Path,
                                                               kind: str) -> None:
    path = workbook(tmp_path, kind, {"Read me": README, "Empty": [],
                                     "Data": [["Name", "Phone"], ["Ann", 255712345678]]})
    assert refused(path) == (
        f"book.{kind}: no sheet has a contactId column in its first 10 rows (accepted headers: "
        f"contactId, contact id, id). The sheets with data start with: sheet 'Read me': 'How to "
        f"fill in this workbook'; sheet 'Data': 'Name', 'Phone'")


@KINDS
def test_an_empty_workbook(tmp_path: Path, kind: str) -> None:
    assert refused(workbook(tmp_path, kind, {"Sheet1": []})) == (
        f"book.{kind}: sheet 'Sheet1' is empty; expected a header row with contactId")
    assert refused(workbook(tmp_path, kind, {"Sheet1": [], "Sheet2": []})) == (
        f"book.{kind}: every sheet is empty ('Sheet1', 'Sheet2'); expected a header row with "
        f"contactId")


@KINDS
def test_sheet_is_matched_ignoring_capitals_and_says_so(tmp_path: Path, kind: str) -> None:
    path = workbook(tmp_path, kind, {"Read me": README, "Contacts": CONTACTS})
    table = read_input(path, ReadOptions(sheet="contacts"))
    assert table.warnings == [f"book.{kind}: reading sheet 'Contacts' for the sheet named "
                              f"'contacts' (the same name in other capitals)"]
    assert table.details == "sheet 'Contacts'"
    assert read_input(path, ReadOptions(sheet="Contacts")).warnings == []


@KINDS
def test_a_named_sheet_without_contact_id_names_the_one_that_has_it(tmp_path: Path,
                                                                    kind: str) -> None:
    path = workbook(tmp_path, kind, {"Read me": README, "Empty": [], "Contacts": CONTACTS})
    assert refused(path, sheet="Read me") == (
        f"book.{kind}, sheet 'Read me': no contactId column in its first 10 rows (accepted "
        f"headers: contactId, contact id, id). Headers found: 'How to fill in this workbook'; "
        f"the other sheets with data: 'Contacts' (it has a contactId column)")
    assert refused(path, sheet="Empty") == (
        f"book.{kind}: sheet 'Empty' is empty; the other sheets with data: 'Read me', "
        f"'Contacts' (it has a contactId column)")
    assert refused(path, sheet="Sheet9") == (
        f"book.{kind}: no sheet named 'Sheet9'; the workbook has 'Read me', 'Empty', "
        f"'Contacts'")


@KINDS
def test_header_problems_name_the_sheet(tmp_path: Path, kind: str) -> None:
    path = workbook(tmp_path, kind, {"Contacts": [["contactId", "Phone", "Mobile", "Notes"],
                                                  [1001, None, None, "x", None, "y"]]})
    assert refused(path).startswith(f"book.{kind}, sheet 'Contacts': several columns mean the "
                                    f"same field (number ← 'Phone', 'Mobile')")
    path = workbook(tmp_path, kind, {"Contacts": [["contactId", "Notes"],
                                                  [1001, "x", None, "beyond the header"]]})
    assert read_input(path).warnings == [
        f"book.{kind}, sheet 'Contacts': ignoring column 'Notes': not one of contactId, names, "
        f"number, email",
        "ignoring values in column 4: it has no header"]


# ------------------------------------------------------- files not what their name says


def zipped(*members: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member in members:
            archive.writestr(member, "contactId,names\n1001,Ann\n")
    return buffer.getvalue()


@pytest.mark.parametrize(("name", "content", "message"), [
    ("changes.zip", zipped("changes.csv"),
     "this is a zip archive holding 'changes.csv', not a spreadsheet or a CSV file; unzip it "
     "first, then give the file inside (--input)"),
    ("changes.csv", zipped("export/changes.csv", "export/README.txt"),
     "this is a zip archive holding 'export/changes.csv', 'export/README.txt', not a "
     "spreadsheet or a CSV file; unzip it first, then give the file inside (--input)"),
    ("changes.csv", zipped(),
     "this is a zip archive with nothing in it, not a spreadsheet or a CSV file; unzip it "
     "first, then give the file inside (--input)"),
    ("changes.xlsx", zipped("xl/workbook.bin", "[Content_Types].xml"),
     "this is an Excel binary workbook (.xlsb); open it in Excel and save it as .xlsx or as "
     ".csv (CSV UTF-8)"),
    ("changes.xlsx", b"contactId,names\n1001,Ann\n",
     "this is a text file, not an Excel workbook (.xlsx); if it is a CSV file, rename it to "
     ".csv"),
    ("changes.ods", b"contactId;names\r\n1001;Ann\r\n",
     "this is a text file, not a LibreOffice Calc spreadsheet (OpenDocument, .ods); if it is "
     "a CSV file, rename it to .csv"),
    ("changes.ods", bytes(range(256)) * 8,
     "this is not a LibreOffice Calc spreadsheet (OpenDocument, .ods), nor text: the file may "
     "be damaged; open it in your spreadsheet program and save it again"),
    ("changes.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
     "this is an old Excel workbook (.xls), or a workbook protected with a password; open it "
     "in Excel and save it as .xlsx or as .csv (CSV UTF-8), without a password"),
])
def test_a_file_that_is_not_what_its_name_says_gets_advice_that_fits(
        tmp_path: Path, name: str, content: bytes, message: str) -> None:
    (tmp_path / name).write_bytes(content)
    assert refused(tmp_path / name) == f"{name}: {message}"


def test_an_xlsx_named_ods_and_an_ods_named_xlsx(tmp_path: Path) -> None:
    write_xlsx(tmp_path / "a.ods", {"Contacts": CONTACTS})
    assert refused(tmp_path / "a.ods") == ("a.ods: this is an Excel workbook (.xlsx) saved "
                                           "under another name; rename it to .xlsx")
    write_ods(tmp_path / "b.xlsx", {"Contacts": CONTACTS})
    assert refused(tmp_path / "b.xlsx") == (
        "b.xlsx: this is a LibreOffice Calc spreadsheet (OpenDocument, .ods) saved under "
        "another name; rename it to .ods")


# ----------------------------------------------------------------- text files with a title


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_a_text_file_with_a_title_above_its_header_names_the_header_line(
        tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "changes.csv"
    path.write_text(f"Contact changes for November\n\ncontactId{delimiter}names\n"
                    f"1001{delimiter}Ann\n", encoding="utf-8")
    assert refused(path) == (
        "changes.csv: line 1 is not the header: the header, with contactId, is on line 3; "
        "delete the lines above it (a title or notes), so the file starts with its header")


# ------------------------------------------------------------------- through the command


def test_the_command_reads_an_ods_saying_which_sheet_and_header_row(tmp_path: Path) -> None:
    write_ods(tmp_path / "contacts.ods", {
        "Read me": README,
        "Contacts": [["November"], [], HEADER, [1001, "Ann", 255712345678]]})
    (tmp_path / "config.yaml").write_text(
        "snapshot:\n  path: state/snapshot.csv\nresults:\n  path: check.csv\n", encoding="utf-8")
    done = sync_job("run", "--dry-run", "--input", "contacts.ods", "--sheet", "CONTACTS",
                    cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("contacts.ods: reading sheet 'Contacts' for the sheet named 'CONTACTS' (the same "
            "name in other capitals)") in done.stderr
    assert "reading contacts.ods (sheet 'Contacts', header on row 3)" in done.stderr
    [result] = read_results(tmp_path / "check.csv")
    assert (result["row"], result["contactId"], result["status"]) == ("4", "1001", "planned")
