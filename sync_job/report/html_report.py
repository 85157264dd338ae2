"""The HTML run report: one self-contained page beside the results file, for people to look at.

``results/results.csv`` → ``results/results.html``. It shows:

* the outcome: the summary's ``outcome``, exit code, dry or live run, input file, when, how
  long, and why the run stopped early (if it did);
* the rows per status, as big coloured numbers;
* the problems of the invalid rows grouped by cause (the ``problem_codes`` column's codes),
  with a count, what the code means, the first message of that cause and the first row
  numbers;
* the rows the API refused or could not take, grouped by HTTP status, ``api_code`` and problem
  code, with the API's message (or what went wrong, without an answer);
* for a live run that sent requests, requests, retries and 429 answers over time, as a small
  inline SVG chart (``sync_job.push.timeline``);
* the first :data:`MAX_TABLE_ROWS` invalid rows as a table: the cells as read from the file,
  the cells with a problem marked.

The page needs nothing but itself: no script, no external style, font or image, and a
Content-Security-Policy that forbids loading anything, so nothing can fail and nothing leaves
the machine. Every text from the file, the results or the API is escaped
(:func:`html.escape`): a cell holding ``<script>`` shows as text. It holds no more personal
data than the results file (cells are cut at :data:`CELL_CHARACTERS`, as messages quote them)
and is written, like the results, atomically and readable by its owner only.

The page is made from the results frame in a time that grows with the invalid and failed
rows, and with the causes, never with the square of anything.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from sync_job import __version__
from sync_job.fields import ALL_FIELDS, ID_FIELD, STATUSES
from sync_job.plan.rules import QUOTE_CHARACTERS, ROW_LABEL
from sync_job.push.timeline import KINDS, TimelineCounts
from sync_job.report.results import codes_in
from sync_job.state.files import PRIVATE, atomic_binary_writer

CODES_COLUMN = "problem_codes"
"""The results column with one stable code per problem of a row, joined by ``|``, in the
order of the problems in ``errors`` (joined by ``; ``)."""
PROBLEM_SEPARATOR = "; "

FIRST_ROWS = 10
"""Row numbers listed per cause; the rest are counted ("and 12 more")."""
MAX_GROUPS = 100
"""Causes shown, the commonest first; the rest are counted."""
MAX_TABLE_ROWS = 500
"""Invalid rows shown in the table; the results file has them all."""
CELL_CHARACTERS = QUOTE_CHARACTERS
"""The most characters of a cell shown, as the results' messages quote at most as many."""

STATUS_NOTES: dict[str, str] = {
    "updated": "the API confirmed the update",
    "unchanged": "nothing differs: nothing sent",
    "invalid": "never sent: fix the file",
    "failed": "sent, and refused or not answered",
    "skipped": "not sent: the run stopped first",
    "planned": "would be sent",
}
KIND_LABELS: dict[str, str] = {"requests": "requests sent", "retries": "retries",
                               "throttled": "answered 429"}


def esc(value: object) -> str:
    """``value`` as text safe anywhere in the page, attribute values included."""
    return html.escape(str(value), quote=True)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def cut(text: str, most: int = CELL_CHARACTERS) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def visible(text: str) -> str:
    """A cell as the page shows it: cut, its control characters (a bell, a NUL) each shown
    as U+FFFD, which HTML cannot hold as they are."""
    return _CONTROL.sub("\ufffd", cut(text))


# ---------------------------------------------------------------- problems, from the results


@dataclass
class ProblemGroup:
    """One cause: the rows with a problem of it."""

    key: str
    """The problem code."""
    description: str
    rows: int
    first_rows: list[int]


@dataclass
class FailureGroup:
    """Failed rows with the same HTTP status, ``api_code`` and problem code."""

    http_status: str
    api_code: str
    message: str
    rows: int
    first_rows: list[int]
    code: str
    """The rows' problem code (``api.4040``, ``transport.timeout``)."""


def labels_of(headers: Mapping[str, str]) -> dict[str, str]:
    """The label of each field's problems in ``errors`` (its header as the file spells it,
    cut as the messages cut it) → the field; :data:`ROW_LABEL` for the whole row."""
    labels = {cut(header): name for name, header in headers.items()}
    labels.update({name: name for name in ALL_FIELDS if name not in labels})
    labels.setdefault(ROW_LABEL, ROW_LABEL)
    return labels


def split_problems(errors: str, labels: Iterable[str]) -> list[str]:
    """The problems of one ``errors`` cell. They are joined by ``"; "``, which a message may
    hold too (``… is also on row 10; keep one row per contact``): a new problem starts only
    where a label and ``": "`` follow."""
    if not errors:
        return []
    starts = tuple(f"{label}: " for label in labels)
    problems: list[str] = []
    for part in errors.split(PROBLEM_SEPARATOR):
        if problems and not part.startswith(starts):
            problems[-1] += PROBLEM_SEPARATOR + part
        else:
            problems.append(part)
    return problems


def label_of(problem: str, labels: Mapping[str, str]) -> str | None:
    """The field (or :data:`ROW_LABEL`) a problem is about, from its label; None if unknown."""
    label, colon, _ = problem.partition(": ")
    return labels.get(label) if colon else None


def _text(values: pd.Series) -> np.ndarray:
    """A results column as an array of Python strings ("" for missing)."""
    return values.astype("str").fillna("").to_numpy(dtype=object)


def _first_rows_by_group(rows: np.ndarray, groups: np.ndarray, size: int,
                         first: int) -> tuple[np.ndarray, list[list[int]]]:
    """(rows per group, each group's first ``first`` row numbers), for ``groups`` numbered
    0 … size-1 per row, in one stable sort."""
    counts = np.bincount(groups, minlength=size)
    order = np.argsort(groups, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    sorted_rows = rows[order]
    return counts, [sorted_rows[start:start + min(int(count), first)].tolist()
                    for start, count in zip(starts, counts, strict=True)]


def problem_groups(results: pd.DataFrame, headers: Mapping[str, str], *,
                   first: int = FIRST_ROWS) -> list[ProblemGroup]:
    """The problems of the invalid rows grouped by cause, the commonest first.

    A cause is a problem code of the ``problem_codes`` column. A group counts the rows with
    at least one problem of its cause, and lists the first ``first`` of them; its description
    is the first message of that cause.
    """
    invalid = results["status"].eq("invalid").to_numpy()
    if not invalid.any():
        return []
    rows = results["row"].to_numpy(dtype=np.int64)[invalid]
    # The distinct cells of the codes column: few, whatever the rows.
    numbers, distinct = pd.factorize(_text(results[CODES_COLUMN][invalid]))
    counts, firsts = _first_rows_by_group(rows, numbers, len(distinct), first)
    errors_first = _text(results["errors"][invalid])[np.unique(numbers, return_index=True)[1]]
    labels = labels_of(headers)
    groups: dict[str, ProblemGroup] = {}
    for at, cell in enumerate(distinct):
        problems = split_problems(str(errors_first[at]), labels)
        causes = codes_in(str(cell))
        said = problems if len(problems) == len(causes) else [""] * len(causes)
        described: dict[str, str] = {}
        for cause, description in zip(causes, said, strict=True):
            described[cause] = described.get(cause) or description
        for cause, description in described.items():  # a row counts once per cause
            group = groups.get(cause)
            if group is None:
                groups[cause] = ProblemGroup(key=cause, description=description,
                                             rows=int(counts[at]), first_rows=list(firsts[at]))
                continue
            group.rows += int(counts[at])
            group.first_rows = sorted(group.first_rows + firsts[at])[:first]
            group.description = group.description or description
    return sorted(groups.values(), key=lambda group: (-group.rows, group.first_rows[:1]))


def failure_groups(results: pd.DataFrame, *, first: int = FIRST_ROWS) -> list[FailureGroup]:
    """The failed rows grouped by HTTP status, ``api_code`` and problem code (so rows without
    an HTTP answer group by what went wrong), the commonest first; each with the message of
    its first row (the API's, or the transport error)."""
    failed = results["status"].eq("failed").to_numpy()
    if not failed.any():
        return []
    rows = results["row"].to_numpy(dtype=np.int64)[failed]
    keys = pd.MultiIndex.from_arrays([_text(results["http_status"][failed]),
                                      _text(results["api_code"][failed]),
                                      _text(results[CODES_COLUMN][failed])])
    numbers, distinct = pd.factorize(keys)
    counts, firsts = _first_rows_by_group(rows, numbers, len(distinct), first)
    messages = _text(results["message"][failed])[np.unique(numbers, return_index=True)[1]]
    groups = []
    for at, (http_status, api_code, code) in enumerate(distinct):
        groups.append(FailureGroup(http_status=str(http_status), api_code=str(api_code),
                                   message=str(messages[at]), rows=int(counts[at]),
                                   first_rows=firsts[at], code=str(code)))
    return sorted(groups, key=lambda group: (-group.rows, group.first_rows[:1]))


@dataclass
class InvalidRow:
    row: int
    cells: dict[str, str]
    """Field → the cell as read from the file, cut at :data:`CELL_CHARACTERS`."""
    marked: set[str] = field(default_factory=set)
    """The fields with a problem; :data:`ROW_LABEL` for a problem of the whole row."""
    errors: str = ""


def invalid_rows(results: pd.DataFrame, cells: pa.Table | None, headers: Mapping[str, str],
                 *, limit: int = MAX_TABLE_ROWS) -> tuple[list[InvalidRow], int]:
    """The first ``limit`` invalid rows with their cells and the cells to mark, and how many
    invalid rows there are in all.

    ``cells`` is the reader's table (a ``row`` column and one column per field in the file),
    one line per results line. A cell is marked when a problem's label names its column (or
    its code names its field)."""
    at = np.flatnonzero(results["status"].eq("invalid").to_numpy())
    shown = at[:limit]
    labels = labels_of(headers)
    fields = [name for name in ALL_FIELDS
              if cells is not None and name in cells.column_names]
    taken: dict[str, list[Any]] = {}
    if cells is not None and cells.num_rows == len(results) and len(shown):
        part = cells.take(pa.array(shown))
        taken = {name: part.column(name).to_pylist() for name in fields}
    row_numbers = results["row"].to_numpy(dtype=np.int64)[shown].tolist()
    errors = _text(results["errors"].iloc[shown])
    codes = _text(results[CODES_COLUMN].iloc[shown])
    typed_ids = _text(results[ID_FIELD].iloc[shown])
    table = []
    for n, row in enumerate(row_numbers):
        values = {name: visible(str(taken[name][n] or "")) for name in taken}
        if not values:
            values = {ID_FIELD: str(typed_ids[n])}
        marked = {label_of(problem, labels) for problem in split_problems(str(errors[n]),
                                                                            labels)}
        marked |= {code.partition(".")[0] for code in codes_in(str(codes[n]))
                   if code.partition(".")[0] in ALL_FIELDS}
        table.append(InvalidRow(row=int(row), cells=values, errors=str(errors[n]),
                                marked={name for name in marked if name is not None}))
    return table, len(at)


# ---------------------------------------------------------------- the page


@dataclass(frozen=True, kw_only=True)
class ReportInput:
    """Everything the page shows."""

    summary: Mapping[str, Any]
    """The run summary (``sync_job.report.summary``): outcome, exit code, counts, times."""
    results: pd.DataFrame
    cells: pa.Table | None = None
    """The reader's table of the changes file (for the invalid rows' cells)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Field → header as the file spells it."""
    timeline: TimelineCounts | None = None
    """The push over time (a live run that pushed); None: no chart."""
    results_name: str = ""


STYLE = """
:root{color-scheme:light;--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;
--updated:#1a7f37;--unchanged:#59636e;--invalid:#9a6700;--failed:#cf222e;--skipped:#8250df;
--planned:#0969da}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0 auto;padding:1rem;max-width:72rem;color:var(--ink);background:#fff;
font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.2rem 0 .6rem;line-height:1.25}
h2{font-size:1.15rem;margin:1.8rem 0 .6rem;padding-bottom:.25rem;border-bottom:1px solid
var(--line)}
p{margin:.4rem 0}
code{font:.9em/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);
padding:.05rem .3rem;border-radius:4px}
.badge{display:inline-block;padding:.1rem .6rem;border-radius:1rem;color:#fff;
font-size:.95rem;vertical-align:middle;background:var(--failed)}
.badge.ok{background:var(--updated)}
.badge.rows_invalid,.badge.braked{background:var(--invalid)}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.5rem 0}
.facts dt{color:var(--muted)}
.facts dd{margin:0}
.why{border-left:4px solid var(--failed);background:#fff5f5;padding:.5rem .8rem;margin:.8rem 0}
.counts{list-style:none;padding:0;margin:0;display:grid;gap:.6rem;
grid-template-columns:repeat(auto-fill,minmax(9.5rem,1fr))}
.counts li{border:1px solid var(--line);border-top:6px solid var(--c,var(--line));
border-radius:8px;padding:.5rem .7rem}
.counts .n{display:block;font-size:2.4rem;font-weight:700;line-height:1.1;color:var(--c)}
.counts .label{font-weight:600}
.counts .note{display:block;color:var(--muted);font-size:.85rem}
.counts li.zero{opacity:.55}
.s-updated{--c:var(--updated)}.s-unchanged{--c:var(--unchanged)}.s-invalid{--c:var(--invalid)}
.s-failed{--c:var(--failed)}.s-skipped{--c:var(--skipped)}.s-planned{--c:var(--planned)}
.groups{list-style:none;padding:0;margin:0}
.groups li{border:1px solid var(--line);border-left:6px solid var(--c,var(--invalid));
border-radius:8px;padding:.5rem .8rem;margin:.5rem 0}
.groups.failures li{--c:var(--failed)}
.groups .head{display:flex;flex-wrap:wrap;gap:.2rem .8rem;align-items:baseline}
.groups .count{font-size:1.4rem;font-weight:700}
.groups .rows,.groups .example{color:var(--muted);font-size:.9rem}
.groups .meaning{font-weight:600}
.muted{color:var(--muted)}
.chart svg{width:100%;max-width:44rem;height:auto;display:block}
.legend{display:flex;flex-wrap:wrap;gap:.3rem 1.2rem;list-style:none;padding:0;margin:.3rem 0}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin-right:.35rem;
vertical-align:-.05rem}
.k-requests{background:#0969da;fill:#0969da}.k-retries{background:#9a6700;fill:#9a6700}
.k-throttled{background:#cf222e;fill:#cf222e}
.scroll{overflow-x:auto;max-width:100%;border:1px solid var(--line);border-radius:8px}
table{border-collapse:collapse;width:100%;font-size:.92rem}
th,td{text-align:left;vertical-align:top;padding:.35rem .55rem;border-bottom:1px solid
var(--line)}
th{background:var(--soft);white-space:nowrap}
td{min-width:7rem;max-width:24rem;overflow-wrap:anywhere}
td.num{min-width:0;white-space:nowrap;text-align:right}
td.errors{min-width:16rem}
td.bad{background:#fff1e5;box-shadow:inset 3px 0 0 var(--failed);font-weight:600}
td.bad::before{content:"\\26A0\\FE0E  ";color:var(--failed)}
td.empty{color:var(--muted)}
footer{margin-top:2rem;color:var(--muted);font-size:.85rem}
@media (max-width:30rem){body{padding:.6rem}.counts .n{font-size:2rem}
}
@media print{body{max-width:none;padding:0;font-size:10.5pt}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
.scroll{overflow:visible;border:0}
td{max-width:none}
h2{break-after:avoid}
.counts li,.groups li,.chart,tr{break-inside:avoid}
thead{display:table-header-group}}
"""


def _number(value: int) -> str:
    return f"{value:,}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _when(stamp: object) -> str:
    text = str(stamp or "")
    return text.replace("T", " ").replace("Z", " UTC") if text else "unknown"


def _rows_list(first_rows: Sequence[int], rows: int) -> str:
    """``row 6``, ``rows 6, 19, 24``, ``rows 2, 3, … 11 and 5 more``."""
    shown = ", ".join(str(row) for row in first_rows)
    more = rows - len(first_rows)
    listed = f"{shown} and {_number(more)} more" if more > 0 else shown
    return f"{'row' if rows == 1 else 'rows'} {listed}"


def _outcome(summary: Mapping[str, Any], results_name: str) -> list[str]:
    outcome = str(summary.get("outcome", ""))
    dry = bool(summary.get("dry_run"))
    source = summary.get("input")
    path = source.get("path") if isinstance(source, dict) else None
    name = PurePath(path).name if isinstance(path, str) else "unknown"
    mode = "dry run (nothing sent)" if dry else "live run"
    facts = [
        ("exit code", f'<span data-exit-code="{esc(summary.get("exit_code", ""))}">'
                      f'{esc(summary.get("exit_code", ""))}</span>'),
        ("mode", f'<span data-mode="{"dry" if dry else "live"}">{esc(mode)}</span>'),
        ("input file", f"<code>{esc(name)}</code>"),
        ("results file", f"<code>{esc(results_name)}</code>" if results_name else ""),
        ("rejects file", _rejects(summary.get("rejects"))),
        ("started", esc(_when(summary.get("started_at")))),
        ("duration", esc(_duration(float(summary.get("elapsed_seconds") or 0.0)))),
        ("run id", f"<code>{esc(summary.get('run_id', ''))}</code>"),
    ]
    if not dry:
        facts.append(("requests", esc(
            f"{_number(int(summary.get('requests') or 0))} "
            f"({_number(int(summary.get('retries') or 0))} retries, "
            f"{_number(int(summary.get('throttled_429') or 0))} answered 429)")))
    parts = [
        "<header>",
        f'<h1>sync-job {"dry run" if dry else "run"} '
        f'<span class="badge {esc(outcome)}" id="outcome" data-outcome="{esc(outcome)}">'
        f"{esc(outcome.replace('_', ' '))}</span></h1>",
        '<dl class="facts">',
        *(f"<dt>{esc(label)}</dt><dd>{value}</dd>" for label, value in facts if value),
        "</dl>",
    ]
    why = str(summary.get("stopped_because") or "")
    if why:
        heading = "Safety brake" if outcome == "braked" else "Stopped early"
        parts.append(f'<p class="why" id="stopped-because"><strong>{heading}:</strong> '
                     f"{esc(why)}</p>")
    parts.append("</header>")
    return parts


def _rejects(path: object) -> str:
    """The rejects file, and what to do with it; "" when the run wrote none."""
    if not isinstance(path, str) or not path:
        return ""
    name = esc(PurePath(path).name)
    return (f'<code id="rejects">{name}</code>: the invalid and failed rows as they were read; '
            f"fix them there and run again with <code>--input {name}</code>")


def _counts(counts: Mapping[str, int]) -> list[str]:
    total = sum(int(counts.get(status, 0)) for status in STATUSES)
    parts = ['<section id="counts" aria-labelledby="counts-title">',
             '<h2 id="counts-title">Rows by status</h2>', '<ul class="counts">']
    for status in STATUSES:
        count = int(counts.get(status, 0))
        zero = " zero" if count == 0 else ""
        parts.append(
            f'<li class="s-{status}{zero}" data-status="{status}" data-count="{count}">'
            f'<span class="n">{_number(count)}</span> <span class="label">{status}</span>'
            f'<span class="note">{esc(STATUS_NOTES[status])}</span></li>')
    parts += ["</ul>", f'<p class="muted" data-rows="{total}">{_number(total)} rows in the '
                       f"file, one line each in the results file.</p>", "</section>"]
    return parts


def code_meanings() -> dict[str, str]:
    """Each problem code's meaning, as the README's table of codes says it."""
    from sync_job.report.codes import problem_codes  # only a page with problems needs it

    return problem_codes()


def _problems(groups: Sequence[ProblemGroup], invalid: int,
              meanings: Mapping[str, str]) -> list[str]:
    parts = ['<section id="problems" aria-labelledby="problems-title">',
             '<h2 id="problems-title">Problems to fix, by cause</h2>']
    if not groups:
        parts += ['<p class="muted">No invalid row.</p>', "</section>"]
        return parts
    plural = "s" if len(groups) != 1 else ""
    parts.append(f"<p>{_number(invalid)} invalid row(s), {len(groups)} cause{plural}. A row "
                 f"may have problems of several causes. Row numbers are the ones your "
                 f"spreadsheet shows.</p>")
    parts.append('<ul class="groups problems">')
    for group in groups[:MAX_GROUPS]:
        name = f"<code>{esc(group.key)}</code>"
        meaning = meanings.get(group.key, "")
        if meaning:  # what the code means, then the first message of it, as an example
            said = f'<p class="meaning">{esc(meaning[:1].upper() + meaning[1:])}.</p>'
            if group.description:
                said += f'<p class="example">e.g. {esc(group.description)}</p>'
        else:
            said = f"<p>{esc(group.description or group.key)}</p>"
        parts.append(
            f'<li data-problem="{esc(group.key)}" data-count="{group.rows}">'
            f'<div class="head"><span class="count">{_number(group.rows)}</span> '
            f"<span>row{'s' if group.rows != 1 else ''}</span> {name}</div>"
            f"{said}"
            f'<p class="rows">{esc(_rows_list(group.first_rows, group.rows))}</p></li>')
    parts.append("</ul>")
    if len(groups) > MAX_GROUPS:
        parts.append(f'<p id="problems-more" data-more="{len(groups) - MAX_GROUPS}">and '
                     f"{_number(len(groups) - MAX_GROUPS)} more causes: see the results "
                     f"file.</p>")
    parts.append("</section>")
    return parts


def _failures(groups: Sequence[FailureGroup]) -> list[str]:
    parts = ['<section id="failures" aria-labelledby="failures-title">',
             '<h2 id="failures-title">Rows the API refused or did not answer</h2>']
    if not groups:
        parts += ['<p class="muted">No failed row.</p>', "</section>"]
        return parts
    parts.append('<ul class="groups failures">')
    for group in groups[:MAX_GROUPS]:
        heading = (f"HTTP {group.http_status}" if group.http_status else "no HTTP answer")
        if group.api_code:
            heading += f", API code {group.api_code}"
        code = f" <code>{esc(group.code)}</code>" if group.code else ""
        parts.append(
            f'<li data-http-status="{esc(group.http_status)}" data-api-code="'
            f'{esc(group.api_code)}" data-code="{esc(group.code)}" data-count="{group.rows}">'
            f'<div class="head"><span class="count">{_number(group.rows)}</span> '
            f"<span>row{'s' if group.rows != 1 else ''}</span> <strong>{esc(heading)}</strong>"
            f"{code}</div><p>{esc(group.message)}</p>"
            f'<p class="rows">{esc(_rows_list(group.first_rows, group.rows))}</p></li>')
    parts.append("</ul>")
    if len(groups) > MAX_GROUPS:
        parts.append(f"<p>and {_number(len(groups) - MAX_GROUPS)} more kinds of answer: see the "
                     f"results file.</p>")
    parts.append("</section>")
    return parts


def _axis_time(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def chart(timeline: TimelineCounts) -> str:
    """The push over time as an inline SVG bar chart: per interval, a bar for each kind."""
    width, height, left, bottom, top = 640, 200, 44, 26, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    intervals = max(timeline.intervals, 1)
    peak = max((max(values, default=0) for values in timeline.counts.values()), default=0)
    scale = max(peak, 1)
    slot = plot_w / intervals
    bar = max(slot / len(KINDS) * 0.9, 0.5)
    bars = []
    for k, kind in enumerate(KINDS):
        for n, value in enumerate(timeline.counts.get(kind, [])):
            if not value:
                continue
            h = plot_h * value / scale
            x = left + n * slot + k * slot / len(KINDS)
            bars.append(f'<rect class="k-{kind}" x="{x:.2f}" y="{top + plot_h - h:.2f}" '
                        f'width="{bar:.2f}" height="{h:.2f}"/>')
    span = timeline.width * intervals
    totals = ", ".join(f"{_number(timeline.total(kind))} {KIND_LABELS[kind]}" for kind in KINDS)
    label = (f"Requests, retries and 429 answers per {_axis_time(timeline.width)} over "
             f"{_axis_time(span)}: {totals}")
    axis_y = top + plot_h
    return "".join([
        f'<svg id="timeline-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="timeline-chart-title" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="timeline-chart-title">{esc(label)}</title>',
        f'<line x1="{left}" y1="{axis_y}" x2="{width - 8}" y2="{axis_y}" stroke="#59636e"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{axis_y}" stroke="#59636e"/>',
        f'<line x1="{left}" y1="{top}" x2="{width - 8}" y2="{top}" stroke="#d1d9e0" '
        f'stroke-dasharray="3 3"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11" '
        f'fill="#59636e">{peak}</text>',
        f'<text x="{left - 6}" y="{axis_y + 4}" text-anchor="end" font-size="11" '
        f'fill="#59636e">0</text>',
        f'<text x="{left}" y="{height - 8}" font-size="11" fill="#59636e">0 s</text>',
        f'<text x="{width - 8}" y="{height - 8}" text-anchor="end" font-size="11" '
        f'fill="#59636e">{esc(_axis_time(span))}</text>',
        *bars,
        "</svg>",
    ])


def _timeline(timeline: TimelineCounts | None, dry_run: bool) -> list[str]:
    if dry_run:
        return []
    parts = ['<section id="timeline" class="chart" aria-labelledby="timeline-title">',
             '<h2 id="timeline-title">The push over time</h2>']
    if timeline is None or timeline.total("requests") == 0:
        parts += ['<p class="muted">No request was sent.</p>', "</section>"]
        return parts
    parts.append(f"<p>Per {esc(_axis_time(timeline.width))}: requests sent (retries "
                 f"included), retries, and answers 429 (too many requests).</p>")
    parts.append(chart(timeline))
    parts.append('<ul class="legend">' + "".join(
        f'<li data-kind="{kind}" data-total="{timeline.total(kind)}"><span class="k-{kind}">'
        f"</span>{esc(KIND_LABELS[kind])}: {_number(timeline.total(kind))}</li>"
        for kind in KINDS) + "</ul>")
    parts.append("</section>")
    return parts


def _invalid_table(rows: Sequence[InvalidRow], total: int, headers: Mapping[str, str],
                   results_name: str) -> list[str]:
    parts = ['<section id="invalid-rows" aria-labelledby="invalid-title">',
             '<h2 id="invalid-title">Invalid rows</h2>']
    if not rows:
        parts += ['<p class="muted">No invalid row.</p>', "</section>"]
        return parts
    fields = [name for name in ALL_FIELDS if name in rows[0].cells]
    parts.append("<p>The cells as read from the file; a cell with a problem is marked "
                 "&#9888;&#xFE0E;. Cells are shown up to "
                 f"{CELL_CHARACTERS} characters.</p>")
    parts.append('<div class="scroll" tabindex="0" role="region" aria-labelledby='
                 '"invalid-title"><table><thead><tr><th>row</th>'
                 + "".join(f'<th data-field="{name}">{esc(headers.get(name, name))}</th>'
                           for name in fields)
                 + "<th>problems</th></tr></thead><tbody>")
    for row in rows:
        cells = [f'<td class="num{" bad" if ROW_LABEL in row.marked else ""}">{row.row}</td>']
        for name in fields:
            value = row.cells.get(name, "")
            kind = " ".join(part for part in ("bad" if name in row.marked else "",
                                              "empty" if not value else "") if part)
            shown = esc(value) if value else "(empty)"
            mark = f' class="{kind}" data-bad="{name}"' if name in row.marked else (
                f' class="{kind}"' if kind else "")
            cells.append(f"<td{mark}>{shown}</td>")
        cells.append(f'<td class="errors">{esc(row.errors)}</td>')
        parts.append(f'<tr data-row="{row.row}">' + "".join(cells) + "</tr>")
    parts.append("</tbody></table></div>")
    if total > len(rows):
        where = f" <code>{esc(results_name)}</code>" if results_name else ""
        parts.append(f'<p id="invalid-more" data-more="{total - len(rows)}">and '
                     f"{_number(total - len(rows))} more: see the results file{where}.</p>")
    parts.append("</section>")
    return parts


def render(data: ReportInput) -> str:
    """The whole page, as text."""
    summary, results = data.summary, data.results
    counts = summary.get("counts")
    counts = counts if isinstance(counts, dict) else {}
    groups = problem_groups(results, data.headers)
    table, invalid = invalid_rows(results, data.cells, data.headers)
    outcome = str(summary.get("outcome", ""))
    source = summary.get("input")
    path = source.get("path") if isinstance(source, dict) else None
    title = f"sync-job {outcome.replace('_', ' ')}"
    if isinstance(path, str):
        title += f": {PurePath(path).name}"
    page = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing may be loaded or run: the page is all there is.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src 'none'; form-action 'none'\">",
        '<meta name="referrer" content="no-referrer">',
        f"<title>{esc(title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        *_outcome(summary, data.results_name),
        "<main>",
        *_counts(counts),
        *_problems(groups, invalid,
                   code_meanings() if groups else {}),
        *([] if summary.get("dry_run") else _failures(failure_groups(results))),
        *_timeline(data.timeline, bool(summary.get("dry_run"))),
        *_invalid_table(table, invalid, data.headers, data.results_name),
        "</main>",
        f"<footer>Made by sync-job {esc(__version__)}. The results file has every row; this "
        f"page shows no more than it does.</footer>",
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(page)


def write_report(path: Path, data: ReportInput) -> None:
    """Write the page to ``path`` atomically, readable by its owner only (it shows cells)."""
    text = render(data)
    with atomic_binary_writer(path, mode=PRIVATE) as handle:
        handle.write(text.encode("utf-8"))

