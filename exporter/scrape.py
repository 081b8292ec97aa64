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
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from .collectors import REGISTRY, CollectContext, Collector
from .db import Database
from .errors import DatabaseUnavailable, PartialCollection, QueryFailed
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
    "dbhealth_wedding_peak_hours",
    "dbhealth_weddings_today",
    "dbhealth_vendors_booked_today",
    "dbhealth_guests_today",
    "dbhealth_next_wedding_day_timestamp_seconds",
    "dbhealth_wedding_override_expiry_timestamp_seconds",
    "dbhealth_backup_verified",
    "dbhealth_backup_last_verification_timestamp_seconds",
    "dbhealth_backup_restore_duration_seconds",
)


@dataclass
class CheckResult:
    success: bool
    duration_seconds: float
    error: str | None = None


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
        for name, check in checks.items():
            success.add_metric([name], 1.0 if check.success else 0.0)
            duration.add_metric([name], check.duration_seconds)
        elapsed = time.monotonic() - started
        families += [
            GaugeMetricFamily("dbhealth_up", "1 when the target database answered.",
                              value=1.0 if up else 0.0),
            success, duration,
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
            quiet = isinstance(exc.cause, DatabaseUnavailable) or (
                isinstance(exc.cause, QueryFailed) and not exc.cause.server_answered)
            log.log(logging.DEBUG if quiet else logging.WARNING, "collector %s failed: %s",
                    collector.name, exc.cause)
            out.extend(exc.families)
            return CheckResult(False, time.monotonic() - started, str(exc.cause))
        except DatabaseUnavailable as exc:
            return CheckResult(False, time.monotonic() - started, str(exc))
        except QueryFailed as exc:
            level = logging.WARNING if exc.server_answered else logging.DEBUG
            log.log(level, "collector %s failed: %s", collector.name, exc)
            return CheckResult(False, time.monotonic() - started, str(exc))
        except Exception as exc:  # a bug in one collector must not fail the scrape
            log.exception("collector %s crashed", collector.name)
            return CheckResult(False, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
        out.extend(produced)
        return CheckResult(True, time.monotonic() - started)


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
