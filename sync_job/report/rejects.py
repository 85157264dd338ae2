"""The rejects file: every ``invalid`` and ``failed`` row exactly as it was read, to fix and
pass back with ``--input``.

``results/results.csv`` → ``results/results.rejects.csv`` for a text input, or
``results/results.rejects.xlsx`` for a workbook input (``.xlsx``, and ``.ods`` too: the job
reads ``.xlsx`` and openpyxl writes it; LibreOffice opens it as it is). It holds:

* the input's header row: every column as the file spells it, in its order, the columns the
  job ignores included (a title above a workbook's header is not copied);
* each rejected row's cells as the reader read them, not normalized (spaces, leading zeros, a
  ``+`` or ``00`` before a number stay as typed); a text row with more cells than the header
  keeps its extra cells, after the two columns below, so it is still refused until it is
  mended;
* ``row`` (the row's number in the input, header = row 1) and ``error`` (what is wrong, in
  words: the results' ``errors`` of an invalid row; the API's message and errors of a failed
  one), last, so every column of the input keeps its letter. The reader maps no field to
  them, so it ignores them when the file is read again. A file that already has a column of
  that name (one's own, or an earlier rejects file passed back under another name) keeps it
  as it is; the new one is called ``row (rejects)``, ``error (rejects)``.

So the file is valid input: fixed and passed back with ``--input``, its fixed rows are sent,
and a row left broken is invalid again, with the same cells.

**A CSV** uses the input's delimiter and encoding, except that a UTF-8 input gets a
byte-order mark (as the results file has, so Excel shows accents) unless ``input.encoding``
named the encoding: the same config reads it back. Cells are quoted only where needed. They
are written as read, without the apostrophe the results file puts before a cell a
spreadsheet would take for a formula: the job reads an apostrophe before a name or an email
as part of it, so the fixed file would send it. The file holds nothing the input did not, in
the same format; only the ``error`` cells, the job's own words, are defused.

**A workbook** has one sheet, named as the sheet read, its header row frozen. Every cell is
text (format ``@``), never a number or a formula, so ids and phone numbers keep every digit;
a cell that held a date or a time holds it again (the reader refuses it again), and ``row``
is a number, to sort by.

Written atomically with mode 0600, like the results: it holds personal data.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sync_job.read.reader import InputTable, Shape, header_field, header_key
from sync_job.report.results import defused
from sync_job.state.files import atomic_binary_writer, atomic_path

REJECTED = ("invalid", "failed")
"""The statuses of the rows a rejects file holds."""

ADDED = ("row", "error")
"""The columns a rejects file adds after the input's own."""

def rejected_positions(results: pd.DataFrame) -> np.ndarray:
    """Where the rejected rows are, in input order."""
    return np.flatnonzero(results["status"].isin(REJECTED).to_numpy(dtype=bool))


def added_names(headers: Iterable[str], columns: Mapping[str, str]) -> tuple[str, ...]:
    """The names of the added columns: ``row`` and ``error``, or, when the file has a column
    of that name (as the reader compares headers: ignoring case, spaces, ``_`` and ``-``),
    ``row (rejects)``, then ``row (rejects 2)`` … A name is never one the reader would map to
    a field (``columns``: ``input.columns``)."""
    taken = {header_key(header) for header in headers}
    names = []
    for base in ADDED:
        for name in itertools.chain((base, f"{base} (rejects)"),
                                    (f"{base} (rejects {n})" for n in itertools.count(2))):
            if header_key(name) not in taken and header_field(name, columns) is None:
                taken.add(header_key(name))
                names.append(name)
                break
    return tuple(names)


def error_texts(results: pd.DataFrame, at: np.ndarray) -> list[str]:
    """Each rejected row's problem in words: an invalid row's ``errors``; a failed row's
    message, then the API's errors."""
    def texts(column: str) -> list[str]:
        return [value if isinstance(value, str) else ""
                for value in results[column].iloc[at].to_numpy(dtype=object)]

    return [(errors or message) if status == "invalid" else
            (f"{message}: {errors}" if message and errors else message or errors)
            for status, message, errors in zip(texts("status"), texts("message"),
                                               texts("errors"), strict=True)]


def write_rejects(path: Path, table: InputTable, results: pd.DataFrame, at: np.ndarray, *,
                  columns: Mapping[str, str]) -> None:
    """Write the rows at positions ``at`` (of ``table`` and ``results``) to ``path``
    atomically, as a CSV or a workbook by ``path``'s suffix. Raises ``OSError``."""
    shape = table.shape
    header = [*shape.headers, *added_names(shape.headers, columns)]
    numbers = [int(number) for number in results["row"].to_numpy()[at]]
    errors = error_texts(results, at)
    cells = table.columns_as_read(at)
    if path.suffix.lower() == ".xlsx":
        dated = [table.dates.get(number, ()) for number in numbers]
        _write_workbook(path, shape, header, zip(zip(*cells, strict=True), numbers, errors, dated,
                                                 strict=True))
        return
    errors = defused(pa.array(errors, pa.large_string())).to_pylist()
    lines: Iterable[tuple[str, ...]] = zip(*cells, map(str, numbers), errors, strict=True)
    overflow = table.overflow_at(at)
    if overflow is not None:  # a text row with more cells than the header: they go last
        lines = (line + more for line, more in zip(lines, overflow, strict=True))
    _write_csv(path, shape, header, lines)


def csv_encoding(shape: Shape) -> str:
    """The encoding of a CSV rejects file: the input's, but UTF-8 with a byte-order mark for
    a UTF-8 input whose encoding was found from its bytes."""
    if shape.encoding in ("utf-8", "utf-8-sig") and not shape.encoding_given:
        return "utf-8-sig"
    return shape.encoding


def _write_csv(path: Path, shape: Shape, header: Sequence[str],
               lines: Iterable[Sequence[str]]) -> None:
    with atomic_binary_writer(path) as handle:
        # Every cell was decoded from this encoding, so only the job's own words (the error
        # cells) may hold a character it cannot write: it becomes "?".
        text = io.TextIOWrapper(handle, encoding=csv_encoding(shape), errors="replace",
                                newline="")
        writer = csv.writer(text, delimiter=shape.delimiter, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(lines)
        text.flush()
        text.detach()


_DATE_FORMAT = "yyyy-mm-dd"
_DATE_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_TIME_FORMAT = "hh:mm:ss"


def _write_workbook(path: Path, shape: Shape, header: Sequence[str],
                    rows: Iterable[tuple[tuple[str, ...], int, str, tuple[int, ...]]]) -> None:
    import openpyxl
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    from sync_job.report.xlsx import text_cell

    book = openpyxl.Workbook(write_only=True)
    try:
        sheet = book.create_sheet(shape.sheet[:31] or "Rejects")
    except ValueError:  # a name Excel would not take (an .ods allows more)
        sheet = book.create_sheet("Rejects")
    sheet.freeze_panes = "A2"
    sheet.column_dimensions[get_column_letter(len(header))].width = 60  # the error, readable

    def date(value: str) -> Any:
        moment: Any  # a datetime, or a time (which openpyxl writes, though its types omit it)
        try:
            moment = dt.datetime.fromisoformat(value)
            shown = _DATE_FORMAT if moment.time() == dt.time() else _DATE_TIME_FORMAT
        except ValueError:
            try:
                moment, shown = dt.time.fromisoformat(value), _TIME_FORMAT
            except ValueError:
                return text_cell(sheet, value)  # a duration the sheet held as a time
        cell = WriteOnlyCell(sheet, value=moment)
        cell.number_format = shown
        return cell

    sheet.append([text_cell(sheet, name) for name in header])
    for cells, number, error, dated in rows:
        written = [date(value) if position in dated else text_cell(sheet, value)
                   for position, value in enumerate(cells)]
        sheet.append([*written, WriteOnlyCell(sheet, value=number), text_cell(sheet, error)])
    with atomic_path(path) as temp:
        book.save(temp)
