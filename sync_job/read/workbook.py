"""Excel workbooks (.xlsx) → rows of text cells, through openpyxl.

A cell typed as a number becomes text without losing digits: Excel stores 255712345678 exactly
even when it shows ``2.55712E+11``, so ``255712345678`` comes out, and a whole-number float such
as ``12345.0`` comes out as ``12345``. A number cell formatted as scientific (``0.00E+00``, which
is what a spreadsheet leaves after opening a CSV that already held ``2.55712E+11``) comes out as
the scientific text the operator sees, so validation refuses it rather than send lost digits.
A date or time in a cell is not text anyone meant for a contact field: it becomes a problem for
that cell, not a crash.
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sync_job.errors import InputFileError

# Whole numbers up to this are exact in a float; beyond it, digits may already be gone.
_EXACT_FLOAT_LIMIT = 2**53


@dataclass(frozen=True)
class SheetCells:
    """The used part of one sheet: text rows with their sheet row numbers."""

    sheet: str
    rows: list[tuple[int, list[str]]]
    """(row number in the sheet, cells as text) for every non-empty row, header first."""
    dates: dict[tuple[int, int], str]
    """(row number, column position) → the date as written, for cells that held a date."""


def cell_text(value: Any) -> str:
    """One cell's value as the text an operator meant."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _EXACT_FLOAT_LIMIT:
            return str(int(value))
        return repr(value)
    return str(value)


def _shown_scientific(value: Any, number_format: str | None) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and number_format is not None and "E+" in number_format.upper())


def _rows(worksheet: Any, source: str) -> Iterator[tuple[Any, ...]]:
    """The sheet's rows; a sheet whose XML is damaged is a problem of the file, not a crash."""
    rows = worksheet.iter_rows(min_row=1)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except InputFileError:
            raise
        except Exception as exc:  # any parser's error: the XML inside the file is broken
            raise InputFileError(
                f"{source}: sheet {worksheet.title!r} cannot be read: the workbook is damaged "
                f"({type(exc).__name__}); open it in your spreadsheet program and save it "
                f"again") from None
        yield row


def read_sheet(path: Path, *, sheet: str | None, source: str) -> SheetCells:
    """Read ``sheet`` (or the first sheet) of the workbook at ``path``."""
    # Imported here: only a workbook pays for importing openpyxl.
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputFileError(f"{source}: cannot open as an Excel workbook ({exc})") from None
    try:
        names = workbook.sheetnames
        if sheet is None:
            worksheet = workbook.worksheets[0]
        elif sheet in names:
            worksheet = workbook[sheet]
        else:
            raise InputFileError(f"{source}: no sheet named {sheet!r}; the workbook has "
                                 f"{', '.join(repr(n) for n in names)}")
        # Some programs write a wrong used-range; recompute it rather than trust it.
        if hasattr(worksheet, "reset_dimensions"):
            worksheet.reset_dimensions()
        rows: list[tuple[int, list[str]]] = []
        dates: dict[tuple[int, int], str] = {}
        for number, cells_in_row in enumerate(_rows(worksheet, source), start=1):
            values = [cell.value for cell in cells_in_row]
            if not any(v is not None and str(v).strip() for v in values):
                continue
            cells = []
            for position, cell in enumerate(cells_in_row):
                value = cell.value
                if isinstance(value, dt.datetime | dt.date | dt.time):
                    dates[(number, position)] = value.isoformat()
                    cells.append(value.isoformat())
                elif _shown_scientific(value, getattr(cell, "number_format", None)):
                    # The operator sees 2.56E+11 and the stored value may already be rounded
                    # (a CSV opened and saved again): pass on what they see, to be refused.
                    cells.append(format(value, ".5E"))
                else:
                    cells.append(cell_text(value))
            rows.append((number, cells))
        return SheetCells(sheet=worksheet.title, rows=rows, dates=dates)
    finally:
        workbook.close()
