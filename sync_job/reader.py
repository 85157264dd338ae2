"""Changes file → a table of text cells, each row keeping the number an operator sees.

Every cell is read as text, so ids and phone numbers keep every digit. Row numbers are those of
a spreadsheet: the header is row 1, the first data row is row 2; rows that are entirely empty are
dropped after numbering, so numbers never shift.

Clean files take the fast path (pyarrow's multi-threaded CSV parser). A file pyarrow refuses,
such as one with ragged rows, is read again with Python's csv module, which takes anything and
lets each ragged row be judged on its own.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from sync_job.errors import InputFileError
from sync_job.sniff import DELIMITER_NAMES, decode, sniff_delimiter
from sync_job.workbook import read_sheet

ID_FIELD = "contactId"
VALUE_FIELDS: tuple[str, ...] = ("names", "number", "email")
ALL_FIELDS: tuple[str, ...] = (ID_FIELD, *VALUE_FIELDS)

# Header spellings accepted for each field, compared after lower-casing and removing spaces,
# underscores and dashes ("Contact ID", "contact_id" and "contactId" are all "contactid").
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    ID_FIELD: ("contactid", "id"),
    "names": ("names", "name", "fullname"),
    "number": ("number", "phone", "phonenumber", "mobile", "msisdn"),
    "email": ("email", "emailaddress"),
}

_HEADER_NOISE = re.compile(r"[\s_\-]+")


@dataclass(frozen=True)
class RowProblem:
    """A problem found while reading, tied to a row and (when known) a field."""

    row: int
    field: str | None
    message: str


@dataclass(frozen=True)
class InputTable:
    """What the reader hands on: text cells, the operator's headers, reading problems."""

    frame: pd.DataFrame
    """Column ``row`` (int64) plus one ``str`` column per field present; "" is an empty cell."""
    headers: dict[str, str]
    """Field → the header as the file spells it, so messages use the operator's words."""
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: str = ""
    """How the file was read, for the log: encoding and delimiter, or the sheet."""


def header_key(header: str) -> str:
    """The comparable form of a header: lower case, no spaces, underscores or dashes."""
    return _HEADER_NOISE.sub("", header.strip().lower())


def _lookup(extra: Mapping[str, str]) -> dict[str, str]:
    lookup = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
    lookup.update({header_key(header): name for header, name in extra.items()})
    return lookup


def map_headers(
    headers: list[str], *, source: str, extra: Mapping[str, str] | None = None
) -> tuple[dict[int, str], list[str]]:
    """Match file headers to fields. Returns (column position → field, warnings).

    ``extra`` maps further headers to fields (``input.columns``). Raises InputFileError when no
    column is contactId or two columns claim the same field.
    """
    lookup = _lookup(extra or {})
    positions: dict[int, str] = {}
    claimed: dict[str, list[str]] = {}
    ignored: list[str] = []
    for position, header in enumerate(headers):
        name = lookup.get(header_key(header))
        if name is None:
            if header.strip():
                ignored.append(header.strip())
            continue
        positions[position] = name
        claimed.setdefault(name, []).append(header.strip())
    found = ", ".join(repr(h.strip()) for h in headers if h.strip()) or "none"
    clashes = [f"{name} ← {', '.join(repr(h) for h in hs)}" for name, hs in claimed.items()
               if len(hs) > 1]
    if clashes:
        raise InputFileError(
            f"{source}: several columns mean the same field ({'; '.join(clashes)}); "
            f"keep one of each. Headers found: {found}"
        )
    if ID_FIELD not in claimed:
        raise InputFileError(
            f"{source}: no contactId column (accepted headers: contactId, contact id, id). "
            f"Headers found: {found}"
        )
    warnings = [f"{source}: ignoring column {h!r}: not one of contactId, names, number, email"
                for h in ignored]
    return positions, warnings


def _first_record(text: str, delimiter: str) -> list[str]:
    reader = csv.reader(io.StringIO(text[: 1 << 16], newline=""), delimiter=delimiter)
    return next(reader, [])


def _leading_blank_lines(text: str, delimiter: str) -> int:
    """Lines before the header that hold nothing (spreadsheets leave ``,,,`` lines too)."""
    count = 0
    for line in io.StringIO(text[: 1 << 16], newline=None):
        if line.replace(delimiter, "").strip():
            break
        count += 1
    return count


def _read_fast(utf8: bytes, width: int, delimiter: str, skip: int) -> pd.DataFrame | None:
    """Parse with pyarrow; None when pyarrow refuses the file (e.g. ragged rows)."""
    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(utf8),
            # Skips the header *record* (skip_rows would skip a line, splitting a quoted header).
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=skip,
                                            skip_rows_after_names=1),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False,
                                              newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError):
        return None
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _read_tolerant(text: str, width: int, delimiter: str, skip: int,
                   problems: list[RowProblem]) -> pd.DataFrame:
    """Read any delimited text; a row with more cells than headers becomes a problem."""
    rows: list[list[str]] = []
    records = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for _ in range(skip + 1):
        next(records, None)
    name = DELIMITER_NAMES.get(delimiter, repr(delimiter))
    for index, record in enumerate(records):
        # More cells than headers means the row's values have shifted (an unquoted delimiter
        # inside a value), even when the overflow is empty: no cell can be trusted.
        if len(record) > width:
            problems.append(RowProblem(
                index + skip + 2, None,
                f"the row has {len(record)} cells but the header has {width} columns; "
                f"a value probably contains an unquoted {name}",
            ))
        rows.append((record + [""] * width)[:width])
    return pd.DataFrame(rows, columns=[f"c{i}" for i in range(width)], dtype="str")


def _check_quotes(text: str, source: str, quotes: int | None = None) -> None:
    """Refuse a file whose last quote never closes: it would swallow every later row.

    ``quotes``: the number of ``"`` in ``text`` when already known (counted in UTF-8 bytes,
    where a quote byte is always a quote, several times faster than in the text)."""
    if (text.count('"') if quotes is None else quotes) % 2 == 0:
        return
    records = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for _ in records:
            start = records.line_num + 1
    except csv.Error as exc:
        if "end of data" in str(exc):
            raise InputFileError(
                f"{source}: the quote opened in the row starting on line {start} is never "
                f"closed, so every line after it would be read as one cell; fix the quoting"
            ) from None


@dataclass(frozen=True, kw_only=True)
class ReadOptions:
    """How to read the changes file; None means: work it out from the file."""

    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    """Extra header → field mappings (``input.columns``), checked before the built-in ones."""


WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")


def read_input(path: Path, options: ReadOptions | None = None) -> InputTable:
    """Read the changes file at ``path``. Raises InputFileError for file-level problems."""
    options = options or ReadOptions()
    source = path.name
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    if path.suffix.lower() in WORKBOOK_SUFFIXES:
        return _read_workbook(path, options, source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    text, encoding = decode(raw, source=source, encoding=options.encoding)
    delimiter = options.delimiter or sniff_delimiter(
        text, looks_like_header=lambda cells: _names_contact_id(cells, options.columns))
    _check_quotes(text, source, raw.count(b'"') if encoding in ("utf-8", "utf-8-sig") else None)
    skip = _leading_blank_lines(text, delimiter)
    headers = _first_record(_after_lines(text, skip), delimiter)
    if not any(h.strip() for h in headers):
        raise InputFileError(f"{source}: the file is empty; expected a header row with contactId")
    positions, warnings = map_headers(headers, source=source, extra=options.columns)

    problems: list[RowProblem] = []
    utf8 = raw if encoding in ("utf-8", "utf-8-sig") else text.encode("utf-8")
    frame = _read_fast(utf8, len(headers), delimiter, skip)
    if frame is None:
        frame = _read_tolerant(text, len(headers), delimiter, skip, problems)
    details = f"{encoding}, {DELIMITER_NAMES.get(delimiter, repr(delimiter))}-separated"
    return _assemble(frame, headers, positions, first_row=skip + 2, problems=problems,
                     warnings=warnings, details=details)


def _after_lines(text: str, count: int) -> str:
    """``text`` without its first ``count`` lines."""
    if count == 0:
        return text
    lines = io.StringIO(text, newline="")
    for _ in range(count):
        lines.readline()
    return lines.read()


def _names_contact_id(cells: list[str], extra: Mapping[str, str]) -> bool:
    lookup = _lookup(extra)
    return any(lookup.get(header_key(cell)) == ID_FIELD for cell in cells)


def _read_workbook(path: Path, options: ReadOptions, source: str) -> InputTable:
    sheet = read_sheet(path, sheet=options.sheet, source=source)
    if not sheet.rows:
        raise InputFileError(f"{source}: sheet {sheet.sheet!r} is empty; expected a header row "
                             f"with contactId")
    header_row, headers = sheet.rows[0]
    positions, warnings = map_headers(headers, source=source, extra=options.columns)
    width = len(headers)
    data = sheet.rows[1:]
    frame = pd.DataFrame([(cells + [""] * width)[:width] for _, cells in data],
                         columns=[f"c{i}" for i in range(width)], dtype="str")
    numbers = [number for number, _ in data]
    problems = [
        RowProblem(number, positions[position],
                   f'"{written}" is a date, not text; format the column as Text and re-enter '
                   f"the value")
        for (number, position), written in sorted(sheet.dates.items())
        if position in positions and number != header_row
    ]
    return _assemble(frame, headers, positions, first_row=header_row + 1, problems=problems,
                     warnings=warnings, details=f"sheet {sheet.sheet!r}", row_numbers=numbers)


def _assemble(
    frame: pd.DataFrame,
    headers: list[str],
    positions: dict[int, str],
    *,
    first_row: int,
    problems: list[RowProblem],
    warnings: list[str],
    details: str,
    row_numbers: list[int] | None = None,
) -> InputTable:
    """Raw cells → the reader's table: fields only, spreadsheet row numbers, blank rows gone."""
    columns = {f"c{position}": name for position, name in positions.items()}
    table = frame[list(columns)].rename(columns=columns)
    if row_numbers is None:
        table.insert(0, "row", pd.RangeIndex(first_row, first_row + len(table), dtype="int64"))
    else:
        table.insert(0, "row", pd.Series(row_numbers, index=table.index, dtype="int64"))
    # Nearly every row has text in its first cell, so each later column is trimmed only on the
    # rows still blank so far (``str.strip`` of the str dtype is pyarrow's utf8_trim_whitespace).
    blank = np.ones(len(frame), dtype=bool)
    for name in frame.columns:
        rows = np.flatnonzero(blank)
        if not len(rows):
            break
        cells = pa.array(frame[name], pa.string()).take(pa.array(rows))
        blank[rows] = np.asarray(pc.fill_null(pc.equal(pc.utf8_trim_whitespace(cells), ""),
                                               False), dtype=bool)
    # A row whose only text lies beyond the last header is not blank: it carries a problem.
    if problems:
        blank &= ~table["row"].isin([problem.row for problem in problems]).to_numpy()
    if blank.any():
        table = table[~blank].reset_index(drop=True)
    for position, header in enumerate(headers):
        if not header.strip() and (frame[f"c{position}"].str.strip() != "").any():
            warnings.append(f"ignoring values in column {position + 1}: it has no header")
    header_names = {name: headers[position].strip() for position, name in positions.items()}
    return InputTable(frame=table, headers=header_names, problems=problems, warnings=warnings,
                      details=details)
