"""The results file: one line per input data row, in input order, saying what happened and why.

Columns (fixed order; later columns may be added after ``payload``):

``row, contactId, status, fields_sent, http_status, api_code, message, errors, attempts, req_id,
payload, problem_codes``

``problem_codes`` gives a stable code per problem of the row, in the order of ``errors``, joined
by ``|``: ``<field>.<problem>`` for validation (``sync_job.plan.rules``, ``sync_job.read.reader``),
``api.<code>``, ``http.<status>``, ``transport.<kind>`` … for a row the push failed
(``sync_job.push.client``). The summary counts rows by code (:func:`count_problems`).

A CSV (the default) is UTF-8 with a byte-order mark, so Excel shows accents right, its cells
separated by ``results.delimiter`` (``,`` by default; ``;`` for Excel in a locale whose decimal
mark is a comma), and any cell that a spreadsheet would evaluate as a formula (starting with
``=``, ``+``, ``-``, ``@``, tab or CR) is prefixed with an apostrophe so it is shown as text
(OWASP CSV injection). It is written with pyarrow and replaced atomically (see
``state.files.write_table``). A path ending in ``.xlsx`` (or ``results.format: xlsx``) makes it
a workbook instead, with the same columns (``report.xlsx``).

In memory the results are a pandas frame whose repetitive columns (status, message, …) are
categoricals: a million rows cost a few integer arrays, not a million Python strings each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_job.fields import ID_FIELD, STATUSES
from sync_job.plan.arrow import may_hold, text_array
from sync_job.plan.diff import FIELD_SET_LABELS, field_codes
from sync_job.plan.rules import CODE_SEPARATOR
from sync_job.state.files import write_table

if TYPE_CHECKING:
    from sync_job.plan.rules import Verdict
    from sync_job.push.client import Outcome

RESULT_COLUMNS: tuple[str, ...] = (
    "row", "contactId", "status", "fields_sent", "http_status", "api_code", "message", "errors",
    "attempts", "req_id", "payload", "problem_codes",
)

_FORMULA_START = r"^[=+\-@\t\r]"
_FORMULA_BYTES = re.compile(rb"[=+\-@\t\r]")


def labelled(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """A text column from small integer codes into ``labels`` (categorical: cheap at scale)."""
    categories: pd.Index[str] = pd.Index(list(labels), dtype="object")
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories))


def spread(size: int, where: np.ndarray, values: pa.Array | pa.ChunkedArray,
           fill: str = "") -> pd.Series:
    """A text column of ``size`` rows: ``values`` in order at the rows ``where`` marks, else
    ``fill``. One take in pyarrow, so no Python string is made per row."""
    index = np.zeros(size, dtype=np.int64)
    index[where] = np.arange(1, int(where.sum()) + 1)
    values = text_array(values)
    pool = pa.concat_arrays([pa.array([fill], values.type), values])
    return pd.Series(pool.take(pa.array(index)), dtype="str")


def first_results(rows: np.ndarray, typed_ids: pa.Array, judged: np.ndarray,
                  changes: pd.DataFrame, sends: pd.DataFrame, verdict: Verdict,
                  bodies: pa.Array, *, dry_run: bool) -> pd.DataFrame:
    """Every row's results line before anything is sent.

    ``rows`` and ``typed_ids`` are every input row's number and contactId cell. ``changes``,
    ``sends`` (valid rows' fields only) and ``verdict`` cover the input rows at positions
    ``judged``; any other row repeats the snapshot and is ``unchanged``. ``bodies`` are the
    request bodies of the rows that send, in order. A row that sends is ``planned`` (dry run)
    or ``skipped`` until the push says otherwise; the rest are ``invalid`` or ``unchanged``.
    contactId is normalized for a valid row, as typed for an invalid one.
    """
    size = len(rows)
    invalid = verdict.invalid.to_numpy(dtype=bool)
    going = sends.any(axis=1).to_numpy()
    valid_at = judged[~invalid]
    normalized = text_array(changes[ID_FIELD]).filter(pa.array(~invalid))
    ids = pd.Series(_replace(_shortened(text_array(typed_ids)), valid_at, normalized),
                    dtype="str")

    status = np.zeros(size, dtype=np.int8)
    status[judged] = np.where(going, 2, np.where(invalid, 1, 0))
    fixes, fix_labels = pd.factorize(
        ("not sent: fix " + verdict.fields[verdict.invalid]).to_numpy(dtype=object))
    message = np.zeros(size, dtype=np.int64)
    message[judged[going]] = 1
    message[judged[invalid]] = 2 + fixes
    errors, error_labels = pd.factorize(verdict.errors[verdict.invalid].to_numpy(dtype=object))
    error_codes = np.zeros(size, dtype=np.int64)
    error_codes[judged[invalid]] = 1 + errors
    problems, problem_labels = pd.factorize(
        verdict.codes[verdict.invalid].to_numpy(dtype=object))
    problem_codes = np.zeros(size, dtype=np.int64)
    problem_codes[judged[invalid]] = 1 + problems
    field_set = np.zeros(size, dtype=np.int64)
    field_set[judged] = field_codes(sends)
    sending = np.zeros(size, dtype=bool)
    sending[judged[going]] = True
    empty = labelled(np.zeros(size, dtype=np.int8), [""])
    return pd.DataFrame({
        "row": rows.astype(np.int64),
        "contactId": ids,
        "status": labelled(status, ["unchanged", "invalid", "planned" if dry_run else "skipped"]),
        "fields_sent": labelled(field_set, FIELD_SET_LABELS),
        "http_status": empty,
        "api_code": empty,
        "message": labelled(message, ["already up to date",
                                      "dry run: would be sent" if dry_run else "not sent",
                                      *fix_labels]),
        "errors": labelled(error_codes, ["", *error_labels]),
        "attempts": labelled(np.zeros(size, dtype=np.int8), ["0"]),
        "req_id": empty,
        "payload": spread(size, sending, bodies),
        "problem_codes": labelled(problem_codes, ["", *problem_labels]),
    })


MAX_TYPED_ID = 60
"""The most characters of a contactId cell kept as typed (an invalid row's): a cell may hold
anything, up to the reader's cell limit."""


def _shortened(values: pa.Array) -> pa.Array:
    long = pc.greater(pc.utf8_length(values), MAX_TYPED_ID)
    if not pc.any(long).as_py():
        return values
    cut = pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 0, MAX_TYPED_ID - 1),
                                      pa.scalar("…", values.type), pa.scalar("", values.type))
    return pc.if_else(long, cut, values)


def _replace(base: pa.Array, at: np.ndarray, values: pa.Array) -> pa.Array:
    """``base`` with the rows ``at`` replaced by ``values``, in one take over both arrays."""
    if len(at) == len(base):
        return values
    index = np.arange(len(base), dtype=np.int64)
    index[at] = len(base) + np.arange(len(at))
    return pa.concat_arrays([base, values.cast(base.type)]).take(pa.array(index))


def set_rows(results: pd.DataFrame, positions: Sequence[int] | np.ndarray, column: str,
             values: Sequence[str]) -> None:
    """Put ``values`` in ``column`` at ``positions`` (one vectorized assignment)."""
    current = results[column]
    if isinstance(current.dtype, pd.CategoricalDtype):
        new = pd.Index(pd.unique(np.asarray(values, dtype=object))).difference(
            current.cat.categories)
        current = current.cat.add_categories(new)
    else:
        current = current.copy()
    current.iloc[np.asarray(positions, dtype=np.int64)] = np.asarray(  # type: ignore[call-overload]
        values, dtype=object)
    results[column] = current


def set_where(results: pd.DataFrame, mask: pd.Series | np.ndarray, column: str,
              value: str) -> None:
    """Put one ``value`` in ``column`` on every row where ``mask`` holds."""
    positions = np.flatnonzero(np.asarray(mask, dtype=bool))
    set_rows(results, positions, column, [value] * len(positions))


def record_outcomes(results: pd.DataFrame, outcomes: Mapping[int, Outcome]) -> None:
    """Put what the push did into the results lines of the rows sent (``outcomes``: input
    position → outcome)."""
    if not outcomes:
        return
    positions = list(outcomes)
    filled = {
        "status": [o.status for o in outcomes.values()],
        "http_status": ["" if o.http_status is None else str(o.http_status)
                        for o in outcomes.values()],
        "api_code": ["" if o.api_code is None else str(o.api_code) for o in outcomes.values()],
        "message": [o.message for o in outcomes.values()],
        "errors": [o.errors for o in outcomes.values()],
        "attempts": [str(o.attempts) for o in outcomes.values()],
        "req_id": [o.req_id for o in outcomes.values()],
        "problem_codes": [o.code for o in outcomes.values()],
    }
    for column, values in filled.items():
        set_rows(results, positions, column, values)


def count_statuses(statuses: pd.Series) -> dict[str, int]:
    """Rows per status, every status present (0 when none)."""
    counts = statuses.value_counts()
    return {status: int(counts.get(status, 0)) for status in STATUSES}


def codes_in(cell: str) -> list[str]:
    """The codes of one ``problem_codes`` cell, in order; a cell cut short ends in ``…``, which
    is no code."""
    return [code for code in cell.split(CODE_SEPARATOR) if code and code != "…"]


def count_problems(codes: pd.Series) -> dict[str, int]:
    """Rows per problem code, sorted by code: each code counted once per row that has it.
    ``codes`` is the ``problem_codes`` column (categorical: counted once per distinct cell)."""
    cells = codes.value_counts()
    counts: dict[str, int] = {}
    for cell, rows in cells.items():
        for code in set(codes_in(str(cell))) if rows else ():
            counts[code] = counts.get(code, 0) + int(rows)
    return dict(sorted(counts.items()))


def write_results(path: Path, results: pd.DataFrame, *, workbook: bool = False,
                  delimiter: str = ",") -> None:
    """Write ``results`` (columns :data:`RESULT_COLUMNS` first) to ``path`` atomically: a CSV
    separated by ``delimiter``, or with ``workbook`` an .xlsx workbook (``report.xlsx``)."""
    if workbook:
        from sync_job.report.xlsx import write_workbook  # openpyxl, only when asked for

        write_workbook(path, results_table(results, defuse=False))
        return
    write_table(path, results_table(results, defuse=True), bom=True, delimiter=delimiter)


def results_table(results: pd.DataFrame, *, defuse: bool) -> pa.Table:
    """``results`` as a pyarrow table of text (``row`` an int64), for writing.

    Straight to pyarrow: a categorical column is its labels (with ``defuse``, defused once
    each) taken by code, any other column is text, defused where it starts like a formula.
    """
    keep: Callable[[pa.Array], pa.Array] = defused if defuse else (lambda values: values)
    columns: dict[str, pa.Array] = {"row": pa.array(results["row"].to_numpy(dtype=np.int64))}
    for column in results.columns:
        if column == "row":
            continue
        values = results[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            labels = keep(pa.array(values.cat.categories.to_numpy(dtype=object),
                                   pa.large_string()))
            codes = values.cat.codes.to_numpy()
            columns[column] = labels.take(pa.array(codes, mask=codes < 0))
        else:
            text = text_array(values.astype("str").fillna(""))
            # A payload is a JSON object or empty: it never starts like a formula.
            columns[column] = text if column == "payload" else keep(text)
    return pa.table(columns)


def defused(values: pa.Array) -> pa.Array:
    """Cells a spreadsheet would evaluate, with an apostrophe before them so they read as
    text."""
    if not may_hold(values, _FORMULA_BYTES):  # ids and numbers: no such character anywhere
        return values
    risky = pc.fill_null(pc.match_substring_regex(values, _FORMULA_START), False)
    if not pc.any(risky).as_py():
        return values
    text = values.type
    return pc.if_else(risky, pc.binary_join_element_wise(pa.scalar("'", text), values,
                                                         pa.scalar("", text)), values)
