"""read_input: every cell as text, row numbers an operator sees, file-level errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sync_job.errors import InputFileError, StartupError
from sync_job.fields import VALUE_FIELDS
from sync_job.plan.normalize import normalize_changes
from sync_job.plan.rules import validate
from sync_job.read.reader import InputTable, RowProblem, header_key, read_input


def frame(table: InputTable) -> pd.DataFrame:
    """The reader's cells as a pandas frame (``row`` int64, ``str`` columns)."""
    cells: pd.DataFrame = table.cells.to_pandas()
    return cells

def write(tmp_path: Path, content: str | bytes, name: str = "changes.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def read(tmp_path: Path, content: str | bytes, name: str = "changes.csv") -> InputTable:
    return read_input(write(tmp_path, content, name))


def records(table: InputTable) -> list[dict[str, object]]:
    return frame(table).to_dict("records")


def read_error(tmp_path: Path, content: str | bytes, name: str = "changes.csv") -> str:
    with pytest.raises(InputFileError) as caught:
        read(tmp_path, content, name)
    assert isinstance(caught.value, StartupError)
    return str(caught.value)


# ---------------------------------------------------------------- the frame


def test_a_clean_file(tmp_path: Path) -> None:
    table = read(
        tmp_path,
        "contactId,names,number,email\n"
        "101,Ann Lee,+255 712 345 678,ann@example.com\n"
        "102,Bo,,\n",
    )
    assert frame(table).columns.tolist() == ["row", "contactId", "names", "number", "email"]
    assert frame(table)["row"].dtype == "int64"
    for name in ("contactId", "names", "number", "email"):
        assert frame(table)[name].dtype == "str"
    assert records(table) == [
        {"row": 2, "contactId": "101", "names": "Ann Lee", "number": "+255 712 345 678",
         "email": "ann@example.com"},
        {"row": 3, "contactId": "102", "names": "Bo", "number": "", "email": ""},
    ]
    assert table.headers == {"contactId": "contactId", "names": "names", "number": "number",
                             "email": "email"}
    assert table.problems == []
    assert table.warnings == []


def test_only_the_columns_the_file_has(tmp_path: Path) -> None:
    table = read(tmp_path, "email,contactId\na@b.co,1\n")
    assert frame(table).columns.tolist() == ["row", "email", "contactId"]
    assert set(table.headers) == {"email", "contactId"}
    assert records(table) == [{"row": 2, "email": "a@b.co", "contactId": "1"}]


def test_every_cell_is_text_and_keeps_every_digit(tmp_path: Path) -> None:
    table = read(
        tmp_path,
        "contactId,names,number,email\n"
        "0012,NA,0712345678,null\n"
        "123456789012345678901234,None,255712345678901,nan\n"
        "1.0,N/A,2.55712E+11,TRUE\n"
        "007,#N/A,'255712345678,-\n",
    )
    assert frame(table)["contactId"].tolist() == [
        "0012", "123456789012345678901234", "1.0", "007"]
    assert frame(table)["names"].tolist() == ["NA", "None", "N/A", "#N/A"]
    assert frame(table)["number"].tolist() == [
        "0712345678", "255712345678901", "2.55712E+11", "'255712345678"]
    assert frame(table)["email"].tolist() == ["null", "nan", "TRUE", "-"]
    assert not frame(table).isna().any().any()


def test_empty_cells_are_empty_text_not_missing(tmp_path: Path) -> None:
    table = read(tmp_path, 'contactId,names,email\n1,,""\n2," ",x\n')
    assert frame(table)["names"].tolist() == ["", " "]
    assert frame(table)["email"].tolist() == ["", "x"]
    assert not frame(table).isna().any().any()


def test_bom_is_stripped(tmp_path: Path) -> None:
    table = read(tmp_path, b"\xef\xbb\xbfcontactId,names\r\n1,Ann\r\n")
    assert table.headers == {"contactId": "contactId", "names": "names"}
    assert records(table) == [{"row": 2, "contactId": "1", "names": "Ann"}]


def test_crlf_line_endings(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names\r\n1,Ann\r\n2,Bo\r\n")
    assert records(table) == [
        {"row": 2, "contactId": "1", "names": "Ann"},
        {"row": 3, "contactId": "2", "names": "Bo"},
    ]


def test_no_newline_at_the_end(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names\n1,Ann\n2,Bo")
    assert frame(table)["names"].tolist() == ["Ann", "Bo"]


def test_quoted_commas_quotes_and_newlines(tmp_path: Path) -> None:
    table = read(
        tmp_path,
        'contactId,names,email\n'
        '1,"Lee, Ann","a@b.co"\n'
        '2,"Bo ""the boss"" Ek",\n'
        '3,"two\nlines",c@d.co\n'
        '4,Dee,d@e.co\n',
    )
    assert frame(table)["names"].tolist() == ["Lee, Ann", 'Bo "the boss" Ek', "two\nlines", "Dee"]
    assert frame(table)["row"].tolist() == [2, 3, 4, 5]
    assert table.problems == []


def test_unicode_text_is_kept(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names\n1,Zoë Ñandú 李\n")
    assert frame(table)["names"].tolist() == ["Zoë Ñandú 李"]


# ---------------------------------------------------------------- row numbers


def test_blank_lines_are_dropped_but_rows_keep_the_files_numbers(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names\n1,Ann\n\n2,Bo\n,\n  ,  \n3,Cy\n\n")
    assert records(table) == [
        {"row": 2, "contactId": "1", "names": "Ann"},
        {"row": 4, "contactId": "2", "names": "Bo"},
        {"row": 7, "contactId": "3", "names": "Cy"},
    ]
    assert frame(table).index.tolist() == [0, 1, 2]


def test_blank_lines_in_a_one_column_file(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId\n1\n\n2\n")
    assert frame(table)["row"].tolist() == [2, 4]
    assert frame(table)["contactId"].tolist() == ["1", "2"]


def test_a_row_with_only_an_ignored_column_filled_is_kept(tmp_path: Path) -> None:
    # It is not blank: the operator typed something on it, so it stays (and fails validation).
    table = read(tmp_path, "contactId,notes\n,hello\n1,\n")
    assert frame(table)["row"].tolist() == [2, 3]
    assert frame(table)["contactId"].tolist() == ["", "1"]


# ---------------------------------------------------------------- headers


def test_unknown_columns_are_ignored_with_one_warning_naming_them(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,Notes,names,Owner \n1,x,Ann,y\n", name="in.csv")
    assert frame(table).columns.tolist() == ["row", "contactId", "names"]
    assert table.warnings == ["in.csv: ignoring 2 columns that are not contactId, names, number "
                              "or email: 'Notes', 'Owner'"]
    table = read(tmp_path, "contactId,Notes,names\n1,x,Ann\n", name="in.csv")
    assert table.warnings == ["in.csv: ignoring column 'Notes': not one of contactId, names, "
                              "number, email"]


def test_a_column_with_no_header_and_no_values_is_ignored_silently(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,,names\n1,,Ann\n")
    assert frame(table).columns.tolist() == ["row", "contactId", "names"]
    assert table.warnings == []


def test_values_under_no_header_are_ignored_with_a_warning(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,,names\n1,x,Ann\n")
    assert frame(table).columns.tolist() == ["row", "contactId", "names"]
    assert table.warnings == ["ignoring values in column 2: it has no header"]


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Contact ID", "contactId"),
        ("contact_id", "contactId"),
        ("CONTACT-ID", "contactId"),
        ("id", "contactId"),
        (" contactId ", "contactId"),
        ("Phone", "number"),
        ("Phone Number", "number"),
        ("mobile", "number"),
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("Full Name", "names"),
        ("Name", "names"),
    ],
)
def test_header_aliases(tmp_path: Path, header: str, field: str) -> None:
    if field == "contactId":
        content = f'"{header}",names\n1,Ann\n'
    else:
        content = f'contactId,"{header}"\n1,value\n'
    table = read(tmp_path, content)
    assert field in frame(table).columns
    assert table.headers[field] == header.strip()
    assert table.warnings == []


def test_headers_keep_the_operators_spelling(tmp_path: Path) -> None:
    table = read(tmp_path, "Contact ID,Full Name,Phone,E-mail\n1,Ann,255712345678,a@b.co\n")
    assert table.headers == {"contactId": "Contact ID", "names": "Full Name",
                             "number": "Phone", "email": "E-mail"}
    assert frame(table).columns.tolist() == ["row", "contactId", "names", "number", "email"]


def test_header_key() -> None:
    assert header_key(" Contact_ID ") == "contactid"
    assert header_key("E-mail") == "email"
    assert header_key("Phone  Number") == "phonenumber"


def test_two_headers_for_the_same_field_name_both(tmp_path: Path) -> None:
    message = read_error(tmp_path, "contactId,Phone,number\n1,2,3\n", name="dup.csv")
    assert "dup.csv" in message
    assert "'Phone'" in message and "'number'" in message
    assert "same field" in message


def test_a_repeated_header_is_two_headers_for_one_field(tmp_path: Path) -> None:
    message = read_error(tmp_path, "contactId,email,email\n1,a@b.co,c@d.co\n")
    assert message.count("'email'") >= 2


def test_no_contact_id_column_names_the_headers_found(tmp_path: Path) -> None:
    message = read_error(tmp_path, "Customer,Phone,Mail\nx,1,y\n", name="nocid.csv")
    assert "nocid.csv" in message
    assert "no contactId column" in message
    assert "'Customer'" in message and "'Phone'" in message and "'Mail'" in message


# ---------------------------------------------------------------- file-level errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found"):
        read_input(tmp_path / "nope.csv")


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError):
        read_input(tmp_path)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf", b" , ,\n"])
def test_an_empty_file(tmp_path: Path, content: bytes) -> None:
    message = read_error(tmp_path, content, name="empty.csv")
    assert "empty.csv" in message and "empty" in message


@pytest.mark.parametrize(
    "content", ["contactId,names,number,email\n", "contactId,names", "Contact ID\r\n"])
def test_a_header_only_file_has_zero_rows_and_no_error(tmp_path: Path, content: str) -> None:
    table = read(tmp_path, content)
    assert len(frame(table)) == 0
    assert frame(table).columns[0] == "row"
    assert "contactId" in frame(table).columns
    assert table.problems == []


def test_a_binary_file_renamed_csv(tmp_path: Path) -> None:
    content = bytes(range(256)) * 4
    message = read_error(tmp_path, content, name="changes.csv")
    assert "changes.csv" in message and "not a text" in message


def test_a_workbook_renamed_csv_is_recognized(tmp_path: Path) -> None:
    import openpyxl

    openpyxl.Workbook().save(tmp_path / "book.xlsx")
    message = read_error(tmp_path, (tmp_path / "book.xlsx").read_bytes(), name="changes.csv")
    assert message == ("changes.csv: this is an Excel workbook (.xlsx) saved under another "
                       "name; rename it to .xlsx")


def test_a_damaged_zip_renamed_csv(tmp_path: Path) -> None:
    content = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256))
    message = read_error(tmp_path, content, name="changes.csv")
    assert message.startswith("changes.csv: this is a zip file (a workbook, or a zip archive) "
                              "that cannot be opened")


def test_a_broken_workbook(tmp_path: Path) -> None:
    content = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00" + bytes(range(256))
    message = read_error(tmp_path, content, name="changes.xlsx")
    assert "changes.xlsx" in message and "cannot open as an Excel workbook" in message


def test_cp1252_is_the_fallback_when_bytes_are_not_utf8(tmp_path: Path) -> None:
    content = "contactId,names\n1,Ann\n2,Jos\xe9 \u2013 P\xe9rez\n".encode("cp1252")
    table = read(tmp_path, content)
    assert frame(table)["names"].tolist() == ["Ann", "Jos\xe9 \u2013 P\xe9rez"]
    assert table.details.startswith("cp1252")


def test_bytes_that_are_neither_utf8_nor_cp1252(tmp_path: Path) -> None:
    content = b"contactId,names\n1,Ann\n2,Jo\x81\xff\n"
    message = read_error(tmp_path, content, name="odd.csv")
    assert "odd.csv" in message and "neither UTF-8 nor Windows-1252" in message
    assert "line 3" in message


# ---------------------------------------------------------------- ragged rows


def test_a_row_with_too_many_cells_is_a_problem_naming_the_row(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names,email\n1,Ann,a@b.co\n2,Lee, Bo,b@c.co\n3,Cy,\n")
    assert table.problems == [
        RowProblem(3, None, "the row has 4 cells but the header has 3 columns; a value "
                            "probably contains an unquoted comma", "too_many_cells"),
    ]
    assert records(table) == [
        {"row": 2, "contactId": "1", "names": "Ann", "email": "a@b.co"},
        {"row": 3, "contactId": "2", "names": "Lee", "email": " Bo"},
        {"row": 4, "contactId": "3", "names": "Cy", "email": ""},
    ]


def test_extra_cells_are_a_problem_even_when_empty(tmp_path: Path) -> None:
    # "1002,Smith, John,255713000002," has its values shifted although the overflow is empty.
    table = read(tmp_path, "contactId,names\n1,Ann,,\n2,Bo, \n3,Cy\n")
    assert [(p.row, p.field) for p in table.problems] == [(2, None), (3, None)]
    assert frame(table)["row"].tolist() == [2, 3, 4]


def test_a_trailing_delimiter_on_every_line_is_fine(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names,\n1,Ann,\n2,Bo,\n")
    assert table.problems == [] and table.warnings == []
    assert frame(table)["names"].tolist() == ["Ann", "Bo"]


def test_a_row_with_too_few_cells_is_padded(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names,number,email\n1,Ann\n2\n3,Cy,255712345678,c@d.co\n")
    assert table.problems == []
    assert records(table) == [
        {"row": 2, "contactId": "1", "names": "Ann", "number": "", "email": ""},
        {"row": 3, "contactId": "2", "names": "", "number": "", "email": ""},
        {"row": 4, "contactId": "3", "names": "Cy", "number": "255712345678",
         "email": "c@d.co"},
    ]


def test_ragged_rows_blank_lines_and_quoted_newlines_keep_row_numbers(tmp_path: Path) -> None:
    table = read(
        tmp_path,
        "contactId,names\r\n"
        "1,Ann\r\n"  # row 2
        "\r\n"  # row 3: blank
        '2,"two\r\nlines"\r\n'  # row 4
        "3,Cy,extra\r\n"  # row 5: ragged
        "4\r\n"  # row 6: short
        "5,Ed\r\n",  # row 7
    )
    assert frame(table)["row"].tolist() == [2, 4, 5, 6, 7]
    assert frame(table)["contactId"].tolist() == ["1", "2", "3", "4", "5"]
    assert frame(table)["names"].tolist() == ["Ann", "two\r\nlines", "Cy", "", "Ed"]
    assert [p.row for p in table.problems] == [5]
    assert "3 cells" in table.problems[0].message


def test_ragged_rows_in_a_file_with_a_bom(tmp_path: Path) -> None:
    table = read(tmp_path, b"\xef\xbb\xbfcontactId,names\n1,Ann,x\n2,Bo\n")
    assert table.headers["contactId"] == "contactId"
    assert frame(table)["contactId"].tolist() == ["1", "2"]
    assert [p.row for p in table.problems] == [2]


def test_the_frame_has_a_plain_positional_index(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId\n\n1\n\n2\n")
    assert isinstance(frame(table).index, pd.RangeIndex)
    assert frame(table).index.tolist() == [0, 1]


# ---------------------------------------------------------------- odd line endings and quotes


def test_old_mac_cr_line_endings(tmp_path: Path) -> None:
    # Excel for Mac's "CSV (Macintosh)" ends lines with a bare CR.
    table = read(tmp_path, "contactId,names\r1,Ann\r2,Bo\r")
    assert records(table) == [
        {"row": 2, "contactId": "1", "names": "Ann"},
        {"row": 3, "contactId": "2", "names": "Bo"},
    ]


def test_old_mac_cr_line_endings_with_ragged_rows(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names\r1,Ann,x\r2\r")
    assert frame(table)["contactId"].tolist() == ["1", "2"]
    assert [p.row for p in table.problems] == [2]


def test_a_quoted_newline_in_a_header(tmp_path: Path) -> None:
    table = read(tmp_path, '"Contact\nID",names\n1,Ann\n2,Bo\n')
    assert records(table) == [
        {"row": 2, "contactId": "1", "names": "Ann"},
        {"row": 3, "contactId": "2", "names": "Bo"},
    ]


def test_an_unterminated_quote_is_refused_naming_its_line(tmp_path: Path) -> None:
    # Read leniently, the quote would swallow rows 3 and 4 into one cell of row 2.
    message = read_error(tmp_path, 'contactId,names\n1,"Ann\n2,Bo\n3,Cy\n', name="q.csv")
    assert "q.csv" in message
    assert "line 2" in message
    assert "never closed" in message


def test_stray_quotes_inside_unquoted_cells_are_kept(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names\n1,Bo 5'11\"\n2,Cy \"the\" Ek\n")
    assert frame(table)["names"].tolist() == ["Bo 5'11\"", 'Cy "the" Ek']


def test_a_row_with_text_only_beyond_the_header_is_kept_with_its_problem(
    tmp_path: Path,
) -> None:
    # All its cells under the header are empty, yet it is not blank: the operator typed a note
    # past the last column. Dropping it while keeping its problem broke validation (KeyError).
    table = read(tmp_path, "contactId,names,email\n1,Ann,\n,,,note\n2,Bo,\n")
    assert frame(table)["row"].tolist() == [2, 3, 4]
    assert [p.row for p in table.problems] == [3]
    assert set(frame(table)["row"]) >= {p.row for p in table.problems}


def test_read_problems_reach_validation(tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names,email\n1,Ann,\n,,,note\n2,Lee, Bo,b@c.co\n")
    changes = normalize_changes(frame(table), clear_marker="<clear>", empty_cells="unchanged")
    going = {name: pd.Series(True, index=changes.index) for name in VALUE_FIELDS}
    verdict = validate(changes, frame(table), table.headers, going, table.problems)
    assert verdict.invalid.tolist() == [False, True, True]
    assert verdict.errors.iat[1].startswith("row: the row has 4 cells but the header has 3")
    assert verdict.errors.iat[2].startswith("row: the row has 4 cells but the header has 3")


def _long_file(tail: bytes) -> bytes:
    """A header and over 2**19 bytes of ASCII rows (more than the reader decodes to sniff),
    then ``tail``."""
    rows = b"".join(b"%d,Name %d,2557120%05d,\n" % (1000 + n, n, n) for n in range(20_000))
    assert len(rows) > 1 << 19
    return b"contactId,names,number,email\n" + rows + tail


def test_a_late_cp1252_byte_makes_the_whole_file_cp1252(tmp_path: Path) -> None:
    # Only the start is decoded for sniffing; pyarrow refuses the later byte that is not UTF-8,
    # and the file is then read whole as cp1252, as a file with an early such byte is.
    path = tmp_path / "late.csv"
    path.write_bytes(_long_file(b"99999,Jos\xe9,,\n"))
    table = read_input(path)
    assert table.details.startswith("cp1252")
    assert frame(table)["names"].iloc[-1] == "José"
    assert len(frame(table)) == 20_001 and not table.ascii


def test_a_character_across_the_sniffing_cut_is_read_whole(tmp_path: Path) -> None:
    lines = _long_file(b"").splitlines(keepends=True)
    before = b"".join(lines[:15_000])  # the header and 14,999 rows, some 75 kB short of the cut
    cut = 1 << 19
    # a name just long enough (under the 100,000 characters a cell may hold) that its last
    # character, 3 bytes, straddles the cut
    name = b"x" * (cut - len(before) - len(b"1,") - 1)
    assert 50_000 < len(name) < 100_000
    path = tmp_path / "cut.csv"
    path.write_bytes(before + b"1," + name + "\u2013".encode() + b",,\n"
                     + b"".join(lines[15_000:]))
    assert path.read_bytes()[cut - 1:cut + 2].decode() == "\u2013"
    table = read_input(path)
    assert table.details.startswith("utf-8")
    assert frame(table)["names"].iloc[14_999].endswith("x\u2013")
    assert len(frame(table)) == 20_001


# ---------------------------------------------------------------- limits (sync_job.read.limits)


@pytest.mark.parametrize(("cell", "line"), [
    ("y" * 100_001, 3),  # pyarrow takes it: the length check finds it
    ('"' + "y" * 100_001 + '"', 3),  # quoted
    ('"' + "y\n" * 70_000 + '"', 3),  # over many lines: the row starts on line 3
    ("y" * 200_000, 3),  # over Python csv's own field limit too
])
def test_a_cell_over_the_limit_is_refused_naming_its_line(tmp_path: Path, cell: str,
                                                          line: int) -> None:
    for tail in ("", "4,Dee,x\n"):  # the second file has a ragged row: Python's csv reads it
        message = read_error(tmp_path, f"contactId,names\n1,Ann\n2,{cell}\n3,Cy\n{tail}",
                             name="long.csv")
        assert message == (f"long.csv: line {line}: a cell holds more than 100,000 characters, "
                           f"the most a cell may hold; a quote may be missing before or after "
                           f"a value")


def test_a_cell_of_the_limit_is_read(tmp_path: Path) -> None:
    table = read(tmp_path, f"contactId,names\n1,{'é' * 100_000}\n2,Bo\n")
    assert frame(table)["names"].str.len().tolist() == [100_000, 2]


def test_a_header_cell_over_the_limit_is_refused(tmp_path: Path) -> None:
    message = read_error(tmp_path, f"\n\ncontactId,{'n' * 100_001}\n1,Ann\n")
    assert "line 3: a cell holds more than 100,000 characters" in message


def test_a_line_over_the_limit_is_refused_naming_it(tmp_path: Path) -> None:
    # Short cells: no cell is too long, but the line would become millions of them.
    message = read_error(tmp_path, "contactId,names\n1,Ann\n" + "2," * 5_000_001 + "\n3,Cy\n",
                         name="wide.csv")
    assert message == ("wide.csv: line 3: the line is longer than 10,000,000 characters, the "
                       "most a line may hold: is this a CSV file?")


def test_a_header_line_over_the_limit_is_refused(tmp_path: Path) -> None:
    message = read_error(tmp_path, "contactId" + ",x" * 5_000_001 + "\n1\n")
    assert "line 1: the line is longer than 10,000,000 characters" in message


def test_a_folder_is_not_a_regular_file(tmp_path: Path) -> None:
    # Devices and pipes are tried in tests/test_bad_files.py, in a process of their own: read
    # here, /dev/zero would take this process's memory, a pipe block it, should the check fail.
    with pytest.raises(InputFileError) as caught:
        read_input(tmp_path)
    assert str(caught.value) == (f"{tmp_path}: not a regular file (a folder, a device or a "
                                 f"pipe); name a file")


def test_a_file_over_2_gib_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as handle:  # sparse: no disk used, nothing to read
        handle.truncate((2 << 30) + 1)
    with pytest.raises(InputFileError) as caught:
        read_input(path)
    assert str(caught.value) == (f"{path}: the file holds 2,147,483,649 bytes; at most "
                                 f"2,147,483,648 (2 GiB) are read: split it into smaller files")


# ---------------------------------------------------------------- NUL bytes


@pytest.mark.parametrize("rows", [0, 2_000])  # in the first 8 kB, and past them
def test_a_nul_byte_in_any_cell_is_a_problem_of_its_row(tmp_path: Path, rows: int) -> None:
    table = read(tmp_path, "contactId,names,Notes,\n" + "9,Zed,,\n" * rows
                 + "1,Ann\0,,\n2,Bo,a\0b,\n3\0,Cy,,\n4,Dee,,\0\n5,Ed,,\n")
    assert [(p.row - rows, p.field, p.message) for p in table.problems] == [
        (2, "names", "holds a NUL byte, which no text holds: the file may be damaged or "
                     "not saved as text"),
        (3, None, "the cell under 'Notes' holds a NUL byte, which no text holds: the file "
                  "may be damaged or not saved as text"),
        (4, "contactId", "holds a NUL byte, which no text holds: the file may be damaged or "
                         "not saved as text"),
        (5, None, "the cell in column 4 holds a NUL byte, which no text holds: the file may "
                  "be damaged or not saved as text"),
    ]
    assert frame(table)["row"].tolist()[-5:] == [n + rows for n in range(2, 7)]


@pytest.mark.parametrize("content", [
    b"contactId,names\n1," + b"\0" * 200, b"\0" * 40 + b"contactId\n1\n",
    "contactId,names\n1,Ann\n".encode("utf-16-le") * 5,  # UTF-16 without a byte-order mark
])
def test_a_file_of_many_nul_bytes_is_refused_as_binary(tmp_path: Path, content: bytes) -> None:
    assert "this is not a text (CSV) file; it holds binary data" in read_error(tmp_path, content)


def test_a_row_keeps_every_problem_the_reader_found_cells_first_then_the_row(
        tmp_path: Path) -> None:
    table = read(tmp_path, "contactId,names\n1,Ann\n2,B\0o,extra\n")
    changes = normalize_changes(frame(table), clear_marker="<clear>", empty_cells="unchanged")
    going = {name: pd.Series(True, index=changes.index) for name in VALUE_FIELDS}
    verdict = validate(changes, frame(table), table.headers, going, table.problems)
    assert verdict.errors.iat[-1] == (
        "names: holds a NUL byte, which no text holds: the file may be damaged or not saved as "
        "text; row: the row has 3 cells but the header has 2 columns; a value probably contains "
        "an unquoted comma")


def test_a_cell_with_a_nul_byte_and_a_control_character_gets_one_message(
        tmp_path: Path) -> None:
    # The reader reports the NUL byte; the schema's control character check would report the
    # same cell again.
    table = read(tmp_path, "contactId,names,email\n1,A\0\x07B,a\0@b.co\n")
    changes = normalize_changes(frame(table), clear_marker="<clear>", empty_cells="unchanged")
    going = {name: pd.Series(True, index=changes.index) for name in VALUE_FIELDS}
    verdict = validate(changes, frame(table), table.headers, going, table.problems)
    nul = "holds a NUL byte, which no text holds: the file may be damaged or not saved as text"
    assert verdict.errors.tolist() == [f"names: {nul}; email: {nul}"]


def test_a_workbooks_dates_come_column_by_column_each_once(tmp_path: Path) -> None:
    import datetime

    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["E-mail", "Name", "contactId", "Phone"])  # not the fields' order
    book.active.append([datetime.datetime(2024, 3, 5), datetime.datetime(2024, 3, 6), 1001,
                        "abc"])
    path = tmp_path / "changes.xlsx"
    book.save(path)
    table = read_input(path)
    changes = normalize_changes(frame(table), clear_marker="<clear>", empty_cells="unchanged")
    going = {name: pd.Series(True, index=changes.index) for name in VALUE_FIELDS}
    verdict = validate(changes, frame(table), table.headers, going, table.problems)
    date = "is a date, not text; format the column as Text and re-enter the value"
    assert verdict.errors.tolist() == [
        f'Name: "2024-03-06T00:00:00" {date}; E-mail: "2024-03-05T00:00:00" {date}; '
        'Phone: "abc" is not an international phone number: expected the country code and '
        "number, 8 to 15 digits, e.g. 255712345678"]


# ---------------------------------------------------------------- wide headers


def test_a_header_of_a_million_columns_is_refused_in_one_message(tmp_path: Path) -> None:
    header = ",".join(f"c{n}" for n in range(999_996)) + ",contactId,names,number,email"
    message = read_error(tmp_path, header + "\n1,2\n", name="wide.csv")
    assert message == ("wide.csv: line 1: the header has 1,000,000 columns; at most 10,000 are "
                       "read: is this the right file, and the right delimiter?")


def test_a_header_longer_than_the_sniffed_start_is_read_whole(tmp_path: Path) -> None:
    # 9,000 columns of long names: contactId comes after the first 512 kB of the file.
    extra = [f"unused {n:05d} " + "x" * 45 for n in range(9_000)]
    header = ",".join([*extra, "names", '"contact\nid"'])
    assert len(header) > 1 << 19
    table = read(tmp_path, header + "\n" + "," * 9_000 + "Ann,7\n", name="wide.csv")
    assert records(table) == [{"row": 2, "names": "Ann", "contactId": "7"}]
    assert table.headers == {"names": "names", "contactId": "contact\nid"}
    assert table.warnings == [
        "wide.csv: ignoring 9,000 columns that are not contactId, names, number or email: "
        + ", ".join(repr(h) for h in extra[:5]) + " and 8,995 more"]


def test_many_ignored_and_unnamed_columns_give_one_warning_each(tmp_path: Path) -> None:
    header = ",".join(["contactId", *(f"x{n}" for n in range(3_000)), *[""] * 8])
    row = ",".join(["1", *["v"] * 3_000, *["w"] * 8])
    table = read(tmp_path, f"{header}\n{row}\n", name="many.csv")
    assert table.warnings == [
        "many.csv: ignoring 3,000 columns that are not contactId, names, number or email: "
        "'x0', 'x1', 'x2', 'x3', 'x4' and 2,995 more",
        "ignoring values in columns 3002, 3003, 3004, 3005, 3006 and 3 more: they have no "
        "header",
    ]


def test_a_message_listing_headers_stays_short(tmp_path: Path) -> None:
    message = read_error(tmp_path, ",".join(f"h{n}" for n in range(5_000)) + "\n1\n")
    assert "no contactId column" in message
    assert message.endswith("Headers found: " + ", ".join(f"'h{n}'" for n in range(20))
                            + " and 4,980 more")


def test_a_workbook_cell_over_the_limit_is_refused_naming_its_row(tmp_path: Path) -> None:
    # Excel and openpyxl write at most 32,767 characters a cell, but openpyxl reads what the
    # file holds: the sheet's XML is given a longer one, as another program may write it.
    import zipfile

    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in (["contactId", "names"], [1001, "Ann"], [None, None], [1002, "n" * 32_767]):
        sheet.append(row)
    workbook.save(tmp_path / "saved.xlsx")
    with zipfile.ZipFile(tmp_path / "saved.xlsx") as saved, \
            zipfile.ZipFile(tmp_path / "long.xlsx", "w") as long:
        for item in saved.infolist():
            long.writestr(item, saved.read(item).replace(b"n" * 32_767, b"n" * 100_001))
    with pytest.raises(InputFileError) as caught:
        read_input(tmp_path / "long.xlsx")
    assert str(caught.value) == ("long.xlsx, sheet 'Sheet', row 4, column B ('names'): a cell "
                                 "holds more than 100,000 characters, the most a cell may hold")
