"""What email-validator says about an address, asked as rarely as its answers allow.

:func:`email_problem` is the rule: it asks email-validator's public API about one address
(syntax only, no DNS). :func:`email_problems` gives its answers for a whole column, asking
once per domain for addresses of the common shape; ``tests/test_emails.py`` checks it
against :func:`email_problem` value by value.
"""

from __future__ import annotations

import functools

import email_validator
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sync_job.plan.arrow import text_array, true_flags
from sync_job.plan.distinct import per_distinct


@functools.lru_cache(maxsize=65536)
def email_problem(address: str) -> str | None:
    """Why ``address`` is not a valid email address (syntax only, no DNS), or None."""
    try:
        email_validator.validate_email(address, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        return str(exc)
    return None


# The common shape of an address: an ASCII dot-atom before the @, which email-validator accepts
# whatever its length (when not strict), and letters, digits, dots and hyphens after it (or
# nothing, as in "ann@").
_ATEXT = "A-Za-z0-9_!#$%&'*+/=?^`{|}~-"
_COMMON_SHAPE = rf"^(?P<local>[{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@(?P<domain>[A-Za-z0-9.-]*)$"
_MAX_ADDRESS_BYTES = 254  # email-validator's limit (RFC 3696 errata 1690)


@functools.lru_cache(maxsize=4096)
def _domain_verdict(domain: str) -> tuple[str | None, int]:
    """(Why no address at ``domain`` is valid, or None; the bytes of the longest form of the
    domain email-validator checks an address's length in).

    Asked with an empty local part (allowed for this question), so that only the domain can
    fail: email-validator judges the local part first, then the domain, and the length of
    the whole address last.
    """
    try:
        checked = email_validator.validate_email(
            "@" + domain, allow_empty_local=True, check_deliverability=False)
    except email_validator.EmailNotValidError as exc:
        return str(exc), 0
    return None, max(len(form.encode("utf-8"))
                     for form in (domain, checked.domain, checked.ascii_domain))


def email_problems(addresses: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`email_problem` of each address (null for a valid or missing one).

    An address of the common shape has a local part email-validator accepts, so its problem
    is its domain's, if any; otherwise it is valid unless too long. Domains are asked about
    once each; an address of another shape, or too long, is asked about whole, once per
    distinct value.
    """
    values = text_array(addresses)
    parts = pc.extract_regex(values, _COMMON_SHAPE)  # null: another shape, or missing
    domains = pc.struct_field(parts, "domain")  # null where ``parts`` is
    problems = per_distinct(domains, lambda domain: _domain_verdict(domain)[0],
                            pa.large_string())
    longest = per_distinct(domains, lambda domain: _domain_verdict(domain)[1], pa.int64())
    common = true_flags(pc.is_valid(parts))
    # The local part is ASCII: its bytes are its characters.
    length = pc.add(pc.add(pc.binary_length(pc.struct_field(parts, "local")), 1), longest)
    too_long = true_flags(pc.and_(pc.is_null(problems), pc.greater(length, _MAX_ADDRESS_BYTES)))
    whole = (~common & true_flags(pc.is_valid(values))) | too_long
    if not whole.any():
        return problems
    mask = pa.array(whole)
    return pc.replace_with_mask(problems, mask, per_distinct(
        values.filter(mask), email_problem, pa.large_string()))


def valid_emails(addresses: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Whether email-validator accepts each address (a missing one counts as valid)."""
    return true_flags(pc.is_null(email_problems(addresses)))
