"""``sync-job runs``: the run history as a table for people, oldest first, newest last."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePath
from typing import Any

from sync_job.fields import STATUSES

WHY_CHARS = 100
"""``stopped_because`` is cut to this many characters in the table (``--json`` has it all)."""

_HEADERS = ("ended (UTC)", "run", "mode", "exit", "outcome", "input", "sha256", "rows",
            *STATUSES, "why")


def _cell(run: Mapping[str, Any]) -> list[str]:
    ended = str(run.get("ended_at") or "")[:19].replace("T", " ")
    source, counts = run.get("input"), run.get("counts")
    source = source if isinstance(source, dict) else {}
    counts = counts if isinstance(counts, dict) else {}
    path, digest = source.get("path"), source.get("sha256")
    why = " ".join(str(run.get("stopped_because") or "").split())  # a ConfigError's lines too
    if len(why) > WHY_CHARS:
        why = why[:WHY_CHARS - 1] + "…"
    return [ended, str(run.get("run_id", ""))[:8], "dry" if run.get("dry_run") else "live",
            str(run.get("exit_code", "")), str(run.get("outcome", "")),
            PurePath(path).name if isinstance(path, str) else "-",
            digest[:12] if isinstance(digest, str) and digest else "-",
            str(run.get("rows", "")), *(str(counts.get(name, "")) for name in STATUSES), why]


def format_runs(runs: Sequence[Mapping[str, Any]]) -> str:
    """One line per run, under a header; numbers right-aligned."""
    table = [list(_HEADERS), *(_cell(run) for run in runs)]
    widths = [max(len(row[at]) for row in table) for at in range(len(_HEADERS))]
    numeric = {"exit", "rows", *STATUSES}
    lines = []
    for row in table:
        cells = [cell.rjust(width) if name in numeric else cell.ljust(width)
                 for name, cell, width in zip(_HEADERS, row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
