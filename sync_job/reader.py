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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from sync_job.errors import InputFileError

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


def header_key(header: str) -> str:
    """The comparable form of a header: lower case, no spaces, underscores or dashes."""
    return _HEADER_NOISE.sub("", header.strip().lower())


def map_headers(headers: list[str], *, source: str) -> tuple[dict[int, str], list[str]]:
    """Match file headers to fields. Returns (column position → field, warnings).

    Raises InputFileError when no column is contactId or two columns claim the same field.
    """
    lookup = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}
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


def _decode(raw: bytes, source: str) -> str:
    if b"\x00" in raw[:4096]:
        raise InputFileError(f"{source}: this is not a text (CSV) file")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(
            f"{source}: not UTF-8 text (first bad byte on line {line}); save the file as "
            f"'CSV UTF-8'"
        ) from None


def _first_record(text: str) -> list[str]:
    reader = csv.reader(io.StringIO(text[: 1 << 16], newline=""))
    return next(reader, [])


def _read_fast(raw: bytes, width: int) -> pd.DataFrame | None:
    """Parse with pyarrow; None when pyarrow refuses the file (e.g. ragged rows)."""
    names = [f"c{i}" for i in range(width)]
    try:
        table = pa_csv.read_csv(
            io.BytesIO(raw),
            # Skips the header *record* (skip_rows would skip a line, splitting a quoted header).
            read_options=pa_csv.ReadOptions(column_names=names, skip_rows_after_names=1),
            parse_options=pa_csv.ParseOptions(ignore_empty_lines=False, newlines_in_values=True),
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


def _read_tolerant(text: str, width: int, problems: list[RowProblem]) -> pd.DataFrame:
    """Read any delimited text; a row with more cells than headers becomes a problem."""
    rows: list[list[str]] = []
    records = csv.reader(io.StringIO(text, newline=""))
    next(records, None)
    for index, record in enumerate(records):
        if len(record) > width and any(cell.strip() for cell in record[width:]):
            problems.append(RowProblem(
                index + 2, None,
                f"the row has {len(record)} cells but the header has {width} columns; "
                f"a value probably contains an unquoted comma",
            ))
        rows.append((record + [""] * width)[:width])
    return pd.DataFrame(rows, columns=[f"c{i}" for i in range(width)], dtype="str")


def _check_quotes(text: str, source: str) -> None:
    """Refuse a file whose last quote never closes: it would swallow every later row."""
    if text.count('"') % 2 == 0:
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


def read_input(path: Path) -> InputTable:
    """Read the changes file at ``path``. Raises InputFileError for file-level problems."""
    source = path.name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    text = _decode(raw, source)
    _check_quotes(text, source)
    headers = _first_record(text)
    if not any(h.strip() for h in headers):
        raise InputFileError(f"{source}: the file is empty; expected a header row with contactId")
    positions, warnings = map_headers(headers, source=source)

    problems: list[RowProblem] = []
    frame = _read_fast(raw, len(headers))
    if frame is None:
        frame = _read_tolerant(text, len(headers), problems)

    columns = {f"c{position}": name for position, name in positions.items()}
    table = frame[list(columns)].rename(columns=columns)
    table.insert(0, "row", pd.RangeIndex(2, len(table) + 2, dtype="int64"))
    blank = pd.Series(True, index=frame.index)
    for name in frame.columns:
        blank &= frame[name].str.strip() == ""
    # A row whose only text lies beyond the last header is not blank: it carries a problem.
    blank &= ~table["row"].isin([problem.row for problem in problems]).to_numpy()
    table = table[~blank.to_numpy()].reset_index(drop=True)
    header_names = {name: headers[position].strip() for position, name in positions.items()}
    return InputTable(frame=table, headers=header_names, problems=problems, warnings=warnings)
