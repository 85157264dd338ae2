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

from sync_job.normalize import WHOLE_KEY, fullmatch_flags, text_array
from sync_job.reader import ID_FIELD, VALUE_FIELDS


def send_column(name: str) -> str:
    """Name of the boolean column that marks ``name`` as going out."""
    return f"send_{name}"


class ContactIndex:
    """Where each contact is in the snapshot, by normalized id; the last row of an id counts.

    Ids that are whole numbers (nearly all, after normalizing) are matched as int64, which
    hashes a million ids in tens of milliseconds; any other text is matched as text.
    """

    def __init__(self, known_ids: pd.Series, numeric: np.ndarray | None = None) -> None:
        """``numeric``, when the caller knows it: which ids match ``[0-9]{1,18}``."""
        known = text_array(known_ids)
        numeric = fullmatch_flags(known, WHOLE_KEY) if numeric is None else numeric
        self._numeric = self._index(known, numeric, True)
        self._text = self._index(known, ~numeric, False)

    @staticmethod
    def _index(known: pa.Array, where: np.ndarray,
               numeric: bool) -> tuple[pd.Index, np.ndarray | None] | None:
        """(unique keys, the snapshot row of each: None when that is its own position)."""
        if not where.any():
            return None
        index = pd.Index(_keys(known, where, numeric))
        # get_indexer needs unique keys; the last row of a contact is the one that counts.
        last = ~index.duplicated(keep="last")
        if last.all() and where.all():  # the usual snapshot: positions are the index's own
            return index, None
        return index[last], np.flatnonzero(where)[last]

    def positions(self, ids: pd.Series) -> np.ndarray:
        """For each (normalized) id, the position of its snapshot row; -1 when absent."""
        values = text_array(ids)
        positions = np.full(len(values), -1, dtype=np.int64)
        numeric = fullmatch_flags(values, WHOLE_KEY)
        for mine, theirs, is_numeric in ((numeric, self._numeric, True),
                                         (~numeric, self._text, False)):
            if theirs is not None and mine.any():
                positions[mine] = self._find(theirs, _keys(values, mine, is_numeric))
        return positions

    def positions_of_numbers(self, keys: np.ndarray) -> np.ndarray:
        """:meth:`positions` of ids already known to be whole numbers, given as int64."""
        if self._numeric is None:
            return np.full(len(keys), -1, dtype=np.int64)
        return self._find(self._numeric, keys)

    @staticmethod
    def _find(known: tuple[pd.Index, np.ndarray | None], keys: np.ndarray) -> np.ndarray:
        index, known_positions = known
        found: np.ndarray = index.get_indexer(pd.Index(keys))
        if known_positions is None:
            return found.astype(np.int64, copy=False)
        return np.where(found >= 0, known_positions[found], -1)


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
