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
import itertools
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from sync_job.errors import InputFileError
from sync_job.fields import ALL_FIELDS, ID_FIELD
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
from sync_job.read.sniff import (
    DELIMITER_NAMES,
    DELIMITERS,
    FileKind,
    decode,
    file_kind,
    looks_binary,
    sniff_delimiter,
)
from sync_job.read.workbook import SheetRow, Workbook, column_letter, open_workbook

# Header spellings accepted for each field, compared after lower-casing and removing spaces,
# underscores and dashes ("Contact ID", "contact_id" and "contactId" are all "contactid").
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    ID_FIELD: ("contactid", "id"),
    "names": ("names", "name", "fullname"),
    "number": ("number", "phone", "phonenumber", "mobile", "msisdn"),
    "email": ("email", "emailaddress"),
}

_HEADER_NOISE = re.compile(r"[\s_\-]+")


READ_PROBLEMS: dict[str, str] = {
    **{f"{name}.date_cell": f"the {name} cell of a workbook holds a date or a time, not text"
       for name in ALL_FIELDS},
    **{f"{name}.nul_byte": f"the {name} cell holds a NUL byte (a damaged file, or not text)"
       for name in ALL_FIELDS},
    "row.nul_byte": "a cell of a column sync-job ignores holds a NUL byte",
    "row.too_many_cells": "the row has more cells than the header has columns: its values "
                          "have shifted (an unquoted delimiter in a value)",
}
"""The problem codes of the reader's :class:`RowProblem` s, each with its meaning."""


@dataclass(frozen=True)
class RowProblem:
    """A problem found while reading, tied to a row and (when known) a field."""

    row: int
    field: str | None
    message: str
    kind: str
    """What the problem is (``date_cell``, ``nul_byte``, ``too_many_cells``): with the field
    (or ``row``), its :attr:`code`."""

    @property
    def code(self) -> str:
        """The problem's stable code, e.g. ``number.date_cell`` (one of
        :data:`READ_PROBLEMS`)."""
        return f"{self.field or 'row'}.{self.kind}"


@dataclass(frozen=True)
class Shape:
    """The file as the operator laid it out: enough to write some of its rows back in the same
    shape (the rejects file, ``report.rejects``)."""

    kind: str = "text"
    """``text``, ``xlsx`` or ``ods``: what was read (a file is told by its bytes and its name
    alike, or refused)."""
    headers: tuple[str, ...] = ()
    """Every column's header as the file spells it (untrimmed; "" for a column without one),
    in the file's order, ignored columns included."""
    fields: Mapping[int, str] = field(default_factory=dict)
    """Column position → the field it gives; every other column is ignored by the job."""
    encoding: str = "utf-8"
    """A text file's encoding, as read."""
    encoding_given: bool = False
    """The encoding was ``input.encoding``'s, not found from the bytes."""
    delimiter: str = ","
    sheet: str = ""
    """A workbook's sheet read."""


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
    shape: Shape = field(default_factory=Shape)
    ignored: pa.Table | None = None
    """The cells of the columns the job ignores (``c<position>``), the same rows as ``cells``,
    so a row can be written back whole. Kept in arrow: nothing when the file has no other
    columns, and no more than the file's own text when it does."""
    overflow: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    """Row number → the cells of a row beyond the header's last column (a text file's row with
    more cells than the header, which the reader makes invalid)."""
    dates: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    """Row number → the positions of a workbook row's cells that held a date or a time (their
    text is the ISO 8601 form)."""

    def columns_as_read(self, positions: np.ndarray) -> list[list[str]]:
        """The cells of the rows at ``positions`` (of ``cells``) as read, column by column:
        every column of the file in its order, ignored ones included."""
        take = pa.array(np.asarray(positions, dtype=np.int64))
        columns: list[list[str]] = [[""] * len(take) for _ in self.shape.headers]
        for position, name in self.shape.fields.items():
            columns[position] = self.cells.column(name).take(take).to_pylist()
        if self.ignored is not None:
            for name in self.ignored.column_names:
                columns[int(name[1:])] = self.ignored.column(name).take(take).to_pylist()
        return columns

    def overflow_at(self, positions: np.ndarray) -> list[tuple[str, ...]] | None:
        """The cells beyond the header's last column of the rows at ``positions``; None when
        none of them has any."""
        if not self.overflow:
            return None
        numbers = self.cells.column("row").take(pa.array(positions)).to_pylist()
        found = [self.overflow.get(number, ()) for number in numbers]
        return found if any(found) else None


def header_key(header: str) -> str:
    """The comparable form of a header: lower case, no spaces, underscores or dashes."""
    return _HEADER_NOISE.sub("", header.strip().lower())


def header_field(header: str, extra: Mapping[str, str] | None = None) -> str | None:
    """The field a column with this header gives, or None when the job ignores it.
    ``extra``: further header → field mappings (``input.columns``)."""
    return _lookup(extra or {}).get(header_key(header))


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
                   problems: list[RowProblem], overflow: dict[int, tuple[str, ...]]) -> pa.Table:
    """Read any delimited text; a row with more cells than headers becomes a problem (its
    cells beyond the header go into ``overflow``, by row number). A line or a cell over the
    limits raises LimitError naming its line."""
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
                    f"a value probably contains an unquoted {name}", "too_many_cells",
                ))
                overflow[index + skip + 2] = tuple(record[width:])
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


WORKBOOK_SUFFIXES: dict[str, FileKind] = {".xlsx": "xlsx", ".xlsm": "xlsx", ".ods": "ods"}
"""The workbooks read, by the end of the file's name; any other name is read as text."""


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
    named = WORKBOOK_SUFFIXES.get(path.suffix.lower(), "text")
    kind, inside = file_kind(raw)
    # A damaged workbook is left to its reader, which says what it found.
    if kind != named and not (kind == "damaged zip" and named != "text"):
        raise InputFileError(f"{source}: {_not_what_it_is_named(kind, named, inside, raw)}")
    try:
        if named != "text":
            return _read_workbook(path, named, options, source, hashlib.sha256(raw).hexdigest())
        # hashlib lets go of the GIL over a big buffer: the digest is made while the file is
        # parsed.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync-job-sha256") as pool:
            hashed = pool.submit(lambda: hashlib.sha256(raw).hexdigest())
            table = _read_utf8(raw, source, options) or _read_text(raw, source, options)
            return dataclasses.replace(table, sha256=hashed.result())
    except LimitError as exc:
        raise InputFileError(f"{source}: {exc}") from None


_WORKBOOKS = {"xlsx": "an Excel workbook (.xlsx)",
              "ods": "a LibreOffice Calc spreadsheet (OpenDocument, .ods)"}


def _not_what_it_is_named(kind: FileKind, named: FileKind, inside: list[str],
                          raw: bytes) -> str:
    """What to do with a file whose bytes are not what its name says."""
    if kind in _WORKBOOKS:
        return (f"this is {_WORKBOOKS[kind]} saved under another name; rename it to "
                f".{kind}")
    if kind == "xlsb":
        return ("this is an Excel binary workbook (.xlsb); open it in Excel and save it as "
                ".xlsx or as .csv (CSV UTF-8)")
    if kind == "ole":
        return ("this is an old Excel workbook (.xls), or a workbook protected with a password; "
                "open it in Excel and save it as .xlsx or as .csv (CSV UTF-8), without a "
                "password")
    if kind == "zip":
        held = f"holding {_listed(inside, 3)}" if inside else "with nothing in it"
        return (f"this is a zip archive {held}, not a spreadsheet or a CSV file; unzip it "
                f"first, then give the file inside (--input)")
    if kind == "damaged zip":
        return ("this is a zip file (a workbook, or a zip archive) that cannot be opened: it "
                "may be damaged or cut short; save or copy it again")
    if looks_binary(raw[:8192]):
        return (f"this is not {_WORKBOOKS[named]}, nor text: the file may be damaged; open it "
                f"in your spreadsheet program and save it again")
    return f"this is a text file, not {_WORKBOOKS[named]}; if it is a CSV file, rename it to .csv"


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
                      details=_details(encoding, layout.delimiter), nul=b"\0" in raw,
                      shape=_text_shape(layout, encoding, options))
    return dataclasses.replace(table, ascii=raw.isascii())


def _read_text(raw: bytes, source: str, options: ReadOptions) -> InputTable:
    """Decode the whole file, then parse it with pyarrow or, if it refuses, Python's csv."""
    text, encoding = decode(raw, source=source, encoding=options.encoding)
    layout = _layout(text, source, options)
    assert layout is not None  # the whole text holds the whole header
    _check_quotes(text, source, layout.delimiter,
                  raw.count(b'"') if encoding in ("utf-8", "utf-8-sig") else None)
    problems: list[RowProblem] = []
    overflow: dict[int, tuple[str, ...]] = {}
    utf8 = raw if encoding in ("utf-8", "utf-8-sig") else text.encode("utf-8")
    cells = _read_fast(utf8, len(layout.headers), layout.delimiter, layout.skip)
    if cells is None:
        cells = _read_tolerant(text, len(layout.headers), layout.delimiter, layout.skip,
                               problems, overflow)
    if over_long_row(cells) is not None:
        # Read again record by record, to name the line the row starts on.
        check_records(Lines(text), delimiter=layout.delimiter)
        raise LimitError(cell_too_long())  # (had Python's csv split the quotes otherwise)
    table = _assemble(cells, layout, first_row=layout.skip + 2, problems=problems,
                      details=_details(encoding, layout.delimiter), nul="\0" in text,
                      shape=_text_shape(layout, encoding, options))
    return dataclasses.replace(table, overflow=overflow)


def _details(encoding: str, delimiter: str) -> str:
    return f"{encoding}, {DELIMITER_NAMES.get(delimiter, repr(delimiter))}-separated"


def _text_shape(layout: _Layout, encoding: str, options: ReadOptions) -> Shape:
    return Shape(kind="text", headers=tuple(layout.headers), fields=dict(layout.positions),
                 encoding=encoding, encoding_given=options.encoding is not None,
                 delimiter=layout.delimiter)


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
    if not _names_contact_id(headers, options.columns):
        line = _header_further_down(text, delimiter, options.columns)
        if line is not None:
            raise InputFileError(
                f"{source}: line {skip + 1} is not the header: the header, with contactId, is "
                f"on line {line}; delete the lines above it (a title or notes), so the file "
                f"starts with its header")
    positions, warnings = map_headers(headers, source=source, extra=options.columns)
    return _Layout(delimiter, skip, headers, positions, warnings)


def _header_further_down(text: str, delimiter: str, extra: Mapping[str, str]) -> int | None:
    """The line on which a header naming contactId starts among the first lines of ``text``,
    split by ``delimiter`` or any other (a title above the header misleads the sniffing)."""
    for splitter in (delimiter, *DELIMITERS):
        records = csv.reader(io.StringIO(text[: 1 << 16], newline=""), delimiter=splitter)
        start = 1
        try:
            for record in itertools.islice(records, HEADER_SEARCH):
                if _names_contact_id(record, extra):
                    return start
                start = records.line_num + 1
        except csv.Error:
            continue
    return None


def _names_contact_id(cells: list[str], extra: Mapping[str, str]) -> bool:
    lookup = _lookup(extra)
    return any(lookup.get(header_key(cell)) == ID_FIELD for cell in cells)


HEADER_SEARCH = 10
"""A workbook's header may sit below a title or notes: it is the first of a sheet's first 10
rows that hold anything to name a contactId column."""


def _read_workbook(path: Path, kind: FileKind, options: ReadOptions, source: str,
                   sha256: str) -> InputTable:
    def names_contact_id(cells: list[str]) -> bool:
        return _names_contact_id(cells, options.columns)

    with open_workbook(path, kind=kind, source=source) as book:
        name, rows, warnings = _choose_sheet(book, options.sheet, names_contact_id, source)
    where = f"{source}, sheet {name!r}"
    header, data = rows[0], rows[1:]
    # Values beyond the last header are kept, for the warning that they have none.
    width = max(len(row.cells) for row in rows)
    headers = header.cells + [""] * (width - len(header.cells))
    positions, header_warnings = map_headers(headers, source=where, extra=options.columns)
    cells = _text_table([row.cells + [""] * (width - len(row.cells)) for row in data], width)
    # A sheet has at most 16,384 columns (Excel's limit), so only the cells' length is checked:
    # the header's here, the others from the table's offsets.
    too_long = header if any(len(h) > MAX_CELL_CHARS for h in headers) else None
    if too_long is None and (index := over_long_row(cells)) is not None:
        too_long = data[index]
    if too_long is not None:
        at = next(p for p, cell in enumerate(too_long.cells) if len(cell) > MAX_CELL_CHARS)
        raise InputFileError(f"{where}, row {too_long.number}, {_column(at, headers)}: "
                             f"{cell_too_long(text=False)}")
    problems = [
        RowProblem(row.number, positions[position],
                   f'"{row.cells[position]}" is a date, not text; format the column as Text and '
                   f"re-enter the value", "date_cell")
        for row in data for position in row.dates
        if position in positions
    ]
    details = f"sheet {name!r}" + (f", header on row {header.number}" if header.number > 1
                                   else "")
    layout = _Layout("", 0, headers, positions, warnings + header_warnings)
    shape = Shape(kind=kind, headers=tuple(headers), fields=dict(positions), sheet=name)
    table = _assemble(cells, layout, first_row=header.number + 1, problems=problems,
                      details=details, row_numbers=[row.number for row in data], nul=True,
                      shape=shape)
    dates = {row.number: row.dates for row in data if row.dates}
    return dataclasses.replace(table, sha256=sha256, dates=dates)


def _column(position: int, headers: list[str]) -> str:
    """A column as the operator finds it: its letter, and its header when it has one."""
    header = headers[position].strip() if position < len(headers) else ""
    return f"column {column_letter(position)}" + (f" ({_shown(header)})" if header else "")


def _choose_sheet(book: Workbook, wanted: str | None, is_header: Callable[[list[str]], bool],
                  source: str) -> tuple[str, list[SheetRow], list[str]]:
    """(the sheet to read, its rows from the header on, warnings about the choice).

    The sheet named (``--sheet``, ignoring case), or else the first sheet whose header names
    contactId: an instructions sheet before the data is passed over, with a warning."""
    warnings = []
    if wanted is None:
        candidates = book.names
    else:
        candidates = [_sheet_named(wanted, book.names, source)]
        if candidates[0] != wanted:
            warnings.append(f"{source}: reading sheet {candidates[0]!r} for the sheet named "
                            f"{wanted!r} (the same name in other capitals)")
    passed: list[tuple[str, list[str]]] = []  # sheets without a header: name, first row
    for name in candidates:
        rows = book.rows(name)
        head = list(itertools.islice(rows, HEADER_SEARCH))
        at = next((i for i, row in enumerate(head) if is_header(row.cells)), None)
        if at is not None:
            if passed:
                warnings.append(f"{source}: {_sheets_said(passed)}; reading sheet {name!r}, the "
                                f"first with a contactId column (--sheet names another)")
            return name, head[at:] + list(rows), warnings
        passed.append((name, head[0].cells if head else []))
    raise _no_header(book, passed, named=wanted is not None, is_header=is_header,
                     source=source)


def _sheet_named(wanted: str, names: list[str], source: str) -> str:
    if wanted in names:
        return wanted
    alike = [name for name in names if name.casefold() == wanted.strip().casefold()]
    if len(alike) == 1:
        return alike[0]
    raise InputFileError(f"{source}: no sheet named {wanted!r}; the workbook has "
                         f"{_listed(names, 20)}")


def _sheets_said(passed: list[tuple[str, list[str]]]) -> str:
    """``sheet 'A' is empty; sheet 'B' has no contactId column`` (the first few)."""
    said = [f"sheet {name!r} " + ("has no contactId column" if first else "is empty")
            for name, first in passed[:5]]
    more = f"; and {len(passed) - 5:,} more sheets" if len(passed) > 5 else ""
    return "; ".join(said) + more


_NO_CONTACT_ID = (f"no contactId column in its first {HEADER_SEARCH} rows (accepted headers: "
                  f"contactId, contact id, id)")


def _no_header(book: Workbook, passed: list[tuple[str, list[str]]], *, named: bool,
               is_header: Callable[[list[str]], bool], source: str) -> InputFileError:
    """Why no sheet can be read, naming the sheets with data."""
    if named:
        return _unusable_sheet(book, *passed[0], is_header=is_header, source=source)
    with_data = [(name, first) for name, first in passed if first]
    if not with_data:
        what = (f"sheet {passed[0][0]!r} is empty" if len(passed) == 1
                else f"every sheet is empty ({_listed([name for name, _ in passed])})")
        return InputFileError(f"{source}: {what}; expected a header row with contactId")
    if len(passed) == 1:
        name, first = passed[0]
        return InputFileError(f"{source}, sheet {name!r}: {_NO_CONTACT_ID}. Headers found: "
                              f"{_first_row(first)}")
    found = "; ".join(f"sheet {name!r}: {_first_row(first)}" for name, first in with_data[:5])
    more = f"; and {len(with_data) - 5:,} more sheets" if len(with_data) > 5 else ""
    return InputFileError(f"{source}: no sheet has a {_NO_CONTACT_ID.removeprefix('no ')}. The "
                          f"sheets with data start with: {found}{more}")


def _unusable_sheet(book: Workbook, name: str, first: list[str], *,
                    is_header: Callable[[list[str]], bool], source: str) -> InputFileError:
    """The sheet named is empty or has no header: say so, and which other sheets hold data
    (and which of them has a header)."""
    others = []
    for other in book.names:
        head = list(itertools.islice(book.rows(other), HEADER_SEARCH)) if other != name else []
        if head:
            has = any(is_header(row.cells) for row in head)
            others.append(_shown(other) + (" (it has a contactId column)" if has else ""))
    if others:
        listed = ", ".join(others[:10]) + (f" and {len(others) - 10:,} more"
                                           if len(others) > 10 else "")
        said = f"; the other sheets with data: {listed}"
    else:
        said = "; no other sheet holds anything" if len(book.names) > 1 else ""
    if not first:
        said = said or "; expected a header row with contactId"
        return InputFileError(f"{source}: sheet {name!r} is empty{said}")
    return InputFileError(f"{source}, sheet {name!r}: {_NO_CONTACT_ID}. Headers found: "
                          f"{_first_row(first)}{said}")


def _first_row(cells: list[str]) -> str:
    return _listed([cell.strip() for cell in cells if cell.strip()], 20) or "none"


def _assemble(
    cells: pa.Table,
    layout: _Layout,
    *,
    first_row: int,
    problems: list[RowProblem],
    details: str,
    row_numbers: list[int] | None = None,
    nul: bool = False,
    shape: Shape,
) -> InputTable:
    """Raw cells → the reader's table: fields only, spreadsheet row numbers, blank rows gone;
    the other columns' cells kept beside it (``InputTable.ignored``).

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
    others = [position for position in range(len(columns)) if position not in layout.positions]
    ignored = pa.table({f"c{position}": columns[position] for position in others}) \
        if others else None
    if blank.any():
        keep = pa.array(~blank)
        table = table.filter(keep)
        ignored = ignored.filter(keep) if ignored is not None else None
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
                      details=details, shape=shape, ignored=ignored)


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
        found += [RowProblem(int(row), name, message, "nul_byte") for row in rows[at]]
    return found


def _text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    return column if column.type == pa.large_string() else column.cast(pa.large_string())
