"""Log output on stderr: text for people, JSON lines for log collectors.

Log lines name a contact by its ``contactId`` and spreadsheet ``row`` only, never by name,
number or email: personal data stays in the results file. In JSON each line is one object with
``time``, ``level``, ``event`` (``log`` for a log line, ``progress`` for the push's progress),
``run_id``, ``message`` and, where the line is about one row, ``row`` and ``contactId`` (pass
them with ``extra={"row": ..., "contactId": ...}``).

The command writes its other lines (the summary, a run that cannot start, a usage error, an
internal error) with :func:`event_line`, so with ``--log-format json`` every line it prints on
stdout and stderr is one JSON object carrying the run's id.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")
# Record attributes that become JSON fields when a log call passes them in ``extra``.
_FIELDS = ("row", "contactId", "status", "http_status")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_line(event: str, *, run_id: str, level: str, message: str,
               fields: Mapping[str, Any] | None = None) -> str:
    """One JSON line: what the command says outside the log (the summary, an error), with
    ``fields`` after the usual ones."""
    line = {"time": _iso(datetime.now(UTC)), "level": level, "event": event, "run_id": run_id,
            "message": message}
    line.update(fields or {})  # a summary's own run_id is the same
    return json.dumps(line, ensure_ascii=False)


class JsonLineFormatter(logging.Formatter):
    def __init__(self, run_id: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": _iso(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", "log"),
        }
        run_id = getattr(record, "run_id", None) or self.run_id
        if run_id is not None:
            line["run_id"] = run_id
        line["message"] = record.getMessage()
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(*, level: int, log_format: str = "text",
                      stream: TextIO | None = None, run_id: str | None = None) -> None:
    """Send the ``sync_job`` logger to ``stream`` (stderr) at ``level`` in ``log_format``.

    In JSON every line carries ``run_id``, and what other libraries say on stderr (a warning
    of urllib3's logger, of Python's ``warnings``) becomes a JSON line too instead of bare
    text: the command owns its process, so it may set the root logger."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter(run_id))
    else:
        handler.setFormatter(logging.Formatter("sync-job: %(levelname)s: %(message)s"))
    log = logging.getLogger("sync_job")
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    if log_format == "json":
        logging.captureWarnings(True)
        logging.getLogger().handlers[:] = [handler]
