"""The vectorized fast paths give the answers of the slow, obvious code they stand in for."""

from __future__ import annotations

import pandas as pd
import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_job.diff import changed_fields, send_column
from sync_job.normalize import normalize_snapshot
from sync_job.reader import VALUE_FIELDS
from sync_job.schema import (
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


@settings(max_examples=200, deadline=None)
@given(st.lists(ADDRESS, min_size=1, max_size=20))
def test_email_fast_path_agrees_with_email_validator(addresses: list[str]) -> None:
    verdict = valid_email_addresses(pd.Series(addresses, dtype="str"))
    assert verdict.tolist() == [email_problem(address) is None for address in addresses]


CELL = st.one_of(st.sampled_from(["", "<clear>", " 1001 ", "007", "12.0", "+255 712 345 001",
                                  "00255712345002", "0712345003", "'255712345005", "2.55E+11",
                                  "Ann@Example.COM", "José", "\u200bZed", "e\u0301"]),
                 st.text(alphabet="0123456789 +-().'@aA\u200b", max_size=10))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(CELL, CELL, CELL, CELL), max_size=8))
def test_a_snapshot_diffed_with_itself_sends_nothing(rows: list[tuple[str, ...]]) -> None:
    snapshot = normalize_snapshot(pd.DataFrame(rows, columns=["contactId", *VALUE_FIELDS],
                                               dtype="str"))
    # keep the last row of each contact, as the diff does
    latest = snapshot.drop_duplicates("contactId", keep="last").reset_index(drop=True)
    sends = changed_fields(latest, snapshot)
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
    distinct = list(dict.fromkeys(values))
    assert possible_phone_numbers(distinct).tolist() == [
        phone_problem(value, "possible") is None for value in distinct]
