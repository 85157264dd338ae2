"""The pandera schema for normalized changes, and its failures turned into per-row messages.

Validation is lazy: every problem of every row is collected, not just the first. Each check has
a name; :data:`RULES` maps that name to the field it concerns and to a sentence an operator can
act on, quoting the cell as they typed it and saying what is expected.

Cheap checks (patterns, lengths, duplicates) run on every row of the frame given, vectorized.
Costly per-value checks (email-validator, phonenumbers: ``emails.py``, ``phones.py``) run once
per distinct value (or per key their answer depends on alone), and only for values that are
going to be sent: a value equal to what the platform already holds is not sent, so it is not
judged.

The pipeline hands this schema only the rows that need judging: a row that repeats the snapshot
(``sync_job.plan.repeats``) is ``unchanged`` without being validated, so its per-value problems (a
stored name over 100 characters, say) are not reported, as it sends nothing. The whole-file
checks still cover it: its contactId is canonical and present, it has something to change, and
any row sharing a contactId or number with another row is judged here with all the rows it
shares it with.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pyarrow.compute as pc
from pandera.errors import SchemaErrors

from sync_job.fields import ID_FIELD, VALUE_FIELDS
from sync_job.plan.emails import email_problem, valid_emails
from sync_job.plan.normalize import CONTACT_ID, SCIENTIFIC, may_hold_control, text_array, true_flags
from sync_job.plan.phones import PHONE_DIGITS, fine_phone_numbers, phone_problem
from sync_job.plan.repeats import key_groups, shared_keys
from sync_job.read.reader import RowProblem

__all__ = ["MAX_NAME_LENGTH", "PHONE_DIGITS", "RULES", "Verdict", "email_problem",
           "phone_problem", "validate"]

MAX_NAME_LENGTH = 100
# A control character (Unicode category Cc) but NUL, which the reader finds in any cell. No
# name, number or email holds one, and a line break in a cell is most often a quote gone
# missing: the cell swallowed the lines after it. Python's re and pyarrow's RE2 read it alike.
CONTROL_CHARACTER = r"[\x01-\x1f\x7f-\x9f]"


class Context:
    """What explanations look things up in: the normalized and raw frames of this run."""

    def __init__(self, frame: pd.DataFrame, raw: pd.DataFrame) -> None:
        self.frame = frame
        self.raw = raw
        self._rows_by_value: dict[str, dict[Any, list[tuple[int, str]]]] = {}

    def typed(self, position: int, name: str) -> str:
        """The cell as the operator typed it (trimmed)."""
        return str(self.raw[name].iat[position]).strip() if name in self.raw else ""

    def value(self, position: int, name: str) -> str:
        return str(self.frame[name].iat[position])

    def other_rows(self, position: int, name: str, *, other_contacts: bool = False) -> str:
        """The other rows holding the same ``name`` value, e.g. "rows 5, 9".

        ``other_contacts``: only rows of another contactId (for a number shared between
        contacts; the same contact on several rows is a contactId problem of its own).
        """
        if name not in self._rows_by_value:
            # Built once per run and only over repeated values, so many duplicates stay cheap.
            column = self.frame[name]
            repeated = column[column.duplicated(keep=False) & column.notna()]
            pairs = pd.Series(list(zip(self.frame["row"][repeated.index],
                                       self.frame[ID_FIELD][repeated.index], strict=True)),
                              index=repeated.index, dtype=object)
            self._rows_by_value[name] = pairs.groupby(repeated.to_numpy()).agg(list).to_dict()
        value = self.value(position, name)
        own_row = self.frame["row"].iat[position]
        own_id = self.frame[ID_FIELD].iat[position]
        others = [str(row) for row, contact in self._rows_by_value[name].get(value, [])
                  if row != own_row and not (other_contacts and contact == own_id)]
        return ("row " if len(others) == 1 else "rows ") + ", ".join(others)


@dataclass(frozen=True)
class Rule:
    """What a failed check means: the field it concerns and the operator-facing sentence."""

    field: str | None
    explain: Callable[[Context, int], str]
    """(context, row position) → message, without the column name."""


def _explain_number(ctx: Context, i: int) -> str:
    typed, digits = ctx.typed(i, "number"), ctx.value(i, "number")
    if digits.startswith("0") and digits.isdigit():
        return (f'"{typed}" starts with 0: write it with the country code, e.g. 255712345678 '
                f"instead of 0712345678")
    return (f'"{typed}" is not an international phone number: expected the country code and '
            f"number, 8 to 15 digits, e.g. 255712345678")


def _explain_control(ctx: Context, i: int, name: str) -> str:
    typed = ctx.typed(i, name)
    if "\n" in typed or "\r" in typed:
        return "contains a line break: a quote may be missing before or after it"
    found = re.search(CONTROL_CHARACTER, typed)
    code = f" (U+{ord(found.group()):04X})" if found else ""
    return f"contains a control character{code}; delete it"


def _explain_plan(ctx: Context, i: int, check: str) -> str:
    digits = ctx.value(i, "number")
    return (f'"{ctx.typed(i, "number")}" {phone_problem(digits, check)}: expected the country '
            f"code and the full number, e.g. 255712345678")


RULES: dict[str, Rule] = {
    "contact_id_present": Rule(
        ID_FIELD, lambda c, i: "missing: every row needs the id of the contact to update"),
    "contact_id_whole_number": Rule(
        ID_FIELD, lambda c, i: f'"{c.typed(i, ID_FIELD)}" is not a contact id: expected a '
                               f"positive whole number such as 12345"),
    "names_plain_text": Rule("names", lambda c, i: _explain_control(c, i, "names")),
    "names_length": Rule(
        "names", lambda c, i: f"is {len(c.value(i, 'names'))} characters long; at most "
                              f"{MAX_NAME_LENGTH} are allowed"),
    "number_plain_text": Rule("number", lambda c, i: _explain_control(c, i, "number")),
    "number_not_cleared": Rule(
        "number", lambda c, i: "cannot be cleared: a contact must keep a phone number"),
    "number_not_scientific": Rule(
        "number", lambda c, i: f'"{c.typed(i, "number")}" looks like Excel scientific notation: '
                               f"the spreadsheet turned the number into a float and digits were "
                               f"lost; format the column as Text and re-enter the number"),
    "number_international": Rule("number", _explain_number),
    "number_possible": Rule("number", lambda c, i: _explain_plan(c, i, "possible")),
    "number_valid": Rule("number", lambda c, i: _explain_plan(c, i, "valid")),
    "email_plain_text": Rule("email", lambda c, i: _explain_control(c, i, "email")),
    "email_syntax": Rule(
        "email", lambda c, i: f'"{c.typed(i, "email")}" is not a valid email address: '
                              f"{email_problem(c.value(i, 'email'))}"),
    "something_to_change": Rule(
        None, lambda c, i: "nothing to change: names, number and email are all empty"),
    "contact_id_unique": Rule(
        ID_FIELD, lambda c, i: f"contact {c.value(i, ID_FIELD)} is also on "
                               f"{c.other_rows(i, ID_FIELD)}; keep one row per contact"),
    "number_unique": Rule(
        "number",
        lambda c, i: f"{c.value(i, 'number')} is also given to another contact on "
                     f"{c.other_rows(i, 'number', other_contacts=True)}; a number belongs to "
                     f"one contact"),
}


def build_schema(
    going_out: Mapping[str, pd.Series], *, phone_check: str = "possible",
    raw: pd.DataFrame | None = None,
) -> pa.DataFrameSchema:
    """The schema for one run. ``going_out[field]`` marks values that would be sent.

    ``phone_check``: ``format`` checks the digits only; ``possible`` also asks phonenumbers
    whether the length fits the country code; ``valid`` whether the number is assigned.
    ``raw``: the cells as read (same index as the frame validated), for the checks that judge
    what was typed rather than its normal form.
    """
    def filled(values: pd.Series) -> pd.Series:
        return values.notna() & (values != "")

    def plain_text(name: str) -> Callable[[pd.Series], pd.Series]:
        """No control character in the cell as typed, once trimmed: normalizing would hide
        some (a phone number loses its whitespace, line breaks included)."""
        def check(values: pd.Series) -> pd.Series:
            if raw is None or name not in raw:
                return pd.Series(True, index=values.index)
            cells = text_array(raw[name])
            if not may_hold_control(cells):  # nearly always: one cheap pass over the bytes
                return pd.Series(True, index=values.index)
            found = pc.match_substring_regex(pc.utf8_trim_whitespace(cells), CONTROL_CHARACTER)
            return pd.Series(~true_flags(found), index=raw.index).reindex(values.index,
                                                                          fill_value=True)
        return check

    def email_ok(values: pd.Series) -> pd.Series:
        judged = filled(values) & going_out["email"].reindex(values.index, fill_value=True)
        verdict = pd.Series(True, index=values.index)
        if judged.any():
            verdict[judged] = valid_emails(text_array(values[judged]))
        return verdict

    def number_plan_ok(values: pd.Series) -> pd.Series:
        judged = (filled(values) & going_out["number"].reindex(values.index, fill_value=True)
                  & values.str.fullmatch(PHONE_DIGITS, na=False))
        verdict = pd.Series(True, index=values.index)
        if phone_check != "format" and judged.any():
            verdict[judged] = fine_phone_numbers(text_array(values[judged]), phone_check)
        return verdict

    def number_shape(values: pd.Series) -> pd.Series:
        scientific = values.str.fullmatch(SCIENTIFIC, na=False)
        return ~filled(values) | scientific | values.str.fullmatch(PHONE_DIGITS, na=False)

    def unique_among(key: pd.Series, owner: pd.Series) -> pd.Series:
        usable = filled(key).to_numpy(dtype=bool)
        if usable.any():
            # Only a key on several rows can have several owners: find those rows first
            # (whole numbers as int64s, sorted), then compare owners among them alone.
            usable = usable & shared_keys(key_groups(text_array(key), usable), len(key))
        if not usable.any():
            return pd.Series(True, index=key.index)
        pairs = pd.DataFrame({"key": key[usable], "owner": owner[usable]}).drop_duplicates()
        shared = pairs["key"][pairs["key"].duplicated(keep=False)]
        return ~(key.isin(shared) & usable)

    return pa.DataFrameSchema(
        columns={
            ID_FIELD: pa.Column(checks=[
                pa.Check(lambda s: s != "", name="contact_id_present"),
                pa.Check(lambda s: (s == "") | s.str.fullmatch(CONTACT_ID, na=False),
                         name="contact_id_whole_number"),
            ]),
            "names": pa.Column(nullable=True, checks=[
                pa.Check(plain_text("names"), name="names_plain_text"),
                pa.Check(lambda s: s.str.len() <= MAX_NAME_LENGTH, name="names_length"),
            ]),
            "number": pa.Column(nullable=True, checks=[
                pa.Check(plain_text("number"), name="number_plain_text"),
                pa.Check(lambda s: s != "", name="number_not_cleared"),
                pa.Check(lambda s: ~s.str.fullmatch(SCIENTIFIC, na=False),
                         name="number_not_scientific"),
                pa.Check(number_shape, name="number_international"),
                pa.Check(number_plan_ok,
                         name="number_valid" if phone_check == "valid" else "number_possible"),
            ]),
            "email": pa.Column(nullable=True, checks=[
                pa.Check(plain_text("email"), name="email_plain_text"),
                pa.Check(email_ok, name="email_syntax"),
            ]),
        },
        checks=[
            pa.Check(lambda d: d[list(VALUE_FIELDS)].notna().any(axis=1),
                     name="something_to_change"),
            pa.Check(lambda d: unique_among(d[ID_FIELD], d["row"]), name="contact_id_unique"),
            pa.Check(lambda d: unique_among(d["number"], d[ID_FIELD]), name="number_unique"),
        ],
    )


def _failure_cases(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> pd.DataFrame:
    """pandera's failure cases of ``frame`` (columns ``check`` and ``index``; none when
    valid)."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as failure:
        found: pd.DataFrame = failure.failure_cases[["check", "index"]]
        return found
    return pd.DataFrame({"check": pd.Series([], dtype=object),
                         "index": pd.Series([], dtype=object)})


@dataclass(frozen=True)
class Verdict:
    """Per-row outcome of validation, aligned with the normalized frame."""

    invalid: pd.Series
    """bool per row."""
    errors: pd.Series
    """``Column: message`` joined by ``; `` (empty for valid rows)."""
    fields: pd.Series
    """The fields with problems, for the summary message."""


def validate(
    frame: pd.DataFrame,
    raw: pd.DataFrame,
    headers: Mapping[str, str],
    going_out: Mapping[str, pd.Series],
    read_problems: Sequence[RowProblem] = (),
    *,
    phone_check: str = "possible",
) -> Verdict:
    """Run the schema over ``frame`` (normalized, positional index) and explain every failure.

    ``raw`` is the reader's frame with the same index, used to quote cells as typed;
    ``headers`` maps fields to the operator's header spelling. A row's problems are listed
    in the order of :data:`RULES` (by column, then the checks of the whole row), after any
    the reader found.
    """
    found: dict[int, list[tuple[str | None, str]]] = {}
    context = Context(frame, raw)
    cases = _failure_cases(build_schema(going_out, phone_check=phone_check, raw=raw), frame)
    # A check that raised (a bug) fails no row by index: pandera reports it without one.
    # It must stop the run, not pass every row it would have judged.
    crashed = sorted({str(check) for check in cases["check"][cases["index"].isna()]})
    if crashed:
        raise RuntimeError(f"the validation check(s) {', '.join(crashed)} could not run")
    cases = cases.drop_duplicates(["check", "index"])
    order = {name: place for place, name in enumerate(RULES)}
    cases = cases.assign(order=cases["check"].map(order)).sort_values(
        ["order", "index"], kind="stable")
    for check, index in zip(cases["check"], cases["index"], strict=True):
        rule = RULES[str(check)]
        position = int(index)
        found.setdefault(position, []).append((rule.field, rule.explain(context, position)))
    row_position = {row: pos for pos, row in enumerate(frame["row"])} if read_problems else {}
    read: dict[int, list[tuple[str | None, str]]] = {}
    for problem in read_problems:  # a row may have several, kept in the reader's order
        read.setdefault(row_position[problem.row], []).append((problem.field, problem.message))
    for position, first in read.items():
        found[position] = first + found.get(position, [])

    errors = pd.Series("", index=frame.index, dtype="str")
    fields = pd.Series("", index=frame.index, dtype="str")
    for position, problems in found.items():
        errors.iat[position] = "; ".join(
            f"{headers.get(name, name) if name else 'row'}: {message}"
            for name, message in problems)
        fields.iat[position] = ", ".join(
            dict.fromkeys(headers.get(name, name) if name else "row" for name, _ in problems))
    return Verdict(invalid=errors != "", errors=errors, fields=fields)
