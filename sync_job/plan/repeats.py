"""Rows that repeat the snapshot: found from raw cells, before anything is normalized.

Most rows of a nightly file (about 80%) give exactly what the platform already holds. Such a row
sends nothing whatever its values would normalize to, so it is ``unchanged`` without being
normalized, diffed or judged cell by cell; only the rest of the file goes through
``normalize`` → ``diff`` → ``schema``. A row *repeats the snapshot* when all of this holds:

* its contactId cell is a canonical id as typed: ``[1-9][0-9]{0,17}``, no spaces (``007``,
  ``12345.0`` or `` 42 `` take the full path), and the snapshot holds that contact (its last
  row, as the diff uses);
* every value column the file has is, in that row, either
  - the snapshot's stored value, once the cell is trimmed as normalizing trims it, and that
    value is not empty and is not the clear marker (after the full clean-up, so a cell that is
    only zero-width characters or spells the marker with them takes the full path), or
  - an empty cell, when ``input.empty_cells`` is ``unchanged`` (it changes nothing);
* at least one value column holds such a stored value (a row of empty cells is judged: it has
  nothing to change);
* its stored number, when the row gives one, is whole digits ``[1-9][0-9]{0,17}``, so the number
  is its own normal form for the duplicate check.

Columns the file does not have change nothing and are not looked at. Under
``empty_cells: clear`` an empty cell means "clear", so a row with one takes the full path.

Every row still faces the checks that look at the whole file: contactId present and a whole
number (true of a canonical id), something to change (true, see above), and no contactId or
number given on several rows. A row that shares its contactId or number with any other row is
judged in full, together with every row it shares it with, so the duplicate checks see all of
them. What a row that repeats the snapshot skips are the per-value checks (name length, number
shape and plan, email syntax): it sends nothing, so a value the platform already holds is not
reported, as it would not be sent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_job.fields import ID_FIELD, VALUE_FIELDS
from sync_job.plan.diff import ContactIndex
from sync_job.plan.normalize import (
    CONTACT_ID,
    clean_text,
    text_array,
    true_flags,
    whole_number_keys,
)
from sync_job.sidebyside import side_by_side


def repeats_snapshot(
    raw: pa.Table,
    snapshot: pd.DataFrame,
    contacts: ContactIndex,
    *,
    clear_marker: str,
    empty_cells: str,
    ascii: bool = False,
    id_keys: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(which rows of ``raw`` repeat the snapshot, their snapshot row, their number).

    ``raw`` is the reader's table (:attr:`InputTable.cells`; ``ascii`` when every cell is
    known to be ASCII, as :attr:`InputTable.ascii` tells); ``snapshot`` the snapshot as
    read; ``contacts`` indexes its normalized ids. The snapshot row (-1 elsewhere) and the
    number (an int64 key; 0 elsewhere or when the row gives none: no whole number is 0) are
    for the duplicate checks over every row. ``id_keys``: :func:`whole_number_keys` of the
    contactId column, when the caller has it already (left as it is).

    Everything here is a pass of pyarrow or numpy over whole columns, the value columns side
    by side: no pandas copy of the rows is made.
    """
    size = raw.num_rows
    whole, keys = id_keys or whole_number_keys(raw.column(ID_FIELD))
    repeats = whole.copy()
    positions = np.full(size, -1, dtype=np.int64)
    positions[repeats] = contacts.positions_of_numbers(keys[repeats])
    repeats &= positions >= 0
    numbers = np.zeros(size, dtype=np.int64)
    present = [name for name in VALUE_FIELDS if name in raw.column_names]
    if not repeats.any() or not present:
        return np.zeros(size, dtype=bool), np.full(size, -1, dtype=np.int64), numbers
    take = pa.array(np.where(repeats, positions, 0))
    number_by_value = not re.fullmatch(CONTACT_ID, clear_marker)
    held = {name: text_array(snapshot[name]) for name in present}

    def test(name: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(cells that are the stored value, empty cells or None if that counts for nothing,
        the stored number where the cell is it)."""
        values, stored = raw.column(name), held[name]
        if name == "number" and number_by_value:
            equal, keys = _same_number(values, stored, positions, repeats, clear_marker,
                                       ascii=ascii)
        else:
            equal = _stored_value(values, stored.take(take), repeats, clear_marker, ascii=ascii)
            keys = (np.zeros(size, dtype=np.int64) if name != "number"
                    else _stored_numbers(stored, positions, equal))
        empty = None if empty_cells == "clear" else _empty(values, repeats & ~equal)
        return equal, empty, keys

    tests = side_by_side({name: functools.partial(test, name) for name in present})
    given = np.zeros(size, dtype=bool)  # at least one value equals the stored one
    for name, (equal, empty, keys) in tests.items():
        repeats &= equal if empty is None else (equal | empty)
        given |= equal
        if name == "number":
            repeats &= ~equal | (keys > 0)  # a stored number that is not whole: judge the row
            numbers = np.where(equal, keys, 0)
    repeats &= given
    numbers[~repeats] = 0
    positions[~repeats] = -1
    return repeats, positions, numbers


def _same_number(values: pa.ChunkedArray, stored: pa.Array, positions: np.ndarray,
                 where: np.ndarray, clear_marker: str, *,
                 ascii: bool) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_stored_value` of the number column, and :func:`_stored_numbers` of the rows it
    finds.

    A cell that is a whole number as typed (nearly every cell of a big file) holds the stored
    value exactly when the stored value is that same whole number, as both are spelled one way
    only: such rows compare as int64s, with no text taken from the snapshot (the marker is
    not a whole number here). Only the other cells are compared as text.
    """
    equal = np.zeros(len(where), dtype=bool)
    cell_whole, cell_keys = whole_number_keys(values)
    _, stored_keys = whole_number_keys(stored)  # 0 where not a whole number, which none is
    at = np.flatnonzero(where & cell_whole)
    equal[at] = cell_keys[at] == stored_keys[positions[at]]
    rest = np.flatnonzero(where & ~cell_whole)
    if len(rest):
        held = stored.take(pa.array(positions[rest]))
        equal[rest] = _stored_value(values.take(pa.array(rest)), held,
                                    np.ones(len(rest), dtype=bool), clear_marker, ascii=ascii)
    return equal, np.where(equal, stored_keys[np.maximum(positions, 0)], 0)


def _stored_numbers(stored: pa.Array, positions: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The stored number of the rows at ``where`` as an int64 key when it is a whole number as
    typed; 0 elsewhere."""
    keys = np.zeros(len(where), dtype=np.int64)
    at = np.flatnonzero(where)
    whole, found = whole_number_keys(stored.take(pa.array(positions[at])))
    keys[at[whole]] = found[whole]
    return keys


def _stored_value(values: pa.ChunkedArray, held: pa.Array, where: np.ndarray,
                  clear_marker: str, *, ascii: bool) -> np.ndarray:
    """Rows at ``where`` whose cell, trimmed, is the stored value, a value that is neither
    empty nor the clear marker after the full clean-up."""
    same = where & true_flags(pc.equal(values, held))
    # Where the cell is the stored value, the stored value is empty or the marker when the
    # cell is: one pass over the cells serves both.
    given = true_flags(pc.not_equal(values, ""))
    equal: np.ndarray = same & given & true_flags(pc.not_equal(values, clear_marker))
    # Cells with spaces around the stored value, trimmed as normalizing trims them
    # (``clean_text``'s ``str.strip`` is pyarrow's utf8_trim_whitespace).
    loose = where & ~same & given
    if loose.any():
        mask = pa.array(loose)
        stored = held.filter(mask)
        trimmed_same = (true_flags(pc.equal(pc.utf8_trim_whitespace(values.filter(mask)), stored))
                        & true_flags(pc.not_equal(stored, ""))
                        & true_flags(pc.not_equal(stored, clear_marker)))
        equal[np.flatnonzero(loose)[trimmed_same]] = True
    if ascii:
        return equal
    # Beyond ASCII, the clean-up also drops zero-width characters and composes accents: judge
    # those few cells by the clean-up itself.
    odd = equal & ~true_flags(pc.string_is_ascii(values))
    if odd.any():
        positions = np.flatnonzero(odd)
        cells = pd.Series(values.take(pa.array(positions)), dtype="str")
        cleaned = clean_text(cells).fillna("")
        keep = ((cleaned != "") & (cleaned != clear_marker)).to_numpy(dtype=bool)
        equal[positions[~keep]] = False
    return equal


def _empty(values: pa.ChunkedArray, where: np.ndarray) -> np.ndarray:
    """Rows at ``where`` whose cell is empty once trimmed (an empty cell changes nothing)."""
    empty: np.ndarray = where & true_flags(pc.equal(values, ""))
    rest = where & ~empty
    if rest.any():
        mask = pa.array(rest)
        blank = true_flags(pc.equal(pc.utf8_trim_whitespace(values.filter(mask)), ""))
        empty[np.flatnonzero(rest)[blank]] = True
    return empty


def key_groups(values: pa.Array, usable: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Keys of the ``usable`` rows for :func:`shared_keys`: whole numbers as int64, the rest
    as text. Two keys are equal exactly when their texts are: a whole number has no leading
    zero, so its int64 spells it one way only, and no text key is a whole number."""
    whole, keys = whole_number_keys(values)
    whole = whole & usable
    text = usable & ~whole
    groups = [(whole, keys)]
    if text.any():
        texts = np.empty(len(values), dtype=object)
        texts[text] = values.filter(pa.array(text)).to_pylist()
        groups.append((text, texts))
    return groups


def shared_keys(groups: Sequence[tuple[np.ndarray, np.ndarray]], size: int) -> np.ndarray:
    """Rows whose key is also on another row; ``groups`` as :func:`key_groups` makes them."""
    shared = np.zeros(size, dtype=bool)
    for where, values in groups:
        if where.sum() > 1:
            shared[where] = _repeated(values[where])
    return shared


def _repeated(keys: np.ndarray) -> np.ndarray:
    """Which keys occur more than once. int64 keys are sorted (numpy sorts a million in
    milliseconds) and the few repeated ones looked up; text keys are hashed by pandas."""
    if keys.dtype == object:
        repeated: np.ndarray = pd.Series(keys).duplicated(keep=False).to_numpy()
        return repeated
    ordered = np.sort(keys)
    twice = ordered[1:][ordered[1:] == ordered[:-1]]
    return np.isin(keys, twice) if len(twice) else np.zeros(len(keys), dtype=bool)
