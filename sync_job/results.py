"""The results CSV: one line per input data row, in input order, saying what happened and why.

Columns (fixed order; later columns may be added after ``payload``):

``row, contactId, status, fields_sent, http_status, api_code, message, errors, attempts, req_id,
payload``

The file is UTF-8 with a byte-order mark, so Excel shows accents right, and any cell that a
spreadsheet would evaluate as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or CR) is
prefixed with an apostrophe so it is shown as text (OWASP CSV injection). It is written with
pyarrow, which keeps a million-row results file to a fraction of a second, and replaced
atomically (see ``state.write_csv``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from sync_job.diff import send_column
from sync_job.reader import VALUE_FIELDS
from sync_job.state import write_csv

RESULT_COLUMNS: tuple[str, ...] = (
    "row", "contactId", "status", "fields_sent", "http_status", "api_code", "message", "errors",
    "attempts", "req_id", "payload",
)
STATUSES: tuple[str, ...] = ("updated", "unchanged", "invalid", "failed", "skipped", "planned")

_FORMULA_START = r"^[=+\-@\t\r]"
# JSON strings that need no escaping (no quote, backslash or control character).
_PLAIN_JSON = r'[^"\\\x00-\x1f]*'


def json_string(values: pd.Series) -> pd.Series:
    """Each value as a JSON string literal, vectorized for the common plain case."""
    plain = values.str.fullmatch(_PLAIN_JSON, na=False)
    quoted = '"' + values + '"'
    if not plain.all():
        odd = ~plain
        quoted = quoted.mask(odd, values[odd].map(lambda v: json.dumps(v, ensure_ascii=False)))
    return quoted


def payload_json(changes: pd.DataFrame, sends: pd.DataFrame) -> pd.Series:
    """The exact JSON body of each row (``{"names": "…", "email": ""}``); "" where none.

    Matches ``json.dumps(payload, ensure_ascii=False)`` of :func:`payload_dict`.
    """
    body = pd.Series("", index=changes.index, dtype="str")
    for name in VALUE_FIELDS:
        mark = sends[send_column(name)]
        if not mark.any():
            continue
        member = f'"{name}": ' + json_string(changes[name][mark])
        body = body.mask(mark, body.where(body == "", body + ", ") + member.reindex(body.index))
    return body.mask(body != "", "{" + body + "}")


def payload_dict(values: Mapping[str, object], sends: Mapping[str, object]) -> dict[str, str]:
    """The body of one row as a dict, fields in the API's order (names, number, email)."""
    return {name: str(values[name]) for name in VALUE_FIELDS if sends[send_column(name)]}


def defuse_formulas(values: pd.Series) -> pd.Series:
    """Prefix cells a spreadsheet would evaluate with an apostrophe, so they read as text."""
    risky = values.str.contains(_FORMULA_START, regex=True, na=False)
    return values.mask(risky, "'" + values) if risky.any() else values


def empty_results(rows: pd.Series, contact_ids: pd.Series) -> pd.DataFrame:
    """A results frame for these rows with every other column empty (text)."""
    frame = pd.DataFrame({"row": rows.astype("int64"), "contactId": contact_ids.astype("str")})
    for column in RESULT_COLUMNS[2:]:
        frame[column] = pd.Series("", index=frame.index, dtype="str")
    return frame


def write_results(path: Path, results: pd.DataFrame) -> None:
    """Write ``results`` (columns :data:`RESULT_COLUMNS` first) to ``path`` atomically."""
    frame = results.copy()
    for column in frame.columns:
        if column != "row":
            frame[column] = defuse_formulas(frame[column].astype("str").fillna(""))
    write_csv(path, frame, bom=True)


def count_statuses(statuses: pd.Series) -> dict[str, int]:
    """Rows per status, every status present (0 when none)."""
    counts = statuses.value_counts()
    return {status: int(counts.get(status, 0)) for status in STATUSES}
