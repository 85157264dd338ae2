"""The results as an Excel workbook (``--results out.xlsx``, ``results.format: xlsx``).

The same columns and rows as the results CSV, one contract in two formats, made to be looked
at in a spreadsheet program:

* every cell is text (an inline string with the number format ``@``, Excel's "Text"): ids and
  numbers keep every digit, and a cell starting with ``=`` stays that text, never a formula.
  So no cell gets the CSV's defusing apostrophe: a workbook's cell holds the value exactly;
* the header row is bold and frozen, with a filter on every column;
* ``invalid`` rows are filled light amber, ``failed`` rows light red; the rest stay plain;
* each column is as wide as its longest cell (and its header), at most :data:`MAX_WIDTH`
  characters;
* a control character XML cannot hold (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F) is shown
  as its Unicode control picture (BEL as ``␇``), U+FFFE and U+FFFF as ``�``;
* a sheet holds at most 1,048,576 rows (Excel's and Calc's limit): beyond, the rows go on in
  sheets ``Results 2``, ``Results 3`` …, each with its own header.

openpyxl writes it in write-only mode, a row at a time, into a temporary file that replaces
the old one when complete (``state.files.atomic_path``), readable by its owner only. That is
Python work per cell, many times the CSV's time (docs/performance.md).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from sync_job.plan.arrow import may_hold
from sync_job.state.files import atomic_path

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell

Sheet = Any
"""A write-only worksheet (openpyxl's stubs leave out the column widths and the filter it sets
up at run time)."""

SHEET_ROWS = 1_048_576
"""The most rows a sheet holds, its header included (Excel's and LibreOffice Calc's limit)."""
SHEET_NAME = "Results"
MAX_WIDTH = 60
"""The widest a column is made, in characters; longer cells are cut off at the edge (the whole
text is in the cell)."""
TEXT = "@"
"""Excel's "Text" number format."""
FILLS: dict[str, PatternFill] = {
    "invalid": PatternFill("solid", start_color="FFF2CC", end_color="FFF2CC"),  # light amber
    "failed": PatternFill("solid", start_color="FCE4D6", end_color="FCE4D6"),  # light red
}
"""The rows that need a look, by status; every other row is left plain."""
HEADER_FILL = PatternFill("solid", start_color="F2F2F2", end_color="F2F2F2")

_NOT_XML = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_BATCH_ROWS = 4096


def write_workbook(path: Path, table: pa.Table, *, status_column: str = "status",
                   sheet_rows: int = SHEET_ROWS) -> None:
    """Write ``table`` (text columns, their names the header) to ``path`` as an .xlsx workbook,
    atomically. ``sheet_rows``: the most rows a sheet takes, its header included."""
    table = pa.table({name: _xml_safe(_text(table.column(name))) for name in table.column_names})
    header = table.column_names
    widths = [_width(name, table.column(name)) for name in header]
    status_at = header.index(status_column)
    per_sheet = sheet_rows - 1
    book = Workbook(write_only=True)
    for part, start in enumerate(range(0, max(table.num_rows, 1), per_sheet)):
        rows = table.slice(start, per_sheet)
        sheet = book.create_sheet(SHEET_NAME if part == 0 else f"{SHEET_NAME} {part + 1}")
        _lay_out(sheet, widths, rows.num_rows)
        sheet.append([_header_cell(sheet, name) for name in header])
        for values in _rows(rows):
            fill = FILLS.get(values[status_at] or "")
            sheet.append([_cell(sheet, value, fill) for value in values])
    with atomic_path(path) as temp:
        book.save(temp)


def _lay_out(sheet: Sheet, widths: Sequence[float], rows: int) -> None:
    """Column widths, the frozen header and the filter; set before the first row is
    written, as write-only mode requires."""
    for at, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(at)].width = width
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(widths))}{rows + 1}"


def _header_cell(sheet: Sheet, name: str) -> Cell:
    cell = text_cell(sheet, name, HEADER_FILL)
    cell.font = Font(bold=True)
    return cell


def _cell(sheet: Sheet, value: str | None, fill: PatternFill | None) -> Cell | None:
    """A text cell; None (nothing written) for an empty cell of a plain row."""
    if not value and fill is None:
        return None
    return text_cell(sheet, value, fill)


def text_cell(sheet: Sheet, value: str | None, fill: PatternFill | None = None) -> Cell:
    """A write-only cell holding ``value`` as text, formatted as text (``@``): an empty one
    too, so a number typed into it stays text."""
    cell = WriteOnlyCell(sheet, value=value or None)
    if value:
        cell.data_type = "s"  # text, even when it starts with "=" or reads like "#N/A"
    cell.number_format = TEXT
    if fill is not None:
        cell.fill = fill
    return cell


def _rows(table: pa.Table) -> Iterator[tuple[Any, ...]]:
    """The rows of ``table`` as tuples of Python strings (None for null), a batch at a time."""
    for batch in table.to_batches(max_chunksize=_BATCH_ROWS):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


def _text(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return values if pa.types.is_large_string(values.type) else values.cast(pa.large_string())


def _width(header: str, values: pa.Array | pa.ChunkedArray) -> float:
    """Characters the column needs for its longest cell and its header, plus a margin."""
    longest = pc.max(pc.utf8_length(values)).as_py() if len(values) else 0
    return float(min(max(len(header), longest or 0) + 2, MAX_WIDTH))


def _xml_safe(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``values`` with the characters an XML file cannot hold replaced by visible ones."""
    if not may_hold(values, _NOT_XML):  # nearly always: one scan of the bytes
        return values
    for code in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)]:
        values = pc.replace_substring(values, chr(code), chr(0x2400 + code))
    for char in ("\ufffe", "\uffff"):
        values = pc.replace_substring(values, char, "\ufffd")
    return values
