"""The vectorized fast paths give the answers of the slow, obvious code they stand in for."""

from __future__ import annotations

import json
import re
import unicodedata

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_job.fields import VALUE_FIELDS
from sync_job.plan.arrow import CONTACT_ID, may_hold, may_hold_control, whole_number_keys
from sync_job.plan.diff import ContactIndex, changed_fields, send_column
from sync_job.plan.normalize import normalize_ids, normalize_snapshot, normalize_values
from sync_job.plan.payload import request_bodies

CELL = st.one_of(st.sampled_from(["", "<clear>", " 1001 ", "007", "12.0", "+255 712 345 001",
                                  "00255712345002", "0712345003", "'255712345005", "2.55E+11",
                                  "Ann@Example.COM", "José", "\u200bZed", "e\u0301"]),
                 st.text(alphabet="0123456789 +-().'@aA\u200b", max_size=10))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(CELL, CELL, CELL, CELL), max_size=8))
def test_a_snapshot_diffed_with_itself_sends_nothing(rows: list[tuple[str, ...]]) -> None:
    snapshot = normalize_snapshot(pd.DataFrame(rows, columns=["contactId", *VALUE_FIELDS],
                                               dtype="str"))
    # one row per contact, the last, as the snapshot reader keeps it
    latest = snapshot.drop_duplicates("contactId", keep="last").reset_index(drop=True)
    whole, keys = whole_number_keys(latest["contactId"])
    positions = ContactIndex(latest["contactId"]).positions(latest["contactId"], whole, keys)
    assert positions.tolist() == list(range(len(latest)))
    sends = changed_fields(latest, latest.iloc[positions].reset_index(drop=True),
                           positions >= 0)
    assert not any(sends[send_column(name)].any() for name in VALUE_FIELDS)


ID_TEXT = st.one_of(
    st.sampled_from(["1", "0", "00", "007", "+5", "-5", " 5", "5 ", "1e3", "12.0", "٣", "0x1f",
                     "999999999999999999", "1000000000000000000", "9223372036854775807",
                     "9223372036854775808", "", "abc", "0xFFFFF", "0X1F", "-0"]),
    st.integers(min_value=-10, max_value=10**19).map(str),
    # hex that pyarrow parses, some as long as its value's decimal digits (0xFFFFF: 1048575)
    st.integers(min_value=0, max_value=2**40).map(lambda n: f"0x{n:X}"),
    st.text(alphabet="0123456789+- ", max_size=20),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ID_TEXT, max_size=12))
def test_whole_number_keys_agree_with_the_pattern(values: list[str]) -> None:
    array = pa.array(values, pa.large_string())
    where, keys = whole_number_keys(array)
    expected = [re.fullmatch(CONTACT_ID, value) is not None for value in values]
    assert where.tolist() == expected
    assert keys.tolist() == [int(v) if ok else 0 for v, ok in zip(values, expected, strict=True)]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=60), max_size=30),
       st.lists(st.integers(min_value=-5, max_value=70), max_size=30),
       st.sampled_from([0, 10**12, 2**62]), st.integers(min_value=1, max_value=10**6))
def test_contact_index_finds_the_row_of_each_id(known: list[int], wanted: list[int],
                                                base: int, spread: int) -> None:
    # whole ids as int64 keys, any other text as text
    ids = list(dict.fromkeys([str(base + spread * n) for n in known] + ["7x", "abc"]))
    asked = pd.Series([str(base + spread * n) if n >= 0 else str(-n) + "x" for n in wanted]
                      + ["abc"], dtype="str")
    row = {contact: position for position, contact in enumerate(ids)}
    whole, keys = whole_number_keys(asked)
    found = ContactIndex(pd.Series(ids, dtype="str")).positions(asked, whole, keys)
    assert found.tolist() == [row.get(contact, -1) for contact in asked]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=8), min_size=1, max_size=10), st.integers(0, 9),
       st.integers(0, 9))
def test_may_hold_never_misses_a_value(values: list[str], start: int, length: int) -> None:
    # in a slice, too, where the buffer holds more than the values
    array = pa.array(values, pa.large_string()).slice(start, length)
    pattern = re.compile(rb'["\\\x00-\x1f=]')
    if any(pattern.search(value.encode()) for value in array.to_pylist()):
        assert may_hold(array, pattern)
    if not may_hold(array, pattern):
        assert not any(pattern.search(value.encode()) for value in array.to_pylist())


CONTROL_TEXT = st.one_of(
    st.text(max_size=8),  # any code point, control characters among them
    st.text(alphabet="a\x00\x01\x1f \x7f\x80\x9f\xa0\xc2é€\u0100\u0180", max_size=8))


@settings(max_examples=300, deadline=None)
@given(st.lists(CONTROL_TEXT, min_size=1, max_size=10), st.integers(0, 9), st.integers(0, 9))
def test_may_hold_control_is_a_scan_for_category_cc(values: list[str], start: int,
                                                    length: int) -> None:
    def holds(texts: list[str]) -> bool:
        return any(unicodedata.category(ch) == "Cc" for text in texts for ch in text)

    whole = pa.array(values, pa.large_string())
    assert may_hold_control(whole) == holds(values)
    # in a slice it may say yes for values outside it, never no for one inside
    part = whole.slice(start, length)
    if holds(part.to_pylist()):
        assert may_hold_control(part)


JSON_TEXT = st.one_of(st.text(max_size=10), st.sampled_from(['a"b', "a\\b", "tab\tx", "é", ""]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(JSON_TEXT, JSON_TEXT, JSON_TEXT, st.integers(0, 7)), max_size=10))
def test_request_bodies_are_what_json_dumps_writes(rows: list[tuple[str, str, str, int]]) -> None:
    changes = pd.DataFrame([row[:3] for row in rows], columns=list(VALUE_FIELDS), dtype="str")
    sends = pd.DataFrame({send_column(name): [bool(row[3] >> bit & 1) for row in rows]
                          for bit, name in enumerate(VALUE_FIELDS)}, dtype=bool)
    bodies = request_bodies(changes, sends).to_pylist()
    payloads = [{name: row[i] for i, name in enumerate(VALUE_FIELDS) if row[3] >> i & 1}
                for row in rows]
    assert bodies == [json.dumps(payload, ensure_ascii=False) for payload in payloads
                      if payload]


def test_whole_number_keys_of_values_that_all_parse_as_int64() -> None:
    # pyarrow would parse each of these as an int64; only those written plainly are keys
    values = ["007", "-5", "5", "0", "999999999999999999", "1000000000000000000",
              "0123456789012345678", "-12345678901234567", "0x10"]
    assert pc.cast(pa.array(values), pa.int64()) is not None  # all of them parse
    where, keys = whole_number_keys(pa.array(values, pa.large_string()))
    assert where.tolist() == [False, False, True, False, True, False, False, False, False]
    assert keys.tolist() == [0, 0, 5, 0, 999999999999999999, 0, 0, 0, 0]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.from_regex(r"\A[1-9][0-9]{0,17}\Z"), max_size=10),
       st.sampled_from(["<clear>", "0", "x"]), st.sampled_from(["unchanged", "clear"]))
def test_a_whole_number_as_typed_is_its_own_normal_form(values: list[str], marker: str,
                                                        empty_cells: str) -> None:
    # The plan reads ids and numbers typed as whole numbers without normalizing them.
    series = pd.Series(values, dtype="str")
    assert normalize_ids(series).tolist() == values
    numbers = normalize_values("number", series, clear_marker=marker, empty_cells=empty_cells)
    assert numbers.tolist() == values
