"""The push over time: requests sent, retries and 429 answers, counted per interval.

The HTML report draws it as a small chart. Workers record each event from their own threads
(:meth:`Timeline.add`: a lock, a division and an increment). Memory is bounded whatever the
run's length: a fixed number of buckets, each one second wide at first; when the run outgrows
them, neighbouring buckets are merged in pairs and every bucket is twice as wide. A ten-hour
run is so counted in 120 buckets of 512 seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

KINDS: tuple[str, ...] = ("requests", "retries", "throttled")
"""What is counted: each request sent (retries included), each retry, each 429 answer."""

BUCKETS = 120
"""How many intervals the timeline holds at most."""


@dataclass(frozen=True)
class TimelineCounts:
    """The counts as they stand: ``counts[kind][n]`` events in the ``n``-th interval of
    ``width`` seconds from the start of the push."""

    width: float
    counts: dict[str, list[int]]

    @property
    def intervals(self) -> int:
        return len(self.counts[KINDS[0]]) if self.counts else 0

    def total(self, kind: str) -> int:
        return sum(self.counts.get(kind, ()))


class Timeline:
    """Thread-safe counts of push events per interval, in at most ``buckets`` intervals."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic, buckets: int = BUCKETS,
                 width: float = 1.0) -> None:
        if buckets < 2 or buckets % 2 or width <= 0:
            raise ValueError("a timeline needs an even number of buckets and a width over 0")
        self._clock = clock
        self._start = clock()
        self._width = width
        self._size = buckets
        self._counts = {kind: [0] * buckets for kind in KINDS}
        self._last = 0
        self._lock = threading.Lock()

    def _index(self, now: float) -> int:
        """The bucket of ``now``, merging buckets until it fits (call with the lock held)."""
        index = max(0, int((now - self._start) // self._width))
        while index >= self._size:
            half = self._size // 2
            for values in self._counts.values():
                values[:half] = [values[2 * n] + values[2 * n + 1] for n in range(half)]
                values[half:] = [0] * half
            self._width *= 2
            self._last //= 2
            index = max(0, int((now - self._start) // self._width))
        return index

    def add(self, kind: str) -> None:
        """One event of ``kind`` (one of :data:`KINDS`) now."""
        now = self._clock()
        with self._lock:
            index = self._index(now)
            self._counts[kind][index] += 1
            self._last = max(self._last, index)

    def counts(self) -> TimelineCounts:
        """The intervals from the start to now (or to the last event, if later)."""
        now = self._clock()
        with self._lock:
            used = max(self._index(now), self._last) + 1
            return TimelineCounts(width=self._width,
                                  counts={kind: values[:used]
                                          for kind, values in self._counts.items()})
