"""Small pyarrow helpers the planning passes share: text columns as arrow arrays, boolean
arrays as numpy masks, whole numbers as int64 keys, and quick scans of a column's bytes.

pandas 3 keeps a text column in a pyarrow ``large_string`` array, so these convert without
copying: the planning passes run as pyarrow and numpy kernels over whole columns, never as a
Python loop over rows.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

CONTACT_ID = r"[1-9][0-9]{0,17}"
"""A contact id as the API takes it, and as a whole-number key fits int64: a positive whole
number of at most 18 digits, written without a leading zero."""


def text_array(values: pd.Series | pa.Array | pa.ChunkedArray) -> pa.Array:
    """``values`` as one contiguous arrow text array: ``large_string``, which is what backs a
    pandas 3 ``str`` column, so a column read in one chunk is not copied."""
    array = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(
        values, pa.large_string())
    if isinstance(array, pa.ChunkedArray):
        return array.chunk(0) if array.num_chunks == 1 else array.combine_chunks()
    return array


def true_flags(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An arrow boolean array as numpy, null counting as False."""
    return np.asarray(pc.fill_null(array, False), dtype=bool)


def fullmatch_flags(values: pa.Array | pa.ChunkedArray, pattern: str) -> np.ndarray:
    """Which values match ``pattern`` whole (missing values do not)."""
    return true_flags(pc.match_substring_regex(values, f"^(?:{pattern})$"))


def whole_number_keys(values: pd.Series | pa.Array | pa.ChunkedArray,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(which values are written as :data:`CONTACT_ID`, those values as int64; 0 elsewhere).

    Two values with a key are equal exactly when their keys are: such a number is written one
    way only. So ids and phone numbers are matched and counted as integers, which numpy sorts
    and looks up many times faster than text.

    When every value parses as an int64 (the ids and numbers of a big export do), the pattern
    is checked without a regex: pyarrow's parser takes only an optional minus sign and digits
    (or ``0x`` hex), so a parsed value is written as the pattern wants exactly when it is
    positive, its first character is not ``0`` and it has at most 18 characters.
    ``tests/test_fast_paths.py`` checks both ways against the pattern.
    """
    array = text_array(values)
    try:
        parsed = pc.cast(array, pa.int64()) if not array.null_count else None
    except pa.ArrowInvalid:
        parsed = None
    if parsed is not None:
        keys = np.asarray(parsed, dtype=np.int64)
        where = (keys > 0) & ~true_flags(pc.or_(pc.starts_with(array, "0"),
                                                pc.greater(pc.binary_length(array), 18)))
        return where, np.where(where, keys, 0)
    where = fullmatch_flags(array, CONTACT_ID)
    keys = np.zeros(len(array), dtype=np.int64)
    if where.any():
        keys[where] = np.asarray(pc.cast(array.filter(pa.array(where)), pa.int64()),
                                 dtype=np.int64)
    return where, keys


def may_hold(values: pa.Array | pa.ChunkedArray, pattern: re.Pattern[bytes]) -> bool:
    """Whether any value may hold a byte ``pattern`` finds: one scan of the arrays' character
    data, which covers every value (and, in a slice, perhaps some more). False means none
    does, so a per-value check can be skipped."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        data = chunk.buffers()[2] if len(chunk) else None
        if data is not None and pattern.search(memoryview(data)) is not None:
            return True
    return False


def may_hold_control(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any value may hold a control character (Unicode category Cc: U+0000-U+001F,
    U+007F-U+009F), as :func:`may_hold` would tell for that pattern, but with numpy's
    minimum and maximum over the UTF-8 bytes, many times faster than a regex scan: C0
    controls are the only bytes under 0x20, DEL is 0x7F, and C1 controls are 0xC2 followed
    by 0x80-0x9F."""
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        data = chunk.buffers()[2] if len(chunk) else None
        if data is None or not data.size:
            continue
        octets = np.frombuffer(data, dtype=np.uint8)
        if octets.min() < 0x20:
            return True
        if octets.max() < 0x7F:  # ASCII without DEL
            continue
        if (octets == 0x7F).any():
            return True
        lead = np.flatnonzero(octets[:-1] == 0xC2)
        if (octets[lead + 1] < 0xA0).any():
            return True
    return False


def repeated(keys: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Which rows at ``where`` hold a key another row at ``where`` holds too. int64 keys are
    sorted; other keys are hashed by pandas."""
    out = np.zeros(len(keys), dtype=bool)
    if where.sum() < 2:
        return out
    chosen = keys[where]
    if chosen.dtype == object:
        out[where] = pd.Series(chosen).duplicated(keep=False).to_numpy()
        return out
    ordered = np.sort(chosen)
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    if len(twice):
        out[where] = np.isin(chosen, twice)
    return out
