"""diff: only fields that differ from the snapshot go out; NaN is never a change."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_job.fields import ID_FIELD, VALUE_FIELDS
from sync_job.plan.arrow import whole_number_keys
from sync_job.plan.diff import (
    FIELD_SET_LABELS,
    ContactIndex,
    changed_fields,
    field_codes,
    send_column,
)
from sync_job.plan.make import snapshot_rows
from sync_job.plan.normalize import normalize_changes, normalize_snapshot

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NA = None  # "not changing" in a changes frame (becomes NaN in a str column)
SEND_COLUMNS = [send_column(name) for name in VALUE_FIELDS]


def changes_frame(rows: list[tuple[str, str | None, str | None, str | None]]) -> pd.DataFrame:
    """Normalized changes: row, contactId, names, number, email (None = not changing)."""
    frame = pd.DataFrame({"row": pd.Series(range(2, len(rows) + 2), dtype="int64")})
    frame[ID_FIELD] = pd.Series([r[0] for r in rows], dtype="str")
    for position, name in enumerate(VALUE_FIELDS, start=1):
        frame[name] = pd.Series([r[position] for r in rows], dtype="str")
    return frame


def snapshot_frame(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    """Normalized snapshot: contactId, names, number, email ("" = no value)."""
    return pd.DataFrame(
        {name: pd.Series([r[i] for r in rows], dtype="str")
         for i, name in enumerate((ID_FIELD, *VALUE_FIELDS))}
    )


def diff(changes: pd.DataFrame, snapshot: pd.DataFrame) -> pd.DataFrame:
    """``changed_fields`` of ``changes`` against their contacts' rows of ``snapshot``, looked
    up as the plan looks them up (a repeated contact's last row counts, as the snapshot reader
    keeps it)."""
    snapshot = snapshot[~snapshot[ID_FIELD].duplicated(keep="last")].reset_index(drop=True)
    ids = changes[ID_FIELD].reset_index(drop=True)
    whole, keys = whole_number_keys(ids)
    positions = ContactIndex(snapshot[ID_FIELD]).positions(ids, whole, keys)
    held, found = snapshot_rows(snapshot, positions)
    return changed_fields(changes, held, found)


def fields_to_send(sends: pd.DataFrame) -> pd.Series:
    """``email|names`` style list of the fields going out per row, as the results show it."""
    return pd.Series(np.array(FIELD_SET_LABELS, dtype=object)[field_codes(sends)],
                     index=sends.index, dtype=object)


def sent(changes: pd.DataFrame, snapshot: pd.DataFrame) -> list[str]:
    return fields_to_send(diff(changes, snapshot)).tolist()


SNAPSHOT = snapshot_frame([
    ("1", "Ann", "255712345678", "ann@example.com"),
    ("2", "Bo", "255700000002", ""),
    ("3", "", "255700000003", "c@example.com"),
])


# ---------------------------------------------------------------- changed_fields


def test_output_shape_is_one_boolean_column_per_field_aligned_with_changes() -> None:
    changes = changes_frame([("1", "Ann", NA, NA), ("2", "Bob", NA, NA)])
    changes.index = pd.Index([10, 11])
    sends = diff(changes, SNAPSHOT)
    assert sends.columns.tolist() == ["send_names", "send_number", "send_email"]
    assert sends.index.tolist() == [10, 11]
    assert all(sends[c].dtype == bool for c in SEND_COLUMNS)


def test_equal_values_are_dropped_and_changed_ones_kept() -> None:
    changes = changes_frame([
        ("1", "Ann", "255712345678", "ann@example.com"),  # all equal
        ("1", "Anne", "255712345678", "ann@example.com"),  # names changed
        ("2", "Bo", "255799999999", "bo@example.com"),  # number and email changed
    ])
    assert sent(changes, SNAPSHOT) == ["", "names", "email|number"]


def test_comparison_is_exact_text() -> None:
    changes = changes_frame([("1", "ann", NA, NA), ("1", "Ann ", NA, NA)])
    assert sent(changes, SNAPSHOT) == ["names", "names"]


def test_not_changing_never_counts_as_a_change() -> None:
    # pandas 3: NaN != anything is True, NaN != NaN too. A naive diff would send these.
    changes = changes_frame([("1", NA, NA, NA), ("2", NA, NA, NA), ("99", NA, NA, NA)])
    sends = diff(changes, SNAPSHOT)
    assert not sends.to_numpy().any()
    assert sent(changes, SNAPSHOT) == ["", "", ""]


def test_nan_in_the_snapshot_counts_as_empty() -> None:
    snapshot = SNAPSHOT.copy()
    snapshot["email"] = pd.Series([np.nan, np.nan, np.nan], dtype="str")
    changes = changes_frame([("1", NA, NA, ""), ("2", NA, NA, NA), ("3", NA, NA, "x@y.z")])
    assert sent(changes, snapshot) == ["", "", "email"]


def test_clearing_an_already_empty_field_is_dropped() -> None:
    changes = changes_frame([
        ("2", NA, NA, ""),  # email already empty
        ("3", "", NA, ""),  # names empty already; email held → cleared
    ])
    assert sent(changes, SNAPSHOT) == ["", "email"]


def test_clearing_a_held_value_is_sent() -> None:
    changes = changes_frame([("1", "", NA, "")])
    assert sent(changes, SNAPSHOT) == ["email|names"]


def test_a_contact_missing_from_the_snapshot_sends_every_field_given() -> None:
    changes = changes_frame([
        ("42", "Zed", "255711111111", NA),
        ("43", "", NA, "z@example.com"),  # a clear is "given" too
        ("44", NA, NA, NA),
    ])
    assert sent(changes, SNAPSHOT) == ["names|number", "email|names", ""]


def test_an_empty_snapshot_sends_every_field_given() -> None:
    empty = snapshot_frame([])
    changes = changes_frame([("1", "Ann", NA, "a@b.c"), ("2", NA, "255700000002", NA)])
    assert sent(changes, empty) == ["email|names", "number"]


def test_the_last_snapshot_row_of_a_repeated_contact_wins() -> None:
    snapshot = snapshot_frame([("1", "Old", "", ""), ("1", "New", "", "")])
    changes = changes_frame([("1", "New", NA, NA), ("1", "Old", NA, NA)])
    assert sent(changes, snapshot) == ["", "names"]


def test_rows_of_one_contact_are_each_compared_to_the_snapshot() -> None:
    changes = changes_frame([("1", "Ann", NA, NA), ("1", "Zoe", NA, NA)])
    assert sent(changes, SNAPSHOT) == ["", "names"]


def test_inputs_are_not_modified() -> None:
    changes = changes_frame([("1", "X", NA, NA), ("7", NA, "255700000007", NA)])
    before_changes, before_snapshot = changes.copy(), SNAPSHOT.copy()
    diff(changes, SNAPSHOT)
    pd.testing.assert_frame_equal(changes, before_changes)
    pd.testing.assert_frame_equal(SNAPSHOT, before_snapshot)


def test_raw_values_normalized_on_both_sides_compare_equal() -> None:
    raw = pd.DataFrame({
        "row": pd.Series([2, 3], dtype="int64"),
        ID_FIELD: pd.Series(["001", "2.0"], dtype="str"),
        "number": pd.Series(["+255 712-345-678", "00255 700 000 002"], dtype="str"),
        "email": pd.Series(["ann@EXAMPLE.com", ""], dtype="str"),
    })
    changes = normalize_changes(raw, clear_marker="<clear>", empty_cells="unchanged")
    snapshot = normalize_snapshot(snapshot_frame([
        ("1", "Ann", "255712345678", "ann@Example.COM"),
        ("0002", "Bo", "+255 700 000 002", ""),
    ]))
    assert sent(changes, snapshot) == ["", ""]


# ---------------------------------------------------------------- fields_to_send


def test_fields_to_send_sorted_and_pipe_joined() -> None:
    sends = pd.DataFrame({
        "send_names": [True, False, True, False, True],
        "send_number": [True, False, False, True, False],
        "send_email": [True, False, True, True, False],
    }, index=[4, 5, 6, 7, 8])
    result = fields_to_send(sends)
    assert result.index.tolist() == [4, 5, 6, 7, 8]
    assert result.tolist() == ["email|names|number", "", "email|names", "email|number", "names"]


def test_fields_to_send_of_no_rows() -> None:
    sends = pd.DataFrame({c: pd.Series([], dtype=bool) for c in SEND_COLUMNS})
    assert fields_to_send(sends).tolist() == []


# ---------------------------------------------------------------- properties (hypothesis)

NAMES = st.sampled_from(["", "Ann", "Bo", "Zoë", "Ann Lee", "ANN"])
NUMBERS = st.sampled_from(["", "255712345678", "255700000001", "447911123456"])
EMAILS = st.sampled_from(["", "a@b.co", "A@b.co", "x.y@example.org"])
VALUES = {"names": NAMES, "number": NUMBERS, "email": EMAILS}


def maybe(values: st.SearchStrategy[str]) -> st.SearchStrategy[str | None]:
    """A normalized change cell: None (not changing), "" (clear) or a value."""
    return st.one_of(st.none(), values)


@st.composite
def snapshots(draw: st.DrawFn, ids: list[str]) -> pd.DataFrame:
    rows = [(i, draw(NAMES), draw(NUMBERS), draw(EMAILS)) for i in ids]
    return snapshot_frame(rows)


@st.composite
def changes_and_snapshot(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Changes (one row per contact) and a snapshot that knows some of those contacts."""
    ids = draw(st.lists(st.integers(1, 30).map(str), unique=True, max_size=10))
    rows = [(i, draw(maybe(NAMES)), draw(maybe(NUMBERS)), draw(maybe(EMAILS))) for i in ids]
    known = [i for i in ids if draw(st.booleans())]
    extra = draw(st.lists(st.integers(31, 40).map(str), unique=True, max_size=3))
    return changes_frame(rows), draw(snapshots(known + extra))


def as_snapshot(changes: pd.DataFrame) -> pd.DataFrame:
    """A changes table read as a snapshot: what it does not give is empty."""
    return changes[[ID_FIELD, *VALUE_FIELDS]].fillna("").reset_index(drop=True)


def apply_sends(snapshot: pd.DataFrame, changes: pd.DataFrame, sends: pd.DataFrame
                ) -> pd.DataFrame:
    """The snapshot after the platform accepted exactly the sent fields."""
    records = {row[ID_FIELD]: dict(row) for row in snapshot.to_dict("records")}
    for position in range(len(changes)):
        contact = changes[ID_FIELD].iat[position]
        record = records.setdefault(
            contact, {ID_FIELD: contact, **dict.fromkeys(VALUE_FIELDS, "")})
        for name in VALUE_FIELDS:
            if sends[send_column(name)].iat[position]:
                record[name] = changes[name].iat[position]
    return snapshot_frame([tuple(r[c] for c in (ID_FIELD, *VALUE_FIELDS))
                           for r in records.values()])


@PROPERTY
@given(changes_and_snapshot())
def test_diffing_a_table_with_itself_sends_nothing(
    pair: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    changes, _ = pair
    sends = diff(changes, as_snapshot(changes))
    assert not sends.to_numpy().any()


@settings(PROPERTY, max_examples=30)
@given(
    st.lists(
        st.tuples(
            st.from_regex(r"\A0{0,2}[1-9][0-9]{0,3}(\.0)?\Z"),
            st.sampled_from(["", " Ann ", "Zoe\u0301", "\u200bBo"]),
            st.sampled_from(["", "+255 712 345 678", "00447911123456", "'255700000001"]),
            st.sampled_from(["", "A@B.CO", "x@Example.org "]),
        ),
        max_size=8,
        unique_by=lambda row: row[0].lstrip("0").removesuffix(".0"),
    )
)
def test_a_raw_table_diffed_with_itself_as_snapshot_sends_nothing(
    rows: list[tuple[str, str, str, str]],
) -> None:
    raw = pd.DataFrame({"row": pd.Series(range(2, len(rows) + 2), dtype="int64")})
    for i, name in enumerate((ID_FIELD, *VALUE_FIELDS)):
        raw[name] = pd.Series([r[i] for r in rows], dtype="str")
    snapshot = normalize_snapshot(raw.drop(columns="row"))
    for empty_cells in ("unchanged", "clear"):
        changes = normalize_changes(raw, clear_marker="<clear>", empty_cells=empty_cells)
        sends = diff(changes, snapshot)
        assert not sends.to_numpy().any(), empty_cells


@PROPERTY
@given(changes_and_snapshot())
def test_applying_the_sent_fields_reproduces_the_input(
    pair: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    changes, snapshot = pair
    sends = diff(changes, snapshot)
    updated = apply_sends(snapshot, changes, sends)
    # Nothing left to send once the platform holds what was sent …
    assert not diff(changes, updated).to_numpy().any()
    # … and the snapshot now holds every given value (a clear as "").
    held = updated.set_index(ID_FIELD)
    for position in range(len(changes)):
        contact = changes[ID_FIELD].iat[position]
        for name in VALUE_FIELDS:
            wanted = changes[name].iat[position]
            if isinstance(wanted, str):
                assert held.at[contact, name] == wanted
    # Fields not sent were already equal: sending only those was enough.
    for name in VALUE_FIELDS:
        not_sent = ~sends[send_column(name)] & changes[name].notna()
        ids = changes[ID_FIELD][not_sent]
        before = snapshot.set_index(ID_FIELD)[name]
        assert (changes[name][not_sent].to_numpy() == before.reindex(ids).to_numpy()).all()


@PROPERTY
@given(changes_and_snapshot())
def test_only_given_fields_are_ever_sent(pair: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    changes, snapshot = pair
    sends = diff(changes, snapshot)
    for name in VALUE_FIELDS:
        assert not (sends[send_column(name)] & changes[name].isna()).any()
