"""The safety brake: a run that would send more updates than allowed sends none.

A broken export (every email blanked, a shifted column) looks to the diff like a file that
changes every contact. ``push.max_changes`` caps how many updates one run may send: a number
(``500``) or a share of the snapshot (``10%``). Over the cap the run sends nothing, writes the
planned rows to the results for review, and exits 4; ``--force`` lets one run through.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

_SHARE = re.compile(r"(\d+(?:\.\d+)?)\s*%")


@dataclass(frozen=True)
class ChangeLimit:
    """At most ``count`` updates, or at most ``percent`` % of the snapshot's contacts."""

    count: int | None = None
    percent: float | None = None

    def allowed(self, snapshot_size: int) -> int:
        """How many updates a run may send against a snapshot of ``snapshot_size`` contacts."""
        if self.count is not None:
            return self.count
        assert self.percent is not None
        # A hair under the exact value absorbs float error: 10% of 1000 must allow 100.
        return math.floor(snapshot_size * self.percent / 100 + 1e-9)

    def describe(self, snapshot_size: int) -> str:
        if self.count is not None:
            return str(self.count)
        return f"{self.percent:g}% of {snapshot_size} contacts in the snapshot = " \
               f"{self.allowed(snapshot_size)}"


def parse_change_limit(raw: Any) -> tuple[ChangeLimit | None, str | None]:
    """A config or flag value → (limit, None), or (None, "expected ...")."""
    expected = ("expected a whole number of updates (500), a share of the snapshot (10%), "
                "or off")
    if raw is None or raw is False or raw == "off":  # YAML reads a bare `off` as false
        return None, None
    if isinstance(raw, ChangeLimit):
        return raw, None
    if isinstance(raw, bool):
        return None, expected
    if isinstance(raw, int) and raw >= 0:
        return ChangeLimit(count=raw), None
    if isinstance(raw, str):
        text = raw.strip()
        if text.isdigit():
            return ChangeLimit(count=int(text)), None
        share = _SHARE.fullmatch(text)
        if share and 0 < float(share.group(1)) <= 100:
            return ChangeLimit(percent=float(share.group(1))), None
    return None, expected


def brake_reason(planned: int, limit: ChangeLimit, snapshot_size: int) -> str | None:
    """Why ``planned`` updates may not go out, or None when they may."""
    allowed = limit.allowed(snapshot_size)
    if planned <= allowed:
        return None
    return (f"{planned} updates planned, more than push.max_changes allows "
            f"({limit.describe(snapshot_size)}); nothing was sent. Review the results, then "
            f"re-run with --force if the changes are intended")


def parse_invalid_limit(raw: Any) -> tuple[ChangeLimit | None, str | None]:
    """``push.max_invalid`` (``--max-invalid``): invalid rows a run may have and still exit 0,
    a number or a share of the file's rows, in the brake's notation (0 by default)."""
    expected = "expected a whole number of rows (5) or a share of the file's rows (2%)"
    if raw is None or isinstance(raw, bool) or raw == "off":
        return None, expected
    limit, _ = parse_change_limit(raw)
    return (limit, None) if limit is not None else (None, expected)

