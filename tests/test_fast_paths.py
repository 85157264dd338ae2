"""The vectorized fast paths give the answers of the slow, obvious code they stand in for."""

from __future__ import annotations

import json
import re
import unicodedata

import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_job.fields import VALUE_FIELDS
from sync_job.plan.arrow import CONTACT_ID, may_hold, may_hold_control, whole_number_keys
from sync_job.plan.diff import ContactIndex, changed_fields, send_column
from sync_job.plan.normalize import normalize_snapshot
from sync_job.plan.payload import request_bodies
from sync_job.plan.rules import (
    email_problem,
    phone_problem,
    possible_phone_numbers,
    valid_email_addresses,
)

LOCAL = st.text(alphabet="abcXYZ09._+-!#'\"é @", min_size=0, max_size=12)
DOMAIN = st.one_of(
    st.sampled_from(["example.com", "mail.co.tz", "localhost", "x.test", "bücher.ch",
                     "xn--bcher-kva.ch", "-bad.com", "bad-.com", "1.2", "a..b.com",
                     "[127.0.0.1]", "EXAMPLE.COM", "a" * 64 + ".com", "b" * 63 + ".com"]),
    st.text(alphabet="abz09.-", min_size=0, max_size=20),
)
ADDRESS = st.one_of(st.builds(lambda local, domain: f"{local}@{domain}", LOCAL, DOMAIN),
                    st.builds(lambda n: "a" * n + "@example.com", st.integers(60, 250)),
                    st.text(max_size=15))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(ADDRESS, st.none()), min_size=1, max_size=20),
       st.integers(min_value=0, max_value=3))
def test_email_fast_path_agrees_with_email_validator(addresses: list[str | None],
                                                     offset: int) -> None:
    # A missing address counts as valid; the index is the caller's (a slice of the rows).
    index = pd.RangeIndex(offset, offset + len(addresses))
    verdict = valid_email_addresses(pd.Series(addresses, dtype="str", index=index))
    assert verdict.index.equals(index)
    assert verdict.tolist() == [address is None or email_problem(address) is None
                                for address in addresses]


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


COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
PHONE = st.one_of(
    # a known country code, then digits that often start with a national prefix (0, 1, 8 …)
    st.builds(lambda code, head, rest: (str(code) + head + rest)[:15],
              st.sampled_from(COUNTRY_CODES), st.sampled_from(["", "0", "00", "1", "8", "9"]),
              st.text(alphabet="0123456789", min_size=4, max_size=13)),
    st.text(alphabet="0123456789", min_size=8, max_size=15),  # any digits, unknown codes too
    st.sampled_from(["255712345678", "0255712345678", "1234567", "2557123456789012", "abc",
                     "", "+255712345678", "2.55712E+11"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(PHONE, min_size=1, max_size=30))
def test_possible_phone_numbers_agrees_with_phonenumbers(values: list[str]) -> None:
    # Repeated values too: each is judged where it stands, whether asked once or not.
    values = values + values[::2]
    expected = [phone_problem(value, "possible") is None for value in values]
    assert possible_phone_numbers(values).tolist() == expected
    assert possible_phone_numbers(pa.array(values, pa.large_string())).tolist() == expected


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
