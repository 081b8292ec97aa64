"""One collection: every enabled collector, isolated, inside the scrape deadline.

The result is a :class:`~exporter.snapshot.Snapshot`. A collector's failure is
classified in one place (:func:`classify`): what it says in the check, how loud
the log is, and whether it is a missing privilege (a blind collector).

A collector marked ``own_connection`` (the statements collector: ~2 ms of server
time for pg_stat_statements and as much again to decode and fold ~3 000 entries)
runs on a second pooled connection while the others run on the first, in a worker
thread, so a fresh collection takes about as long as its slowest part rather than
the sum (postgres_exporter runs every collector in a goroutine of its own). The slow
part stays in the calling thread: the rest is usually done by the time it is, so
that thread rarely waits to be woken. That needs a pool with room beside the
background classifier and the advisor (``database.pool_size`` ≥ 3, the default is
5); a smaller pool runs everything in turn on one connection.

With ``prefetch`` (:mod:`exporter.prefetch`, on by default) those collectors run
shortly *before* the collection Prometheus' period says is next, and the
collection serves their reading (``dbhealth_collector_age_seconds`` says how old)
instead of waiting for it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily, Metric

from .collectors.base import CollectContext, Collected, Collector
from .db import Database
from .errors import DatabaseUnavailable, PrivilegeMissing, QueryFailed, safe_message
from .prefetch import Prefetcher
from .snapshot import CheckResult, Snapshot, render
from .wedding.calendar import WeddingDayState

log = logging.getLogger(__name__)

# A second connection for own_connection collectors only when the pool keeps one spare.
MIN_POOL_FOR_SECOND_CONNECTION = 3
Outcome = tuple[CheckResult, Collected | None]
LATE = "scrape deadline reached while the collector ran"


@dataclass(frozen=True)
class Failure:
    """How the scrape loop reports one collector's failure."""

    message: str
    log_level: int
    privilege_missing: bool = False


def classify(exc: Exception) -> Failure:
    """What a collector's exception means for the log and the checks (no data in the text)."""
    if isinstance(exc, DatabaseUnavailable):
        # The database going down is logged once by the scraper, not once per collector.
        return Failure(str(exc), logging.DEBUG)
    if isinstance(exc, PrivilegeMissing) or (
            isinstance(exc, QueryFailed) and exc.sqlstate == PrivilegeMissing.SQLSTATE):
        return Failure(f"insufficient privilege: {exc}", logging.WARNING, privilege_missing=True)
    if isinstance(exc, QueryFailed):
        quiet = exc.connection_lost or exc.expected
        return Failure(str(exc), logging.DEBUG if quiet else logging.WARNING)
    return Failure(safe_message(exc), logging.ERROR)


@dataclass
class SessionRun:
    """What the collectors run on one session produced."""

    outcomes: dict[str, Outcome]
    texts: dict[str, str]  # each collector's families, rendered
    answered: bool  # whether the database answered
    statements: int
    read_at: dict[str, float] = field(default_factory=dict)  # collector → when it read (wall)
    ahead: bool = False  # read ahead of the collection (exporter.prefetch)

    def add(self, other: SessionRun) -> None:
        self.outcomes.update(other.outcomes)
        self.texts.update(other.texts)
        self.answered = self.answered or other.answered
        self.statements += other.statements
        self.read_at.update(other.read_at)

    @property
    def first_error(self) -> str | None:
        return next((check.error for check, _ in self.outcomes.values() if check.error), None)

    @property
    def succeeded(self) -> bool:
        return self.answered and all(check.success for check, _ in self.outcomes.values())


class Scraper:
    def __init__(self, database: Database, collectors: list[Collector], *,
                 prefetch_lead: float = 0.0, prefetch_max_age: float = 0.0):
        """``prefetch_lead``: how long before the expected collection the own-connection
        collectors read (0: during the collection); ``prefetch_max_age``: the oldest
        such reading a collection serves."""
        self.database = database
        self.collectors = collectors
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self._was_up = True
        self._blind: set[str] = set()  # collectors currently missing a privilege
        own = [c for c in collectors if getattr(c, "own_connection", False)] \
            if database.settings.pool_size >= MIN_POOL_FOR_SECOND_CONNECTION else []
        self._own, self._rest = own, [c for c in collectors if c not in own]
        # One worker: runs of the rest never overlap, even when the scrape deadline made
        # the previous collection stop waiting for them.
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="dbhealth-collect") \
            if own and self._rest else None
        self._prefetch: Prefetcher[SessionRun] | None = None
        if self._worker is not None and prefetch_lead > 0 and prefetch_max_age > 0:
            self._prefetch = Prefetcher(self._read_ahead, lambda ran: ran.succeeded,
                                        lead=prefetch_lead, max_age=prefetch_max_age)

    def close(self) -> None:
        """Let the threads end (a run still going finishes first)."""
        if self._prefetch is not None:
            self._prefetch.close()
        if self._worker is not None:
            self._worker.shutdown(wait=True)

    def collect(self, deadline: float) -> Snapshot:
        started = time.monotonic()
        now = time.time()
        checks: dict[str, CheckResult] = {}
        headline: dict[str, float] = {}
        wedding: WeddingDayState | None = None
        if self._worker is None:
            ran = self._run_session(self.collectors, now, deadline)
        else:
            rest = self._worker.submit(self._run_session, self._rest, now, deadline)
            ran = self._run_own(now, deadline)
            others = self._wait(rest, deadline)
            if ran.ahead and not others.answered:
                # Whether the database answers is for this collection's own session to say:
                # it stopped since the reading ahead, so that reading is not served either.
                ran = self._late(self._own, others.first_error or "database unavailable")
            ran.add(others)
            if self._prefetch is not None:
                self._prefetch.plan(started, deadline - started)
        up, statements = ran.answered, ran.statements
        for collector in self.collectors:  # in their configured order, wherever they ran
            checks[collector.name], produced = ran.outcomes[collector.name]
            if produced is not None:
                headline.update(produced.summary)
                wedding = produced.wedding or wedding
        if up != self._was_up:
            # Log transitions, not every failing scrape: a down database must not flood the log.
            if up:
                log.info("database answering again")
            else:
                log.warning("database unavailable: %s", next(
                    (c.error for c in checks.values() if c.error), "no answer"))
            self._was_up = up
        success = GaugeMetricFamily("dbhealth_collector_success",
                                    "1 when the collector succeeded in the last collection.",
                                    labels=["collector"])
        duration = GaugeMetricFamily("dbhealth_collector_duration_seconds",
                                     "Time the collector took in the last collection.",
                                     labels=["collector"])
        age = GaugeMetricFamily(
            "dbhealth_collector_age_seconds",
            "How long before this collection the collector read (0 unless read ahead).",
            labels=["collector"])
        blind = GaugeMetricFamily(
            "dbhealth_collector_privilege_missing",
            "1 when the monitoring role lacks a privilege the collector needs (it would be blind).",
            labels=["collector"])
        for name, check in checks.items():
            success.add_metric([name], 1.0 if check.success else 0.0)
            duration.add_metric([name], check.duration_seconds)
            blind.add_metric([name], 1.0 if check.privilege_missing else 0.0)
            age.add_metric([name], max(0.0, now - ran.read_at.get(name, now)))
        elapsed = time.monotonic() - started
        families: list[Metric] = [
            GaugeMetricFamily("dbhealth_up", "1 when the target database answered.",
                              value=1.0 if up else 0.0),
            success, duration, age, blind,
            GaugeMetricFamily("dbhealth_collection_duration_seconds",
                              "Time the last fresh collection took.", value=elapsed),
            GaugeMetricFamily("dbhealth_collection_statements",
                              "SQL statements the last fresh collection ran.",
                              value=float(statements)),
            GaugeMetricFamily("dbhealth_collection_timestamp_seconds",
                              "When the data served was collected.", value=now),
        ]
        text = "".join(ran.texts[c.name] for c in self.collectors) + render(families)
        return Snapshot(collected_at=now, up=up, exposition=text, checks=checks,
                        headline=headline, statements=statements, duration_seconds=elapsed,
                        collected_by=self.identity, wedding=wedding)

    def _run_session(self, collectors: list[Collector], now: float, deadline: float) -> SessionRun:
        """Collectors in turn on one session, their families rendered (once the
        connection is back in the pool) in the thread that collected them."""
        with self.database.session(deadline) as session:
            ctx = CollectContext(query=session.query, now=now, query_binary=session.query_binary)
            outcomes = {c.name: self._run_one(c, ctx, deadline) for c in collectors}
            ran = SessionRun(outcomes, {}, session.answered, session.statements,
                             dict.fromkeys(outcomes, now))
        ran.texts = {name: render(produced.families) if produced is not None else ""
                     for name, (_, produced) in outcomes.items()}
        return ran

    def _run_own(self, now: float, deadline: float) -> SessionRun:
        """The own-connection collectors: their reading taken ahead, or read now."""
        if self._prefetch is not None:
            reading, may_read = self._prefetch.take(deadline)
            if reading is not None:
                reading.ahead = True
                return reading
            if not may_read:
                return self._late(self._own, LATE)
        return self._run_session(self._own, now, deadline)

    def _read_ahead(self, budget: float) -> SessionRun:
        return self._run_session(self._own, time.time(), time.monotonic() + budget)

    @staticmethod
    def _late(collectors: list[Collector], why: str) -> SessionRun:
        late = CheckResult(False, 0.0, why)
        return SessionRun({c.name: (late, None) for c in collectors},
                          dict.fromkeys((c.name for c in collectors), ""), False, 0)

    def _wait(self, rest: Future[SessionRun], deadline: float) -> SessionRun:
        # Their statements are bounded by the deadline too; the grace covers the
        # round trip that cancels one.
        try:
            return rest.result(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
        except TimeoutError:
            return self._late(self._rest, LATE)

    def _run_one(self, collector: Collector, ctx: CollectContext, deadline: float) -> Outcome:
        started = time.monotonic()
        if started >= deadline:
            return CheckResult(False, 0.0, "scrape deadline reached before the collector ran"), None
        try:
            produced = collector.collect(ctx)
        except Exception as exc:  # one collector, broken or blind, must not fail the scrape
            return self._failed(collector.name, exc, started), None
        if produced.error is not None:  # failed, but what it could say is still served
            return self._failed(collector.name, produced.error, started), produced
        if collector.name in self._blind:
            self._blind.discard(collector.name)
            log.info("collector %s has the privileges it needs again", collector.name)
        return CheckResult(True, time.monotonic() - started), produced

    def _failed(self, name: str, exc: Exception, started: float) -> CheckResult:
        failure = classify(exc)
        if failure.privilege_missing:
            # Logged once: a role without pg_monitor stays so until someone grants it.
            level = logging.DEBUG if name in self._blind else logging.WARNING
            self._blind.add(name)
            log.log(level, "collector %s is blind: %s; grant the monitoring role what it lacks "
                    "(pg_monitor, SELECT on the business tables: "
                    "docs/runbooks/monitoring-privileges-missing.md)", name, failure.message)
        elif failure.log_level >= logging.ERROR:
            # A bug: the traceback's frames, but not the message (it may quote a value).
            log.error("collector %s crashed: %s\n%s", name, failure.message,
                      "".join(traceback.format_tb(exc.__traceback__)))
        else:
            log.log(failure.log_level, "collector %s failed: %s", name, failure.message)
        return CheckResult(False, time.monotonic() - started, failure.message,
                           privilege_missing=failure.privilege_missing)
