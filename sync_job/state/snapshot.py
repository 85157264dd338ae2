"""The snapshot of what the platform holds: read, merged with confirmed updates, written.

The snapshot (``contactId,names,number,email``) is what the platform held for each contact as of
the last successful sync. The job owns the file: it reads it at the start of a run and rewrites
it (atomically, see ``files``) with the contacts the API confirmed. It holds one row per
contact, keyed by the normalized contactId.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.csv as pa_csv

from sync_job.errors import SnapshotError
from sync_job.fields import ALL_FIELDS, ID_FIELD, VALUE_FIELDS
from sync_job.read.limits import (
    LimitError,
    Lines,
    check_records,
    csv_problem,
    file_lines,
    over_long_row,
    regular_file_size,
)
from sync_job.state.files import write_table

if TYPE_CHECKING:  # imported where used: a dry run reads the snapshot while pandas loads
    import pandas as pd


def empty_snapshot() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({name: pd.Series(dtype="str") for name in ALL_FIELDS})


def read_snapshot(path: Path) -> pd.DataFrame | None:
    """The snapshot, one row per contact (see :func:`snapshot_frame`); None when the file
    does not exist."""
    table = read_snapshot_table(path)
    return None if table is None else snapshot_frame(table)


def snapshot_frame(table: pa.Table) -> pd.DataFrame:
    """:func:`read_snapshot_table`'s table as a frame of text columns ("" for no value), one
    row per contact: ids in their normal form (``0004`` and ``4.0`` are contact ``4``), and of
    rows naming the same contact the last one (a snapshot edited by hand, or written before
    ids were normalized)."""
    from sync_job.plan.arrow import repeated, whole_number_keys
    from sync_job.plan.normalize import normalize_ids

    frame: pd.DataFrame = table.to_pandas().astype("str").fillna("")
    whole, keys = whole_number_keys(frame[ID_FIELD])
    if not whole.all():  # a job-written snapshot's ids are all in normal form
        frame[ID_FIELD] = normalize_ids(frame[ID_FIELD])
        whole, keys = whole_number_keys(frame[ID_FIELD])
    twice = repeated(keys, whole)
    if not whole.all():
        twice |= repeated(frame[ID_FIELD].to_numpy(dtype=object), ~whole)
    if twice.any():
        later = frame[ID_FIELD].duplicated(keep="last").to_numpy()
        frame = frame[~later].reset_index(drop=True)
    return frame


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

    ``confirmed`` maps contactId (normalized, as the snapshot's) → fields (normally all of
    names, number, email; a field left out keeps its snapshot value). Existing contacts keep
    their place; new ones are appended.
    """
    import pandas as pd

    if not confirmed:
        return snapshot
    update = pd.DataFrame.from_dict(dict(confirmed), orient="index", columns=list(VALUE_FIELDS))
    update.index = pd.Index([str(i) for i in update.index], dtype="str")
    merged = snapshot.set_index(ID_FIELD)
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


def write_snapshot(path: Path, snapshot: pd.DataFrame) -> None:
    text = snapshot[list(ALL_FIELDS)].astype("str").fillna("")
    write_table(path, pa.Table.from_pandas(text, preserve_index=False))
