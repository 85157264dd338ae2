"""Rows that repeat the snapshot: found from the raw cells, before anything is normalized.

Most rows of a nightly file (about 80%) give exactly what the platform already holds. Such a
row sends nothing, so it is ``unchanged`` without being normalized, diffed or judged value by
value; only the rest of the file goes through ``normalize`` → ``diff`` → ``rules``. A row
*repeats the snapshot* when all of this holds:

* its contactId was typed in its normal form (``[1-9][0-9]{0,17}``: no spaces, no leading
  zero, no ``.0``) and the snapshot holds that contact;
* every value column the file has is, in that row, either
  - byte for byte the snapshot's stored value, a value that is neither empty nor the clear
    marker, also once cleaned up as ``normalize.clean_text`` cleans it (a cell of zero-width
    characters is empty), or
  - an empty cell, when ``input.empty_cells`` is ``unchanged`` (it changes nothing);
* at least one value column holds such a stored value (a row of empty cells is judged: it has
  nothing to change).

Any other spelling, even one that normalizes to the stored value (spaces around it, another
case in the e-mail's domain), takes the full path and is judged; so this module needs no
normalizing of its own. Columns the file does not have change nothing and are not looked at.

Every row still faces the checks over the whole file: a row that shares its contactId or
number with another row is judged whatever it holds (``make.rows_sharing_a_key``). What a row
that repeats the snapshot skips are the per-value checks (name length, number shape and plan,
email syntax): it sends nothing, so a value the platform already holds is not reported.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sync_job.fields import VALUE_FIELDS
from sync_job.plan.arrow import text_array, true_flags
from sync_job.plan.normalize import clean_text


def rows_repeating_snapshot(cells: pa.Table, snapshot: pd.DataFrame, held_at: np.ndarray, *,
                            clear_marker: str, empty_cells: str,
                            ascii: bool = False) -> np.ndarray:
    """Which rows of ``cells`` (the reader's table) repeat the snapshot (module docstring).

    ``held_at`` is each row's snapshot row, -1 for a row whose id was not typed in its normal
    form or is not in the snapshot. ``ascii``: every cell is known to be ASCII, so none needs
    the Unicode clean-up.
    """
    repeats = held_at >= 0
    present = [name for name in VALUE_FIELDS if name in cells.column_names]
    if not repeats.any() or not present:
        return np.zeros(cells.num_rows, dtype=bool)
    take = pa.array(np.where(repeats, held_at, 0))
    given = np.zeros(cells.num_rows, dtype=bool)
    for name in present:
        values = cells.column(name)
        stored = text_array(snapshot[name]).take(take)
        same = repeats & _holds_stored_value(values, stored, clear_marker, ascii=ascii)
        if empty_cells == "clear":
            repeats &= same
        else:
            repeats &= same | true_flags(pc.equal(values, ""))
        given |= same
    return repeats & given


def _holds_stored_value(values: pa.ChunkedArray, stored: pa.Array, clear_marker: str, *,
                        ascii: bool) -> np.ndarray:
    """Cells that are byte for byte the stored value, which is neither empty nor the marker
    once cleaned up."""
    equal: np.ndarray = (true_flags(pc.equal(values, stored))
                         & true_flags(pc.not_equal(values, ""))
                         & true_flags(pc.not_equal(values, clear_marker)))
    if ascii:
        return equal
    # Beyond ASCII the clean-up may empty a cell (zero-width characters) or make it the
    # marker: ask it for those few cells.
    odd = np.flatnonzero(equal & ~true_flags(pc.string_is_ascii(values)))
    if len(odd):
        cleaned = clean_text(pd.Series(values.take(pa.array(odd)), dtype="str")).fillna("")
        equal[odd] = ((cleaned != "") & (cleaned != clear_marker)).to_numpy(dtype=bool)
    return equal
