"""The results file as an operator opens it: a workbook (``--results out.xlsx``,
``results.format: xlsx``) with the CSV's columns and rows, and a CSV in the operator's
delimiter (``results.delimiter``). Real runs, real HTTP against the simulator, the workbook
read back with openpyxl and converted to CSV by LibreOffice itself."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

from sync_job.config import ResultsConfig, load_config
from sync_job.errors import ConfigError
from sync_job.pipeline import run_sync
from sync_job.report.results import RESULT_COLUMNS
from sync_job.report.xlsx import FILLS, MAX_WIDTH, write_workbook
from sync_job.simulator import Simulator
from sync_job.state.ledger import ledger_path_for, read_runs
from tests.conftest import Workspace, write_snapshot
from tests.test_cli import sync_job
from tests.test_libreoffice import soffice

ROWS = [
    ("1001", "Person One Renamed", "", ""),          # 2: updated
    ("1002", "", "+255 713 000 002", ""),            # 3: updated, a number in the payload
    ("1004", "Person 4", "255712345004", ""),        # 4: unchanged
    ("1005", "", "0712345005", ""),                  # 5: invalid
    ("99999", "Ghost", "", ""),                      # 6: failed (404)
    ("=1+1", "Formula", "", ""),                     # 7: invalid, a formula as typed
    ("123456789012345678", "Long Id", "", ""),       # 8: failed (404): 18 digits kept
    ("00123x", "Odd", "", ""),                       # 9: invalid, leading zeros kept
    ("ab\x07c", "Bell", "", ""),                     # 10: invalid, a control character
    ("-5", "Minus", "", ""),                         # 11: invalid, "-5" as typed
]


def workbook_rows(path: Path, sheet: str = "Results") -> list[list[str]]:
    """Every row of ``sheet`` as text ("" for an empty cell)."""
    book = openpyxl.load_workbook(path)
    return [["" if cell.value is None else str(cell.value) for cell in row]
            for row in book[sheet].iter_rows()]


def csv_rows(path: Path, delimiter: str = ",") -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter=delimiter))


def undefused(cell: str) -> str:
    """A CSV cell as the workbook holds it: without the apostrophe that defuses a formula."""
    return cell[1:] if cell[:1] == "'" and cell[1:2] in ("=", "+", "-", "@", "\t", "\r") else cell


@pytest.fixture
def both(workspace: Workspace, env: dict[str, str]) -> tuple[Path, Path]:
    """The same live run twice against the same simulator state: results as a CSV, and as a
    workbook."""
    workspace.write_changes(ROWS)
    config = workspace.config()
    csv_report = run_sync(config, environ=env, run_id="as-csv")
    csv_path = workspace.results.with_name("results-csv.csv")
    workspace.results.rename(csv_path)
    # The second run sees the first's updates as unchanged: start again from the snapshot.
    write_snapshot(workspace.snapshot)
    xlsx_path = workspace.results.with_suffix(".xlsx")
    config = load_config(workspace.root / "config.yaml", {"results": str(xlsx_path)})
    xlsx_report = run_sync(config, environ=env, run_id="as-xlsx")
    assert csv_report.counts == xlsx_report.counts
    assert xlsx_report.results_path == xlsx_path
    return csv_path, xlsx_path


def test_the_workbook_holds_the_csvs_rows_as_text(both: tuple[Path, Path]) -> None:
    csv_path, xlsx_path = both
    from_csv = csv_rows(csv_path)
    from_xlsx = workbook_rows(xlsx_path)
    assert from_xlsx[0] == list(RESULT_COLUMNS) == from_csv[0]
    # req_id differs between the two runs; everything else is the same, but the apostrophes
    # a CSV needs against formulas and the control picture a workbook shows for BEL.
    at = RESULT_COLUMNS.index("req_id")
    expected = [[undefused(cell).replace("\x07", "\u2407") for cell in row]
                for row in from_csv[1:]]
    assert [row[:at] + row[at + 1:] for row in from_xlsx[1:]] == [
        row[:at] + row[at + 1:] for row in expected]
    by_row = {row[0]: row for row in from_xlsx[1:]}
    assert by_row["7"][1] == "=1+1" and by_row["11"][1] == "-5"  # the CSV's have "'"
    assert by_row["8"][1] == "123456789012345678" and by_row["9"][1] == "00123x"
    assert by_row["10"][1] == "ab\u2407c"
    assert '"number": "255713000002"' in by_row["3"][RESULT_COLUMNS.index("payload")]


def test_every_cell_is_text_with_a_frozen_bold_header_and_a_filter(
        both: tuple[Path, Path]) -> None:
    _, xlsx_path = both
    book = openpyxl.load_workbook(xlsx_path)
    assert book.sheetnames == ["Results"]
    sheet = book["Results"]
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:L{len(ROWS) + 1}"
    assert all(cell.font.b for cell in sheet[1])
    for row in sheet.iter_rows():
        for cell in row:
            if cell.value is not None:
                assert cell.data_type == "s", cell.coordinate  # never a number or formula
                assert cell.number_format == "@", cell.coordinate
    for letter, dimension in sheet.column_dimensions.items():
        header = sheet[f"{letter}1"].value
        assert len(str(header)) + 2 <= dimension.width <= MAX_WIDTH


def test_invalid_and_failed_rows_are_filled_and_the_rest_plain(both: tuple[Path, Path]) -> None:
    _, xlsx_path = both
    sheet = openpyxl.load_workbook(xlsx_path)["Results"]
    status_at = RESULT_COLUMNS.index("status")
    seen = set()
    for row in sheet.iter_rows(min_row=2):
        status = row[status_at].value
        seen.add(status)
        colours = {cell.fill.fgColor.rgb if cell.fill.fill_type == "solid" else None
                   for cell in row}
        if status in FILLS:
            # the whole row, its empty cells too
            assert colours == {FILLS[str(status)].fgColor.rgb}, (status, colours)
        else:
            assert colours == {None}, (status, colours)
    assert {"updated", "unchanged", "invalid", "failed"} <= seen


def test_the_workbook_is_private_and_written_whole(both: tuple[Path, Path]) -> None:
    _, xlsx_path = both
    if sys.platform != "win32":
        assert xlsx_path.stat().st_mode & 0o777 == 0o600
    names = {p.name for p in xlsx_path.parent.iterdir()}
    # beside it, as beside a CSV: the summary, the HTML report and the rejects file
    assert {"results.xlsx", "results.summary.json", "results.html",
            "results.rejects.csv"} <= names
    assert not [name for name in names if name.startswith(".")]  # no temporary file left


def test_libreoffice_reads_the_workbook_as_the_csv(both: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    csv_path, xlsx_path = both
    out = soffice(tmp_path / "converted", "csv:Text - txt - csv (StarCalc):44,34,76,1",
                  xlsx_path, extension="csv")
    converted = csv_rows(out / "results.csv")
    at = RESULT_COLUMNS.index("req_id")
    assert [row[:at] + row[at + 1:] for row in converted] == [
        [undefused(cell).replace("\x07", "\u2407") for cell in row[:at] + row[at + 1:]]
        for row in csv_rows(csv_path)]


def test_rows_beyond_a_sheets_limit_go_on_in_a_second_sheet(tmp_path: Path) -> None:
    table = pa.table({"row": [str(n) for n in range(2, 7)],
                      "status": ["updated", "invalid", "updated", "failed", "unchanged"]})
    write_workbook(tmp_path / "r.xlsx", table, sheet_rows=3)
    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    assert book.sheetnames == ["Results", "Results 2", "Results 3"]
    assert [workbook_rows(tmp_path / "r.xlsx", name) for name in book.sheetnames] == [
        [["row", "status"], ["2", "updated"], ["3", "invalid"]],
        [["row", "status"], ["4", "updated"], ["5", "failed"]],
        [["row", "status"], ["6", "unchanged"]],
    ]
    assert [book[name].auto_filter.ref for name in book.sheetnames] == ["A1:B3", "A1:B3",
                                                                        "A1:B2"]
    assert all(book[name].freeze_panes == "A2" for name in book.sheetnames)


def test_an_empty_file_gives_a_workbook_with_its_header(tmp_path: Path) -> None:
    write_workbook(tmp_path / "r.xlsx", pa.table({"row": pa.array([], pa.string()),
                                                  "status": pa.array([], pa.string())}))
    assert workbook_rows(tmp_path / "r.xlsx") == [["row", "status"]]


# ------------------------------------------------------------------ how the format is chosen


def test_results_format_xlsx_makes_the_default_path_a_workbook(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("results:\n  format: xlsx\n", encoding="utf-8")
    config = load_config(tmp_path / "config.yaml")
    assert config.results.path == tmp_path / "results" / "results.xlsx"
    assert config.results.workbook
    assert config.results.summary_path == tmp_path / "results" / "results.summary.json"


def test_the_suffix_decides_and_format_covers_other_names(tmp_path: Path) -> None:
    assert ResultsConfig(path=Path("out.XLSX")).workbook
    assert not ResultsConfig(path=Path("out.csv")).workbook
    assert not ResultsConfig(path=Path("out.txt")).workbook
    assert ResultsConfig(path=Path("out.txt"), format="xlsx").workbook
    assert not ResultsConfig(path=Path("out"), format="csv").workbook


def test_a_format_contradicting_the_paths_suffix_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "results:\n  path: out/results.csv\n  format: xlsx\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "config.yaml")
    assert ("results.format is xlsx, but results.path names a .csv file (results.csv)"
            in str(raised.value))
    done = sync_job("run", "--dry-run", "--config", "config.yaml", cwd=tmp_path)
    assert done.returncode == 2 and "results.format is xlsx" in done.stderr


def test_the_results_flag_overrides_the_configs_format(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("results:\n  format: xlsx\n", encoding="utf-8")
    config = load_config(tmp_path / "config.yaml", {"results": "check.csv"})
    assert not config.results.workbook and config.results.path.name == "check.csv"
    config = load_config(None, {"results": "check.xlsx"})
    assert config.results.workbook


@pytest.mark.parametrize(("key", "value", "problem"), [
    ("format", "ods", "results.format: expected one of: csv, xlsx, got 'ods'"),
    ("delimiter", ":", "results.delimiter: expected one of \",\", \";\", \"|\", \"tab\", got ':'"),
])
def test_bad_format_or_delimiter_is_a_config_error(tmp_path: Path, key: str, value: str,
                                                   problem: str) -> None:
    (tmp_path / "config.yaml").write_text(f"results:\n  {key}: '{value}'\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "config.yaml")
    assert problem in str(raised.value)


# ------------------------------------------------------------------ the CSV's delimiter


@pytest.mark.parametrize(("written", "delimiter"), [(";", ";"), ("tab", "\t"), ("|", "|")])
def test_the_csv_follows_results_delimiter(workspace: Workspace, written: str,
                                           delimiter: str) -> None:
    workspace.write_changes([*ROWS, ("1007", "Semi; colon", "", ""),
                             ("1008", "Tab\there", "", ""), ("1009", "Pipe | here", "", "")])
    config = workspace.config(dry_run=True)
    run_sync(config, run_id="comma")
    commas = csv_rows(workspace.results)
    text = (workspace.root / "config.yaml").read_text(encoding="utf-8")
    (workspace.root / "config.yaml").write_text(
        text.replace("results:\n", f"results:\n  delimiter: '{written}'\n"), encoding="utf-8")
    config = load_config(workspace.root / "config.yaml", dry_run=True)
    assert config.results.delimiter == delimiter
    run_sync(config, run_id="other")
    raw = workspace.results.read_text(encoding="utf-8-sig")
    assert raw.splitlines()[0] == delimiter.join(f'"{name}"' for name in RESULT_COLUMNS)
    assert csv_rows(workspace.results, delimiter) == commas
    assert len(commas) == len(ROWS) + 4


# ------------------------------------------------------------------ what else reads it


def test_placeholders_keep_and_the_history_work_with_workbooks(tmp_path: Path,
                                                               sim: Simulator) -> None:
    workspace = Workspace(tmp_path, sim.base_url)
    workspace.write_changes([("1001", "Renamed", "", "")])
    workspace.config()
    text = (tmp_path / "config.yaml").read_text(encoding="utf-8")
    (tmp_path / "config.yaml").write_text(text.replace(
        f"  path: {workspace.results}\n",
        "  path: results/{run_id}.xlsx\n  keep: 2\n"), encoding="utf-8")
    for _ in range(3):
        done = sync_job("run", "--dry-run", "--config", "config.yaml", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    made = sorted(p.name for p in (tmp_path / "results").iterdir())
    runs, _ = read_runs(ledger_path_for(workspace.snapshot))
    newest = [Path(run["results_path"]) for run in runs[-2:]]
    assert made == sorted([*(p.name for p in newest),
                           *(p.stem + ".summary.json" for p in newest),
                           *(p.stem + ".html" for p in newest)])
    assert all(path.suffix == ".xlsx" for path in newest)
    assert workbook_rows(newest[-1])[1][2] == "planned"
    listed = sync_job("runs", "--config", "config.yaml", cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.count(" dry ") == 3
