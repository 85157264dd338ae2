"""OpenDocument spreadsheets (.ods, LibreOffice Calc's own format) → rows of text cells.

The sheets are in one XML file inside the zip (``content.xml``), read with the standard
library's streaming parser, one row at a time. (odfpy, which pandas' ``odf`` engine uses,
first builds the whole document in memory, at many times the time and memory: see
docs/performance.md.) Expat, the parser, refuses entities that would blow up, since 2.4.1.

An .ods keeps each number twice: its value (``office:value``, in decimal) and the text the
program shows. A number shown in scientific notation (``2.56E+11``) gives its value in that
notation (``2.55712E+11``, as a .xlsx formatted so gives it), so validation refuses it as it
refuses the same in a CSV; any other number gives its value without losing digits, as a .xlsx
does. A date or a time gives its ISO 8601 text, and the reader makes it a problem of its cell.

A run of identical rows or cells is stored once with a count (``number-rows-repeated``,
``number-columns-repeated``); empty runs (the rest of every row and of the sheet) are never
written out, and full ones only up to the size of a sheet in Calc and Excel.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from sync_job.errors import InputFileError
from sync_job.read.limits import MAX_CELL_CHARS
from sync_job.read.workbook import (
    MAX_SHEET_COLUMNS,
    MAX_SHEET_ROWS,
    SheetRow,
    cell_text,
    damaged,
)

_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"

_SHEET = _TABLE + "table"
_ROW = _TABLE + "table-row"
_CELLS = (_TABLE + "table-cell", _TABLE + "covered-table-cell")  # covered: merged away
_PARAGRAPH = _TEXT + "p"

# As a spreadsheet shows a number in scientific notation, with a decimal point or comma.
_SCIENTIFIC = re.compile(r"[-+]?\d+(?:[.,]\d+)?[eE][-+]?\d+")
_DURATION = re.compile(r"PT(\d+)H(\d+)M(\d+)(?:[.,]\d+)?S")


class OdsWorkbook:
    """Every sheet of an .ods, read whole (one pass over its XML)."""

    def __init__(self, sheets: dict[str, list[SheetRow]]) -> None:
        self._sheets = sheets

    @property
    def names(self) -> list[str]:
        return list(self._sheets)

    def rows(self, name: str) -> Iterator[SheetRow]:
        return iter(self._sheets[name])


def read_ods(path: Path, *, source: str) -> OdsWorkbook:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(f"{source}: cannot open as an OpenDocument spreadsheet "
                             f"({exc})") from None
    sheets: dict[str, list[SheetRow]] = {}
    try:
        with archive, archive.open("content.xml") as content:
            _read_sheets(content, sheets, source)
    except InputFileError:
        raise
    except Exception as exc:  # the zip or the XML inside it is broken, or scrambled
        raise damaged(source, next(reversed(sheets), None), exc, password=True) from None
    return OdsWorkbook(sheets)


def _read_sheets(content: IO[bytes], sheets: dict[str, list[SheetRow]], source: str) -> None:
    """Fill ``sheets`` (name → rows) from ``content.xml``, in the workbook's order."""
    rows: list[SheetRow] = []
    name = ""
    number = 0  # the number of the last row read in the sheet
    open_elements: list[ET.Element] = []
    for event, element in ET.iterparse(content, events=("start", "end")):
        if event == "start":
            open_elements.append(element)
            if element.tag == _SHEET:
                name = element.get(_TABLE + "name", "")
                rows = sheets.setdefault(name, [])
                number = 0
            continue
        open_elements.pop()
        if element.tag == _ROW:
            number = _add_rows(element, number, rows, f"{source}, sheet {name!r}")
            open_elements[-1].remove(element)  # so memory holds one row at a time
        elif element.tag == _SHEET:
            element.clear()


def _add_rows(row: ET.Element, number: int, rows: list[SheetRow], where: str) -> int:
    """Append ``row`` (as many times as it is repeated) unless it holds nothing; return the
    number of the last row it covers."""
    repeated = _count(row.get(_TABLE + "number-rows-repeated"))
    cells, dates = _cells(row, f"{where}, row {number + 1}")
    if not any(cell.strip() for cell in cells):
        return number + repeated
    if number + repeated > MAX_SHEET_ROWS:
        raise InputFileError(f"{where}: the sheet goes on past row {MAX_SHEET_ROWS:,}, the "
                             f"most a spreadsheet holds: the file is damaged")
    rows.extend(SheetRow(number + n, cells, dates) for n in range(1, repeated + 1))
    return number + repeated


def _cells(row: ET.Element, where: str) -> tuple[list[str], tuple[int, ...]]:
    cells: list[str] = []
    dates: list[int] = []
    empty = 0  # empty cells not written out yet: only needed before a cell with text
    for cell in row:
        if cell.tag not in _CELLS:
            continue
        repeated = _count(cell.get(_TABLE + "number-columns-repeated"))
        text, is_date = _value(cell)
        if not text:
            empty += repeated
            continue
        if len(cells) + empty + repeated > MAX_SHEET_COLUMNS:
            raise InputFileError(f"{where}: the row goes on past column {MAX_SHEET_COLUMNS:,}, "
                                 f"the most a spreadsheet holds: the file is damaged")
        cells += [""] * empty
        empty = 0
        if is_date:
            dates += range(len(cells), len(cells) + repeated)
        cells += [text] * repeated
    return cells, tuple(dates)


def _count(repeated: str | None) -> int:
    return 1 if repeated is None else max(1, int(repeated))


def _value(cell: ET.Element) -> tuple[str, bool]:
    """(the cell as text, whether it held a date or time)."""
    kind = cell.get(_OFFICE + "value-type")
    if kind in ("float", "percentage", "currency"):
        shown = _text(cell).strip()
        value = cell.get(_OFFICE + "value")
        if value is None:
            return shown, False
        if _SCIENTIFIC.fullmatch(shown):
            # The digits may be gone already (a CSV opened and saved again): written as a
            # .xlsx gives it, to be refused.
            return format(float(value), ".5E"), False
        return cell_text(float(value)), False
    if kind == "date":
        written = cell.get(_OFFICE + "date-value", "")
        try:
            return dt.datetime.fromisoformat(written).isoformat(), True  # as .xlsx gives it
        except ValueError:
            return written, True
    if kind == "time":
        written = cell.get(_OFFICE + "time-value", "")
        match = _DURATION.fullmatch(written)
        if match is not None:
            hours, minutes, seconds = (int(part) for part in match.groups())
            with contextlib.suppress(ValueError):  # 25 hours is a duration, not a time
                return dt.time(hours, minutes, seconds).isoformat(), True
        return written, True
    if kind == "boolean":
        return cell_text(cell.get(_OFFICE + "boolean-value") == "true"), False
    return _text(cell), False


def _text(cell: ET.Element) -> str:
    """The cell's text: its paragraphs, one line each (a comment in the cell is not text)."""
    return "\n".join(_paragraph(p) for p in cell if p.tag == _PARAGRAPH)


def _paragraph(element: ET.Element) -> str:
    parts = [element.text or ""]
    for child in element:
        if child.tag == _TEXT + "s":  # a run of spaces, stored as a count
            count = min(_count(child.get(_TEXT + "c")), MAX_CELL_CHARS + 1)
            parts.append(" " * count)
        elif child.tag == _TEXT + "tab":
            parts.append("\t")
        elif child.tag == _TEXT + "line-break":
            parts.append("\n")
        elif child.tag != _OFFICE + "annotation":
            parts.append(_paragraph(child))  # a span, a link: its text
        parts.append(child.tail or "")
    return "".join(parts)
