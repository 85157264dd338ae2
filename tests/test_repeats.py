"""Rows that repeat the snapshot skip normalize, diff and per-value checks, and nothing else.

The property test plans generated files twice, once judging every row (the repeat check made
to find none) and once letting rows that repeat the snapshot through unjudged, and wants the
same results file, the same rows going out and the same request bodies. The pipeline tests pin
the odd spellings one by one.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import sync_job.plan.make
from sync_job.pipeline import run_sync
from sync_job.plan.diff import ContactIndex
from sync_job.plan.make import Plan, PlanOptions, make_plan, read_keys
from sync_job.plan.repeats import rows_repeating_snapshot
from sync_job.read.reader import read_input
from sync_job.report.results import write_results
from sync_job.state.snapshot import read_snapshot
from tests.conftest import SNAPSHOT_ROWS, Workspace, write_csv, write_snapshot

# Snapshot values as a snapshot may hold them: valid once normalized, sometimes not spelled in
# normal form (a snapshot written by an older version, or by hand).
STORED_NAMES = ["Amina Mwangi", "José Núñez", "e\u0301cole", "Zoë", "O'Neil", "=cmd"]
STORED_NUMBERS = ["255712345001", "255712345002", "+255 712 345 003", "255712345004",
                  "00255712345005", ""]
STORED_EMAILS = ["a@mail.tz", "B@Mail.TZ", "c.d@example.com", "", "e@bücher.ch"]
STORED_IDS = ["1001", "1002", "1003", "0004", "1005.0", "1006", " 1007", "1002"]


def _cell(stored: str) -> st.SearchStrategy[str]:
    return st.sampled_from([
        stored, stored, stored, f" {stored} ", f"\u00a0{stored}", f"\u200b{stored}", "", " ",
        "\u200b", "<clear>", "\u200b<clear>", "New Value", "255799000001", "0712345009",
        "new@x.tz", "bad@", "2.55E+11", "N" * 101, stored.upper(),
    ])


@st.composite
def files(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]], list[str], str]:
    snapshot = [[cid, draw(st.sampled_from(STORED_NAMES)), draw(st.sampled_from(STORED_NUMBERS)),
                 draw(st.sampled_from(STORED_EMAILS))] for cid in STORED_IDS]
    columns = draw(st.sampled_from([
        ["contactId", "names", "number", "email"], ["contactId", "number"],
        ["contactId", "email", "names"], ["contactId", "names"]]))
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        base = draw(st.sampled_from(snapshot))
        stored = dict(zip(["contactId", "names", "number", "email"], base, strict=True))
        ident = draw(st.sampled_from([stored["contactId"].strip(), stored["contactId"].strip(),
                                      "1004", "1005", "7", "007", "1001.0", " 1001 ", "9999",
                                      "", "abc", "00"]))
        rows.append([ident] + [draw(_cell(stored[name])) for name in columns[1:]])
    empty_cells = draw(st.sampled_from(["unchanged", "clear"]))
    return snapshot, rows, columns, empty_cells


@contextlib.contextmanager
def every_row_judged() -> Iterator[None]:
    """Plan as if no row repeated the snapshot: every row normalized, diffed and judged."""
    def none(cells: object, *args: object, **kwargs: object) -> np.ndarray:
        return np.zeros(cells.num_rows, dtype=bool)  # type: ignore[attr-defined]

    with mock.patch.object(sync_job.plan.make, "rows_repeating_snapshot", none):
        yield


def _plan(folder: Path, empty_cells: str, *, judge_every_row: bool) -> Plan:
    table = read_input(folder / "changes.csv")
    snapshot = read_snapshot(folder / "snapshot.csv")
    assert snapshot is not None
    options = PlanOptions(empty_cells=empty_cells, dry_run=True)
    with every_row_judged() if judge_every_row else contextlib.nullcontext():
        return make_plan(table, snapshot, options)


def _plans(folder: Path, snapshot: list[list[str]], rows: list[list[str]], columns: list[str],
           empty_cells: str) -> list[tuple[bytes, np.ndarray, list[str]]]:
    write_csv(folder / "snapshot.csv", [["contactId", "names", "number", "email"], *snapshot])
    write_csv(folder / "changes.csv", [columns, *rows])
    out = []
    for every in (True, False):
        plan = _plan(folder, empty_cells, judge_every_row=every)
        write_results(folder / "results.csv", plan.results)
        out.append(((folder / "results.csv").read_bytes(), plan.sending,
                    plan.bodies.to_pylist()))
    return out


@settings(max_examples=60, deadline=None)
@given(files())
def test_skipping_rows_that_repeat_the_snapshot_changes_no_result(
        case: tuple[list[list[str]], list[list[str]], list[str], str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (every, every_going, every_bodies), (fast, going, bodies) = _plans(Path(folder), *case)
    assert fast.decode("utf-8-sig") == every.decode("utf-8-sig")
    assert (going == every_going).all()
    assert bodies == every_bodies


def _repeating(tmp_path: Path, rows: list[list[str]], empty_cells: str = "unchanged",
               header: tuple[str, ...] = ("contactId", "names", "number", "email"),
               ) -> list[bool]:
    write_snapshot(tmp_path / "snapshot.csv")
    write_csv(tmp_path / "changes.csv", [list(header), *rows])
    snapshot = read_snapshot(tmp_path / "snapshot.csv")
    assert snapshot is not None
    cells = read_input(tmp_path / "changes.csv").cells
    ids = read_keys(cells, "contactId", PlanOptions())
    held_at = ContactIndex(snapshot["contactId"]).positions(ids.text, ids.whole, ids.keys)
    repeats = rows_repeating_snapshot(cells, snapshot, np.where(ids.plain, held_at, -1),
                                      clear_marker="<clear>", empty_cells=empty_cells)
    return [bool(flag) for flag in repeats]


P1 = SNAPSHOT_ROWS[0]  # 1001, Person 1, 255712345001, person1@example.com


def test_which_rows_repeat_the_snapshot(tmp_path: Path) -> None:
    rows = [
        ["1001", P1["names"], P1["number"], P1["email"]],          # exactly the snapshot
        ["1001 ", P1["names"], P1["number"], P1["email"]],         # id not canonical as typed
        ["01001", P1["names"], P1["number"], P1["email"]],         # 007 style
        ["1001.0", P1["names"], P1["number"], P1["email"]],        # spreadsheet float
        ["1002", "Person 2", "", ""],                              # empty cells
        ["1002", " Person 2 ", "", ""],                            # padded: judged in full
        ["1003", "", "", ""],                                      # nothing given: judged
        ["1004", "Person 4", "<clear>", ""],                       # a clear marker
        ["1005", "Person 5", "+255 712 345 005", ""],              # same number, other spelling
        ["1006", "Person 6", "", "PERSON6@example.com"],           # a changed value
        ["1007", "\u200bPerson 7", "", ""],                        # zero-width: judged in full
        ["4242", "Person 1", "", ""],                              # not in the snapshot
    ]
    assert _repeating(tmp_path, rows) == [True, False, False, False, True, False, False,
                                          False, False, False, False, False]


def test_under_empty_cells_clear_an_empty_cell_is_judged(tmp_path: Path) -> None:
    rows = [["1001", P1["names"], P1["number"], P1["email"]], ["1002", "Person 2", "", ""]]
    assert _repeating(tmp_path, rows, empty_cells="clear") == [True, False]


def test_columns_the_file_lacks_are_not_looked_at(tmp_path: Path) -> None:
    rows = [["1001", P1["number"]], ["1002", "255712345001"]]
    assert _repeating(tmp_path, rows, header=("contactId", "number")) == [True, False]


def test_results_of_rows_equal_to_the_snapshot_with_odd_spellings(
        workspace: Workspace) -> None:
    workspace.write_changes([
        ["1001", " Person 1 ", "255712345001", "person1@example.com"],  # 2: trims to it
        ["01002", "Person 2", "", ""],                                  # 3: id 007 style
        ["1003.0", "", "+255 712 345 003", ""],                         # 4: float id, spaced
        ["1004", "Person 4", "", "person4@EXAMPLE.com"],                # 5: domain case
        [" 1005 ", "Person 5", "255712345005", ""],                     # 6: padded id
        ["1006", "Person 6", "", ""],                                   # 7: repeats, dup id
        ["1006", "Person 6", "", ""],                                   # 8: dup id
        ["1007", "Person 7", "255712345008", ""],                       # 9: number of 1008
        ["1008", "Person 8", "255712345008", ""],                       # 10: repeats, shared
        ["1009", "", "", ""],                                           # 11: nothing to change
    ])
    report = run_sync(workspace.config(dry_run=True), environ={})
    rows = workspace.results_by_row()
    assert {n: rows[n]["status"] for n in range(2, 12)} == {
        2: "unchanged", 3: "unchanged", 4: "unchanged", 5: "unchanged", 6: "unchanged",
        7: "invalid", 8: "invalid", 9: "invalid", 10: "invalid", 11: "invalid"}
    assert rows[3]["contactId"] == "1002" and rows[4]["contactId"] == "1003"
    assert rows[6]["contactId"] == "1005"
    assert rows[2]["message"] == "already up to date" and rows[2]["errors"] == ""
    assert "also on row 8" in rows[7]["errors"] and "also on row 7" in rows[8]["errors"]
    assert "also given to another contact on row 10" in rows[9]["errors"]
    assert "also given to another contact on row 9" in rows[10]["errors"]
    assert rows[11]["errors"] == "row: nothing to change: names, number and email are all empty"
    assert report.counts["unchanged"] == 5 and report.counts["invalid"] == 5


def test_a_row_repeating_a_stored_value_the_checks_would_refuse_is_unchanged(
        tmp_path: Path) -> None:
    """The documented difference: per-value checks judge only values that could go out."""
    stored = [{**row} for row in SNAPSHOT_ROWS]
    stored[0]["names"] = "N" * 101
    write_snapshot(tmp_path / "snapshot.csv", stored)
    write_csv(tmp_path / "changes.csv", [["contactId", "names"], ["1001", "N" * 101],
                                         ["1002", "N" * 101]])
    fast = _plan(tmp_path, "unchanged", judge_every_row=False).results
    full = _plan(tmp_path, "unchanged", judge_every_row=True).results
    assert fast["status"].astype(str).tolist() == ["unchanged", "invalid"]
    assert full["status"].astype(str).tolist() == ["invalid", "invalid"]


def test_a_clear_marker_spelled_as_a_number_still_clears(tmp_path: Path) -> None:
    # Whole numbers are read as their own normal form, but not the marker: "999" here means
    # "clear the number", which a contact may not do.
    write_snapshot(tmp_path / "snapshot.csv")
    write_csv(tmp_path / "changes.csv", [["contactId", "number"], ["1001", "999"],
                                         ["1002", "999"]])
    snapshot = read_snapshot(tmp_path / "snapshot.csv")
    assert snapshot is not None
    plan = make_plan(read_input(tmp_path / "changes.csv"), snapshot,
                     PlanOptions(clear_marker="999", dry_run=True))
    errors = plan.results["errors"].astype(str).tolist()
    assert errors == ["number: cannot be cleared: a contact must keep a phone number"] * 2
