"""The slow collectors' reading taken just before the next collection is due.

Prometheus scrapes a target on a fixed period, so the exporter can tell when the
next collection will come: the median of the last few intervals between
collections. The own-connection collectors (pg_stat_statements: about half of a
fresh collection's time) run ``lead`` seconds before that moment in a thread of
their own, and the collection that comes takes their result instead of waiting for
the read. The database sees the same reads (one per collection: a collection
takes the reading or makes its own, and plans at most one); the scrape does not
wait for the slowest one.

A reading is taken only if it is at most ``max_age`` seconds old and every
collector in it succeeded; otherwise the collection reads inline, as without
prefetching, so errors and recoveries are never served late. A read still running
(or due already) when the collection starts is waited for, never doubled; one
planned for later is cancelled and the collection reads itself.
Irregular scrapes (fewer than two intervals, or a period longer than
``MAX_PERIOD_SECONDS``) are not predicted: those collections read inline.
"""

from __future__ import annotations

import itertools
import logging
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

MAX_PERIOD_SECONDS = 300.0
INTERVALS_KEPT = 5
Result = TypeVar("Result")


def next_due(starts: Sequence[float], lead: float) -> float | None:
    """When to read for the collection expected after the last of ``starts``
    (monotonic seconds), or None when the scrapes show no period to go by."""
    if len(starts) < 3:
        return None
    intervals = [b - a for a, b in itertools.pairwise(starts)]
    period = statistics.median(intervals)
    if period <= 0 or period > MAX_PERIOD_SECONDS:
        return None
    return starts[-1] + max(0.0, period - lead)


@dataclass(frozen=True)
class Reading(Generic[Result]):
    result: Result
    taken_at: float  # monotonic, when the read started


class Prefetcher(Generic[Result]):
    """Runs ``read(budget)`` ahead of the expected collection; ``usable`` says
    whether a finished reading may be served (every collector in it succeeded)."""

    def __init__(self, read: Callable[[float], Result], usable: Callable[[Result], bool],
                 *, lead: float, max_age: float):
        self._read = read
        self._usable = usable
        self.lead = lead
        self.max_age = max_age
        self._starts: deque[float] = deque(maxlen=INTERVALS_KEPT + 1)
        self._budget = 0.0
        self._due: float | None = None
        self._running = False
        self._ready: Reading[Result] | None = None
        self._stopped = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="dbhealth-prefetch", daemon=True)
        self._thread.start()

    def take(self, deadline: float) -> tuple[Result | None, bool]:
        """(the reading to serve or None, whether the caller may read itself). A read
        planned for later is cancelled (the collection came early and reads itself); one
        running, or due already and about to start, is waited for up to ``deadline``.
        False only when that wait ran out: the reader still holds the collectors."""
        with self._cond:
            if self._due is not None and self._due > time.monotonic():
                self._due = None
            while self._running or self._due is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    if self._running:
                        return None, False
                    self._due = None
                    return None, True
                self._cond.wait(left)
            ready, self._ready = self._ready, None
        if ready is None or time.monotonic() - ready.taken_at > self.max_age:
            return None, True
        return (ready.result, True) if self._usable(ready.result) else (None, True)

    def plan(self, started: float, budget: float) -> None:
        """After a collection that started at ``started``: read before the next one.
        ``budget``: the seconds that collection had, given to the read too."""
        with self._cond:
            self._starts.append(started)
            self._budget = budget
            self._due = next_due(self._starts, self.lead)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._due = None
            self._cond.notify_all()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (self._due is None or self._due > time.monotonic()):
                    self._cond.wait(None if self._due is None else self._due - time.monotonic())
                if self._stopped:
                    return
                self._due, self._running, budget = None, True, self._budget
            taken_at = time.monotonic()
            result: Result | None = None
            try:
                result = self._read(budget)
            except Exception:  # the collection that comes reads inline and reports it
                log.exception("prefetching the slow collectors failed")
            with self._cond:
                self._running = False
                self._ready = Reading(result, taken_at) if result is not None else None
                self._cond.notify_all()
