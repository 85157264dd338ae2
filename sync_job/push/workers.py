"""Send many updates: a fixed set of worker threads, one shared rate gate, two ways to stop.

Workers pull the next update from a shared cursor, so a million rows never become a million
futures. At most ``concurrency`` requests are in flight; the :class:`RateGate` caps how many
start per second across all workers. No further request starts when

* a response says the token or the account is unusable (401/402), or
* the circuit breaker opens: ``stop_after_failures`` rows in a row ended *systemically*
  (transport errors, 5xx, answers that are not the API's, redirects, an over-long
  ``Retry-After``: see ``sync_job.push.client``). A dead API or a wrong ``base_url`` then costs a
  few rows' retries, not days of them. One believable answer of the API closes it again.

Updates never started are reported as skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sync_job.plan.make import Update
from sync_job.push.client import INTERNAL_ERROR, ContactClient, Outcome

OutcomeCallback = Callable[[Update, Outcome], None]


@dataclass
class PushResult:
    outcomes: dict[int, Outcome]
    """Position → outcome, for every update a worker took up (``skipped`` if the run stopped
    before its request went out)."""
    aborted: Outcome | None
    """The 401/402 outcome that stopped the run, if one did."""
    unavailable: Outcome | None = None
    """The last outcome of the systemic run of failures that opened the breaker, if it did."""


def push_updates(
    updates: Sequence[Update],
    client: ContactClient,
    *,
    concurrency: int,
    on_outcome: OutcomeCallback | None = None,
    stop: threading.Event | None = None,
    stop_after_failures: int = 0,
) -> PushResult:
    """Send ``updates`` with ``concurrency`` workers; return every outcome.

    ``on_outcome`` runs in the worker thread right after each response, before the next
    request of that worker (the journal records confirmed updates there). ``stop`` set from
    outside (a signal) makes workers start nothing new. ``stop_after_failures``: open the
    breaker after this many systemic failures in a row (0: never).
    """
    stop = stop or threading.Event()
    outcomes: dict[int, Outcome] = {}
    lock = threading.Lock()
    cursor = iter(updates)
    aborted: list[Outcome] = []
    unavailable: list[Outcome] = []
    failures_in_a_row = 0

    def next_update() -> Update | None:
        with lock:
            if stop.is_set():
                return None
            return next(cursor, None)

    def work() -> None:
        nonlocal failures_in_a_row
        while (update := next_update()) is not None:
            try:
                outcome = client.update(update.contact_id, update.body)
            except Exception as exc:  # a bug must cost one row, not silently the rest
                outcome = Outcome(status="failed", attempts=0, code=INTERNAL_ERROR,
                                  message=f"internal error: {type(exc).__name__}: {exc}")
            with lock:
                outcomes[update.position] = outcome
                if outcome.systemic:
                    failures_in_a_row += 1
                elif outcome.api_answered:
                    failures_in_a_row = 0
                if outcome.fatal and not aborted and not unavailable:
                    aborted.append(outcome)
                    stop.set()
                elif (outcome.systemic and 0 < stop_after_failures <= failures_in_a_row
                      and not aborted and not unavailable):
                    unavailable.append(outcome)
                    stop.set()
            # "skipped": the run stopped before this row's request went out; nothing to record.
            if on_outcome is not None and outcome.status != "skipped":
                on_outcome(update, outcome)

    workers = [threading.Thread(target=work, name=f"push-{n}", daemon=True)
               for n in range(min(concurrency, max(1, len(updates))))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return PushResult(outcomes=outcomes, aborted=aborted[0] if aborted else None,
                      unavailable=unavailable[0] if unavailable else None)
