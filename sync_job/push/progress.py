"""Progress of the push, for a person watching a terminal or reading a log afterwards.

* On a terminal: a tqdm bar on stderr with rows done/total, rate, ETA and running counts of
  updated and failed rows.
* Anywhere else (cron, CI, Airflow): plain lines with the same figures, one at least every
  ``interval`` seconds (10 by default), even while every worker waits on a ``Retry-After``
  pause, and one at every 10% of the rows; no control characters, so logs stay readable.

Workers report each row through :meth:`Progress.advance`, from their own threads. The pipeline
gets a :data:`ProgressFactory` so the CLI picks the kind and tests can capture the output.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import IO, Protocol

log = logging.getLogger("sync_job")


class Progress(Protocol):
    def advance(self, status: str) -> None:
        """One row is done with ``status`` (``updated``, ``failed``, …). Thread-safe."""

    def close(self) -> None:
        """The push is over: show the final figures and release the display."""


ProgressFactory = Callable[[int], Progress]
"""Makes the progress display for a push of ``total`` rows."""


class SilentProgress:
    """``--quiet``, and library use: no progress output at all."""

    def advance(self, status: str) -> None:
        pass

    def close(self) -> None:
        pass


class _Tally:
    """Counts shared by both displays."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.updated = 0
        self.failed = 0
        self.lock = threading.Lock()

    def count(self, status: str) -> None:
        self.done += 1
        if status == "updated":
            self.updated += 1
        elif status == "failed":
            self.failed += 1


def _size(stream: IO[str]) -> tuple[int, int]:
    try:
        return tuple(os.get_terminal_size(stream.fileno()))  # type: ignore[return-value]
    except (OSError, ValueError):
        return (0, 0)


class BarProgress:
    """A tqdm bar on a terminal: ``push:  40%|████      | 800/2000 [00:02<00:03, 390 rows/s,
    updated=795, failed=5]``."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        from tqdm import tqdm  # only a terminal needs it: a cron run starts sooner without it

        self._tally = _Tally(total)
        # A terminal that reports no size (script, some CI ptys) gets no bar at all from tqdm:
        # give it a usual one.
        sized: dict[str, object] = ({"dynamic_ncols": True} if all(_size(stream))
                                    else {"ncols": 100, "nrows": 24})
        self._bar = tqdm(total=total, desc="push", unit=" rows", file=stream, mininterval=0.2,
                         postfix=self._postfix(), **sized)

    def _postfix(self) -> str:
        # Text, not keywords: tqdm would sort keywords and put "failed" first.
        return f"updated={self._tally.updated}, failed={self._tally.failed}"

    def advance(self, status: str) -> None:
        with self._tally.lock:
            self._tally.count(status)
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        with self._tally.lock:
            self._bar.set_postfix_str(self._postfix(), refresh=False)
            self._bar.close()


def _duration(seconds: float) -> str:
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, whole = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {whole:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _log_line(text: str) -> None:
    log.info("%s", text, extra={"event": "progress"})


class LogProgress:
    """Plain progress lines for logs: at every 10% of the rows, and every ``interval`` seconds
    from a ticker thread, so a stalled push still says so."""

    def __init__(
        self,
        total: int,
        *,
        emit: Callable[[str], None] = _log_line,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tally = _Tally(total)
        self._emit = emit
        self._clock = clock
        self._started = clock()
        self._next_tenth = 1
        self._closed = threading.Event()
        self._ticker = threading.Thread(target=self._tick, args=(interval,),
                                        name="push-progress", daemon=True)
        self._ticker.start()

    def line(self) -> str:
        """The current figures as one line of plain text (call with the tally lock held)."""
        t = self._tally
        elapsed = max(self._clock() - self._started, 1e-9)
        rate = t.done / elapsed
        share = 100.0 * t.done / t.total if t.total else 100.0
        eta = _duration((t.total - t.done) / rate) if rate > 0 else "unknown"
        return (f"push: {t.done}/{t.total} rows ({share:.0f}%), {rate:.1f} rows/s, ETA {eta}; "
                f"updated {t.updated}, failed {t.failed}")

    def advance(self, status: str) -> None:
        with self._tally.lock:
            self._tally.count(status)
            tenths = self._tally.done * 10 // max(self._tally.total, 1)
            if tenths < self._next_tenth:
                return
            self._next_tenth = tenths + 1
            self._emit(self.line())

    def _tick(self, interval: float) -> None:
        while not self._closed.wait(interval):
            with self._tally.lock:
                self._emit(self.line())

    def close(self) -> None:
        self._closed.set()
        self._ticker.join()
        with self._tally.lock:
            if self._tally.done < self._tally.total:  # 100% already had its line
                self._emit(self.line())


def progress_for(stream: IO[str], *, quiet: bool = False, lines: bool = False) -> ProgressFactory:
    """The display the CLI uses: a bar on a terminal, log lines elsewhere or when ``lines``
    (JSON logs: every line one object, also on a terminal), nothing if quiet."""
    if quiet:
        return lambda total: SilentProgress()
    if stream.isatty() and not lines:
        return lambda total: BarProgress(total, stream)
    return lambda total: LogProgress(total)
