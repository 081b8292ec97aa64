"""One collection: every enabled collector, isolated, inside the scrape deadline.

The result is a :class:`Snapshot`: the rendered exposition text of everything
collected plus per-check results and a few headline numbers. Snapshots are what
the caches hold (in-process and in Redis), so a cached scrape only concatenates
text, and every replica serves byte-identical data.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from .collectors import REGISTRY, CollectContext, Collector
from .db import Database
from .errors import DatabaseUnavailable, PartialCollection, PrivilegeMissing, QueryFailed, safe_message
from .settings import Settings

log = logging.getLogger(__name__)

# Numbers surfaced in /health/full and the L3 audit rows (max over label sets).
HEADLINE = (
    "dbhealth_connection_utilization_ratio",
    "dbhealth_connections_max",
    "dbhealth_lock_waiting_sessions",
    "dbhealth_oldest_transaction_age_seconds",
    "dbhealth_replication_lag_seconds",
    "dbhealth_replication_is_replica",
    "dbhealth_wal_archive_last_success_timestamp_seconds",
    "dbhealth_wedding_day_mode",
    "dbhealth_wedding_peak_active",
    "dbhealth_weddings_today",
    "dbhealth_vendors_booked_today",
    "dbhealth_guests_today",
    "dbhealth_next_wedding_day_timestamp_seconds",
    "dbhealth_wedding_override_expiry_timestamp_seconds",
)


@dataclass
class CheckResult:
    success: bool
    duration_seconds: float
    error: str | None = None
    privilege_missing: bool = False


@dataclass(frozen=True)
class Failure:
    """How the scrape loop reports one collector's failure: the one classification."""

    message: str
    log_level: int
    privilege_missing: bool = False


def classify(exc: Exception) -> Failure:
    """What a collector's exception means for the log and the checks (no data in the text)."""
    if isinstance(exc, DatabaseUnavailable):
        # The database going down is logged once by the scraper, not once per collector.
        return Failure(str(exc), logging.DEBUG)
    if isinstance(exc, PrivilegeMissing) or (
            isinstance(exc, QueryFailed) and exc.sqlstate == "42501"):
        return Failure(f"insufficient privilege: {exc}", logging.WARNING, privilege_missing=True)
    if isinstance(exc, QueryFailed):
        quiet = exc.connection_lost or exc.expected
        return Failure(str(exc), logging.DEBUG if quiet else logging.WARNING)
    return Failure(safe_message(exc), logging.ERROR)


@dataclass
class Snapshot:
    collected_at: float
    up: bool
    exposition: str
    checks: dict[str, CheckResult]
    headline: dict[str, float] = field(default_factory=dict)
    statements: int = 0
    duration_seconds: float = 0.0
    collected_by: str = ""

    @property
    def status(self) -> str:
        if not self.up:
            return "down"
        return "healthy" if all(c.success for c in self.checks.values()) else "degraded"

    @property
    def wedding_day(self) -> bool:
        # Fail strict: unknown wedding-day state counts as a wedding day for cache TTLs.
        return self.headline.get("dbhealth_wedding_day_mode", 1.0) >= 1.0

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.collected_at)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Snapshot:
        data = json.loads(raw)
        data["checks"] = {k: CheckResult(**v) for k, v in data["checks"].items()}
        return cls(**data)


class _Families:
    """The minimal registry interface ``generate_latest`` needs."""

    def __init__(self, families: Sequence[Metric]):
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return iter(self._families)


def render(families: Sequence[Metric]) -> str:
    return generate_latest(_Families(families)).decode()


def build_collectors(settings: Settings) -> list[Collector]:
    return [REGISTRY[name][0](settings) for name in settings.enabled_collectors]


class Scraper:
    def __init__(self, settings: Settings, database: Database, collectors: list[Collector]):
        self.settings = settings
        self.database = database
        self.collectors = collectors
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self._was_up = True
        self._blind: dict[str, bool] = {}  # collectors currently missing a privilege

    def collect(self, deadline: float) -> Snapshot:
        started = time.monotonic()
        now = time.time()
        families: list[Metric] = []
        checks: dict[str, CheckResult] = {}
        with self.database.session(deadline) as session:
            ctx = CollectContext(query=session.query, settings=self.settings, now=now)
            for collector in self.collectors:
                checks[collector.name] = self._run_one(collector, ctx, deadline, families)
            up = session.answered
            statements = session.statements
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
        blind = GaugeMetricFamily(
            "dbhealth_collector_privilege_missing",
            "1 when the monitoring role lacks a privilege the collector needs (it would be blind).",
            labels=["collector"])
        for name, check in checks.items():
            success.add_metric([name], 1.0 if check.success else 0.0)
            duration.add_metric([name], check.duration_seconds)
            blind.add_metric([name], 1.0 if check.privilege_missing else 0.0)
        elapsed = time.monotonic() - started
        families += [
            GaugeMetricFamily("dbhealth_up", "1 when the target database answered.",
                              value=1.0 if up else 0.0),
            success, duration, blind,
            GaugeMetricFamily("dbhealth_collection_duration_seconds",
                              "Time the last fresh collection took.", value=elapsed),
            GaugeMetricFamily("dbhealth_collection_statements",
                              "SQL statements the last fresh collection ran.",
                              value=float(statements)),
            GaugeMetricFamily("dbhealth_collection_timestamp_seconds",
                              "When the data served was collected.", value=now),
        ]
        return Snapshot(collected_at=now, up=up, exposition=render(families), checks=checks,
                        headline=_headline(families), statements=statements,
                        duration_seconds=elapsed, collected_by=self.identity)

    def _run_one(self, collector: Collector, ctx: CollectContext, deadline: float,
                 out: list[Metric]) -> CheckResult:
        started = time.monotonic()
        if started >= deadline:
            return CheckResult(False, 0.0, "scrape deadline reached before the collector ran")
        try:
            produced = list(collector.collect(ctx))
        except PartialCollection as exc:  # failed, but what it could say is still served
            out.extend(exc.families)  # type: ignore[arg-type]
            return self._failed(collector.name, exc.cause, started)
        except Exception as exc:  # one collector, broken or blind, must not fail the scrape
            return self._failed(collector.name, exc, started)
        if self._blind.pop(collector.name, None):
            log.info("collector %s has the privileges it needs again", collector.name)
        out.extend(produced)
        return CheckResult(True, time.monotonic() - started)

    def _failed(self, name: str, exc: Exception, started: float) -> CheckResult:
        failure = classify(exc)
        if failure.privilege_missing:
            # Logged once: a role without pg_monitor stays so until someone grants it.
            level = logging.DEBUG if name in self._blind else logging.WARNING
            self._blind[name] = True
            log.log(level, "collector %s is blind: %s; grant the monitoring role pg_monitor "
                    "(docs/runbooks/monitoring-privileges-missing.md)", name, failure.message)
        elif failure.log_level >= logging.ERROR:
            # A bug: the traceback's frames, but not the message (it may quote a value).
            log.error("collector %s crashed: %s\n%s", name, failure.message,
                      "".join(traceback.format_tb(exc.__traceback__)))
        else:
            log.log(failure.log_level, "collector %s failed: %s", name, failure.message)
        return CheckResult(False, time.monotonic() - started, failure.message,
                           privilege_missing=failure.privilege_missing)


def _headline(families: Sequence[Metric]) -> dict[str, float]:
    wanted = set(HEADLINE)
    result: dict[str, float] = {}
    for family in families:
        if family.name in wanted and family.samples:
            result[family.name] = max(s.value for s in family.samples)
    return result


def snapshot_summary(snapshot: Snapshot) -> dict[str, Any]:
    """The JSON shape of a snapshot for /health/full and the audit rows."""
    return {
        "status": snapshot.status,
        "up": snapshot.up,
        "collected_at": snapshot.collected_at,
        "collected_by": snapshot.collected_by,
        "collection_seconds": round(snapshot.duration_seconds, 6),
        "statements": snapshot.statements,
        "checks": {name: asdict(check) for name, check in snapshot.checks.items()},
        "metrics": snapshot.headline,
    }
