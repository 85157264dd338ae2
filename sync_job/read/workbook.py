"""Workbooks (.xlsx through openpyxl, .ods through ``opendocument``) → rows of text cells.

A cell typed as a number becomes text without losing digits: Excel stores 255712345678 exactly
even when it shows ``2.55712E+11``, so ``255712345678`` comes out, and a whole-number float such
as ``12345.0`` comes out as ``12345``. A number cell formatted as scientific (``0.00E+00``, which
is what a spreadsheet leaves after opening a CSV that already held ``2.55712E+11``) comes out as
the scientific text the operator sees, so validation refuses it rather than send lost digits.
A date or time in a cell is not text anyone meant for a contact field: it becomes a problem for
that cell, not a crash.

Only rows that hold something are given, each with its number in the sheet, so numbers never
shift. Which sheet to read, and where its header is, the reader decides (``reader``).
"""

from __future__ import annotations

import datetime as dt
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from sync_job.errors import InputFileError

# Whole numbers up to this are exact in a float; beyond it, digits may already be gone.
_EXACT_FLOAT_LIMIT = 2**53

MAX_SHEET_ROWS = 1_048_576
MAX_SHEET_COLUMNS = 16_384
"""The most a sheet holds in Excel and LibreOffice Calc."""


@dataclass(frozen=True)
class SheetRow:
    """One row that holds something: its number in the sheet and its cells as text."""

    number: int
    cells: list[str]
    dates: tuple[int, ...] = ()
    """Positions of the cells that held a date or a time (written as ISO 8601 text)."""


class Workbook(Protocol):
    """The sheets of an open workbook."""

    @property
    def names(self) -> list[str]:
        """The sheets' names, in the workbook's order."""
        ...

    def rows(self, name: str) -> Iterator[SheetRow]:
        """The rows of sheet ``name`` that hold something, in order."""
        ...


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


def column_letter(position: int) -> str:
    """A column as a spreadsheet names it: 0 → A, 25 → Z, 26 → AA."""
    letters = ""
    position += 1
    while position:
        position, left = divmod(position - 1, 26)
        letters = chr(ord("A") + left) + letters
    return letters


def damaged(source: str, sheet: str | None, exc: BaseException, *,
            password: bool = False) -> InputFileError:
    """The file's problem when its XML cannot be read. ``password``: the format keeps a
    workbook protected with a password in the same file, its XML scrambled (.ods does)."""
    where = f" sheet {sheet!r}" if sheet is not None else ""
    why = "damaged or protected with a password" if password else "damaged"
    again = "save it again without a password" if password else "save it again"
    return InputFileError(f"{source}:{where} cannot be read: the workbook is {why} "
                          f"({type(exc).__name__}); open it in your spreadsheet program and "
                          f"{again}")


@contextmanager
def open_workbook(path: Path, *, kind: str, source: str) -> Iterator[Workbook]:
    """The workbook at ``path``; ``kind`` is ``"xlsx"`` or ``"ods"``, as its bytes say."""
    if kind == "ods":
        # Imported here: only a workbook pays for importing what reads it.
        from sync_job.read.opendocument import read_ods

        yield read_ods(path, source=source)
        return
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise InputFileError(f"{source}: cannot open as an Excel workbook ({exc})") from None
    try:
        yield _ExcelWorkbook(book, source)
    finally:
        book.close()


class _ExcelWorkbook:
    def __init__(self, book: Any, source: str) -> None:
        self._book = book
        self._source = source

    @property
    def names(self) -> list[str]:
        return list(self._book.sheetnames)

    def rows(self, name: str) -> Iterator[SheetRow]:
        worksheet = self._book[name]
        # Some programs write a wrong used-range; recompute it rather than trust it.
        if hasattr(worksheet, "reset_dimensions"):
            worksheet.reset_dimensions()
        for number, cells_in_row in enumerate(self._read(worksheet), start=1):
            if not any(c.value is not None and str(c.value).strip() for c in cells_in_row):
                continue
            cells = []
            dates = []
            for position, cell in enumerate(cells_in_row):
                value = cell.value
                if isinstance(value, dt.datetime | dt.date | dt.time):
                    dates.append(position)
                    cells.append(value.isoformat())
                elif _shown_scientific(value, getattr(cell, "number_format", None)):
                    # The operator sees 2.56E+11 and the stored value may already be rounded
                    # (a CSV opened and saved again): pass on what they see, to be refused.
                    cells.append(format(value, ".5E"))
                else:
                    cells.append(cell_text(value))
            yield SheetRow(number, cells, tuple(dates))

    def _read(self, worksheet: Any) -> Iterator[tuple[Any, ...]]:
        """The sheet's rows; a sheet whose XML is damaged is a problem of the file, not a
        crash."""
        rows = worksheet.iter_rows(min_row=1)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return
            except InputFileError:
                raise
            except Exception as exc:  # any parser's error: the XML inside the file is broken
                raise damaged(self._source, worksheet.title, exc) from None
            yield row


def _shown_scientific(value: Any, number_format: str | None) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and number_format is not None and "E+" in number_format.upper())
