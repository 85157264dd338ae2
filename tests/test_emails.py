"""emails: the column-wide answers are email-validator's own, value by value.

``email_problems`` asks email-validator once per domain for addresses of the common shape;
these tests prove it gives, for every address, the very message (or None) that asking about
the address whole gives.
"""

from __future__ import annotations

import idna
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_job.plan.emails import email_problem, email_problems, valid_emails

LOCAL = st.text(alphabet="abcXYZ09._+-!#'\"é @", min_size=0, max_size=12)
LABEL = st.text(alphabet="abz09-", min_size=1, max_size=63)
DOMAIN = st.one_of(
    st.sampled_from(["example.com", "mail.co.tz", "localhost", "x.test", "bücher.ch",
                     "xn--bcher-kva.ch", "-bad.com", "bad-.com", "1.2", "a..b.com", "",
                     "[127.0.0.1]", "EXAMPLE.COM", "a" * 64 + ".com", "b" * 63 + ".com",
                     "xn--80a.xn--p1ai", "xn--zz.com", "ab--cd.com", "example.arpa"]),
    st.text(alphabet="abz09.-", min_size=0, max_size=20),
    # long domains, near the 253 characters a domain may have and the 254 of an address
    st.lists(LABEL, min_size=3, max_size=5).map(lambda labels: ".".join(labels) + ".com"),
    # exactly n characters, around the most a domain (253) and an address (254) may have
    st.integers(240, 259).map(lambda n: ".".join(["a" * 63, "b" * 63, "c" * 63,
                                                   "d" * (n - 196), "com"])),
    # Punycode labels whose Unicode forms take more bytes than they do, as email-validator
    # counts them in an address's length
    st.builds(lambda char, count: idna.encode(char * count).decode() + ".com",
              st.sampled_from(["\u0430", "中", "ü"]), st.integers(1, 56)),
)
ADDRESS = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", LOCAL, DOMAIN),
    st.builds(lambda n, domain: "a" * n + "@" + domain, st.integers(1, 250), DOMAIN),
    st.text(max_size=15),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(ADDRESS, st.none()), min_size=1, max_size=20))
def test_email_problems_are_email_validators_own(addresses: list[str | None]) -> None:
    expected = [None if address is None else email_problem(address) for address in addresses]
    values = pa.array(addresses, pa.large_string())
    assert email_problems(values).to_pylist() == expected
    assert valid_emails(values).tolist() == [problem is None for problem in expected]


@settings(max_examples=200, deadline=None)
@given(DOMAIN, st.lists(st.integers(1, 250), min_size=2, max_size=10))
def test_addresses_at_one_domain_get_each_their_own_answer(domain: str,
                                                           lengths: list[int]) -> None:
    # One domain asked about once, for local parts of every length: too long or not.
    addresses = ["x" * n + "@" + domain for n in lengths]
    assert email_problems(pa.array(addresses, pa.large_string())).to_pylist() == [
        email_problem(address) for address in addresses]


def test_an_address_ending_at_its_at_sign_is_told_so() -> None:
    addresses = [f"c{n}@" for n in range(100)]
    assert set(email_problems(pa.array(addresses, pa.large_string())).to_pylist()) == {
        "There must be something after the @-sign."}
