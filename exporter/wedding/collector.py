"""Wedding-day state: the mode that makes alert thresholds 50% stricter, and today's load.

    dbhealth_wedding_day_mode 1
    dbhealth_wedding_peak_active 1
    dbhealth_wedding_day_reason{reason="saturday"} 1      (one series per bounded reason)
    dbhealth_wedding_override_active 0
    dbhealth_wedding_override_expiry_timestamp_seconds 0
    dbhealth_next_wedding_day_timestamp_seconds 1.7649e+09
    dbhealth_weddings_today 6
    dbhealth_vendors_booked_today 24
    dbhealth_guests_today 150

One statement per collection: the configured business queries (``wedding.*_sql``)
and the run-time override table, combined with UNION ALL. The mode and peak
gauges come from the clock, so they are exported even while the database is
down: the collector then returns them with the error, and is still reported as
failed. Its :class:`~exporter.wedding.calendar.WeddingDayState` travels in the
snapshot: the one answer every reader takes.

Verify with: ``SELECT count(*) FROM weddings WHERE wedding_date = current_date``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from prometheus_client.core import GaugeMetricFamily, Metric
from psycopg import errors as pgerrors

from ..collectors.base import CollectContext, Collected, Row
from ..errors import DatabaseUnavailable, QueryFailed
from ..sqlcheck import quote_ident
from .calendar import REASONS, Clock, Override, WeddingDayState, decide, local_midnight
from .settings import WeddingSettings

log = logging.getLogger(__name__)

OVERRIDE_TABLE = "dbhealth_wedding_day_override"
# The next Saturday is at most 7 days away, so busier days only matter within a week.
LOOKAHEAD_DAYS = 7


def build_statement(wedding: WeddingSettings, schema: str, *, override_table: bool) -> str:
    """The collector's one statement. Each business query goes on lines of its own, so a
    trailing ``--`` comment in one cannot swallow the SQL around it; the override table
    is named with its schema (sessions run with ``search_path = pg_catalog``)."""
    table = f"{quote_ident(schema)}.{OVERRIDE_TABLE}"
    override = (f"SELECT 'override', NULL, extract(epoch FROM until)::float8, reason "
                f"FROM {table} WHERE active AND until > pg_catalog.now()"
                if override_table else
                # Until `dbhealth-exporter migrate` has created the table, only watch for it.
                f"SELECT 'override_table', NULL, (pg_catalog.to_regclass("
                f"'{quote_ident(schema)}.{OVERRIDE_TABLE}') IS NOT NULL)::int::float8, NULL")
    return "\nUNION ALL\n".join([
        "SELECT 'day'::text AS kind, d.day::date AS day, d.n::float8 AS value, NULL::text AS detail"
        f" FROM (\n{wedding.weddings_by_day_sql}\n) AS d(day, n)",
        f"SELECT 'vendors', NULL, (\n{wedding.vendors_booked_sql}\n)::float8, NULL",
        f"SELECT 'guests', NULL, (\n{wedding.guests_sql}\n)::float8, NULL",
        override,
    ])


@dataclass
class TodayCounts:
    day: date
    weddings: float
    vendors: float
    guests: float
    busy_days: list[date] = field(default_factory=list)


class WeddingCollector:
    name: ClassVar[str] = "wedding"

    def __init__(self, wedding: WeddingSettings, timezone: str, schema: str,
                 clock: Clock | None = None) -> None:
        """``schema``: where the override table lives (``database.exporter_schema``)."""
        self.wedding = wedding
        self.tz = ZoneInfo(timezone)
        self.clock = clock
        self.override_table = True
        self._statements = {flag: build_statement(wedding, schema, override_table=flag)
                            for flag in (True, False)}
        # Remembered across collections so the mode survives a database outage.
        self.last_counts: TodayCounts | None = None
        self.last_db_override: Override | None = None

    def collect(self, ctx: CollectContext) -> Collected:
        now = self.clock() if self.clock is not None else datetime.fromtimestamp(ctx.now, self.tz)
        today = now.astimezone(self.tz).date()
        params = {"today": today, "horizon": today + timedelta(days=LOOKAHEAD_DAYS)}
        try:
            rows = ctx.query(self._statements[self.override_table], params)
        except (DatabaseUnavailable, QueryFailed) as exc:
            self._notice_missing_table(exc)
            known = self.last_counts
            counts = known if known is not None and known.day == today else None
            state = self._decide(now, counts)
            return Collected(mode_families(state), state_summary(state, with_counts=False), state,
                             error=exc)
        counts = self._read(rows, today)
        self.last_counts = counts
        state = self._decide(now, counts)
        return Collected(mode_families(state) + count_families(counts), state_summary(state),
                         state)

    def _read(self, rows: list[Row], today: date) -> TodayCounts:
        counts = TodayCounts(today, 0.0, 0.0, 0.0)
        db_override: Override | None = None
        for kind, day, value, detail in rows:
            if kind == "day" and day is not None:
                if day == today:
                    counts.weddings += float(value or 0)
                elif float(value or 0) >= self.wedding.min_weddings_for_wedding_day:
                    counts.busy_days.append(day)
            elif kind == "vendors":
                counts.vendors = float(value or 0)
            elif kind == "guests":
                counts.guests = float(value or 0)
            elif kind == "override" and value is not None:
                until = datetime.fromtimestamp(float(value), self.tz)
                if db_override is None or until > db_override.until:
                    db_override = Override(until, str(detail or ""), "database")
            elif kind == "override_table" and value:
                log.info("table %s now exists; run-time wedding-day overrides enabled",
                         OVERRIDE_TABLE)
                self.override_table = True
        if self.override_table:
            self.last_db_override = db_override
        return counts

    def _notice_missing_table(self, exc: Exception) -> None:
        if self.override_table and isinstance(exc, QueryFailed) \
                and exc.matches(pgerrors.UndefinedTable) and OVERRIDE_TABLE in str(exc):
            self.override_table = False
            log.warning("table %s is missing, so run-time wedding-day overrides are off; "
                        "run 'dbhealth-exporter migrate'", OVERRIDE_TABLE)

    def _decide(self, now: datetime, counts: TodayCounts | None) -> WeddingDayState:
        overrides = [o for o in (self.wedding.override.as_override(self.tz),
                                 self.last_db_override) if o]
        state = decide(now, self.tz,
                       weddings_today=counts.weddings if counts else None,
                       min_weddings=self.wedding.min_weddings_for_wedding_day,
                       overrides=overrides,
                       peak_start=self.wedding.peak_start_time,
                       peak_end=self.wedding.peak_end_time,
                       busy_days=counts.busy_days if counts else ())
        if counts is None:
            return state
        return replace(state, vendors_today=counts.vendors, guests_today=counts.guests)


def mode_families(state: WeddingDayState) -> list[Metric]:
    """The gauges that come from the clock and the overrides (served while the database is down)."""
    reason = GaugeMetricFamily("dbhealth_wedding_day_reason",
                               "1 for the reason the wedding-day mode is on (or none).",
                               labels=["reason"])
    for name in REASONS:
        reason.add_metric([name], 1.0 if name == state.reason else 0.0)
    return [
        GaugeMetricFamily("dbhealth_wedding_day_mode",
                          "1 on a wedding day: wedding-day thresholds are in force.",
                          value=1.0 if state.mode else 0.0),
        GaugeMetricFamily("dbhealth_wedding_peak_active",
                          "1 during peak wedding hours (local time) on a wedding day.",
                          value=1.0 if state.peak else 0.0),
        reason,
        GaugeMetricFamily("dbhealth_wedding_override_active",
                          "1 while a manual wedding-day override is in force.",
                          value=1.0 if state.override else 0.0),
        GaugeMetricFamily("dbhealth_wedding_override_expiry_timestamp_seconds",
                          "When the manual override in force ends (0 when none).",
                          value=_expiry(state)),
        GaugeMetricFamily("dbhealth_next_wedding_day_timestamp_seconds",
                          "Start (local midnight) of the next wedding day after today.",
                          value=_next_day(state)),
    ]


def count_families(counts: TodayCounts) -> list[Metric]:
    return [
        GaugeMetricFamily("dbhealth_weddings_today",
                          "Weddings scheduled today (local date).", value=counts.weddings),
        GaugeMetricFamily("dbhealth_vendors_booked_today",
                          "Distinct vendors booked for today's weddings.", value=counts.vendors),
        GaugeMetricFamily("dbhealth_guests_today",
                          "Guests of today's weddings.", value=counts.guests),
    ]


def state_summary(state: WeddingDayState, *, with_counts: bool = True) -> dict[str, float]:
    """The headline numbers of /health/full and the audit rows, from the state itself
    (today's counts only when this collection read them: no stale counts are served)."""
    out = {
        "dbhealth_wedding_day_mode": 1.0 if state.mode else 0.0,
        "dbhealth_wedding_peak_active": 1.0 if state.peak else 0.0,
        "dbhealth_next_wedding_day_timestamp_seconds": _next_day(state),
        "dbhealth_wedding_override_expiry_timestamp_seconds": _expiry(state),
    }
    counts = (("dbhealth_weddings_today", state.weddings_today),
              ("dbhealth_vendors_booked_today", state.vendors_today),
              ("dbhealth_guests_today", state.guests_today))
    out.update({key: value for key, value in counts if with_counts and value is not None})
    return out


def _expiry(state: WeddingDayState) -> float:
    return state.override.until.timestamp() if state.override else 0.0


def _next_day(state: WeddingDayState) -> float:
    return local_midnight(state.next_wedding_day, ZoneInfo(state.timezone)).timestamp()
