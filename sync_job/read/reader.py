"""Changes file → a table of text cells, each row keeping the number an operator sees.

Every cell is read as text, so ids and phone numbers keep every digit. Row numbers are those of
a spreadsheet: the header is row 1, the first data row is row 2; rows that are entirely empty are
dropped after numbering, so numbers never shift.

Clean files take the fast path (pyarrow's multi-threaded CSV parser). A file pyarrow refuses,
such as one with ragged rows, is read again with Python's csv module, which takes anything and
lets each ragged row be judged on its own.

A file that breaks a limit of ``sync_job.read.limits`` (not a regular file, too big, a line or a
cell too long, too many columns) is refused, naming the line. A cell holding a NUL byte makes
its row invalid, whatever the column. Messages about the file name lines and headers, never a
cell's content, as they go to logs; a row's problems go to the results file.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from sync_job.errors import InputFileError
from sync_job.fields import ID_FIELD
from sync_job.read.limits import (
    MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_FILE_BYTES,
    LimitError,
    Lines,
    cell_too_long,
    check_records,
    csv_problem,
    over_long_row,
    regular_file_size,
    too_big,
)
from sync_job.read.sniff import DELIMITER_NAMES, decode, sniff_delimiter
from sync_job.read.workbook import read_sheet

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

    cells: pa.Table
    """Column ``row`` (int64) plus one ``large_string`` column per field present (in the
    parser's chunks); "" is an empty cell, nothing is null. Big files stay in arrow: the
    pipeline makes pandas rows only of the rows it has to judge."""
    headers: dict[str, str]
    """Field → the header as the file spells it, so messages use the operator's words."""
    problems: list[RowProblem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: str = ""
    """How the file was read, for the log: encoding and delimiter, or the sheet."""
    sha256: str = ""
    """SHA-256 of the file's bytes as read, for the run summary."""
    ascii: bool = False
    """Every cell is known to be ASCII (the whole file is), so no cell needs Unicode
    clean-up (zero-width characters, composing accents)."""


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
    found = _listed([h.strip() for h in headers if h.strip()], 20) or "none"
    clashes = [f"{name} ← {_listed(hs)}" for name, hs in claimed.items() if len(hs) > 1]
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
    warnings = []
    if len(ignored) == 1:
        warnings.append(f"{source}: ignoring column {_shown(ignored[0])}: not one of "
                        f"contactId, names, number, email")
    elif ignored:  # one warning for them all: a file may have thousands
        warnings.append(f"{source}: ignoring {len(ignored):,} columns that are not contactId, "
                        f"names, number or email: {_listed(ignored)}")
    return positions, warnings


def _shown(header: str) -> str:
    """A header quoted for a message; a very long one cut short."""
    return repr(header if len(header) <= 60 else header[:59] + "…")


def _listed(items: list[str], most: int = 5) -> str:
    """``'a', 'b', 'c'``; beyond ``most`` items, the first ones and how many more."""
    shown = ", ".join(_shown(item) for item in items[:most])
    return shown if len(items) <= most else f"{shown} and {len(items) - most:,} more"


def _header_record(text: str, delimiter: str, skip: int, *, whole: bool) -> list[str] | None:
    """The header: the first record after ``skip`` blank lines, read whole, however long.
    None when ``text`` is only the start of the file (``whole`` False) and the record may
    go on past it."""
    lines = Lines(text)
    rest = iter(lines)
    for _ in range(skip):
        next(rest, None)
    try:
        header = next(csv.reader(rest, delimiter=delimiter), [])
    except csv.Error as error:
        raise csv_problem(error, skip + 1) from None
    if not whole and lines.end >= len(text):
        return None
    if len(header) > MAX_COLUMNS:
        raise LimitError(f"the header has {len(header):,} columns; at most {MAX_COLUMNS:,} are "
                         f"read: is this the right file, and the right delimiter?", skip + 1)
    if any(len(cell) > MAX_CELL_CHARS for cell in header):
        raise LimitError(cell_too_long(), skip + 1)
    return header


def _leading_blank_lines(text: str, delimiter: str) -> int:
    """Lines before the header that hold nothing (spreadsheets leave ``,,,`` lines too)."""
    count = 0
    for line in io.StringIO(text[: 1 << 16], newline=None):
        if line.replace(delimiter, "").strip():
            break
        count += 1
    return count


def _read_fast(utf8: bytes, width: int, delimiter: str, skip: int, *,
               quoted: bool = True) -> pa.Table | None:
    """Parse with pyarrow; None when pyarrow refuses the file (ragged rows, or bytes that are
    not UTF-8: its string columns check every cell). ``quoted=False`` says the file holds no
    quote character, so no value can hold a line break and pyarrow may split the file at
    any line (twice as fast on two cores)."""
    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            pa.BufferReader(utf8),
            # Skips the header *record* (skip_rows would skip a line, splitting a quoted header).
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows=skip,
                                            skip_rows_after_names=1),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, ignore_empty_lines=False,
                                              newlines_in_values=quoted),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.large_string()),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowKeyError):
        return None
    return table


def _read_tolerant(text: str, width: int, delimiter: str, skip: int,
                   problems: list[RowProblem]) -> pa.Table:
    """Read any delimited text; a row with more cells than headers becomes a problem. A line
    or a cell over the limits raises LimitError naming its line."""
    rows: list[list[str]] = []
    records = csv.reader(Lines(text), delimiter=delimiter)
    name = DELIMITER_NAMES.get(delimiter, repr(delimiter))
    start = 1
    try:
        for _ in range(skip + 1):
            next(records, None)
        start = records.line_num + 1
        for index, record in enumerate(records):
            # More cells than headers means the row's values have shifted (an unquoted
            # delimiter inside a value), even when the overflow is empty: no cell can be
            # trusted.
            if len(record) > width:
                problems.append(RowProblem(
                    index + skip + 2, None,
                    f"the row has {len(record):,} cells but the header has {width} columns; "
                    f"a value probably contains an unquoted {name}",
                ))
            rows.append((record + [""] * width)[:width])
            start = records.line_num + 1
    except csv.Error as error:  # a cell over csv's own limit (about 131,072 characters)
        raise csv_problem(error, start) from None
    return _text_table(rows, width)


def _text_table(rows: list[list[str]], width: int) -> pa.Table:
    """Rows of ``width`` text cells → a table of string columns ``c0`` … (small files only)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * width
    return pa.table({f"c{i}": pa.array(column, pa.large_string())
                     for i, column in enumerate(columns)})


def _check_quotes(text: str, source: str, delimiter: str, quotes: int | None = None) -> None:
    """Refuse a file whose last quote never closes: it would swallow every later row.

    ``quotes``: the number of ``"`` in ``text`` when already known (counted in UTF-8 bytes,
    where a quote byte is always a quote, several times faster than in the text)."""
    if (text.count('"') if quotes is None else quotes) % 2 == 0:
        return
    records = csv.reader(Lines(text), delimiter=delimiter, strict=True)
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
    try:
        # Before opening it: a pipe would block, a device such as /dev/zero never end.
        regular_file_size(path)
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except LimitError as exc:
        raise InputFileError(f"{path}: {exc}") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    if len(raw) > MAX_FILE_BYTES:  # it grew since
        raise InputFileError(f"{path}: {too_big(len(raw))}")
    try:
        if path.suffix.lower() in WORKBOOK_SUFFIXES:
            return _read_workbook(path, options, source, hashlib.sha256(raw).hexdigest())
        # hashlib lets go of the GIL over a big buffer: the digest is made while the file is
        # parsed.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-job-sha256") as pool:
            hashed = pool.submit(lambda: hashlib.sha256(raw).hexdigest())
            table = _read_utf8(raw, source, options) or _read_text(raw, source, options)
            return dataclasses.replace(table, sha256=hashed.result())
    except LimitError as exc:
        raise InputFileError(f"{source}: {exc}") from None


# Enough of the start of a file to decode for sniffing: the delimiter and the leading blank
# lines are found in its first 65,536 characters, which 2**19 bytes of UTF-8 always hold, and
# so is the header of nearly every file (a longer one is read from the whole file).
_HEAD_BYTES = 1 << 19


def _read_utf8(raw: bytes, source: str, options: ReadOptions) -> InputTable | None:
    """The fast path for UTF-8 text (nearly every file): decode only the head for sniffing and
    let pyarrow check the rest as it parses. None when the file needs the full path: another
    encoding, ragged rows, an odd number of quotes, anything pyarrow refuses."""
    cut = min(len(raw), _HEAD_BYTES)
    while 0 < cut < len(raw) and raw[cut] & 0xC0 == 0x80:  # not inside a character
        cut -= 1
    try:
        head, encoding = decode(raw[:cut], source=source, encoding=options.encoding)
    except InputFileError:
        return None  # the full path tells what is wrong, about the whole file
    # ``in`` finds a byte several times faster than ``count`` counts it; most exports hold none.
    quoted = b'"' in raw
    if encoding not in ("utf-8", "utf-8-sig") or (quoted and raw.count(b'"') % 2):
        return None
    layout = _layout(head, source, options, whole=cut == len(raw))
    if layout is None:  # a header longer than the head
        return None
    cells = _read_fast(raw, len(layout.headers), layout.delimiter, layout.skip, quoted=quoted)
    if cells is None or over_long_row(cells) is not None:  # the full path names the line
        return None
    table = _assemble(cells, layout, first_row=layout.skip + 2, problems=[],
                      details=_details(encoding, layout.delimiter), nul=b"\0" in raw)
    return dataclasses.replace(table, ascii=raw.isascii())


def _read_text(raw: bytes, source: str, options: ReadOptions) -> InputTable:
    """Decode the whole file, then parse it with pyarrow or, if it refuses, Python's csv."""
    text, encoding = decode(raw, source=source, encoding=options.encoding)
    layout = _layout(text, source, options)
    assert layout is not None  # the whole text holds the whole header
    _check_quotes(text, source, layout.delimiter,
                  raw.count(b'"') if encoding in ("utf-8", "utf-8-sig") else None)
    problems: list[RowProblem] = []
    utf8 = raw if encoding in ("utf-8", "utf-8-sig") else text.encode("utf-8")
    cells = _read_fast(utf8, len(layout.headers), layout.delimiter, layout.skip)
    if cells is None:
        cells = _read_tolerant(text, len(layout.headers), layout.delimiter, layout.skip,
                               problems)
    if over_long_row(cells) is not None:
        # Read again record by record, to name the line the row starts on.
        check_records(Lines(text), delimiter=layout.delimiter)
        raise LimitError(cell_too_long())  # (had Python's csv split the quotes otherwise)
    return _assemble(cells, layout, first_row=layout.skip + 2, problems=problems,
                     details=_details(encoding, layout.delimiter), nul="\0" in text)


def _details(encoding: str, delimiter: str) -> str:
    return f"{encoding}, {DELIMITER_NAMES.get(delimiter, repr(delimiter))}-separated"


@dataclass(frozen=True)
class _Layout:
    """Where the data starts and how it is split, as found from the start of the text."""

    delimiter: str
    skip: int
    """Blank lines before the header."""
    headers: list[str]
    positions: dict[int, str]
    """Column position → field."""
    warnings: list[str]


def _layout(text: str, source: str, options: ReadOptions, *,
            whole: bool = True) -> _Layout | None:
    """How ``text`` is laid out; None when it is only the start of the file (``whole``
    False) and the header may go on past it."""
    delimiter = options.delimiter or sniff_delimiter(
        text, looks_like_header=lambda cells: _names_contact_id(cells, options.columns))
    skip = _leading_blank_lines(text, delimiter)
    headers = _header_record(text, delimiter, skip, whole=whole)
    if headers is None:
        return None
    if not any(h.strip() for h in headers):
        raise InputFileError(f"{source}: the file is empty; expected a header row with contactId")
    positions, warnings = map_headers(headers, source=source, extra=options.columns)
    return _Layout(delimiter, skip, headers, positions, warnings)


def _names_contact_id(cells: list[str], extra: Mapping[str, str]) -> bool:
    lookup = _lookup(extra)
    return any(lookup.get(header_key(cell)) == ID_FIELD for cell in cells)


def _read_workbook(path: Path, options: ReadOptions, source: str, sha256: str) -> InputTable:
    sheet = read_sheet(path, sheet=options.sheet, source=source)
    if not sheet.rows:
        raise InputFileError(f"{source}: sheet {sheet.sheet!r} is empty; expected a header row "
                             f"with contactId")
    header_row, headers = sheet.rows[0]
    positions, warnings = map_headers(headers, source=source, extra=options.columns)
    width = len(headers)
    data = sheet.rows[1:]
    cells = _text_table([(row + [""] * width)[:width] for _, row in data], width)
    numbers = [number for number, _ in data]
    # A sheet has at most 16,384 columns (Excel's limit), so only the cells' length is checked.
    long_header = any(len(h) > MAX_CELL_CHARS for h in headers)
    at = None if long_header else over_long_row(cells)
    if long_header or at is not None:
        row = header_row if at is None else numbers[at]
        raise InputFileError(f"{source}: row {row}: {cell_too_long(text=False)}")
    problems = [
        RowProblem(number, positions[position],
                   f'"{written}" is a date, not text; format the column as Text and re-enter '
                   f"the value")
        for (number, position), written in sorted(sheet.dates.items())
        if position in positions and number != header_row
    ]
    layout = _Layout("", 0, headers, positions, warnings)
    table = _assemble(cells, layout, first_row=header_row + 1, problems=problems,
                      details=f"sheet {sheet.sheet!r}", row_numbers=numbers, nul=True)
    return dataclasses.replace(table, sha256=sha256)


def _assemble(
    cells: pa.Table,
    layout: _Layout,
    *,
    first_row: int,
    problems: list[RowProblem],
    details: str,
    row_numbers: list[int] | None = None,
    nul: bool = False,
) -> InputTable:
    """Raw cells → the reader's table: fields only, spreadsheet row numbers, blank rows gone.

    ``nul``: whether a cell may hold a NUL byte (the file does); each cell that does is a
    problem of its row."""
    count = cells.num_rows
    rows = (np.arange(first_row, first_row + count, dtype=np.int64) if row_numbers is None
            else np.asarray(row_numbers, dtype=np.int64).reshape(count))
    columns = [_text(cells.column(position)) for position in range(cells.num_columns)]
    if nul:
        problems = sorted([*problems, *_nul_problems(columns, rows, layout)],
                          key=lambda problem: problem.row)
    # Nearly every row has text in its first cell, so each later column is trimmed only on the
    # rows still blank so far.
    blank = np.ones(count, dtype=bool)
    for index, column in enumerate(columns):
        at = np.flatnonzero(blank)
        if not len(at):
            break
        cells_at = column if index == 0 else column.take(pa.array(at))
        # Empty, or only whitespace: what trimming would leave empty, without making the text.
        empty = pc.or_(pc.equal(pc.binary_length(cells_at), 0), pc.utf8_is_space(cells_at))
        blank[at] = np.asarray(pc.fill_null(empty, False), dtype=bool)
    # A row whose only text lies beyond the last header is not blank: it carries a problem.
    if problems:
        blank &= ~np.isin(rows, [problem.row for problem in problems])
    fields = {"row": pa.array(rows)}
    fields.update({name: columns[position] for position, name in layout.positions.items()})
    table = pa.table(fields)
    if blank.any():
        table = table.filter(pa.array(~blank))
    warnings = list(layout.warnings)
    unnamed = [str(position + 1) for position, header in enumerate(layout.headers)
               if not header.strip() and pc.any(pc.not_equal(
                   pc.utf8_trim_whitespace(columns[position]), "")).as_py()]
    if len(unnamed) == 1:
        warnings.append(f"ignoring values in column {unnamed[0]}: it has no header")
    elif unnamed:
        listed = ", ".join(unnamed[:5]) + (f" and {len(unnamed) - 5:,} more"
                                           if len(unnamed) > 5 else "")
        warnings.append(f"ignoring values in columns {listed}: they have no header")
    header_names = {name: layout.headers[position].strip()
                    for position, name in layout.positions.items()}
    return InputTable(cells=table, headers=header_names, problems=problems, warnings=warnings,
                      details=details)


NUL_BYTE = "holds a NUL byte, which no text holds: the file may be damaged or not saved as text"


def _nul_problems(columns: list[pa.ChunkedArray], rows: np.ndarray,
                  layout: _Layout) -> list[RowProblem]:
    """A problem for each cell holding a NUL byte, in any column (a field's problem, or the
    row's naming the column when it is not a field), column by column."""
    found: list[RowProblem] = []
    for position, column in enumerate(columns):
        at = np.flatnonzero(np.asarray(pc.fill_null(pc.match_substring(column, "\0"), False),
                                       dtype=bool))
        name = layout.positions.get(position)
        header = layout.headers[position].strip()
        where = f"under {_shown(header)}" if header else f"in column {position + 1}"
        message = NUL_BYTE if name else f"the cell {where} {NUL_BYTE}"
        found += [RowProblem(int(row), name, message) for row in rows[at]]
    return found


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column if column.type == pa.large_string() else column.cast(pa.large_string())
