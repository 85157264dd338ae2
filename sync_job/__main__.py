"""``python -m sync_job`` does what the ``sync-job`` console script does."""

from sync_job.cli import console

console()
