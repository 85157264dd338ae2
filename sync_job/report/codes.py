"""Every problem code a results file's ``problem_codes`` may hold, with its meaning.

The codes are made where the problems are found, and declared there: the reader's
(``sync_job.read.reader.READ_PROBLEMS``), the validation rules' (each entry of
``sync_job.plan.rules.RULES`` names its problems; a code is ``<field>.<problem>``), and those of
a row the push failed (``sync_job.push.client.OUTCOME_CODES``, where ``api.<code>`` and
``http.<status>`` stand for every number). This module gathers them for the README's table of
codes, which ``tests/test_problem_codes.py`` holds to it, and for anyone who lists them. The
job itself does not need it: a run counts the codes its results hold.
"""

from __future__ import annotations

from sync_job.fields import ALL_FIELDS
from sync_job.plan.rules import RULES
from sync_job.push.client import OUTCOME_CODES
from sync_job.read.reader import READ_PROBLEMS


def problem_codes() -> dict[str, str]:
    """Every code: its meaning. The validation codes first, field by field (contactId, names,
    number, email, then the row's), each field's in the order of ``RULES``; then the
    reader's; then the push's."""
    found: dict[str, str] = {}
    for rule in RULES.values():
        for code, meaning in rule.codes.items():
            found.setdefault(code, meaning)
    checked = sorted(found.items(), key=lambda item: _place(item[0]))
    return {**dict(checked), **READ_PROBLEMS, **OUTCOME_CODES}


def _place(code: str) -> int:
    field = code.split(".", 1)[0]
    return ALL_FIELDS.index(field) if field in ALL_FIELDS else len(ALL_FIELDS)
