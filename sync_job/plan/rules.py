"""The pandera schema for normalized changes, and its failures turned into per-row messages.

Validation is lazy: every problem of every row is collected, not just the first. Each check has
a name; :data:`RULES` maps that name to the field it concerns, to the problem (or problems) its
failure is, and to a sentence an operator can act on, quoting the cell as they typed it and
saying what is expected. Each problem has a stable code, ``<field>.<problem>`` (``row.<problem>``
for the whole row), made from the rule's field and problem name: a row's ``problem_codes`` list
one per message of its ``errors``, in the same order.

Cheap checks (patterns, lengths, duplicates) run on every row of the frame given, vectorized.
Costly per-value checks (email-validator, phonenumbers: ``emails.py``, ``phones.py``) run once
per distinct value (or per key their answer depends on alone), and only for values that are
going to be sent: a value equal to what the platform already holds is not sent, so it is not
judged.

Messages are made a rule at a time, for all the rows that fail it at once, and each row's
messages joined in one pass, so the work grows with the rows that fail, never with their
square. A message names at most three other rows and quotes at most
:data:`QUOTE_CHARACTERS` of a cell, and a row's ``errors`` are cut at
:data:`MAX_ERRORS_CHARACTERS`: no message grows with the file.

The pipeline hands this schema only the rows that need judging: a row that repeats the snapshot
(``sync_job.plan.repeats``) is ``unchanged`` without being validated, so its per-value problems (a
stored name over 100 characters, say) are not reported, as it sends nothing. The whole-file
checks still cover it: its contactId is canonical and present, it has something to change, and
any row sharing a contactId or number with another row is judged here with all the rows it
shares it with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.compute as pc

from sync_job.fields import ALL_FIELDS, ID_FIELD, VALUE_FIELDS
from sync_job.plan.arrow import (
    CONTACT_ID,
    may_hold_control,
    repeated,
    text_array,
    true_flags,
    whole_number_keys,
)
from sync_job.plan.distinct import per_distinct
from sync_job.plan.emails import email_problem, email_problems, valid_emails
from sync_job.plan.normalize import SCIENTIFIC
from sync_job.plan.phones import (
    NOT_VALID,
    PHONE_DIGITS,
    PHONE_PROBLEMS,
    fine_phone_numbers,
    phone_problem,
    phone_verdict,
)
from sync_job.read.reader import RowProblem

if TYPE_CHECKING:
    import pandera.pandas as pa

# pandera is imported when a schema is first built, not with this module: the pipeline
# imports this module while the files are read, and importing pandera then outlasted the
# reading.

__all__ = ["MAX_NAME_LENGTH", "PHONE_DIGITS", "RULES", "Verdict", "email_problem",
           "phone_problem", "problem_code", "validate"]

MAX_NAME_LENGTH = 100
# A control character (Unicode category Cc) but NUL, which the reader finds in any cell. No
# name, number or email holds one, and a line break in a cell is most often a quote gone
# missing: the cell swallowed the lines after it. Python's re and pyarrow's RE2 read it alike.
CONTROL_CHARACTER = r"[\x01-\x1f\x7f-\x9f]"
QUOTE_CHARACTERS = 60
"""The most of a cell (or a header) a message quotes; a longer one is cut, ending in "…"."""
MAX_ERRORS_CHARACTERS = 1000
"""The most a row's ``errors`` hold; longer ones are cut, ending in "…"."""
MAX_CODES_CHARACTERS = 1000
"""The most a row's ``problem_codes`` hold; beyond, the codes that fit and then ``|…``."""
ROW_LABEL = "row"
"""The label of a problem of the whole row in ``errors`` (``row: nothing to change: …``)."""
CODE_SEPARATOR = "|"
LISTED_ROWS = 3
"""The most other rows a duplicate's message names; beyond, it says how many more."""


def shortened(text: pd.Series, most: int = QUOTE_CHARACTERS) -> pd.Series:
    """Each text, or its start and "…" when it is longer than ``most`` characters."""
    return text.where(text.str.len() <= most, text.str.slice(0, most - 1) + "…")


class Context:
    """What explanations read: the normalized and raw frames of this run, and its phone check.

    Each method takes the positions of the rows to explain and gives one text per position,
    as a Series indexed 0, 1, … so that texts of the same rows line up.
    """

    def __init__(self, frame: pd.DataFrame, raw: pd.DataFrame, phone_check: str) -> None:
        self.frame = frame
        self.raw = raw
        self.phone_check = phone_check

    def value(self, at: np.ndarray, name: str) -> pd.Series:
        """The normalized values."""
        return self.frame[name].iloc[at].reset_index(drop=True)

    def typed(self, at: np.ndarray, name: str) -> pd.Series:
        """The cells as the operator typed them (trimmed)."""
        if name not in self.raw:
            return pd.Series("", index=range(len(at)), dtype="str")
        return self.raw[name].iloc[at].reset_index(drop=True).fillna("").str.strip()

    def quoted(self, at: np.ndarray, name: str) -> pd.Series:
        """The cells as typed, in quotes, a long one cut short."""
        return '"' + shortened(self.typed(at, name)) + '"'

    def other_rows(self, at: np.ndarray, name: str, *, other_contacts: bool = False
                   ) -> pd.Series:
        """The other rows holding the same ``name`` value, e.g. "row 5", "rows 5, 9", or
        beyond :data:`LISTED_ROWS` "rows 5, 9, 12 and 40 others" (or "and 1 other").

        ``other_contacts``: only rows of another contactId (for a number shared between
        contacts; the same contact on several rows is a contactId problem of its own).
        """
        # Every row holding one of those values, in row order: its value's group, its row
        # number, and its "owner": its contact (other_contacts) or itself, whose rows it does
        # not list.
        values = self.frame[name]
        texts = text_array(values)
        members = np.flatnonzero(true_flags(pc.is_in(texts, pc.unique(texts.take(at)))))
        table = pd.DataFrame({
            "group": pd.factorize(values.iloc[members])[0],
            "owner": (pd.factorize(self.frame[ID_FIELD].iloc[members])[0] if other_contacts
                      else np.arange(len(members))),
            "row": self.frame["row"].iloc[members].to_numpy(),
        })
        table["others"] = (table.groupby("group")["row"].transform("size")
                           - table.groupby(["group", "owner"])["row"].transform("size"))
        asked = table.iloc[np.searchsorted(members, at)].reset_index(drop=True)
        # A row's first three others are among the first three rows of each owner in its
        # group, and so among the first six of those (at most three are its owner's).
        listable = table[table.groupby(["group", "owner"]).cumcount() < LISTED_ROWS]
        listable = listable[listable.groupby("group").cumcount() < 2 * LISTED_ROWS]
        pairs = asked[["group", "owner"]].reset_index(names="ask").merge(
            listable.reset_index(names="member"), on="group", suffixes=("", "_listed"))
        pairs = pairs[pairs["owner"] != pairs["owner_listed"]].sort_values(["ask", "member"])
        pairs = pairs[pairs.groupby("ask").cumcount() < LISTED_ROWS]
        listed = _series(_joined(pairs["ask"].to_numpy(), pc.cast(
            pyarrow.array(pairs["row"]), pyarrow.large_string()), len(at), ", "))
        count = asked["others"].to_numpy()
        more = np.maximum(count - LISTED_ROWS, 0)
        beyond = pd.Series(more).map({n: f" and {n:,} other{'s' if n > 1 else ''}" if n else ""
                                      for n in np.unique(more)}).astype("str")
        return pd.Series(np.where(count == 1, "row ", "rows "), dtype="str") + listed + beyond


class Said(NamedTuple):
    """What the explanation of a rule with several problems says of each row failing it."""

    message: pd.Series
    problem: pd.Series
    """Which of the rule's problems the row has (a key of :attr:`Rule.problems`)."""


Explanation = Callable[[Context, np.ndarray], pd.Series | str | Said]


def problem_code(field: str | None, problem: str) -> str:
    """The stable code of a problem of ``field`` (None: of the whole row), e.g.
    ``number.leading_zero``, ``row.nothing_to_change``."""
    return f"{field or 'row'}.{problem}"


@dataclass(frozen=True)
class Rule:
    """What a failed check means: the field it concerns, the problem it is, and the
    operator-facing sentence."""

    field: str | None
    problems: Mapping[str, str]
    """The problems a failure of the check is, by name, each with its meaning (the README's
    table of codes). One, or several the explanation tells apart row by row (a
    :class:`Said`), such as a line break or another control character."""
    explain: Explanation
    """(context, positions of the rows failing) → their messages (or one for all), without
    the column name; for several problems, a :class:`Said`."""

    @property
    def codes(self) -> dict[str, str]:
        """Each problem's code (:func:`problem_code`): its meaning."""
        return {problem_code(self.field, name): meaning for name, meaning in self.problems.items()}

    def said(self, context: Context, at: np.ndarray) -> tuple[pd.Series | str, pd.Series | str]:
        """(The messages of the rows ``at``, their codes): each a Series, or one for all."""
        said = self.explain(context, at)
        if not isinstance(said, Said):
            if len(self.problems) != 1:
                raise RuntimeError(f"the rule of {self.field} has several problems but did "
                                   f"not say which each row has")
            return said, problem_code(self.field, next(iter(self.problems)))
        codes = said.problem.map({name: problem_code(self.field, name)
                                  for name in self.problems})
        if codes.isna().any():  # a problem the rule does not declare (a bug)
            raise RuntimeError(f"a rule of {self.field} found a problem it does not declare")
        return said.message, codes.astype("str")


def _which(flags: pd.Series | np.ndarray, yes: str, no: str) -> pd.Series:
    """``yes`` where ``flags`` hold, else ``no``: the problem of each row."""
    return pd.Series(np.where(np.asarray(flags, dtype=bool), yes, no), dtype="str")


def _explain_number(ctx: Context, at: np.ndarray) -> Said:
    digits = ctx.value(at, "number")
    all_digits = true_flags(per_distinct(text_array(digits), str.isdigit, pyarrow.bool_()))
    local = digits.str.startswith("0").to_numpy(dtype=bool) & all_digits
    typed = ctx.quoted(at, "number")
    return Said((typed + " is not an international phone number: expected the country code "
                 "and number, 8 to 15 digits, e.g. 255712345678").where(
        ~local, typed + " starts with 0: write it with the country code, e.g. 255712345678 "
                        "instead of 0712345678"),
        _which(local, "leading_zero", "not_international"))


def _explain_control(ctx: Context, at: np.ndarray, name: str) -> Said:
    typed = ctx.typed(at, name)
    found = typed.str.extract(f"({CONTROL_CHARACTER})", expand=False)
    code = found.map({char: f" (U+{ord(char):04X})" for char in found.dropna().unique()})
    line_break = typed.str.contains("[\n\r]", regex=True)
    return Said(("contains a control character" + code.fillna("") + "; delete it").where(
        ~line_break, "contains a line break: a quote may be missing before or after it"),
        _which(line_break, "line_break", "control_character"))


def _explain_phone(ctx: Context, at: np.ndarray) -> Said:
    check = ctx.phone_check
    digits = text_array(ctx.value(at, "number"))
    said = per_distinct(digits, lambda value: phone_problem(value, check),
                        pyarrow.large_string())
    problem = per_distinct(digits, lambda value: (phone_verdict(value, check) or ("",))[0],
                           pyarrow.large_string())
    return Said(ctx.quoted(at, "number") + " " + _series(said)
                + ": expected the country code and the full number, e.g. 255712345678",
                _series(problem))


CONTROL_PROBLEMS = {
    "line_break": "the cell holds a line break (most often a quote gone missing: the cell "
                  "swallowed the lines after it)",
    "control_character": "the cell holds a control character other than a line break",
}


RULES: dict[str, Rule] = {
    "contact_id_present": Rule(
        ID_FIELD, {"missing": "the contactId cell is empty"},
        lambda c, at: "missing: every row needs the id of the contact to update"),
    "contact_id_whole_number": Rule(
        ID_FIELD, {"not_whole_number": "the contactId is not a positive whole number"},
        lambda c, at: c.quoted(at, ID_FIELD) + " is not a contact id: expected a positive "
                      "whole number such as 12345"),
    "names_plain_text": Rule("names", CONTROL_PROBLEMS,
                             lambda c, at: _explain_control(c, at, "names")),
    "names_length": Rule(
        "names", {"too_long": f"the name is longer than {MAX_NAME_LENGTH} characters"},
        lambda c, at: "is " + c.value(at, "names").str.len().astype("str")
                      + f" characters long; at most {MAX_NAME_LENGTH} are allowed"),
    "number_plain_text": Rule("number", CONTROL_PROBLEMS,
                              lambda c, at: _explain_control(c, at, "number")),
    "number_not_cleared": Rule(
        "number", {"cleared": "the clear marker in the number column: a contact must keep a "
                              "phone number"},
        lambda c, at: "cannot be cleared: a contact must keep a phone number"),
    "number_not_scientific": Rule(
        "number", {"excel_scientific": "Excel scientific notation (2.55712E+11): the "
                                       "spreadsheet lost digits of the number"},
        lambda c, at: c.quoted(at, "number") + " looks like Excel scientific notation: the "
                      "spreadsheet turned the number into a float and digits were lost; "
                      "format the column as Text and re-enter the number"),
    "number_international": Rule(
        "number", {"leading_zero": "digits starting with 0: a local number, written without "
                                   "its country code",
                   "not_international": "not an international number: 8 to 15 digits, not "
                                        "starting with 0, once +, 00, spaces, dashes, dots and "
                                        "parentheses are removed"},
        _explain_number),
    "number_possible": Rule("number", PHONE_PROBLEMS, _explain_phone),
    "number_valid": Rule(
        "number", {**PHONE_PROBLEMS, NOT_VALID: "not an assigned number of its country code "
                                                "(input.phone_check: valid)"},
        _explain_phone),
    "email_plain_text": Rule("email", CONTROL_PROBLEMS,
                             lambda c, at: _explain_control(c, at, "email")),
    "email_syntax": Rule(
        "email", {"invalid": "not a valid email address (its syntax; no mail is sent)"},
        lambda c, at: c.quoted(at, "email") + " is not a valid email address: "
                      + _series(email_problems(text_array(c.value(at, "email"))))),
    "something_to_change": Rule(
        None, {"nothing_to_change": "names, number and email are all empty (or absent): the "
                                    "row changes nothing"},
        lambda c, at: "nothing to change: names, number and email are all empty"),
    "contact_id_unique": Rule(
        ID_FIELD, {"duplicate": "the same contactId is on another row of the file"},
        lambda c, at: "contact " + shortened(c.value(at, ID_FIELD)) + " is also on "
                      + c.other_rows(at, ID_FIELD) + "; keep one row per contact"),
    "number_unique": Rule(
        "number", {"duplicate": "the same number is on a row of another contact"},
        lambda c, at: shortened(c.value(at, "number")) + " is also given to another contact "
                      "on " + c.other_rows(at, "number", other_contacts=True)
                      + "; a number belongs to one contact"),
}


def build_schema(
    going_out: Mapping[str, pd.Series], *, raw: pd.DataFrame, contact_ids: pd.Series,
    phone_check: str = "possible",
) -> pa.DataFrameSchema:
    """The schema for one run. ``going_out[field]`` marks values that would be sent.

    ``raw``: the cells as read (same index as the frame validated), for the checks that judge
    what was typed rather than its normal form. ``contact_ids``: the frame's normalized
    contactIds, for the check that a number is on one contact's rows only (a check of the
    number column: pandera lists a failing column check's cell, a whole-row check's every
    cell). ``phone_check``: ``format`` checks the digits only; ``possible`` also asks
    phonenumbers whether the length fits the country code; ``valid`` whether the number is
    assigned.
    """
    import pandera.pandas as pa

    def filled(values: pd.Series) -> pd.Series:
        return values.notna() & (values != "")

    def plain_text(name: str) -> Callable[[pd.Series], pd.Series]:
        """No control character in the cell as typed, once trimmed: normalizing would hide
        some (a phone number loses its whitespace, line breaks included)."""
        def check(values: pd.Series) -> pd.Series:
            if name not in raw:
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

    def on_several_rows(key: pd.Series) -> np.ndarray:
        """Which keys (filled ones) are also on another row: whole numbers as int64s, sorted,
        the rest hashed."""
        usable = filled(key).to_numpy(dtype=bool)
        if usable.any():
            whole, keys = whole_number_keys(key.fillna(""))
            usable = usable & (repeated(keys, usable & whole)
                               | repeated(key.to_numpy(dtype=object), usable & ~whole))
        return usable

    def one_contact_each(numbers: pd.Series) -> pd.Series:
        """Whether each number is on the rows of one contact only."""
        several = on_several_rows(numbers)  # only those can be on several contacts' rows
        if not several.any():
            return pd.Series(True, index=numbers.index)
        owners = contact_ids.reindex(numbers.index)
        pairs = pd.DataFrame({"number": numbers[several], "owner": owners[several]})
        pairs = pairs.drop_duplicates()
        shared = pairs["number"][pairs["number"].duplicated(keep=False)]
        return pd.Series(~(true_flags(pc.is_in(text_array(numbers), text_array(shared)))
                           & several), index=numbers.index)

    return pa.DataFrameSchema(
        columns={
            ID_FIELD: pa.Column(checks=[
                pa.Check(lambda s: s != "", name="contact_id_present"),
                pa.Check(lambda s: (s == "") | s.str.fullmatch(CONTACT_ID, na=False),
                         name="contact_id_whole_number"),
                pa.Check(lambda s: pd.Series(~on_several_rows(s), index=s.index),
                         name="contact_id_unique"),
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
                pa.Check(one_contact_each, name="number_unique"),
            ]),
            "email": pa.Column(nullable=True, checks=[
                pa.Check(plain_text("email"), name="email_plain_text"),
                pa.Check(email_ok, name="email_syntax"),
            ]),
        },
        checks=[
            pa.Check(lambda d: d[list(VALUE_FIELDS)].notna().any(axis=1),
                     name="something_to_change"),
        ],
    )


def _failing_rows(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The positions of the rows of ``frame`` failing each check of ``schema``, by name."""
    from pandera.errors import SchemaErrors

    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as failure:
        cases: pd.DataFrame = failure.failure_cases[["check", "index"]]
    else:
        return {}
    # A check that raised (a bug) fails no row by index: pandera reports it without one.
    # It must stop the run, not pass every row it would have judged.
    crashed = sorted({str(check) for check in cases["check"][cases["index"].isna()]})
    if crashed:
        raise RuntimeError(f"the validation check(s) {', '.join(crashed)} could not run")
    return {str(check): np.unique(rows.to_numpy(dtype=np.int64))
            for check, rows in cases.groupby("check")["index"]}


_ROW_PLACE = len(ALL_FIELDS)
"""Where a problem of the whole row comes among a row's cells: after the fields'."""


def _cells(positions: np.ndarray, places: np.ndarray | int) -> np.ndarray:
    """Each problem's cell as one number: its row's position and its place in the row (its
    field's in :data:`ALL_FIELDS`, or :data:`_ROW_PLACE` for the whole row)."""
    return positions * (_ROW_PLACE + 1) + places


@dataclass(frozen=True)
class Verdict:
    """Per-row outcome of validation, aligned with the normalized frame."""

    invalid: pd.Series
    """bool per row."""
    errors: pd.Series
    """``Column: message`` joined by ``; `` (empty for valid rows)."""
    codes: pd.Series
    """The stable code of each problem in ``errors``, in the same order, joined by ``|``."""
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
    ``headers`` maps fields to the operator's header spelling. A row's problems come in
    this order: those the reader found (a date in a spreadsheet cell, a NUL byte), column by
    column (contactId, names, number, email), then those of the whole row (a ragged row);
    then the schema's in the order of :data:`RULES` (column by column, then the checks of the
    whole row). A cell the reader found a problem in gets no further message.
    """
    schema = build_schema(going_out, raw=raw, contact_ids=frame[ID_FIELD],
                          phone_check=phone_check)
    failing = _failing_rows(schema, frame)
    context = Context(frame, raw, phone_check)
    # Every problem in one table (row position, rank, field, message, code), listed by rank
    # within a row: the reader's first, then the schema's in the order of RULES.
    read = _read_problems(frame, read_problems)
    reported = _cells(read["position"].to_numpy(), read["rank"].to_numpy())
    found = [read]
    for rank, (check, rule) in enumerate(RULES.items(), start=_ROW_PLACE + 1):
        at = failing.get(check, np.array([], dtype=np.int64))
        if rule.field is not None:
            at = at[~np.isin(_cells(at, ALL_FIELDS.index(rule.field)), reported)]
        if not len(at):
            continue
        message, code = rule.said(context, at)
        if isinstance(message, pd.Series) and message.isna().any():
            # The check and its explanation disagree (a bug): an empty message would hide it.
            raise RuntimeError(f"the validation check {check} failed rows it cannot explain")
        found.append(pd.DataFrame({"position": at, "rank": rank, "field": rule.field or "",
                                   "message": message, "code": code}))
    problems = pd.concat(found, ignore_index=True)
    problems = problems.iloc[np.lexsort((problems["rank"], problems["position"]))]  # stable
    labels = {name: headers.get(name, name) if name else ROW_LABEL
              for name in problems["field"].unique()}
    label = shortened(problems["field"].map(labels).astype("str"))
    positions = problems["position"].to_numpy()
    errors = _series(_joined(positions, text_array(label + ": " + problems["message"]),
                             len(frame), "; "))
    errors = shortened(errors, MAX_ERRORS_CHARACTERS)
    codes = _cut_codes(_series(_joined(positions, text_array(problems["code"].astype("str")),
                                       len(frame), CODE_SEPARATOR)))
    fields = pd.DataFrame({"position": positions, "label": label}).drop_duplicates()
    fields_text = _series(_joined(fields["position"].to_numpy(), text_array(fields["label"]),
                                  len(frame), ", "))
    errors.index = codes.index = fields_text.index = frame.index
    return Verdict(invalid=errors != "", errors=errors, codes=codes, fields=fields_text)


def _cut_codes(codes: pd.Series) -> pd.Series:
    """Each row's codes, or, beyond :data:`MAX_CODES_CHARACTERS`, those that fit whole and
    then ``…`` (only a row with problems in thousands of cells comes near)."""
    long = np.flatnonzero((codes.str.len() > MAX_CODES_CHARACTERS).to_numpy(dtype=bool))
    if not len(long):
        return codes
    cut = []
    for text in codes.iloc[long]:
        head = text[:MAX_CODES_CHARACTERS - 1 - len(CODE_SEPARATOR)]
        cut.append(head[:head.rindex(CODE_SEPARATOR) + 1] + "…")
    codes = codes.copy()
    codes.iloc[long] = cut
    return codes


def _read_problems(frame: pd.DataFrame, problems: Sequence[RowProblem]) -> pd.DataFrame:
    """The reader's problems as a table of problems, ranked by their place in the row:
    column by column, then those of the whole row."""
    fields = [problem.field or "" for problem in problems]
    place = {name: index for index, name in enumerate(ALL_FIELDS)}
    return pd.DataFrame({
        "position": pd.Index(frame["row"]).get_indexer([problem.row for problem in problems]),
        "rank": np.array([place.get(name, _ROW_PLACE) for name in fields], dtype=np.int64),
        "field": pd.Series(fields, dtype="str"),
        "message": pd.Series([problem.message for problem in problems], dtype="str"),
        "code": pd.Series([problem.code for problem in problems], dtype="str"),
    })


def _joined(positions: np.ndarray, texts: pyarrow.Array, size: int, separator: str
            ) -> pyarrow.Array:
    """For each of ``size`` rows, the ``texts`` at its position joined by ``separator`` ("" for
    none); ``positions`` is sorted, one per text."""
    offsets = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(np.bincount(positions, minlength=size), out=offsets[1:])
    lists = pyarrow.LargeListArray.from_arrays(pyarrow.array(offsets), texts)
    return pc.binary_join(lists, pyarrow.scalar(separator, pyarrow.large_string()))


def _series(values: pyarrow.Array) -> pd.Series:
    """An arrow text array as a pandas ``str`` Series indexed 0, 1, …"""
    return pd.Series(values, dtype="str")
