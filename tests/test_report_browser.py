"""The HTML run report in a real browser: headless Chromium driven by Selenium.

Runs of the job (the command, against the simulator on loopback, on the sample data with two
rows of markup added) write a report; the browser opens it from disk and checks that it loads
with no console message and no request but the file itself, that the counts it shows equal the
results file's, that a live run has its chart and a dry run none, that markup in a cell stays
text, and that it fits a phone's width. The demo's reports are opened too.

Chromium and chromedriver come from Debian's ``chromium`` and ``chromium-driver`` packages
(``make chromium``, which ``make test`` runs); without them these tests fail, never skip.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sync_job.report.html_report import split_problems
from sync_job.simulator import Simulator
from tests.conftest import TOKEN, read_results, write_csv
from tests.test_cli import ROOT, sync_job

SAMPLE = ROOT / "sample_data"
SCRIPT, IMAGE = "<script>alert(1)</script>", '"><img src=x onerror=alert(2)>'
HOSTILE_ROWS = [[SCRIPT, "Someone Else", "", ""], ["3000", IMAGE, "", "not-an-email"]]
LABELS = ("contactId", "names", "number", "email", "row")  # the sample's headers
PHONE_WIDTH = 390


def _browser_missing(what: str) -> None:
    pytest.fail(f"the browser tests need {what}: run `make chromium` (Debian's chromium and "
                f"chromium-driver packages; `make test` runs it) or install them yourself",
                pytrace=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module, logging its console and its network."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _browser_missing("Selenium (pip: the dev extras, `make setup`)")
    binary = next((found for name in ("chromium", "chromium-browser", "google-chrome")
                   if (found := shutil.which(name))), None)
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        _browser_missing("Chromium and chromedriver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                     "--window-size=1200,900"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(driver_path)))
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver: Any, page: Path) -> str:
    """Open ``page`` from disk; its URL. The logs of earlier pages are drained first."""
    driver.get_log("browser")
    driver.get_log("performance")
    url = page.resolve().as_uri()
    driver.get(url)
    assert driver.execute_script("return document.readyState") == "complete"
    return str(url)


def network_requests(driver: Any) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def attribute_counts(driver: Any, selector: str, *keys: str) -> dict[Any, int]:
    from selenium.webdriver.common.by import By

    found: dict[Any, int] = {}
    for element in driver.find_elements(By.CSS_SELECTOR, selector):
        values = tuple(element.get_attribute(key) or "" for key in keys)
        found[values[0] if len(values) == 1 else values] = int(element.get_attribute(
            "data-count"))
    return found


def expected_problems(lines: list[dict[str, str]]) -> Counter[str]:
    """Rows per cause, from the results file: per problem code when it has them, else per
    problem as ``errors`` says it; a row counts once per cause."""
    causes: Counter[str] = Counter()
    for line in lines:
        if line["status"] != "invalid":
            continue
        if "problem_codes" in line:
            causes.update(set(filter(None, line["problem_codes"].split("|"))))
        else:
            causes.update(set(split_problems(line["errors"], LABELS)))
    return causes


def check_report(driver: Any, page: Path, results: Path) -> dict[str, Any]:
    """Everything every report must pass, against its results file; what was shown."""
    from selenium.webdriver.common.by import By

    url = open_page(driver, page)
    assert driver.get_log("browser") == []  # no error, no warning, nothing blocked
    assert network_requests(driver) == [url]  # the file itself, nothing else
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
    assert driver.execute_script("return document.scripts.length") == 0

    lines = read_results(results)
    statuses = Counter(line["status"] for line in lines)
    shown = attribute_counts(driver, "#counts [data-status]", "data-status")
    assert shown == {status: statuses.get(status, 0) for status in shown}
    assert set(shown) == {"updated", "unchanged", "invalid", "failed", "skipped", "planned"}
    for element in driver.find_elements(By.CSS_SELECTOR, "#counts [data-status] .n"):
        assert element.text.replace(",", "").isdigit()  # the big number is on screen

    problems = attribute_counts(driver, "#problems [data-problem]", "data-problem")
    assert problems == expected_problems(lines)
    failures = attribute_counts(driver, "#failures [data-http-status]", "data-http-status",
                                "data-api-code", "data-code")
    assert failures == Counter((line["http_status"], line["api_code"],
                                line.get("problem_codes", ""))
                               for line in lines if line["status"] == "failed")
    table_rows = driver.find_elements(By.CSS_SELECTOR, "#invalid-rows tbody tr")
    assert [int(row.get_attribute("data-row")) for row in table_rows] == [
        int(line["row"]) for line in lines if line["status"] == "invalid"][:500]
    summary = json.loads(results.with_name(results.stem + ".summary.json").read_text())
    assert summary["report"] == str(page)
    if "problems" in summary:  # rows per problem code: the page's groups add up to the same
        by_code = Counter(problems)
        for (_, _, code), count in failures.items():
            by_code[code] += count
        assert by_code == Counter(summary["problems"])
    outcome = driver.find_element(By.ID, "outcome")
    assert outcome.get_attribute("data-outcome") == summary["outcome"]
    exit_code = driver.find_element(By.CSS_SELECTOR, "[data-exit-code]")
    assert exit_code.get_attribute("data-exit-code") == str(summary["exit_code"])
    return {"summary": summary, "lines": lines,
            "chart": driver.find_elements(By.ID, "timeline-chart")}


def fits_a_phone(driver: Any, page: Path) -> None:
    """At a phone's width the page never scrolls sideways; a wide table scrolls in its box."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": PHONE_WIDTH, "height": 844, "deviceScaleFactor": 3, "mobile": True})
    try:
        open_page(driver, page)
        assert driver.execute_script("return window.innerWidth") == PHONE_WIDTH
        assert driver.execute_script(
            "return document.documentElement.scrollWidth") <= PHONE_WIDTH
        assert driver.execute_script("return document.body.scrollWidth") <= PHONE_WIDTH
        boxes = driver.execute_script(
            "return [...document.querySelectorAll('.scroll')].map("
            "b => [b.clientWidth, b.scrollWidth])")
        assert all(client <= PHONE_WIDTH for client, _ in boxes)
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture(scope="module")
def sample_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """A dry run and a live run of the sample data (with markup in two rows), by the command,
    against the simulator answering 429 above 5 requests a second: their results files."""
    root = tmp_path_factory.mktemp("report")
    with (SAMPLE / "changes.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    write_csv(root / "changes.csv", rows + HOSTILE_ROWS)
    shutil.copy(SAMPLE / "snapshot.csv", root / "snapshot.csv")
    with (SAMPLE / "snapshot.csv").open(encoding="utf-8", newline="") as handle:
        contacts = list(csv.DictReader(handle))
    with Simulator(contacts, token=TOKEN, rate_limit=5) as sim:
        (root / "config.yaml").write_text(
            f"api:\n  base_url: {sim.base_url}\n  read_timeout: 5\n"
            "input:\n  path: changes.csv\nsnapshot:\n  path: snapshot.csv\n"
            "results:\n  path: results/results.csv\n"
            "push:\n  concurrency: 4\n  rate_limit: 0\n  backoff_initial: 0.05\n"
            "  backoff_max: 0.2\n", encoding="utf-8")
        dry = sync_job("run", "--dry-run", "--results", "results/check.csv", cwd=root)
        assert dry.returncode == 1, dry.stderr
        live = sync_job("run", cwd=root)
        assert live.returncode == 1, live.stderr
        assert sim.status_counts[429] > 0  # so the chart has something to show
    assert f"  report     {root / 'results' / 'results.html'}" in live.stdout
    yield {"dry": root / "results" / "check.csv", "live": root / "results" / "results.csv"}


def test_a_live_runs_report_shows_the_results_counts_its_chart_and_loads_nothing(
        browser: Any, sample_runs: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    results = sample_runs["live"]
    shown = check_report(browser, results.with_suffix(".html"), results)
    assert shown["chart"] and shown["chart"][0].find_elements(By.CSS_SELECTOR, "rect")
    summary = shown["summary"]
    legend = attribute_counts_of_legend(browser)
    assert legend == {"requests": summary["requests"], "retries": summary["retries"],
                      "throttled": summary["throttled_429"]}
    assert summary["throttled_429"] > 0
    marked = browser.find_elements(By.CSS_SELECTOR, "#invalid-rows td.bad")
    assert marked and all(cell.value_of_css_property("font-weight") in ("600", "bold")
                          for cell in marked)


def attribute_counts_of_legend(driver: Any) -> dict[str, int]:
    from selenium.webdriver.common.by import By

    return {item.get_attribute("data-kind"): int(item.get_attribute("data-total"))
            for item in driver.find_elements(By.CSS_SELECTOR, "#timeline .legend li")}


def test_a_dry_runs_report_has_no_chart(browser: Any, sample_runs: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    results = sample_runs["dry"]
    shown = check_report(browser, results.with_suffix(".html"), results)
    assert shown["chart"] == [] and browser.find_elements(By.ID, "timeline") == []
    mode = browser.find_element(By.CSS_SELECTOR, "[data-mode]")
    assert mode.get_attribute("data-mode") == "dry"


def test_markup_in_a_cell_is_shown_as_text_and_never_runs(
        browser: Any, sample_runs: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    open_page(browser, sample_runs["dry"].with_suffix(".html"))
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.find_elements(By.CSS_SELECTOR, "img, [onerror], iframe, object") == []
    table = browser.find_element(By.ID, "invalid-rows").text
    assert SCRIPT in table and IMAGE in table  # shown as the operator typed it
    assert browser.get_log("browser") == []


def test_the_report_fits_a_phone_and_prints(browser: Any, sample_runs: dict[str, Path]) -> None:
    page = sample_runs["live"].with_suffix(".html")
    fits_a_phone(browser, page)
    open_page(browser, page)
    pdf = browser.print_page()  # the print stylesheet is applied without an error
    assert pdf and browser.get_log("browser") == []


def test_the_demo_writes_its_reports_and_they_show_the_results_counts(
        browser: Any, tmp_path: Path) -> None:
    scratch = tmp_path / "demo"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--scratch",
                           str(scratch)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    folder = scratch / "results"
    assert f"report: {folder / 'check.html'}" in done.stdout
    assert f"report: {folder / 'results.html'}" in done.stdout
    dry = check_report(browser, folder / "check.html", folder / "check.csv")
    assert dry["chart"] == [] and dry["summary"]["dry_run"] is True
    live = check_report(browser, folder / "results.html", folder / "results.csv")
    assert live["chart"] and live["summary"]["dry_run"] is False
