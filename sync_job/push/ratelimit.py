"""One gate for every worker of a run: a steady request rate, and a shared pause.

The rate is enforced by spacing request starts ``1/rate`` seconds apart (a token bucket of size
one), so no burst ever exceeds the configured rate, even after an idle spell. A 429 or 503 with
``Retry-After`` pauses every worker, not only the one that was told, because the server's limit
is for the whole account.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable


class RateGate:
    """Thread-safe start-of-request gate. ``rate`` 0 means no rate limit (pauses still apply)."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._paused_until = 0.0

    def wait_turn(self, cancelled: Callable[[], bool] = lambda: False) -> bool:
        """Block until this caller may start a request. False if ``cancelled`` became true."""
        while True:
            with self._lock:
                start = max(self._clock(), self._next_start, self._paused_until)
                self._next_start = start + self._interval
            while True:
                if cancelled():
                    return False
                if self._paused_until > start:
                    break  # a pause began after this slot was handed out: take a new one
                remaining = start - self._clock()
                if remaining <= 0:
                    return True
                # Sleep in short slices so a stop request or a pause is noticed promptly.
                self._sleep(min(remaining, 0.25))

    def pause_until(self, deadline: float) -> None:
        """Hold every caller until ``deadline`` (a ``clock`` time); then resume at the rate."""
        with self._lock:
            self._paused_until = max(self._paused_until, deadline)
            self._next_start = max(self._next_start, self._paused_until)

    def clock(self) -> float:
        return self._clock()


def full_jitter(ceiling: float) -> float:
    """A retry wait drawn uniformly between 0 and ``ceiling`` ("full jitter")."""
    return random.uniform(0.0, ceiling)
