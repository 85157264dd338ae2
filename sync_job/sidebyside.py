"""Independent column passes run side by side, so a second core shares the work.

Nearly all the work of planning a big file is pyarrow's and numpy's kernels over whole columns,
and both release the GIL while they run: passes over different columns (or halves of a table)
on threads of their own take about half the wall time on two cores. Python's own share of
each pass is small, so the threads rarely wait for one another. :func:`tuned_for_kernels`
holds the process settings under which such work runs best.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

K = TypeVar("K")
T = TypeVar("T")
A = TypeVar("A")
B = TypeVar("B")

# While the files are read and planned, the GIL is handed back and forth thousands of times:
# the kernels release it, and imports (and other Python) take it. With CPython's default 5 ms
# switch interval a thread coming back from a kernel may wait that long each time (the
# "convoy").
SWITCH_INTERVAL = 0.0002


def side_by_side(work: Mapping[K, Callable[[], T]]) -> dict[K, T]:
    """Each callable's result under its key, in the same order; the first one runs on the
    calling thread, the others on threads of their own. The first exception raised by any
    callable (in key order) is raised here, once all of them have finished."""
    items = list(work.items())
    if len(items) <= 1:
        return {key: call() for key, call in items}
    first_key, first_call = items[0]
    # Leaving the pool waits for every thread, also when the first callable raises.
    with ThreadPoolExecutor(len(items) - 1, thread_name_prefix="sync-job-side") as pool:
        later = [(key, pool.submit(call)) for key, call in items[1:]]
        results = {first_key: first_call()}
    for key, future in later:
        results[key] = future.result()
    return results


def both(first: Callable[[], A], second: Callable[[], B]) -> tuple[A, B]:
    """``(first(), second())``, the second on a thread of its own while the first runs here;
    an exception of either is raised once both have finished (the first's before the
    second's)."""
    with ThreadPoolExecutor(1, thread_name_prefix="sync-job-side") as pool:
        later = pool.submit(second)
        result = first()
    return result, later.result()


@contextlib.contextmanager
def tuned_for_kernels() -> Iterator[Callable[[], None]]:
    """Process settings for importing, reading and planning: Python's cyclic garbage collector
    paused (unless the caller paused it already: the millions of objects made stay alive to
    the end, and its passes over them cost about 5% of a big dry run) and a
    :data:`SWITCH_INTERVAL` GIL switch interval. Yields a function that restores both early,
    collecting what has piled up (before a push: minutes of requests); they are restored when
    the block ends anyway."""
    collecting = gc.isenabled()
    interval = sys.getswitchinterval()
    restored = False

    def restore() -> None:
        nonlocal restored
        if restored:
            return
        restored = True
        sys.setswitchinterval(interval)
        if collecting:
            gc.enable()
            gc.collect()

    gc.disable()
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    try:
        yield restore
    finally:
        if not restored:
            sys.setswitchinterval(interval)
            if collecting:
                gc.enable()
