"""Ask a slow function about each value of a column, once per distinct value.

A file repeats values (a domain, a placeholder number, an error's shape), and the libraries
that judge them (phonenumbers, email-validator) cost microseconds per call: asked once per
distinct value, a million rows cost what their distinct values cost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def per_distinct(values: pa.Array, ask: Callable[[Any], Any], answer_type: pa.DataType
                 ) -> pa.Array:
    """``ask(value)`` for each of ``values`` (null for a missing one), as an array of
    ``answer_type``; ``ask`` is called once per distinct value."""
    encoded = pc.dictionary_encode(values)
    answers = pa.array([ask(value) for value in encoded.dictionary.to_pylist()], answer_type)
    return answers.take(encoded.indices)
