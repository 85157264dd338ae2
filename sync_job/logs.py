"""Log output on stderr: text for people, JSON lines for log collectors.

Log lines name a contact by its ``contactId`` and spreadsheet ``row`` only, never by name,
number or email: personal data stays in the results file. In JSON each line is one object with
``time``, ``level``, ``message`` and, where the line is about one row, ``row`` and ``contactId``
(pass them with ``extra={"row": ..., "contactId": ...}``).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

LOG_FORMATS = ("text", "json")
# Record attributes that become JSON fields when a log call passes them in ``extra``.
_FIELDS = ("row", "contactId", "run_id", "status", "http_status")


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(*, level: int, log_format: str = "text",
                      stream: TextIO | None = None) -> None:
    """Send the ``sync_job`` logger to ``stream`` (stderr) at ``level`` in ``log_format``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter("sync-job: %(levelname)s: %(message)s"))
    log = logging.getLogger("sync_job")
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
