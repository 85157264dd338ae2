"""The snapshot of what the platform holds, and atomic file replacement.

The snapshot (``contactId,names,number,email``) is what the platform held for each contact as of
the last successful sync. The job owns the file: it reads it at the start of a run and rewrites
it with the contacts the API confirmed. Every rewrite goes to a temporary file in the same
folder, is flushed to disk, then renamed over the old one, so a crash leaves the old file or the
new one, never half of one.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import re
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pa_csv

from sync_job.errors import SnapshotError
from sync_job.read.limits import (
    LimitError,
    Lines,
    check_records,
    csv_problem,
    file_lines,
    over_long_row,
    regular_file_size,
)
from sync_job.fields import ALL_FIELDS, ID_FIELD, VALUE_FIELDS

if TYPE_CHECKING:  # imported where used: a dry run reads the snapshot while pandas loads
    import pandas as pd


def empty_snapshot() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({name: pd.Series(dtype="str") for name in ALL_FIELDS})


def read_snapshot(path: Path) -> pd.DataFrame | None:
    """The snapshot as text columns ("" for no value); None when the file does not exist."""
    table = read_snapshot_table(path)
    return None if table is None else snapshot_frame(table)


def snapshot_frame(table: pa.Table) -> pd.DataFrame:
    """:func:`read_snapshot_table`'s table as the frame :func:`read_snapshot` gives."""
    frame: pd.DataFrame = table.to_pandas()
    return frame.astype("str").fillna("")


# Said with every problem of the snapshot's content.
_OWNED = ("the snapshot is written by sync-job and should not be edited by hand: restore it "
          "from a backup, or put the platform's export in its place (see the README, The "
          "snapshot)")


def read_snapshot_table(path: Path) -> pa.Table | None:
    """The snapshot's columns contactId, names, number, email as text, with pyarrow alone;
    None when the file does not exist.

    It is held to the limits of ``sync_job.read.limits``. A problem is told by its line, never by
    its content (pyarrow's messages quote the row, and a row is personal data): when pyarrow
    refuses the file, Python's csv reads it again to find the line."""
    try:
        # Before opening it: a pipe would block, a device such as /dev/zero never end.
        regular_file_size(path)
    except FileNotFoundError:
        return None
    except LimitError as exc:
        raise SnapshotError(f"{path}: {exc}") from None
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot ({exc.strerror or exc})") from None
    try:
        # Every column as text in one contiguous chunk, so the plan's arrow passes over the
        # pandas columns copy nothing (large_string is what backs a pandas ``str`` column).
        # The job quotes every cell it writes and a stored name may hold a line break, so the
        # parser must not cut the file into blocks at just any line break: with pyarrow's
        # default it misreads such a file silently.
        table = pa_csv.read_csv(
            path,
            parse_options=pa_csv.ParseOptions(newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(_header(path), pa.large_string()),
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        ).combine_chunks()
    except LimitError as exc:
        raise SnapshotError(f"{path}: {exc}; {_OWNED}") from None
    except (ValueError, pa.ArrowException):  # pyarrow's message quotes the row: find the line
        raise SnapshotError(f"{path}: {_first_problem(path)}; {_OWNED}") from None
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read the snapshot ({exc.strerror or exc})") from None
    if over_long_row(table) is not None:
        raise SnapshotError(f"{path}: {_first_problem(path)}; {_OWNED}")
    missing = [name for name in ALL_FIELDS if name not in table.column_names]
    if missing:
        raise SnapshotError(
            f"{path}: the snapshot lacks column(s) {', '.join(missing)}; expected the header "
            f"{','.join(ALL_FIELDS)}"
        )
    repeated = [name for name in ALL_FIELDS if table.column_names.count(name) > 1]
    if repeated:
        raise SnapshotError(
            f"{path}: the snapshot has more than one {', '.join(repeated)} column; expected "
            f"the header {','.join(ALL_FIELDS)}"
        )
    return table.select(list(ALL_FIELDS))


def _header(path: Path) -> list[str]:
    """The snapshot's column names (its first record). Raises LimitError for a line or a cell
    over the limits, ValueError for text that is not UTF-8."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        try:
            return next(csv.reader(file_lines(handle)), [])
        except csv.Error as error:
            raise csv_problem(error, 1) from None


def _first_problem(path: Path) -> str:
    """What is wrong with the snapshot that pyarrow refused (or that holds a cell over the
    limit), naming the line, as Python's csv finds it reading the whole file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return f"cannot read the snapshot ({exc.strerror or exc})"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return f"line {line}: not UTF-8 text"
    lines = Lines(text)
    rest = iter(lines)
    try:
        try:
            header = next(csv.reader(rest), [])
        except csv.Error as error:
            raise csv_problem(error, 1) from None
        if not header:
            return f"the file is empty; expected the header {','.join(ALL_FIELDS)}"
        check_records(rest, width=len(header), strict=True, first_line=lines.number + 1)
    except LimitError as exc:
        return str(exc)
    return "cannot be read as CSV"  # what pyarrow refused, Python's csv took


def merge_confirmed(
    snapshot: pd.DataFrame, confirmed: Mapping[str, Mapping[str, str]]
) -> pd.DataFrame:
    """The snapshot with each confirmed contact's fields replaced by what the API returned.

    ``confirmed`` maps contactId → fields (normally all of names, number, email; a field left
    out keeps its snapshot value). Existing contacts keep their place; new ones are appended.
    """
    import pandas as pd

    if not confirmed:
        return snapshot
    update = pd.DataFrame.from_dict(dict(confirmed), orient="index", columns=list(VALUE_FIELDS))
    update.index = pd.Index([str(i) for i in update.index], dtype="str")
    merged = snapshot.drop_duplicates(ID_FIELD, keep="last").set_index(ID_FIELD)
    known = update.index.isin(merged.index)
    for name in VALUE_FIELDS:
        given = update[name][known].dropna()
        if len(given):
            merged.loc[given.index, name] = given.astype("str")
    added = update[~known].fillna("").astype("str")
    if len(added):
        merged = pd.concat([merged, added])
    merged.index.name = ID_FIELD
    return merged.reset_index()[list(ALL_FIELDS)]


_TEMP_SUFFIX = ".tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A new, empty temporary file beside ``path`` to write; when the block ends without an
    error it is flushed to disk and renamed over ``path``, else removed.

    The temporary file is ``.<name>.XXXXXXXX.tmp`` (mode 0600); a process killed while writing
    leaves it behind, for :func:`remove_leftovers`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=_TEMP_SUFFIX,
                                     dir=path.parent)
    os.close(fd)
    try:
        yield Path(temp_name)
        fd = os.open(temp_name, os.O_RDWR)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_binary_writer(path: Path) -> Iterator[IO[bytes]]:
    """Open a temporary file beside ``path``; on success fsync it and rename it over ``path``."""
    with atomic_path(path) as temp, temp.open("wb") as handle:
        yield handle


def remove_leftovers(path: Path, *, older_than: float = 0.0) -> int:
    """Remove the temporary files that writes of ``path`` killed half-way left beside it, last
    changed more than ``older_than`` seconds ago; return how many were removed.

    Only plain files named exactly as :func:`atomic_path` names them (``tempfile``'s eight
    random characters), never anything else in the folder."""
    pattern = re.compile(re.escape(_temp_prefix(path)) + "[a-z0-9_]{8}" + re.escape(_TEMP_SUFFIX))
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return 0
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        try:
            info = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(info.st_mode) or (older_than and now - info.st_mtime < older_than):
                continue
            os.unlink(entry.path)
        except OSError:
            continue
        removed += 1
    return removed


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
"""The errors that mean the disk (or the user's quota, or the largest file) is full."""


def write_problem(path: Path, exc: OSError) -> str:
    """Why ``path`` could not be written, in the operator's words."""
    if exc.errno in DISK_FULL:
        return f"{path}: the disk is full ({os.strerror(exc.errno)})"
    return f"{path}: cannot write the file ({exc.strerror or exc})"


def _fsync_folder(folder: Path) -> None:
    # The rename itself is only durable once the folder entry is on disk.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# A big table is formatted in pieces of this many rows.
_PIECE_ROWS = 32_768


def write_table(path: Path, table: pa.Table, *, bom: bool = False) -> None:
    """Write a pyarrow ``table`` as CSV to ``path`` atomically, with pyarrow for speed.

    pyarrow's "needed" quoting still quotes every text cell; any CSV reader takes that. A table
    of several pieces is formatted a piece at a time on two threads (pyarrow's writer runs
    without the GIL) while this thread writes the finished pieces in order: the formatting
    is shared by two cores and the writing to the file overlaps it.
    """
    pieces = range(0, table.num_rows, _PIECE_ROWS)

    def formatted(start: int) -> pa.Buffer:
        sink = pa.BufferOutputStream()
        pa_csv.write_csv(table.slice(start, _PIECE_ROWS), sink, write_options=pa_csv.WriteOptions(
            quoting_style="needed", include_header=start == 0))
        return sink.getvalue()

    # pyarrow's own file, not a Python one: no Python call per written batch.
    with atomic_path(path) as temp, pa.OSFile(str(temp), "wb") as sink:
        if bom:
            sink.write("\ufeff".encode())
        if len(pieces) <= 1:
            pa_csv.write_csv(table, sink, write_options=pa_csv.WriteOptions(
                quoting_style="needed"))
            return
        with ThreadPoolExecutor(2, thread_name_prefix="sync-job-write") as pool:
            for piece in pool.map(formatted, pieces):
                sink.write(piece)


def write_snapshot(path: Path, snapshot: pd.DataFrame) -> None:
    text = snapshot[list(ALL_FIELDS)].astype("str").fillna("")
    write_table(path, pa.Table.from_pandas(text, preserve_index=False))
