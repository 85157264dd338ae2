"""Writes the operator files in this folder, as spreadsheet programs save them.

Run ``python tests/data/make_files.py`` to regenerate; the files are committed so each can be
opened and inspected as it is. Every text file holds the same four data rows (see
``tests/test_spreadsheets.py``) saved in a different way.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl

HERE = Path(__file__).resolve().parent

HEADER = ["contactId", "names", "number", "email"]
ROWS = [
    ["1001", "José Müller", "", ""],            # accents: only right if the encoding is
    ["1002", "", "+255 713 000 002", ""],        # a changed number, written with spaces
    ["1003", "", "2.55712E+11", ""],             # Excel's scientific notation: digits lost
    ["1004", "Person 4", "", "person4@example.com"],  # nothing new: unchanged
]


def delimited(rows: list[list[str]], delimiter: str, newline: str) -> str:
    return "".join(delimiter.join(row) + newline for row in rows)


def main() -> None:
    table = [HEADER, *ROWS]
    (HERE / "utf8_bom_comma_crlf.csv").write_bytes(
        b"\xef\xbb\xbf" + delimited(table, ",", "\r\n").encode("utf-8"))
    (HERE / "utf8_semicolon_lf.csv").write_bytes(delimited(table, ";", "\n").encode("utf-8"))
    # Excel on Windows in a European locale: "CSV (semicolon)" in the ANSI code page.
    (HERE / "cp1252_semicolon_crlf.csv").write_bytes(
        delimited(table, ";", "\r\n").encode("cp1252"))
    # Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-separated.
    (HERE / "utf16_tab.txt").write_bytes(delimited(table, "\t", "\r\n").encode("utf-16"))
    # Old Mac line ends, pipe-separated.
    (HERE / "pipe_cr.txt").write_bytes(delimited(table, "|", "\r").encode("utf-8"))
    # Headers as operators write them, and trailing blank lines Excel leaves.
    aliases = [["Contact ID", "Full Name", "Phone Number", "E-mail"], *ROWS]
    (HERE / "header_aliases.csv").write_bytes(
        (delimited(aliases, ",", "\r\n") + ",,,\r\n,,,\r\n\r\n").encode("utf-8"))
    (HERE / "duplicate_headers.csv").write_bytes(
        delimited([["contactId", "Phone", "Mobile"], ["1001", "255713000002", "255713000003"]],
                  ",", "\n").encode("utf-8"))
    (HERE / "ragged.csv").write_bytes(delimited([
        HEADER,
        ["1001", "Ann", "255713000001", ""],
        ["1002", "Smith", " John", "255713000002", ""],   # a name with an unquoted comma
        ["1003", "Bea"],                                  # trailing cells left out
    ], ",", "\n").encode("utf-8"))
    (HERE / "empty.csv").write_bytes(b"")
    (HERE / "header_only.csv").write_bytes(b"contactId,names,number,email\r\n")
    (HERE / "binary_renamed.csv").write_bytes(bytes(range(256)) * 8)
    write_workbook(HERE / "numeric_cells.xlsx")


def write_workbook(path: Path) -> None:
    workbook = openpyxl.Workbook()
    notes = workbook.active
    assert notes is not None
    notes.title = "Notes"
    notes.append(["This sheet is not the data; the data is on 'Contacts'."])
    sheet = workbook.create_sheet("Contacts")
    sheet.append(["Contact ID", "Name", "Phone", "Email"])
    sheet.append([1001, "José Müller", None, None])              # row 2: updated
    sheet.append([1002.0, None, 255713000002, None])             # row 3: numeric phone cell
    sheet.append([1003, dt.datetime(2024, 3, 5), None, None])    # row 4: a date in names
    sheet.append([None, None, None, None])                       # row 5: blank
    sheet.append([1004, "Person 4", 255712345004, None])         # row 6: unchanged
    sheet.append([1005, None, 2557130, None])                    # row 7: too short a number
    sheet.append(["1006", "Person Six", "'255713000006", "x@Example.COM"])  # row 8: text
    for _ in range(3):
        sheet.append([None, None, None, None])                   # trailing blank rows
    workbook.save(path)


if __name__ == "__main__":
    main()
