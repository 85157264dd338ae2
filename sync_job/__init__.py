"""sync-job: keep the contacts of a Huduma SMS account in step with a file of changes.

The library does the work; ``sync_job.cli`` is a thin shell over :func:`sync_job.pipeline.run_sync`.
"""

__version__ = "0.1.0"
