"""``input.default_country``: phone numbers written for dialling at home (``0712 345 678``) are
completed with the country's code, as phonenumbers reads them, then judged as any other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_job.config import InputConfig, load_config
from sync_job.errors import ConfigError
from sync_job.pipeline import run_sync
from sync_job.plan.normalize import normalize_number
from sync_job.simulator import Simulator
from tests.conftest import TOKEN, read_results

ROOT = Path(__file__).resolve().parents[1]


def text(*values: str) -> pd.Series:
    return pd.Series(list(values), dtype="str")


@pytest.mark.parametrize(("country", "typed", "sent"), [
    ("TZ", "0712 345 678", "255712345678"),
    ("TZ", "0712345678", "255712345678"),          # already digits: still local
    ("TZ", "'0712-345-678", "255712345678"),       # Excel's text marker
    ("KE", "0722 000 000", "254722000000"),
    ("IT", "06 1234 5678", "390612345678"),        # Italy keeps its leading 0 after the code
    ("GB", "020 7946 0018", "442079460018"),
    ("TZ", "+0712 345 678", "255712345678"),       # a + before a 0 cannot be international
])
def test_a_local_number_is_completed_for_the_country(country: str, typed: str,
                                                     sent: str) -> None:
    assert normalize_number(text(typed), default_country=country).tolist() == [sent]


@pytest.mark.parametrize("typed", [
    "+255 712 345 678",   # international already
    "255712345678",       # international without the +
    "00255712345678",     # 00 is the international prefix
    "2.55712E+11",        # digits lost: left for validation to say so
    "call me",
])
def test_anything_but_a_local_number_is_as_without_a_country(typed: str) -> None:
    assert (normalize_number(text(typed), default_country="TZ").tolist()
            == normalize_number(text(typed)).tolist())


def test_without_a_country_a_local_number_is_left_for_validation() -> None:
    assert normalize_number(text("0712 345 678")).tolist() == ["0712345678"]


@pytest.mark.parametrize("typed", ["01", "0712 345", "0712 345 678 999"])
def test_a_number_that_is_no_possible_number_there_is_kept(typed: str) -> None:
    assert (normalize_number(text(typed), default_country="TZ").tolist()
            == normalize_number(text(typed)).tolist())


def test_completion_is_phonenumbers_own_reading() -> None:
    for typed in ("0712 345 678", "0612 345 678", "0222 123 456"):
        expected = phonenumbers.format_number(phonenumbers.parse(typed, "TZ"),
                                              phonenumbers.PhoneNumberFormat.E164)[1:]
        assert normalize_number(text(typed), default_country="TZ").tolist() == [expected]


@given(st.lists(st.from_regex(r"[ ']?(\+|00)?0?[0-9 ]{1,14}", fullmatch=True), max_size=8))
def test_normalizing_twice_equals_once_with_a_country(values: list[str]) -> None:
    once = normalize_number(text(*values), default_country="TZ")
    assert normalize_number(once, default_country="TZ").tolist() == once.tolist()


def test_the_country_is_checked_and_written_in_capitals() -> None:
    assert InputConfig(default_country=" tz ").default_country == "TZ"
    with pytest.raises(ConfigError) as raised:
        InputConfig(default_country="Tanzania")
    assert "input.default_country" in str(raised.value)
    assert "two-letter country code" in str(raised.value)


def test_default_country_makes_the_samples_local_number_an_update(tmp_path: Path) -> None:
    snapshot = read_results(ROOT / "sample_data" / "snapshot.csv")  # any CSV, as text
    (tmp_path / "state").mkdir()
    shutil.copy(ROOT / "sample_data" / "snapshot.csv", tmp_path / "state" / "snapshot.csv")
    with Simulator(snapshot, token=TOKEN) as sim:
        def run(country: str | None) -> dict[str, str]:
            config_path = tmp_path / "config.yaml"
            config_path.write_text(
                f"api:\n  base_url: {sim.base_url}\n"
                f"input:\n  path: {ROOT / 'sample_data' / 'changes.csv'}\n"
                + (f"  default_country: {country}\n" if country else "")
                + "snapshot:\n  path: state/snapshot.csv\n"
                "results:\n  path: results/results.csv\n"
                "push:\n  rate_limit: 0\n  max_attempts: 1\n", encoding="utf-8")
            run_sync(load_config(config_path), environ={"HUDUMA_API_TOKEN": TOKEN})
            by_id = {r["contactId"]: r for r in read_results(tmp_path / "results" / "results.csv")}
            return by_id["1005"]

        without = run(None)
        assert without["status"] == "invalid"
        assert 'starts with 0' in without["errors"]
        assert not [r for r in sim.requests if r.contact_id == 1005]

        local = run("TZ")
        assert local["status"] == "updated", local
        assert json.loads(local["payload"]) == {"number": "255712345605"}
        [request] = [r for r in sim.requests if r.contact_id == 1005]
        assert request.body == {"number": "255712345605"}
