"""How big a file the job reads may be, and the checks that hold it to that.

A changes file or a snapshot that is not what it should be (a device such as ``/dev/zero``, a
file with no line breaks, a stray quote that turns the rest of the file into one cell) must
end in a clear message naming the line, not in a crash or in memory running out. So every file
the job reads is held to these limits:

* a regular file (not a folder, device or pipe) of at most :data:`MAX_FILE_BYTES`;
* no line longer than :data:`MAX_LINE_CHARS` characters;
* no cell longer than :data:`MAX_CELL_CHARS` characters;
* a header of at most :data:`MAX_COLUMNS` columns.

On a clean file the checks cost a ``stat`` and one pass over each column's cell lengths (from
pyarrow's offsets); only when one fails is the file read again, record by record, to name the
line. Messages name lines, never their content: a cell may hold personal data, and the
messages go to logs.
"""

from __future__ import annotations

import csv
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAX_FILE_BYTES = 2 << 30
MAX_LINE_CHARS = 10_000_000
MAX_CELL_CHARS = 100_000
MAX_COLUMNS = 10_000

_LINE_END = re.compile(r"\r\n?|\n")


class LimitError(Exception):
    """A file breaks a limit (or cannot be read as CSV) at ``line`` (None: the whole file).
    The message says what and where, without the file's name, which the caller adds."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"line {line}: {message}")
        self.line = line


def regular_file_size(path: Path) -> int:
    """The size of the regular file at ``path``. Raises LimitError for a folder, device or
    pipe (which would never end, or block, when read) and for a file over
    :data:`MAX_FILE_BYTES`; OSError (FileNotFoundError…) when it cannot be looked at."""
    status = os.stat(path)
    if not stat.S_ISREG(status.st_mode):
        raise LimitError("not a regular file (a folder, a device or a pipe); name a file")
    if status.st_size > MAX_FILE_BYTES:
        raise LimitError(too_big(status.st_size))
    return status.st_size


def too_big(size: int) -> str:
    return (f"the file holds {size:,} bytes; at most {MAX_FILE_BYTES:,} (2 GiB) are read: "
            f"split it into smaller files")


def cell_too_long(limit: int = MAX_CELL_CHARS, *, text: bool = True) -> str:
    """``text``: in a text file, where a missing quote is the likely cause."""
    said = f"a cell holds more than {limit:,} characters, the most a cell may hold"
    return f"{said}; a quote may be missing before or after a value" if text else said


def line_too_long() -> str:
    return (f"the line is longer than {MAX_LINE_CHARS:,} characters, the most a line may hold: "
            f"is this a CSV file?")


class Lines:
    """The lines of ``text`` as Python's csv module reads them from a file opened with
    ``newline=""``: each ends in ``\\r\\n``, ``\\r`` or ``\\n``, kept. Cut from the text one at
    a time (``io.StringIO`` would first copy the whole text at four bytes a character), and a
    line over :data:`MAX_LINE_CHARS` raises LimitError before it is copied.

    ``number`` is the number of the last line handed out (from 1), ``end`` where it ends."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.number = 0
        self.end = 0

    def __iter__(self) -> Iterator[str]:
        text = self.text
        if text.count("\r") == text.count("\r\n"):  # no line ends in a bare CR: find \n alone
            at = text.find("\n", self.end)
            while at >= 0:
                yield self._cut(at + 1)
                at = text.find("\n", at + 1)
        else:
            for match in _LINE_END.finditer(text, self.end):
                yield self._cut(match.end())
        if self.end < len(text):
            yield self._cut(len(text))

    def _cut(self, end: int) -> str:
        self.number += 1
        if end - self.end > MAX_LINE_CHARS:
            raise LimitError(line_too_long(), self.number)
        line = self.text[self.end:end]
        self.end = end
        return line


def file_lines(handle: TextIO) -> Iterator[str]:
    """The lines of a text file opened with ``newline=""``, as :class:`Lines` gives them."""
    number = 0
    while line := handle.readline(MAX_LINE_CHARS + 2):
        number += 1
        if len(line.rstrip("\r\n")) > MAX_LINE_CHARS:
            raise LimitError(line_too_long(), number)
        yield line


def csv_problem(error: csv.Error, line: int) -> LimitError:
    """What Python's csv module refused, in our words (its own may name characters, never
    data, but ours say what to do). ``line``: where the record being read starts."""
    if "field limit" in str(error):
        return LimitError(cell_too_long(min(MAX_CELL_CHARS, csv.field_size_limit())), line)
    if "end of data" in str(error):
        return LimitError("a quote opened in this row is never closed", line)
    return LimitError("the quoting is broken: a quote may be missing, or a quote inside a "
                      "value not doubled", line)


def check_records(lines: Iterable[str], *, delimiter: str = ",", width: int | None = None,
                  strict: bool = False, first_line: int = 1) -> None:
    """Read every record of ``lines`` (the first being line ``first_line`` of the file) with
    Python's csv and raise LimitError naming the line where the first record that breaks a
    limit starts; with ``width``, also for a record (other than a blank line) with another
    number of cells. ``strict``: a quote out of place is an error too."""
    records = csv.reader(lines, delimiter=delimiter, strict=strict)
    start = first_line
    try:
        for record in records:
            if any(len(cell) > MAX_CELL_CHARS for cell in record):
                raise LimitError(cell_too_long(), start)
            if width is not None and record and len(record) != width:
                raise LimitError(f"expected {width} cells, found {len(record)}", start)
            start = first_line + records.line_num
    except csv.Error as error:
        raise csv_problem(error, start) from None


def over_long_row(table: pa.Table) -> int | None:
    """The position of the first row of ``table`` with a text cell over
    :data:`MAX_CELL_CHARS` characters, or None. A cell has at least as many bytes as
    characters, so a clean column costs one pass over its offsets."""
    first: int | None = None
    for column in table.columns:
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        if _longest_in_bytes(column) <= MAX_CELL_CHARS:
            continue
        over = np.asarray(pc.fill_null(pc.greater(pc.utf8_length(column), MAX_CELL_CHARS),
                                       False), dtype=bool)
        if over.any():
            at = int(np.argmax(over))
            first = at if first is None else min(first, at)
    return first


def _longest_in_bytes(column: pa.ChunkedArray) -> int:
    """The byte length of the longest cell, from the offsets chunk by chunk: a diff that stays
    in the cache, where ``pc.binary_length`` would first write a new array of lengths (twice
    as slow on a million fresh rows)."""
    longest = 0
    for chunk in column.chunks:
        if not len(chunk):
            continue
        kind = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=kind)
        longest = max(longest, int(np.diff(offsets[chunk.offset:chunk.offset + len(chunk) + 1])
                                   .max()))
    return longest
