"""Pure: which fields of which rows differ from what the platform already holds.

A field is sent when the row gives it a value (or clears it) and that differs from the
snapshot's value; a contact missing from the snapshot sends every field the row carries.
Values on both sides are normalized first (see ``normalize``), so ``+255 712 345 678`` equals a
stored ``255712345678`` and is not sent again.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from sync_job.fields import VALUE_FIELDS
from sync_job.plan.arrow import text_array, true_flags, whole_number_keys


def send_column(name: str) -> str:
    """Name of the boolean column that marks ``name`` as going out."""
    return f"send_{name}"


class ContactIndex:
    """Where each contact is in the snapshot, by normalized id (the snapshot holds one row per
    contact). Ids that are whole numbers (nearly all) are looked up as int64 keys, anything
    else as text.

    A platform hands out ids from a counter, so a snapshot's ids usually fill most of a range:
    then the int64 lookup is one index into an array over that range instead of a hash probe
    (docs/performance.md says what it buys).
    """

    def __init__(self, known_ids: pd.Series) -> None:
        whole, keys = whole_number_keys(known_ids)
        self._numbers = _NumberLookup(keys[whole], np.flatnonzero(whole))
        self._texts = pd.Index(known_ids[~whole].to_numpy(dtype=object))
        self._text_rows = np.flatnonzero(~whole)

    def positions(self, ids: pd.Series, whole: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """For each normalized id (with :func:`~sync_job.plan.arrow.whole_number_keys`' mask
        and keys), the position of its snapshot row; -1 when absent."""
        positions = np.full(len(ids), -1, dtype=np.int64)
        if whole.any():
            positions[whole] = self._numbers.find(keys[whole])
        if len(self._texts) and not whole.all():
            found = self._texts.get_indexer(ids[~whole].to_numpy(dtype=object))
            positions[~whole] = np.where(found >= 0, self._text_rows[found], -1)
        return positions


class _NumberLookup:
    """int64 key → row: an array over the keys' range when they fill a quarter of it, else a
    hash index."""

    def __init__(self, keys: np.ndarray, rows: np.ndarray) -> None:
        self._low = int(keys.min()) if len(keys) else 0
        span = int(keys.max()) - self._low + 1 if len(keys) else 0
        self._table: np.ndarray | None = None
        self._index = pd.Index(keys)
        self._rows = rows
        if 0 < span <= 4 * len(keys) + 1024:
            self._table = np.full(span, -1, dtype=np.int64)
            self._table[keys - self._low] = rows

    def find(self, keys: np.ndarray) -> np.ndarray:
        if not len(self._rows):
            return np.full(len(keys), -1, dtype=np.int64)
        if self._table is not None:
            slots = keys - self._low
            inside = (slots >= 0) & (slots < len(self._table))
            return np.where(inside, self._table.take(slots, mode="clip"), -1)
        found = self._index.get_indexer(keys)
        return np.where(found >= 0, self._rows[found], -1)


def changed_fields(changes: pd.DataFrame, held: pd.DataFrame, found: np.ndarray) -> pd.DataFrame:
    """One boolean column per value field (``send_names`` …), aligned with ``changes``.

    ``changes`` is normalized changes (NaN = not changing, "" = clear); ``held`` the normalized
    snapshot row of each change's contact, row for row ("" = no value), where ``found`` says
    the snapshot has the contact. A contact it lacks gets every field the row gives.
    """
    out = pd.DataFrame(index=changes.index)
    for name in VALUE_FIELDS:
        wanted = text_array(changes[name])
        stored = text_array(held[name])
        differs = true_flags(pc.fill_null(pc.not_equal(wanted, stored), True)) | ~found
        out[send_column(name)] = differs & true_flags(pc.is_valid(wanted))
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
