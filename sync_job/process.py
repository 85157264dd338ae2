"""Process-wide settings the ``sync-job`` command makes for itself, and nothing else does.

The library (``run_sync``) changes no process-wide setting: an orchestrator that embeds it
keeps its own. The command owns its process, so it makes two choices that pay for themselves
on big files (docs/performance.md measures each):

* pyarrow allocates with jemalloc instead of its default, mimalloc, which hands the memory of
  a run's large arrays back to the system and faults it in again page by page;
* once everything is written, flushed and closed, the process ends at once instead of
  freeing a run's objects one by one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def use_jemalloc() -> None:
    """Have pyarrow allocate with jemalloc (else the system allocator), unless the
    environment picks one (``ARROW_DEFAULT_MEMORY_POOL``)."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a pyarrow built without jemalloc
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)


def exit_now(code: int) -> NoReturn:
    """Flush what is left to say, then end the process with ``code`` without tearing the
    interpreter down object by object."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)
