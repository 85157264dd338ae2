"""Placeholders in the results path: one results file per run, named by its id and UTC time.

``results.path: results/{date}/results-{time}-{run_id}.csv`` gives
``results/2026-05-04/results-023001-a216d76a….csv``. The same names, read back as a pattern,
tell the results files a template made from any other file in the folder
(``state.ledger.prune_results``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

PLACEHOLDERS: dict[str, str] = {
    "run_id": r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}",
    "date": r"\d{4}-\d{2}-\d{2}",
    "time": r"\d{6}",
}
"""Each placeholder and what it may stand for, as a regular expression."""

RUN_ID = re.compile(PLACEHOLDERS["run_id"])
"""A run id: safe in a file name (no ``/``, no leading dot), at most 64 characters."""

_FIELD = re.compile(r"\{([^{}]*)\}")


def unknown_placeholders(path: Path) -> list[str]:
    """The ``{name}`` parts of ``path`` that are not placeholders, as written."""
    return [f"{{{name}}}" for name in _FIELD.findall(str(path)) if name not in PLACEHOLDERS]


def has_placeholders(path: Path) -> bool:
    return any(name in PLACEHOLDERS for name in _FIELD.findall(str(path)))


def fill(path: Path, *, run_id: str, when: datetime) -> Path:
    """``path`` with its placeholders replaced: the run id, and ``when`` in UTC as
    ``YYYY-MM-DD`` and ``HHMMSS``."""
    utc = when.astimezone(UTC)
    values = {"run_id": run_id, "date": utc.strftime("%Y-%m-%d"), "time": utc.strftime("%H%M%S")}
    return Path(_FIELD.sub(lambda found: values.get(found.group(1), found.group(0)), str(path)))


def pattern(path: Path) -> re.Pattern[str]:
    """What ``path`` filled for any run looks like (literal parts kept as they are)."""
    parts = []
    at = 0
    for found in _FIELD.finditer(text := str(path)):
        parts.append(re.escape(text[at:found.start()]))
        parts.append(PLACEHOLDERS.get(found.group(1), re.escape(found.group(0))))
        at = found.end()
    parts.append(re.escape(text[at:]))
    return re.compile("".join(parts))


REJECTS_SUFFIXES = (".csv", ".xlsx")
"""What a rejects file may be: a CSV for a text input, a workbook for a workbook input."""
_WORKBOOK_INPUTS = (".xlsx", ".xlsm", ".ods")
"""Inputs read as workbooks (by their name; a file whose bytes say otherwise is refused)."""


def report_path_for(results: Path) -> Path:
    """The HTML run report beside a results file: ``results/results.csv`` →
    ``results/results.html``."""
    return results.with_name(results.stem + ".html")


def rejects_path_for(results: Path, input_path: Path) -> Path:
    """``<results stem>.rejects.<csv|xlsx>`` beside the results file: an ``.xlsx`` workbook
    for a workbook input (``.xlsx``, ``.xlsm``, ``.ods``), else a CSV."""
    suffix = ".xlsx" if input_path.suffix.lower() in _WORKBOOK_INPUTS else ".csv"
    return rejects_candidates(results)[REJECTS_SUFFIXES.index(suffix)]


def rejects_candidates(results: Path) -> tuple[Path, ...]:
    """Every path a rejects file beside ``results`` may have, whatever the input was."""
    return tuple(results.with_name(f"{results.stem}.rejects{suffix}")
                 for suffix in REJECTS_SUFFIXES)
