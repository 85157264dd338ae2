"""Pure: which fields of which rows differ from what the platform already holds.

A field is sent when the row gives it a value (or clears it) and that differs from the
snapshot's value; a contact missing from the snapshot sends every field the row carries.
Values on both sides are normalized first (see ``normalize``), so ``+255 712 345 678`` equals a
stored ``255712345678`` and is not sent again.
"""

from __future__ import annotations

import pandas as pd

from sync_job.reader import ID_FIELD, VALUE_FIELDS


def send_column(name: str) -> str:
    """Name of the boolean column that marks ``name`` as going out."""
    return f"send_{name}"


def changed_fields(changes: pd.DataFrame, snapshot: pd.DataFrame) -> pd.DataFrame:
    """One boolean column per value field (``send_names`` …), aligned with ``changes``.

    ``changes`` is normalized changes (NaN = not changing, "" = clear); ``snapshot`` is a
    normalized snapshot with one row per contactId ("" = no value).
    """
    known = snapshot.drop_duplicates(ID_FIELD, keep="last").set_index(ID_FIELD)
    ids = changes[ID_FIELD]
    in_snapshot = ids.isin(known.index)
    out = pd.DataFrame(index=changes.index)
    for name in VALUE_FIELDS:
        wanted = changes[name]
        held = ids.map(known[name]).astype("str").fillna("")
        differs = (wanted != held).fillna(True).astype(bool)
        out[send_column(name)] = wanted.notna() & (~in_snapshot | differs)
    return out


def fields_to_send(sends: pd.DataFrame) -> pd.Series:
    """``email|names`` style list of the fields going out per row (sorted, ``|``-joined)."""
    joined = pd.Series("", index=sends.index, dtype="str")
    for name in sorted(VALUE_FIELDS):
        mark = sends[send_column(name)]
        joined = joined.mask(mark, joined.where(joined == "", joined + "|") + name)
    return joined
