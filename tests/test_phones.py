"""phones: the column-wide answers are phonenumbers' own, value by value.

``possible_phone_numbers`` asks phonenumbers once per (country code, length of the national
number) where no national prefix can be stripped; these tests prove that key is all the
answer depends on, on generated numbers and on every country code phonenumbers knows.
"""

from __future__ import annotations

import random

import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_job.plan.phones import (
    country_code_and_prefix,
    fine_phone_numbers,
    phone_problem,
    possible_phone_numbers,
)

COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
PHONE = st.one_of(
    # a known country code, then digits that often start with a national prefix (0, 1, 8 …)
    st.builds(lambda code, head, rest: (str(code) + head + rest)[:15],
              st.sampled_from(COUNTRY_CODES), st.sampled_from(["", "0", "00", "1", "8", "9"]),
              st.text(alphabet="0123456789", min_size=4, max_size=13)),
    st.text(alphabet="0123456789", min_size=8, max_size=15),  # any digits, unknown codes too
    st.sampled_from(["255712345678", "0255712345678", "1234567", "2557123456789012"]),
)


def text(values: list[str]) -> pa.Array:
    return pa.array(values, pa.large_string())


def possible(values: list[str]) -> list[bool]:
    return [phone_problem(value, "possible") is None for value in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(PHONE, min_size=1, max_size=30))
def test_possible_phone_numbers_agrees_with_phonenumbers(values: list[str]) -> None:
    # Repeated values too: each is judged where it stands, whether asked once or not.
    values = values + values[::2]
    assert possible_phone_numbers(text(values)).tolist() == possible(values)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(COUNTRY_CODES), st.integers(min_value=8, max_value=15),
       st.lists(st.text(alphabet="0123456789", min_size=15, max_size=15), min_size=2,
                max_size=20))
def test_numbers_of_one_country_code_and_length_get_each_their_own_answer(
        code: int, length: int, tails: list[str]) -> None:
    # Many numbers of one key in one call: the first one's answer must hold for the others.
    values = [(str(code) + tail)[:length] for tail in tails]
    assert possible_phone_numbers(text(values)).tolist() == possible(values)


def test_every_country_code_phonenumbers_knows() -> None:
    # National numbers of every length starting with every digit, so that every country's
    # national prefixes (0, 1, 8, 9 …) and every length it knows are met.
    rng = random.Random(11)
    values = [(str(code) + first + "".join(rng.choices("0123456789", k=14)))[:length]
              for code in COUNTRY_CODES for first in "0123456789" for length in range(8, 16)]
    rng.shuffle(values)
    assert possible_phone_numbers(text(values)).tolist() == possible(values)


def test_the_country_code_is_read_from_the_first_three_digits_alone() -> None:
    rng = random.Random(12)
    for first in range(100, 1000):
        for size in (5, 8, 12):
            digits = str(first) + "".join(rng.choices("0123456789", k=size))
            try:
                expected = str(phonenumbers.parse("+" + digits, None).country_code)
            except phonenumbers.NumberParseException:
                expected = ""
            assert country_code_and_prefix(str(first))[0] == expected, digits


@pytest.mark.parametrize("check", ["possible", "valid"])
def test_fine_phone_numbers_is_phone_problem_for_each_check(check: str) -> None:
    values = ["255712345678", "255212345678", "2557123456", "255712345678", "4420794609580",
              "442079460958", "99912345678"]
    assert fine_phone_numbers(text(values), check).tolist() == [
        phone_problem(value, check) is None for value in values]
