"""The request body of each update: the one place it is made.

The body is the JSON object of the fields a row sends, in the API's order (names, number,
email), a cleared field as ``""``: ``{"names": "Amina Juma", "email": ""}``. The same text is
sent as the PUT's body and shown in the results file's ``payload`` column, so what an operator
reads is byte for byte what went out.

It is made in pyarrow for every row at once, and each value is written as
``json.dumps(value, ensure_ascii=False)`` writes it: a value with nothing to escape (no quote,
backslash or control character, nearly all) is put between quotes, and every other value is
written by ``json.dumps`` itself. ``tests/test_fast_paths.py`` checks the whole body against
``json.dumps`` of the fields on generated values.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_job.fields import VALUE_FIELDS
from sync_job.plan.arrow import may_hold, text_array, true_flags
from sync_job.plan.diff import send_column

_NEEDS_ESCAPING = re.compile(rb'["\\\x00-\x1f]')
_PLAIN = r'^[^"\\\x00-\x1f]*$'


def request_bodies(changes: pd.DataFrame, sends: pd.DataFrame) -> pa.Array:
    """The JSON body of each row of ``changes`` that sends something (``sends``: one boolean
    column per field, see ``diff.changed_fields``), in order."""
    going = np.flatnonzero(sends.any(axis=1).to_numpy())
    text = pa.large_string()
    members = []
    for name in VALUE_FIELDS:
        # Each field's member is made on the rows that send it, then laid out over the rows
        # that send anything, null where this field is not sent.
        mark = sends[send_column(name)].to_numpy()[going]
        values = pc.fill_null(text_array(changes[name]).take(pa.array(going[mark])), "")
        member = _json_strings(values, prefix=f'"{name}": ')
        members.append(member.take(pa.array(np.cumsum(mark) - 1, mask=~mark)))
    joined = pc.binary_join_element_wise(*members, pa.scalar(", ", text), null_handling="skip")
    body: pa.Array = pc.binary_join_element_wise(pa.scalar("{", text), joined,
                                                 pa.scalar("}", text), pa.scalar("", text))
    return body


def _json_strings(values: pa.Array, prefix: str) -> pa.Array:
    """``prefix`` and each value as a JSON string literal, as ``json.dumps`` writes it."""
    text = values.type
    quoted = pc.binary_join_element_wise(pa.scalar(f'{prefix}"', text), values,
                                         pa.scalar('"', text), pa.scalar("", text))
    if not may_hold(values, _NEEDS_ESCAPING):
        return quoted
    odd = np.flatnonzero(~true_flags(pc.match_substring_regex(values, _PLAIN)))
    if not len(odd):
        return quoted
    exact = pa.array([prefix + json.dumps(value, ensure_ascii=False)
                      for value in values.take(pa.array(odd)).to_pylist()], text)
    index = np.arange(len(values), dtype=np.int64)
    index[odd] = len(values) + np.arange(len(odd))
    return pa.concat_arrays([quoted, exact]).take(pa.array(index))
