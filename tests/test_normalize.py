"""normalize: whitespace, phone digits, email case, contact ids, and what each cell means."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sync_job.fields import VALUE_FIELDS
from sync_job.plan.normalize import (
    clean_text,
    normalize_changes,
    normalize_contact_id,
    normalize_email,
    normalize_number,
    normalize_snapshot,
)

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FRAMES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def text(*values: str | None) -> pd.Series:
    return pd.Series(list(values), dtype="str")


def as_list(series: pd.Series) -> list[object]:
    """Values with NaN shown as None, so lists compare plainly."""
    return [None if isinstance(v, float) and math.isnan(v) else v for v in series.tolist()]


def changes_frame(**columns: list[str]) -> pd.DataFrame:
    """A frame shaped like the reader's output: ``row`` int64 from 2, then text columns."""
    length = len(next(iter(columns.values())))
    frame = pd.DataFrame({"row": pd.Series(range(2, length + 2), dtype="int64")})
    for name, values in columns.items():
        frame[name] = pd.Series(values, dtype="str")
    return frame


# ---------------------------------------------------------------- clean_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ann Lee  ", "Ann Lee"),
        ("\tAnn\n", "Ann"),
        ("\u00a0Ann\u00a0", "Ann"),  # non-breaking spaces
        ("\u200bAnn\u200d", "Ann"),  # zero-width space / joiner
        ("\ufeffAnn", "Ann"),  # stray BOM
        ("\u2060 Ann \u200c\u00a0", "Ann"),  # mixed at both ends
        ("Ann  Lee", "Ann  Lee"),  # inner spaces are the operator's
        ("", ""),
        ("   ", ""),
        ("\u200b\u200b", ""),
    ],
)
def test_clean_text_trims(raw: str, expected: str) -> None:
    assert clean_text(text(raw)).tolist() == [expected]


def test_clean_text_composes_decomposed_accents_to_nfc() -> None:
    decomposed = "Jose\u0301 Ame\u0301lie"
    [cleaned] = clean_text(text(decomposed)).tolist()
    assert cleaned == "Jos\u00e9 Am\u00e9lie"
    assert len(cleaned) == len(decomposed) - 2


def test_clean_text_keeps_already_composed_text() -> None:
    assert clean_text(text("Zoë Ñandú", "Ann")).tolist() == ["Zoë Ñandú", "Ann"]


def test_clean_text_keeps_missing_values_missing() -> None:
    cleaned = clean_text(text(" a ", None, "e\u0301 ", "\u200bb"))
    assert as_list(cleaned) == ["a", None, "\u00e9", "b"]


def test_clean_text_keeps_the_index() -> None:
    series = pd.Series([" a", "b "], index=[10, 20], dtype="str")
    assert clean_text(series).index.tolist() == [10, 20]


# ---------------------------------------------------------------- normalize_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("255712345678", "255712345678"),
        ("+255712345678", "255712345678"),
        ("00255712345678", "255712345678"),
        ("+255 712 345 678", "255712345678"),
        ("255-712-345-678", "255712345678"),
        ("255.712.345.678", "255712345678"),
        ("+255 (712) 345-678", "255712345678"),
        ("00 255 712 345 678", "255712345678"),
        ("'255712345678", "255712345678"),  # Excel's text marker
        ("'+255 712 345 678", "255712345678"),
        ("255712345678.0", "255712345678"),  # a float from a spreadsheet
        ("255712345678.00", "255712345678"),
        ("0712345678", "0712345678"),  # left for validation to explain
        ("2.55712E+11", "2.55712E+11"),  # scientific notation is kept as typed
        ("2.55712e11", "2.55712e11"),
        ("call me", "call me"),  # letters kept
        ("255-712-ABC", "255-712-ABC"),
        ("+", "+"),
        ("255712345678 ext 2", "255712345678 ext 2"),
    ],
)
def test_normalize_number(raw: str, expected: str) -> None:
    assert normalize_number(text(raw)).tolist() == [expected]


def test_normalize_number_keeps_a_double_zero_that_is_not_an_international_prefix() -> None:
    # "00" then another 0 is no country code: stripping it would hide the typo, and
    # normalizing again would strip again (not idempotent).
    assert normalize_number(text("0000255712345678")).tolist() == ["0000255712345678"]


def test_normalize_number_never_turns_a_value_into_a_clear() -> None:
    # "" means "clear this field": a written value must never normalize to it.
    result = normalize_number(text("00", "00.0", "'00", "'", "''"))
    assert result.tolist() == ["00", "00", "00", "'", "''"]


@pytest.mark.parametrize("raw", ["''255712345678", "' '255712345678", "+00255712345678"])
def test_normalize_number_odd_prefixes_normalize_in_one_go(raw: str) -> None:
    assert normalize_number(text(raw)).tolist() == ["255712345678"]


def test_normalize_number_mixed_series_keeps_positions() -> None:
    series = pd.Series(["+255 712 345 678", "abc", "00 44 20 7946 0958"], index=[5, 6, 7],
                       dtype="str")
    result = normalize_number(series)
    assert result.index.tolist() == [5, 6, 7]
    assert result.tolist() == ["255712345678", "abc", "442079460958"]


# ---------------------------------------------------------------- normalize_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ann@example.com", "ann@example.com"),
        ("Ann@Example.COM", "Ann@example.com"),
        ("Ann@ПОЧТА.РФ", "Ann@почта.рф"),
        ("Élodie@Exemple.FR", "Élodie@exemple.fr"),
        ("Zoë@ÜBER.de", "Zoë@über.de"),
        ("ANN.LEE@EXAMPLE.CO.TZ", "ANN.LEE@example.co.tz"),
        ("Mixed.Case+Tag@Mail.Example.org", "Mixed.Case+Tag@mail.example.org"),
        ("\"A@B\"@Example.com", "\"A@B\"@example.com"),  # the last @ splits
        ("no-at-sign", "no-at-sign"),
        ("Trailing@", "Trailing@"),
    ],
)
def test_normalize_email(raw: str, expected: str) -> None:
    assert normalize_email(text(raw)).tolist() == [expected]


def test_normalize_email_keeps_missing_values() -> None:
    assert as_list(normalize_email(text(None, "A@B.C"))) == [None, "A@b.c"]


# ---------------------------------------------------------------- normalize_contact_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12345", "12345"),
        ("12345.0", "12345"),
        ("12345.000", "12345"),
        ("007", "7"),
        ("0", "0"),
        ("000", "0"),
        ("123456789012345678", "123456789012345678"),  # long ids keep every digit
        ("12.5", "12.5"),
        ("-3", "-3"),
        ("abc", "abc"),
        ("", ""),
    ],
)
def test_normalize_contact_id(raw: str, expected: str) -> None:
    assert normalize_contact_id(text(raw)).tolist() == [expected]


# ---------------------------------------------------------------- normalize_changes


def test_normalize_changes_output_shape() -> None:
    frame = changes_frame(contactId=[" 12.0 ", "007"], names=["Ann", "Bo"])
    out = normalize_changes(frame, clear_marker="<clear>", empty_cells="unchanged")
    assert out.columns.tolist() == ["row", "contactId", *VALUE_FIELDS]
    assert out["row"].tolist() == [2, 3]
    assert out["row"].dtype == "int64"
    assert out["contactId"].tolist() == ["12", "7"]
    for name in VALUE_FIELDS:
        assert out[name].dtype == "str"


def test_empty_cell_means_not_changing_by_default() -> None:
    frame = changes_frame(
        contactId=["1", "2", "3"],
        names=["Ann", "", "  "],
        number=["", "+255 712 345 678", "\u00a0"],
        email=["", "", "Ann@X.ORG"],
    )
    out = normalize_changes(frame, clear_marker="<clear>", empty_cells="unchanged")
    assert as_list(out["names"]) == ["Ann", None, None]
    assert as_list(out["number"]) == [None, "255712345678", None]
    assert as_list(out["email"]) == [None, None, "Ann@x.org"]


def test_clear_marker_means_clear() -> None:
    frame = changes_frame(
        contactId=["1", "2"],
        names=["<clear>", " <clear> "],
        number=["<clear>", "255712345678"],
        email=["<CLEAR>", "<clear>x"],
    )
    out = normalize_changes(frame, clear_marker="<clear>", empty_cells="unchanged")
    assert as_list(out["names"]) == ["", ""]
    assert as_list(out["number"]) == ["", "255712345678"]
    # Only a cell holding exactly the marker clears (case and extra text matter).
    assert as_list(out["email"]) == ["<CLEAR>", "<clear>x"]


def test_a_custom_clear_marker() -> None:
    frame = changes_frame(contactId=["1", "2"], names=["-", "<clear>"])
    out = normalize_changes(frame, clear_marker="-", empty_cells="unchanged")
    assert as_list(out["names"]) == ["", "<clear>"]


def test_empty_cells_clear_makes_empty_cells_clears() -> None:
    frame = changes_frame(
        contactId=["1", "2"],
        names=["", "Ann"],
        number=["<clear>", " "],
        email=["a@B.com", ""],
    )
    out = normalize_changes(frame, clear_marker="<clear>", empty_cells="clear")
    assert as_list(out["names"]) == ["", "Ann"]
    assert as_list(out["number"]) == ["", ""]
    assert as_list(out["email"]) == ["a@b.com", ""]


@pytest.mark.parametrize("empty_cells", ["unchanged", "clear"])
def test_a_missing_column_never_clears(empty_cells: str) -> None:
    frame = changes_frame(contactId=["1", "2"], names=["", "Bo"])
    out = normalize_changes(frame, clear_marker="<clear>", empty_cells=empty_cells)
    assert out["number"].isna().all()
    assert out["email"].isna().all()
    assert out["number"].dtype == "str"


def test_nan_in_the_input_is_an_empty_cell() -> None:
    frame = changes_frame(contactId=["1", "2"], names=["Ann", "Bo"])
    frame["email"] = pd.Series([None, "a@b.c"], dtype="str")
    unchanged = normalize_changes(frame, clear_marker="<clear>", empty_cells="unchanged")
    assert as_list(unchanged["email"]) == [None, "a@b.c"]
    cleared = normalize_changes(frame, clear_marker="<clear>", empty_cells="clear")
    assert as_list(cleared["email"]) == ["", "a@b.c"]


def test_normalize_changes_keeps_index_and_does_not_touch_the_input() -> None:
    frame = changes_frame(contactId=["1", "2"], names=[" Ann ", ""])
    frame.index = pd.Index([7, 9])
    before = frame.copy()
    out = normalize_changes(frame, clear_marker="<clear>", empty_cells="unchanged")
    assert out.index.tolist() == [7, 9]
    pd.testing.assert_frame_equal(frame, before)


def test_normalize_changes_cleans_names_but_does_not_change_case() -> None:
    frame = changes_frame(contactId=["1"], names=["\u200b  ANN lee\u0301 "])
    out = normalize_changes(frame, clear_marker="<clear>", empty_cells="unchanged")
    assert out["names"].tolist() == ["ANN le\u00e9"]


def test_normalize_snapshot_matches_changes_form() -> None:
    snapshot = pd.DataFrame(
        {
            "contactId": ["0012", "13.0"],
            "names": [" Ann ", ""],
            "number": ["+255 712 345 678", ""],
            "email": ["A@B.COM", ""],
        },
        dtype="str",
    )
    out = normalize_snapshot(snapshot)
    assert out.columns.tolist() == ["contactId", *VALUE_FIELDS]
    assert out.to_dict("records") == [
        {"contactId": "12", "names": "Ann", "number": "255712345678", "email": "A@b.com"},
        {"contactId": "13", "names": "", "number": "", "email": ""},
    ]


# ---------------------------------------------------------------- idempotence (hypothesis)

# Text with the characters the clean-ups care about, mixed with anything else.
NOISE = st.sampled_from([" ", "\u00a0", "\u200b", "\u200d", "\ufeff", "\t", "\n", "\u2060"])
ANY_TEXT = st.text(
    alphabet=st.one_of(
        NOISE,
        st.sampled_from(list("aAeE\u0301\u0308+-().'@0123456789")),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=20,
)
PHONE_LIKE = st.text(alphabet=st.sampled_from(list("0123456789+ -().'eE")), max_size=20)
EMAIL_LIKE = st.builds(
    lambda local, domain: f"{local}@{domain}",
    st.text(alphabet=st.sampled_from(list("aAzZ.+_@0\u00e9")), max_size=8),
    st.text(alphabet=st.sampled_from(list("aAzZ.-0\u00c4\u0130\u212a")), max_size=10),
)


@FAST
@given(st.lists(ANY_TEXT, max_size=6))
def test_clean_text_twice_equals_once(values: list[str]) -> None:
    once = clean_text(text(*values))
    twice = clean_text(once)
    assert once.tolist() == twice.tolist()


@FAST
@given(st.lists(st.one_of(PHONE_LIKE, ANY_TEXT), max_size=6))
@example(["0000", "00", "'", "''255712345678", "' '255712345678", "+00255712345678", "00.0"])
def test_normalize_number_twice_equals_once(values: list[str]) -> None:
    once = normalize_number(text(*values))
    assert normalize_number(once).tolist() == once.tolist()


@FAST
@given(st.lists(st.one_of(EMAIL_LIKE, ANY_TEXT), max_size=6))
def test_normalize_email_twice_equals_once(values: list[str]) -> None:
    once = normalize_email(text(*values))
    assert normalize_email(once).tolist() == once.tolist()


@FAST
@given(st.lists(st.one_of(st.from_regex(r"\A0*[0-9]{1,6}(\.0+)?\Z"), ANY_TEXT), max_size=6))
def test_normalize_contact_id_twice_equals_once(values: list[str]) -> None:
    once = normalize_contact_id(text(*values))
    assert normalize_contact_id(once).tolist() == once.tolist()


MARKER = "<clear>"
CELL = st.one_of(st.just(""), st.just(MARKER), st.just(f" {MARKER}\u00a0"), ANY_TEXT)


@st.composite
def reader_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Frames shaped like the reader's output, with any subset of the value columns."""
    length = draw(st.integers(min_value=0, max_value=6))
    present = draw(st.lists(st.sampled_from(VALUE_FIELDS), unique=True, min_size=1))
    cell_for = {"number": st.one_of(PHONE_LIKE, CELL), "email": st.one_of(EMAIL_LIKE, CELL)}
    columns: dict[str, list[str]] = {
        "contactId": draw(st.lists(st.one_of(st.from_regex(r"\A[0-9.]{1,6}\Z"), ANY_TEXT),
                                   min_size=length, max_size=length)),
    }
    for name in present:
        columns[name] = draw(st.lists(cell_for.get(name, CELL), min_size=length,
                                      max_size=length))
    frame = pd.DataFrame({"row": pd.Series(range(2, length + 2), dtype="int64")})
    for name, values in columns.items():
        frame[name] = pd.Series(values, dtype="str")
    return frame


def as_cells(normalized: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Write a normalized frame back as reader cells: NaN → empty cell, "" → the marker."""
    frame = pd.DataFrame({"row": normalized["row"], "contactId": normalized["contactId"]})
    for name in columns:
        frame[name] = normalized[name].mask(normalized[name] == "", MARKER).fillna("")
    return frame


@FRAMES
@given(reader_frames(), st.sampled_from(["unchanged", "clear"]))
def test_normalize_changes_twice_equals_once(frame: pd.DataFrame, empty_cells: str) -> None:
    once = normalize_changes(frame, clear_marker=MARKER, empty_cells=empty_cells)
    present = [name for name in VALUE_FIELDS if name in frame]
    again = normalize_changes(as_cells(once, present), clear_marker=MARKER,
                              empty_cells=empty_cells)
    pd.testing.assert_frame_equal(again, once)


@FRAMES
@given(reader_frames(), st.sampled_from(["unchanged", "clear"]))
def test_normalize_changes_cell_meanings(frame: pd.DataFrame, empty_cells: str) -> None:
    out = normalize_changes(frame, clear_marker=MARKER, empty_cells=empty_cells)
    for name in VALUE_FIELDS:
        if name not in frame:
            assert out[name].isna().all()
            continue
        cleaned = clean_text(frame[name])
        is_marker = cleaned == MARKER
        is_empty = cleaned == ""
        assert (out[name][is_marker] == "").all()
        if empty_cells == "clear":
            assert (out[name][is_empty] == "").all()
        else:
            assert out[name][is_empty].isna().all()
        given_value = ~is_marker & ~is_empty
        assert out[name][given_value].notna().all()
