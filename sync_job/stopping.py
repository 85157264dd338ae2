"""Stopping a run cleanly on SIGINT (Ctrl-C) or, on Linux and macOS, SIGTERM (systemd, docker,
kill).

The first signal sets a :class:`StopRequest`: the push starts no new request, lets those in
flight finish (each bounded by the read timeout), and the run writes its results and snapshot
and exits 128 + the signal number (130 for SIGINT, 143 for SIGTERM). A second signal ends the
process at once with ``os._exit``; every confirmed update is already in the journal, so the
next run loses nothing. The same signal again within a second of the first is the same request
(``timeout`` and some supervisors signal the process and its group at once), not a second one.

Handlers are installed by the command line, in the main thread; the library only sees the Event.
On Windows only Ctrl-C is handled: ``signal.SIGTERM`` exists there, but nothing outside the
process sends it (``taskkill /F`` and ``os.kill`` end a process without a signal).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from sync_job.errors import ExitCode

log = logging.getLogger("sync_job")

STOP_SIGNALS: tuple[signal.Signals, ...] = (
    (signal.SIGINT,) if sys.platform == "win32" else (signal.SIGINT, signal.SIGTERM))
"""The signals that ask a run to stop, where the platform delivers them."""


class StopRequest(threading.Event):
    """An Event that also remembers the exit code the stop asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.exit_code: int = ExitCode.SIGINT

    def request(self, exit_code: int) -> None:
        self.exit_code = exit_code
        self.set()


def exit_code_of(stop: threading.Event) -> int:
    """The exit code of a run stopped by ``stop`` (130 unless it says otherwise)."""
    return stop.exit_code if isinstance(stop, StopRequest) else ExitCode.SIGINT


REPEAT_WINDOW = 1.0
"""Seconds after the first signal in which the same signal again is the same request."""


@contextmanager
def stop_on_signals(
    stop: StopRequest, *, hard_exit: Callable[[int], None] = os._exit,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[StopRequest]:
    """Within the block, :data:`STOP_SIGNALS` set ``stop``; a second one calls ``hard_exit``.

    The same signal again within :data:`REPEAT_WINDOW` seconds of the first is not a second
    one: a supervisor such as coreutils ``timeout`` signals the process and then its whole
    group, so one request to stop arrives twice at once.
    """
    arrivals: list[tuple[int, float]] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        mine = (signum, clock())
        # A handler can be entered again while it runs (a second Ctrl-C during the first's log
        # line); list.append is one atomic step, so exactly one call finds itself first.
        arrivals.append(mine)
        first = arrivals[0]
        if first is not mine:
            if first[0] == signum and mine[1] - first[1] <= REPEAT_WINDOW:
                log.debug("%s again within %g s of the first: the same request; still stopping",
                          name, REPEAT_WINDOW)
                return
            log.warning("%s again: exiting now; the journal holds every confirmed update", name)
            hard_exit(128 + signum)
            return
        stop.request(128 + signum)
        log.warning("%s: stopping; no new requests, waiting for those in flight "
                    "(%s again to exit at once)", name, "Ctrl-C" if name == "SIGINT" else name)

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
