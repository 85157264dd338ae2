"""The results CSV: one line per input data row, in input order, saying what happened and why.

Columns (fixed order; later columns may be added after ``payload``):

``row, contactId, status, fields_sent, http_status, api_code, message, errors, attempts, req_id,
payload``

The file is UTF-8 with a byte-order mark, so Excel shows accents right, and any cell that a
spreadsheet would evaluate as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) is
prefixed with an apostrophe so it is shown as text (OWASP CSV injection). It is written with
pyarrow, which keeps a million-row results file to a fraction of a second, and replaced
atomically (see ``state.write_table``).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_job.fields import ID_FIELD, VALUE_FIELDS
from sync_job.plan.diff import FIELD_SET_LABELS, field_codes, send_column
from sync_job.plan.normalize import may_hold, text_array, true_flags
from sync_job.plan.rules import Verdict
from sync_job.state.snapshot import write_table

RESULT_COLUMNS: tuple[str, ...] = (
    "row", "contactId", "status", "fields_sent", "http_status", "api_code", "message", "errors",
    "attempts", "req_id", "payload",
)
STATUSES: tuple[str, ...] = ("updated", "unchanged", "invalid", "failed", "skipped", "planned")

_FORMULA_START = r"^[=+\-@\t\r]"
# JSON strings that need no escaping (no quote, backslash or control character).
_PLAIN_JSON = r'[^"\\\x00-\x1f]*'
_JSON_ESCAPED = re.compile(rb'["\\\x00-\x1f]')
_FORMULA_BYTES = re.compile(rb"[=+\-@\t\r]")


def _json_strings(values: pa.Array, prefix: str = "") -> pa.Array:
    """``prefix`` and each value (no nulls) as a JSON string literal, as ``json.dumps(value,
    ensure_ascii=False)`` writes it: a value with nothing to escape in one pass, the rest
    by ``json.dumps`` itself."""
    text = values.type
    quoted = pc.binary_join_element_wise(pa.scalar(f'{prefix}"', text), values,
                                         pa.scalar('"', text), pa.scalar("", text))
    if not may_hold(values, _JSON_ESCAPED):
        return quoted
    odd = true_flags(pc.invert(pc.match_substring_regex(values, f"^{_PLAIN_JSON}$")))
    if not odd.any():
        return quoted
    at = np.flatnonzero(odd)
    exact = [prefix + json.dumps(value, ensure_ascii=False)
             for value in values.take(at).to_pylist()]
    return _put(quoted, at, pa.array(exact, text))


def _put(base: pa.Array, at: np.ndarray, values: pa.Array,
         picked: np.ndarray | None = None) -> pa.Array:
    """``base`` with the rows ``at`` replaced by ``values`` (by ``values[picked]`` when
    given), in one take over both arrays."""
    index = np.arange(len(base), dtype=np.int64)
    index[at] = len(base) + (np.arange(len(at)) if picked is None else picked)
    return pa.concat_arrays([base, values]).take(pa.array(index))


def spread(size: int, where: np.ndarray, values: pa.Array | pa.ChunkedArray,
           fill: str = "") -> pd.Series:
    """A text column of ``size`` rows: ``values`` in order at the rows ``where`` marks, else
    ``fill``. One take in pyarrow, so no Python string is made per row."""
    index = np.zeros(size, dtype=np.int64)
    index[where] = np.arange(1, int(where.sum()) + 1)
    values = text_array(values)
    pool = pa.concat_arrays([pa.array([fill], values.type), values])
    return pd.Series(pool.take(pa.array(index)), dtype="str")


def payload_json(changes: pd.DataFrame, sends: pd.DataFrame) -> pa.Array:
    """The exact JSON body (``{"names": "…", "email": ""}``) of each row that sends something,
    in order.

    Matches ``json.dumps(payload, ensure_ascii=False)`` of the row's :func:`payload_dicts`
    entry, the body the push sends. Built in pyarrow, no Python string per row.
    """
    going = sends.any(axis=1).to_numpy()
    going_at = np.flatnonzero(going)
    text = pa.large_string()
    members = []
    for name in VALUE_FIELDS:
        # Each field's member is made only on the rows that send it, then laid out over the
        # rows that send anything, null where this field is not sent.
        mark = sends[send_column(name)].to_numpy()[going]
        values = pc.fill_null(text_array(changes[name]).take(pa.array(going_at[mark])), "")
        member = _json_strings(values, prefix=f'"{name}": ')
        members.append(member.take(pa.array(np.cumsum(mark) - 1, mask=~mark)))
    joined = pc.binary_join_element_wise(*members, pa.scalar(", ", text), null_handling="skip")
    body: pa.Array = pc.binary_join_element_wise(pa.scalar("{", text), joined,
                                                 pa.scalar("}", text), pa.scalar("", text))
    return body


def payload_dicts(changes: pd.DataFrame, sends: pd.DataFrame,
                  positions: np.ndarray) -> list[dict[str, str]]:
    """The body of each row at ``positions`` as a dict, fields in the API's order (names,
    number, email), built from column arrays at once."""
    columns = [(name, changes[name].to_numpy(dtype=object)[positions],
                sends[send_column(name)].to_numpy()[positions]) for name in VALUE_FIELDS]
    payloads: list[dict[str, str]] = [{} for _ in range(len(positions))]
    for name, values, marks in columns:
        for payload, value in zip(itertools.compress(payloads, marks),
                                  values[marks], strict=True):
            payload[name] = str(value)
    return payloads


def labelled(codes: np.ndarray, labels: Sequence[str]) -> pd.Series:
    """A text column from small integer codes into ``labels`` (categorical: cheap at scale)."""
    categories: pd.Index[str] = pd.Index(list(labels), dtype="object")
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories))


def defuse_formulas(values: pd.Series) -> pd.Series:
    """Prefix cells a spreadsheet would evaluate with an apostrophe, so they read as text."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        # Judge each distinct label once, not each row.
        labels = defuse_formulas(pd.Series(values.cat.categories, dtype="str"))
        if labels.is_unique:
            return values.cat.rename_categories(labels.tolist())
        values = values.astype("str")
    risky = values.str.contains(_FORMULA_START, regex=True, na=False)
    return values.mask(risky, "'" + values) if risky.any() else values


def empty_results(rows: pd.Series, contact_ids: pd.Series) -> pd.DataFrame:
    """A results frame for these rows with every other column empty (text)."""
    frame = pd.DataFrame({"row": rows.astype("int64"), "contactId": contact_ids.astype("str")})
    empty = labelled(np.zeros(len(frame), dtype=np.int8), [""])
    for column in RESULT_COLUMNS[2:]:
        frame[column] = empty
    return frame


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


def set_where(results: pd.DataFrame, mask: pd.Series, column: str, value: str) -> None:
    """Put one ``value`` in ``column`` on every row where ``mask`` holds."""
    positions = np.flatnonzero(mask.to_numpy(dtype=bool))
    set_rows(results, positions, column, [value] * len(positions))


def write_results(path: Path, results: pd.DataFrame) -> None:
    """Write ``results`` (columns :data:`RESULT_COLUMNS` first) to ``path`` atomically.

    Straight to pyarrow: a categorical column is its labels (defused once each) taken by code,
    any other column is text; formulas are defused as :func:`defuse_formulas` does.
    """
    columns: dict[str, pa.Array] = {"row": pa.array(results["row"].to_numpy(dtype=np.int64))}
    for column in results.columns:
        if column == "row":
            continue
        values = results[column]
        if isinstance(values.dtype, pd.CategoricalDtype):
            labels = _defused(pa.array(values.cat.categories.to_numpy(dtype=object),
                                       pa.large_string()))
            codes = values.cat.codes.to_numpy()
            if len(labels) == 1 and not (codes < 0).any():  # one text on every row
                columns[column] = pa.repeat(labels[0], len(codes))
            else:
                columns[column] = labels.take(pa.array(codes, mask=codes < 0))
        else:
            text = text_array(values.astype("str").fillna(""))
            # A payload is a JSON object or empty: it never starts like a formula.
            columns[column] = text if column == "payload" else _defused(text)
    write_table(path, pa.table(columns), bom=True)


def _defused(values: pa.Array) -> pa.Array:
    """:func:`defuse_formulas` of a pyarrow text array."""
    if not may_hold(values, _FORMULA_BYTES):  # ids and numbers: no such character anywhere
        return values
    risky = pc.fill_null(pc.match_substring_regex(values, _FORMULA_START), False)
    if not pc.any(risky).as_py():
        return values
    text = values.type
    return pc.if_else(risky, pc.binary_join_element_wise(pa.scalar("'", text), values,
                                                         pa.scalar("", text)), values)


def plan_results(changes: pd.DataFrame, rows: np.ndarray, typed_ids: pa.Array,
                 sends: pd.DataFrame, verdict: Verdict, *, dry_run: bool,
                 judged: np.ndarray | None = None,
                 bodies: tuple[np.ndarray, pa.Array] | None = None) -> pd.DataFrame:
    """Every row's results line before anything is sent.

    ``rows`` and ``typed_ids`` are every input row's number and contactId cell.
    ``changes``, ``sends`` and ``verdict`` cover the input rows at positions ``judged``
    (every row when None); any other row repeats the snapshot and is ``unchanged`` with its id
    as typed. ``sends`` holds only valid rows' fields. Rows with something to send are
    ``planned`` (dry run) or ``skipped`` until the push says otherwise; the rest are
    ``invalid`` or ``unchanged``. Built from integer codes (categoricals), so a million rows
    cost milliseconds per column; only contactId is a text column of its own.

    ``bodies``, when the caller made them already (while validating): (which judged rows
    had something to send before validation, :func:`payload_json` of those rows). Only
    the bodies of the rows still sending are used.
    """
    size = len(rows)
    if judged is None:
        judged = np.arange(size)
    invalid = verdict.invalid.to_numpy(dtype=bool)
    going = sends.any(axis=1).to_numpy()
    status = np.zeros(size, dtype=np.int8)
    status[judged] = np.where(going, 2, np.where(invalid, 1, 0))
    results = empty_results(pd.Series(rows), _ids(typed_ids, changes[ID_FIELD], judged[~invalid],
                                                  np.flatnonzero(~invalid)))
    results["status"] = labelled(status, ["unchanged", "invalid",
                                          "planned" if dry_run else "skipped"])
    fixes, fix_labels = pd.factorize(
        ("not sent: fix " + verdict.fields[verdict.invalid]).to_numpy(dtype=object))
    message = np.zeros(size, dtype=np.int64)
    message[judged[going]] = 1
    message[judged[invalid]] = 2 + fixes
    results["message"] = labelled(message, [
        "already up to date", "dry run: would be sent" if dry_run else "not sent", *fix_labels])
    results["errors"] = _spread_labels(size, judged, verdict.errors.to_numpy(dtype=object),
                                       invalid)
    codes = np.zeros(size, dtype=np.int64)
    codes[judged] = field_codes(sends)
    results["fields_sent"] = labelled(codes, FIELD_SET_LABELS)
    sending = np.zeros(size, dtype=bool)
    sending[judged[going]] = True
    if bodies is None:
        body = payload_json(changes, sends)
    else:
        had, made = bodies
        body = made.filter(pa.array(going[had]))
    results["payload"] = spread(size, sending, body)
    results["attempts"] = labelled(np.zeros(size, dtype=np.int8), ["0"])
    return results


def _ids(typed: pa.Array, normalized: pd.Series, at: np.ndarray,
         taken: np.ndarray) -> pd.Series:
    """contactId as typed, with the ``normalized`` ids at ``taken`` put at the rows ``at``."""
    if len(at) == len(typed):
        return normalized.reset_index(drop=True)
    return pd.Series(_put(text_array(typed), at, text_array(normalized), taken), dtype="str")


def _spread_labels(size: int, judged: np.ndarray, values: np.ndarray,
                   where: np.ndarray) -> pd.Series:
    """A categorical text column: ``values[where]`` at rows ``judged[where]``, "" elsewhere."""
    codes, labels = pd.factorize(np.concatenate([np.array([""], dtype=object), values[where]]))
    full = np.zeros(size, dtype=np.int64)
    full[judged[where]] = codes[1:]
    return labelled(full, list(labels))


def count_statuses(statuses: pd.Series) -> dict[str, int]:
    """Rows per status, every status present (0 when none)."""
    counts = statuses.value_counts()
    return {status: int(counts.get(status, 0)) for status in STATUSES}
