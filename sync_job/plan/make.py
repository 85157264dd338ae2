"""``make_plan``: what the run will do with each row of the changes file, before anything is
sent. Pure: the reader's table and the snapshot in, a :class:`Plan` out.

The story, step by step (each a function below):

1. **index the snapshot**: where each contact is, by its normalized id;
2. **read each row's contactId**: its normal form, and whether it was typed that way;
3. **mark rows that repeat the snapshot**: most rows of a nightly file give exactly what the
   platform holds; found from the raw cells, they are ``unchanged`` without being normalized
   or judged (``repeats``);
4. **find rows sharing an id or a number** with another row, over all rows at once: those are
   judged whatever they hold, so the duplicate checks see every row of a group;
5. **normalize the rows to judge** (every row that does not repeat the snapshot, and every row
   of a duplicate group);
6. **diff** them against their contacts' snapshot rows: which fields go out;
7. **validate** them (the pandera schema and its messages, ``rules``);
8. **build the plan**: one results line per row, and the request body of every update.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_job.fields import ID_FIELD, VALUE_FIELDS
from sync_job.plan.arrow import repeated, text_array, true_flags, whole_number_keys
from sync_job.plan.diff import ContactIndex, changed_fields, send_column
from sync_job.plan.normalize import normalize_ids, normalize_snapshot, normalize_values
from sync_job.plan.payload import request_bodies
from sync_job.plan.repeats import rows_repeating_snapshot
from sync_job.plan.rules import Verdict, validate
from sync_job.read.reader import InputTable
from sync_job.report.results import count_statuses, first_results


@dataclass(frozen=True, kw_only=True)
class PlanOptions:
    """The settings planning depends on (from ``input.*`` and the run's mode)."""

    clear_marker: str = "<clear>"
    empty_cells: str = "unchanged"
    phone_check: str = "possible"
    default_country: str | None = None
    """Local phone numbers are completed for this country (``input.default_country``)."""
    dry_run: bool = False


@dataclass(frozen=True)
class Update:
    """One row's update: where it came from and exactly what is sent."""

    position: int
    """Index of the row in the run's table (its place in the results)."""
    row: int
    """Spreadsheet row number, for logs and the journal."""
    contact_id: str
    body: str
    """The JSON request body, as the results file shows it in ``payload``."""


@dataclass(frozen=True)
class Plan:
    """What the run will do with each row, before anything is sent."""

    results: pd.DataFrame
    """One line per input row, as the results file would show it now: ``unchanged``,
    ``invalid``, or, for a row with an update, ``planned`` (dry run) or ``skipped`` (a live run,
    until the push says otherwise)."""
    sending: np.ndarray
    """Per input row: whether it has an update to send."""
    bodies: pa.Array
    """The request body of each row that sends, in input order."""
    invalid_rows: pd.Series
    """Spreadsheet row numbers of the invalid rows (for the log)."""

    @property
    def update_count(self) -> int:
        return int(self.sending.sum())

    @property
    def counts(self) -> dict[str, int]:
        return count_statuses(self.results["status"])

    def updates(self) -> list[Update]:
        """The updates to send, in input order."""
        at = np.flatnonzero(self.sending)
        return list(map(Update, at.tolist(),
                        self.results["row"].to_numpy()[at].tolist(),
                        self.results[ID_FIELD].to_numpy(dtype=object)[at].tolist(),
                        self.bodies.to_pylist()))


@dataclass(frozen=True)
class RowKeys:
    """Each input row's contactId, or number: its normal form, and keys to match and count
    it by."""

    text: pd.Series
    """The normal form: for ids "" when missing; for numbers missing when the row gives none,
    "" when it clears the number."""
    whole: np.ndarray
    """The normal form is a whole number (``arrow.CONTACT_ID``), so it has an int64 key."""
    keys: np.ndarray
    """Those as int64; 0 elsewhere."""
    plain: np.ndarray
    """The cell was typed in its normal form (no spaces, no leading zero, no ``.0``)."""

    def given(self) -> np.ndarray:
        """Which rows hold a value (neither missing nor cleared)."""
        return (self.text.notna() & (self.text != "")).to_numpy(dtype=bool)


def make_plan(table: InputTable, snapshot: pd.DataFrame, options: PlanOptions) -> Plan:
    """Plan every row of ``table`` against ``snapshot`` (as ``state.snapshot`` reads it: ids
    normalized, one row per contact)."""
    cells = table.cells
    contacts = ContactIndex(snapshot[ID_FIELD])
    ids = read_keys(cells, ID_FIELD, options)
    held_at = contacts.positions(ids.text, ids.whole, ids.keys)
    repeating = rows_repeating_snapshot(
        cells, snapshot, np.where(ids.plain, held_at, -1), clear_marker=options.clear_marker,
        empty_cells=options.empty_cells, ascii=table.ascii)
    repeating &= ~np.isin(cells.column("row").to_numpy(), [p.row for p in table.problems])
    numbers = read_keys(cells, "number", options)
    judged = np.flatnonzero(~repeating | rows_sharing_a_key(ids, numbers))

    changes = normalized_rows(cells, judged, ids, numbers, options)
    sends = changed_fields(changes, *snapshot_rows(snapshot, held_at[judged],
                                                   options.default_country))
    raw = _rows_at(cells, judged)
    verdict = validate(changes, raw, table.headers,
                       going_out={name: sends[send_column(name)] for name in VALUE_FIELDS},
                       read_problems=table.problems, phone_check=options.phone_check)
    return build_plan(cells, judged, changes, sends, verdict, dry_run=options.dry_run)


def read_keys(cells: pa.Table, name: str, options: PlanOptions) -> RowKeys:
    """Every row's contactId (``name`` ``contactId``) or number in its normal form. Nearly
    every cell of a big file is typed that way already, and a cell written as a whole number
    is its own normal form: only the other cells go through ``normalize``."""
    if name not in cells.column_names:  # no number column: no row gives a number
        nothing = np.zeros(cells.num_rows, dtype=bool)
        return RowKeys(text=pd.Series(pd.NA, index=range(cells.num_rows), dtype="str"),
                       whole=nothing, keys=np.zeros(cells.num_rows, dtype=np.int64),
                       plain=nothing)
    raw = text_array(cells.column(name))
    plain, keys = whole_number_keys(raw)
    if name != ID_FIELD:  # a clear marker spelled as a number still means "clear"
        plain &= ~true_flags(pc.equal(raw, options.clear_marker))
        keys[~plain] = 0
    text = pd.Series(raw, dtype="str")
    whole = plain.copy()
    odd = np.flatnonzero(~plain)
    if len(odd):
        cleaned = (normalize_ids(text.iloc[odd]) if name == ID_FIELD else normalize_values(
            name, text.iloc[odd], clear_marker=options.clear_marker,
            empty_cells=options.empty_cells, default_country=options.default_country))
        whole[odd], keys[odd] = whole_number_keys(cleaned.fillna(""))
        text.iloc[odd] = cleaned.to_numpy()
    return RowKeys(text=text, whole=whole, keys=keys, plain=plain)


def rows_sharing_a_key(ids: RowKeys, numbers: RowKeys) -> np.ndarray:
    """Rows whose contactId, or number, is also on another row. Whole numbers are compared as
    int64 keys, anything else as text."""
    shared = np.zeros(len(ids.keys), dtype=bool)
    for column in (ids, numbers):
        shared |= repeated(column.keys, column.whole)
        other = column.given() & ~column.whole
        if other.any():
            shared |= repeated(column.text.to_numpy(dtype=object), other)
    return shared


def snapshot_rows(snapshot: pd.DataFrame, positions: np.ndarray,
                  default_country: str | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """(the normalized snapshot row at each of ``positions``, which were found: -1 is not)."""
    found = positions >= 0
    if not len(snapshot):
        empty = pd.Series([""] * len(positions), dtype="str")
        return pd.DataFrame(dict.fromkeys(VALUE_FIELDS, empty)), found
    rows = snapshot.iloc[np.where(found, positions, 0)].reset_index(drop=True)
    return normalize_snapshot(rows, default_country), found


def normalized_rows(cells: pa.Table, judged: np.ndarray, ids: RowKeys, numbers: RowKeys,
                    options: PlanOptions) -> pd.DataFrame:
    """The rows at ``judged`` with one meaning per cell (``plan.normalize``), indexed 0…n-1:
    their ids and numbers as read already, their names and emails cleaned now."""
    take = pa.array(judged)
    columns: dict[str, pd.Series] = {}
    for name in ("names", "email"):
        if name in cells.column_names:
            values = pd.Series(cells.column(name).take(take), dtype="str")
            columns[name] = normalize_values(name, values, clear_marker=options.clear_marker,
                                             empty_cells=options.empty_cells)
        else:
            columns[name] = pd.Series(pd.NA, index=range(len(judged)), dtype="str")
    return pd.DataFrame({
        "row": cells.column("row").take(take).to_numpy(),
        ID_FIELD: ids.text.iloc[judged].reset_index(drop=True),
        "names": columns["names"],
        "number": numbers.text.iloc[judged].reset_index(drop=True),
        "email": columns["email"],
    })


def build_plan(cells: pa.Table, judged: np.ndarray, changes: pd.DataFrame, sends: pd.DataFrame,
               verdict: Verdict, *, dry_run: bool) -> Plan:
    """The plan: invalid rows send nothing; every other judged row sends what differs."""
    sends = sends & (~verdict.invalid).to_numpy()[:, np.newaxis]
    going = sends.any(axis=1).to_numpy()
    bodies = request_bodies(changes, sends)
    results = first_results(cells.column("row").to_numpy(), text_array(cells.column(ID_FIELD)),
                            judged, changes, sends, verdict, bodies, dry_run=dry_run)
    sending = np.zeros(cells.num_rows, dtype=bool)
    sending[judged[going]] = True
    return Plan(results=results, sending=sending, bodies=bodies,
                invalid_rows=changes["row"][verdict.invalid.to_numpy()])


def _rows_at(cells: pa.Table, at: np.ndarray) -> pd.DataFrame:
    """The reader's rows at positions ``at``, as typed, indexed 0…n-1."""
    frame: pd.DataFrame = cells.take(pa.array(at)).to_pandas()
    return frame
