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

from sync_job.reader import ID_FIELD, VALUE_FIELDS

# A normalized contact id that fits in int64 (normalizing strips leading zeros).
_WHOLE_ID = r"\d{1,18}"


def send_column(name: str) -> str:
    """Name of the boolean column that marks ``name`` as going out."""
    return f"send_{name}"


def _lookup_positions(ids: pd.Series, known_ids: pd.Series) -> np.ndarray:
    """For each id, the position of its last row in ``known_ids``; -1 when absent.

    Ids that are whole numbers (nearly all, after normalizing) are matched as int64, which
    hashes a million ids in tens of milliseconds; any other text is matched as text.
    """
    positions = np.full(len(ids), -1, dtype=np.int64)
    ids_numeric = ids.str.fullmatch(_WHOLE_ID, na=False).to_numpy(dtype=bool)
    known_numeric = known_ids.str.fullmatch(_WHOLE_ID, na=False).to_numpy(dtype=bool)
    for mine, theirs, numeric in ((ids_numeric, known_numeric, True),
                                  (~ids_numeric, ~known_numeric, False)):
        if not mine.any() or not theirs.any():
            continue
        keys, known_keys = _keys(ids, mine, numeric), _keys(known_ids, theirs, numeric)
        index = pd.Index(known_keys)
        # get_indexer needs unique keys; the last row of a contact is the one that counts.
        last = ~index.duplicated(keep="last")
        found = index[last].get_indexer(keys)
        known_positions = np.flatnonzero(theirs)[last]
        positions[mine] = np.where(found >= 0, known_positions[found], -1)
    return positions


def _keys(values: pd.Series, where: np.ndarray, numeric: bool) -> np.ndarray:
    chosen = pa.array(values).filter(pa.array(where))
    if numeric:
        return np.asarray(pc.cast(chosen, pa.int64()), dtype=np.int64)
    return np.asarray(chosen.to_pylist(), dtype=object)


def changed_fields(changes: pd.DataFrame, snapshot: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per value field (``send_names`` …), aligned with ``changes``.

    ``changes`` is normalized changes (NaN = not changing, "" = clear); ``snapshot`` is a
    normalized snapshot ("" = no value; when a contactId repeats, its last row counts).
    """
    positions = _lookup_positions(changes[ID_FIELD], snapshot[ID_FIELD])
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


def fields_to_send(sends: pd.DataFrame) -> pd.Series:
    """``email|names`` style list of the fields going out per row (sorted, ``|``-joined).

    Each row's set of fields is a 3-bit code, so the text is made once per possible set.
    """
    names = sorted(VALUE_FIELDS)
    codes = np.zeros(len(sends), dtype=np.int64)
    for bit, name in enumerate(names):
        codes |= sends[send_column(name)].to_numpy(dtype=np.int64) << bit
    labels = ["|".join(n for bit, n in enumerate(names) if code >> bit & 1)
              for code in range(1 << len(names))]
    categories: pd.Index[str] = pd.Index(labels, dtype="object")
    return pd.Series(pd.Categorical.from_codes(codes, categories=categories), index=sends.index)
