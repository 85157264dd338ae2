"""What phonenumbers says about a phone number, asked as rarely as its answers allow.

:func:`phone_verdict` is the rule: it asks phonenumbers' public API about one number
(:func:`phone_problem` gives its words). :func:`possible_phone_numbers` gives its verdicts for
a whole column, asking once per key the answer depends on alone; ``tests/test_phones.py``
checks it against :func:`phone_problem` value by value, and for every country code
phonenumbers knows.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import phonenumbers
import pyarrow as pa

from sync_job.plan.arrow import true_flags
from sync_job.plan.distinct import per_distinct

PHONE_DIGITS = r"[1-9]\d{7,14}"
"""International digits as the job sends them: a country code first, 8 to 15 digits."""

_POSSIBLE_REASONS = {  # names of phonenumbers.ValidationResult members: (problem, words)
    "TOO_SHORT": ("too_short", "too short"),
    "TOO_LONG": ("too_long", "too long"),
    "INVALID_LENGTH": ("wrong_length", "the wrong length"),
    "INVALID_COUNTRY_CODE": ("unknown_country_code", "not after a known country code"),
}

PHONE_PROBLEMS: dict[str, str] = {
    "unknown_country_code": "the digits do not start with a country code phonenumbers knows",
    "too_short": "too short for a phone number of its country code",
    "too_long": "too long for a phone number of its country code",
    "wrong_length": "not a length a phone number of its country code has",
    "not_possible": "not a possible phone number for its country code",
}
"""What :func:`phone_verdict` may find with the ``possible`` check (the problem: its
meaning); the ``valid`` check may also find :data:`NOT_VALID`."""
NOT_VALID = "not_valid"


@functools.lru_cache(maxsize=65536)
def phone_verdict(digits: str, check: str) -> tuple[str, str] | None:
    """(The problem, one of :data:`PHONE_PROBLEMS` or :data:`NOT_VALID`; why, in words) when
    international ``digits`` are not a phone number under ``check`` (``possible``: its length
    fits the country code; ``valid``: it is assigned), or None."""
    try:
        number = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return "unknown_country_code", "does not start with a known country code"
    region = phonenumbers.region_code_for_number(number)
    where = (f"in {region} (country code {number.country_code})" if region and region != "001"
             else f"with country code {number.country_code}")
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason not in (phonenumbers.ValidationResult.IS_POSSIBLE,
                      phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY):
        problem, said = {getattr(phonenumbers.ValidationResult, name): answer
                         for name, answer in _POSSIBLE_REASONS.items()}.get(
            reason, ("not_possible", "not possible"))
        return problem, f"is {said} for a phone number {where}"
    if check == "valid" and not phonenumbers.is_valid_number(number):
        return NOT_VALID, f"is not a valid phone number {where}"
    return None


def phone_problem(digits: str, check: str) -> str | None:
    """Why international ``digits`` are not a phone number under ``check``, in words, or None
    (:func:`phone_verdict`'s words)."""
    verdict = phone_verdict(digits, check)
    return None if verdict is None else verdict[1]


def possible_phone_numbers(digits: pa.Array) -> np.ndarray:
    """``phone_problem(value, "possible") is None`` for each of ``digits`` (international
    digits, :data:`PHONE_DIGITS`, none missing).

    ``phonenumbers.parse`` reads the country code from the first one to three digits and keeps
    the rest as the national number, unless the country's national-prefix pattern matches at
    its start (then it may strip a prefix). ``is_possible_number_with_reason`` compares only
    the national number's length with those of the country code. So a number that pattern
    does not match is asked about once per (country code, length of the rest), any other once
    per distinct value.
    """
    said: dict[tuple[str, int] | str, bool] = {}

    def possible(value: str) -> bool:
        key = _possible_key(value)
        if key not in said:
            said[key] = phone_problem(value, "possible") is None
        return said[key]

    return true_flags(per_distinct(digits, possible, pa.bool_()))


def _possible_key(digits: str) -> tuple[str, int] | str:
    """What phonenumbers' "possible" answer for ``digits`` depends on alone: (country code,
    length of the national number), or the digits themselves."""
    code, national_prefix = country_code_and_prefix(digits[:3])
    if not code:
        return digits
    national = digits[len(code):]
    if national_prefix is not None and national_prefix.match(national):  # as parse() does
        return digits
    return code, len(national)


@functools.lru_cache(maxsize=1000)
def country_code_and_prefix(first_digits: str) -> tuple[str, re.Pattern[str] | None]:
    """(The country code ``phonenumbers.parse`` reads from international digits starting with
    these three, "" for none; the pattern of the national prefixes it may then strip from the
    national number, None for none.) It looks at no more than three digits for the code."""
    try:
        code = phonenumbers.parse("+" + first_digits + "00000", None).country_code
    except phonenumbers.NumberParseException:
        code = None
    if not code:
        return "", None
    region = phonenumbers.region_code_for_country_code(code)
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    pattern = metadata.national_prefix_for_parsing if metadata is not None else None
    return str(code), re.compile(pattern) if pattern else None


def fine_phone_numbers(digits: pa.Array, check: str) -> np.ndarray:
    """``phone_problem(value, check) is None`` for each of ``digits`` (international digits,
    none missing): asked once per key for ``possible``, once per distinct value otherwise."""
    if check == "possible":
        return possible_phone_numbers(digits)
    return true_flags(per_distinct(digits, lambda value: phone_problem(value, check) is None,
                                   pa.bool_()))
