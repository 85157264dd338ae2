"""Pure: which fields of which rows differ from what the platform already holds.

A field is sent when the row gives it a value (or clears it) and that differs from the
snapshot's value; a contact missing from the snapshot sends every field the row carries.
Values on both sides are normalized first (see ``normalize``), so ``+255 712 345 678`` equals a
stored ``255712345678`` and is not sent again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_job.fields import ID_FIELD, VALUE_FIELDS
from sync_job.plan.normalize import WHOLE_KEY, fullmatch_flags, text_array


def send_column(name: str) -> str:
    """Name of the boolean column that marks ``name`` as going out."""
    return f"send_{name}"


class ContactIndex:
    """Where each contact is in the snapshot, by normalized id; the last row of an id counts.

    Ids that are whole numbers (nearly all, after normalizing) are matched as int64; any other
    text is matched as text. A platform hands out ids from a counter, so a snapshot's ids
    usually fill most of a range: then a lookup is one array index per id (a million in about
    10 ms) instead of a hash probe.
    """

    def __init__(self, known_ids: pd.Series | pa.Array, numeric: np.ndarray | None = None,
                 keys: np.ndarray | None = None) -> None:
        """``numeric``, when the caller knows it: which ids match ``[0-9]{1,18}``; ``keys``:
        those as int64 (anything elsewhere), as :func:`~sync_job.plan.normalize.normalize_ids`
        gives both."""
        known = text_array(known_ids)
        numeric = fullmatch_flags(known, WHOLE_KEY) if numeric is None else numeric
        numbers = _keys(known, numeric, True) if keys is None else keys[numeric]
        self._numeric = _NumberLookup.build(numbers, np.flatnonzero(numeric))
        self._text = self._index(known, ~numeric)

    @staticmethod
    def _index(known: pa.Array, where: np.ndarray) -> tuple[pd.Index, np.ndarray] | None:
        """(unique text keys, the snapshot row of each)."""
        if not where.any():
            return None
        index = pd.Index(_keys(known, where, False))
        # get_indexer needs unique keys; the last row of a contact is the one that counts.
        last = ~index.duplicated(keep="last")
        return index[last], np.flatnonzero(where)[last]

    def positions(self, ids: pd.Series | pa.Array) -> np.ndarray:
        """For each (normalized) id, the position of its snapshot row; -1 when absent."""
        values = text_array(ids)
        positions = np.full(len(values), -1, dtype=np.int64)
        numeric = fullmatch_flags(values, WHOLE_KEY)
        if self._numeric is not None and numeric.any():
            positions[numeric] = self._numeric.find(_keys(values, numeric, True))
        text = ~numeric
        if self._text is not None and text.any():
            index, rows = self._text
            found = index.get_indexer(pd.Index(_keys(values, text, False)))
            positions[text] = np.where(found >= 0, rows[found], -1)
        return positions

    def positions_of_numbers(self, keys: np.ndarray) -> np.ndarray:
        """:meth:`positions` of ids already known to be whole numbers, given as int64."""
        if self._numeric is None:
            return np.full(len(keys), -1, dtype=np.int64)
        return self._numeric.find(keys)


class _NumberLookup:
    """int64 id → snapshot row. A direct table over the ids' range when they fill at least a
    quarter of it (memory: 4 bytes per slot, at most 16 per id); otherwise a hash index."""

    def __init__(self, low: int, table: np.ndarray | None, index: pd.Index | None,
                 rows: np.ndarray | None) -> None:
        self._low, self._table, self._index, self._rows = low, table, index, rows

    @classmethod
    def build(cls, keys: np.ndarray, rows: np.ndarray) -> _NumberLookup | None:
        if not len(keys):
            return None
        low, high = int(keys.min()), int(keys.max())
        if high - low < 4 * len(keys) + 1024 and len(rows) < 2**31:
            table = np.full(high - low + 1, -1, dtype=np.int32)
            slots = keys - low
            table[slots] = rows
            if np.count_nonzero(table >= 0) < len(slots):  # an id on several rows
                # For a repeated id the last row counts, and the last row is the largest.
                np.maximum.at(table, slots, rows.astype(np.int32))
            return cls(low, table, None, None)
        index = pd.Index(keys)
        last = ~index.duplicated(keep="last")
        return cls(low, None, index[last], rows[last])

    def find(self, keys: np.ndarray) -> np.ndarray:
        """The snapshot row of each key; -1 when absent."""
        if self._table is not None:
            slots = keys - self._low
            inside = (slots >= 0) & (slots < len(self._table))
            # One gather over every key (those outside clipped, then masked): a boolean
            # selection first would copy the keys twice.
            found: np.ndarray = np.where(
                inside, self._table.take(slots, mode="clip"), -1).astype(np.int64)
            return found
        assert self._index is not None and self._rows is not None
        at = self._index.get_indexer(pd.Index(keys))
        return np.where(at >= 0, self._rows[at], -1)


def _keys(values: pa.Array, where: np.ndarray, numeric: bool) -> np.ndarray:
    chosen = values.filter(pa.array(where))
    if numeric:
        return np.asarray(pc.cast(chosen, pa.int64()), dtype=np.int64)
    return np.asarray(chosen.to_pylist(), dtype=object)


def changed_fields(changes: pd.DataFrame, snapshot: pd.DataFrame,
                   positions: np.ndarray | None = None) -> pd.DataFrame:
    """One boolean column per value field (``send_names`` …), aligned with ``changes``.

    ``changes`` is normalized changes (NaN = not changing, "" = clear); ``snapshot`` is a
    normalized snapshot ("" = no value; when a contactId repeats, its last row counts).
    ``positions``, when given, is each row's snapshot row (-1: not there), looked up already.
    """
    if positions is None:
        positions = ContactIndex(snapshot[ID_FIELD]).positions(changes[ID_FIELD])
    in_snapshot = positions >= 0
    take = pa.array(positions, mask=~in_snapshot)
    out = pd.DataFrame(index=changes.index)
    for name in VALUE_FIELDS:
        wanted = pa.array(changes[name])
        # A snapshot cell with no value is "" (what a clear leaves); null only for new contacts.
        held = pc.fill_null(pa.array(snapshot[name]), "").take(take)
        differs = pc.fill_null(pc.not_equal(wanted, held), True)
        sends = pc.and_(pc.is_valid(wanted), differs)
        out[send_column(name)] = sends.to_numpy(zero_copy_only=False)
    return out


_FIELD_ORDER = sorted(VALUE_FIELDS)
FIELD_SET_LABELS: list[str] = ["|".join(n for bit, n in enumerate(_FIELD_ORDER) if code >> bit & 1)
                               for code in range(1 << len(_FIELD_ORDER))]
"""The label of each set of fields going out, by its 3-bit code (see :func:`field_codes`)."""


def field_codes(sends: pd.DataFrame) -> np.ndarray:
    """Each row's set of fields going out as a 3-bit code (bit i: the i-th field by name)."""
    codes = np.zeros(len(sends), dtype=np.int64)
    for bit, name in enumerate(_FIELD_ORDER):
        codes |= sends[send_column(name)].to_numpy(dtype=np.int64) << bit
    return codes


def fields_to_send(sends: pd.DataFrame) -> pd.Series:
    """``email|names`` style list of the fields going out per row (sorted, ``|``-joined).

    Each row's set of fields is a 3-bit code, so the text is made once per possible set.
    """
    categories: pd.Index[str] = pd.Index(FIELD_SET_LABELS, dtype="object")
    return pd.Series(pd.Categorical.from_codes(field_codes(sends), categories=categories),
                     index=sends.index)
