"""``GET /health/wedding-day``: the wedding-day state as JSON, for people and scripts.

Served from the cached snapshot (no SQL per request beyond the usual cache
tiers) plus the clock, so the mode, local time and peak flag are exact at
request time and still known while the database is down.
"""

from __future__ import annotations

import time
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..cache import SnapshotCache
from ..settings import Settings
from .calendar import Clock, Override, WeddingDayState, aware, decide, system_clock
from .collector import WeddingCollector

Environ = dict[str, Any]


class WeddingDayEndpoint:
    def __init__(self, settings: Settings, cache: SnapshotCache,
                 collector: WeddingCollector | None, clock: Clock = system_clock):
        self.settings = settings
        self.wedding = settings.wedding
        self.tz = ZoneInfo(settings.timezone)
        self.cache = cache
        self.collector = collector  # this process's collector: knows the override's reason
        self.clock = clock

    def __call__(self, environ: Environ) -> tuple[int, dict[str, Any]]:
        web = self.settings.web
        budget = max(0.1, web.default_scrape_timeout_seconds - web.scrape_timeout_offset_seconds)
        snapshot, source = self.cache.get(time.monotonic() + budget)
        headline = snapshot.headline
        now = self.clock()
        weddings = headline.get("dbhealth_weddings_today")
        next_known = headline.get("dbhealth_next_wedding_day_timestamp_seconds")
        busy = [datetime.fromtimestamp(next_known, self.tz).date()] if next_known else []
        state = decide(now, self.tz, weddings_today=weddings,
                       min_weddings=self.wedding.min_weddings_for_wedding_day,
                       overrides=self._overrides(headline), peak_start=self.wedding.peak_start_time,
                       peak_end=self.wedding.peak_end_time, busy_days=busy)
        return 200, self.payload(state, headline, snapshot.up, snapshot.collected_at, source)

    def _overrides(self, headline: dict[str, float]) -> list[Override]:
        found: list[Override] = []
        static = self.wedding.override
        if static.active and static.until is not None:
            found.append(Override(aware(static.until, self.tz), static.reason, "settings"))
        expiry = headline.get("dbhealth_wedding_override_expiry_timestamp_seconds", 0.0)
        if expiry and not any(abs(o.until.timestamp() - expiry) < 1e-3 for o in found):
            # Read from the database by whichever replica collected; its reason is known
            # here only when this process read it.
            known = self.collector.last_db_override if self.collector else None
            reason = known.reason if known and abs(known.until.timestamp() - expiry) < 1e-3 else ""
            found.append(Override(datetime.fromtimestamp(expiry, self.tz), reason, "database"))
        return found

    def payload(self, state: WeddingDayState, headline: dict[str, float], up: bool,
                collected_at: float, source: str) -> dict[str, Any]:
        def count(name: str) -> int | None:
            value = headline.get(name)
            return None if value is None else int(value)

        override = state.override
        return {
            "wedding_day": state.mode,
            "reason": state.reason,
            "timezone": state.timezone,
            "local_time": state.local_now.isoformat(timespec="seconds"),
            "local_date": state.local_date.isoformat(),
            "weekday": state.local_now.strftime("%A"),
            "peak_hours": {"start": self.wedding.peak_start, "end": self.wedding.peak_end,
                           "now": state.peak},
            "today": {"weddings": count("dbhealth_weddings_today"),
                      "vendors_booked": count("dbhealth_vendors_booked_today"),
                      "guests": count("dbhealth_guests_today")},
            "min_weddings_for_wedding_day": self.wedding.min_weddings_for_wedding_day,
            "next_wedding_day": _day(state.next_wedding_day),
            "override": {
                "active": override is not None,
                "until": override.until.isoformat(timespec="seconds") if override else None,
                "reason": override.reason if override else None,
                "source": override.source if override else None,
            },
            "database_up": up,
            "collected_at": datetime.fromtimestamp(collected_at, self.tz).isoformat(
                timespec="seconds"),
            "cache_source": source,
        }


def _day(day: date) -> dict[str, str]:
    return {"date": day.isoformat(), "weekday": day.strftime("%A")}
