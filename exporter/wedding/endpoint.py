"""``GET /health/wedding-day``: the wedding-day state as JSON, for people and scripts.

Served from the cached snapshot (no SQL per request beyond the usual cache
tiers): its :class:`~exporter.wedding.calendar.WeddingDayState`, re-decided for
the request's clock, so the mode, local time and peak flag are exact at request
time and still known while the database is down. Without a state (the wedding
collector switched off) the calendar and the settings' override decide.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..snapshot import Snapshot
from .calendar import Clock, WeddingDayState, decide, system_clock
from .settings import WeddingSettings

Environ = dict[str, Any]
SnapshotSource = Callable[[float], tuple[Snapshot, str]]  # deadline → (snapshot, cache tier)


class WeddingDayEndpoint:
    def __init__(self, wedding: WeddingSettings, timezone: str, snapshots: SnapshotSource,
                 budget_seconds: float, clock: Clock = system_clock):
        self.wedding = wedding
        self.tz = ZoneInfo(timezone)
        self.snapshots = snapshots
        self.budget_seconds = budget_seconds
        self.clock = clock

    def __call__(self, environ: Environ) -> tuple[int, dict[str, Any]]:
        snapshot, source = self.snapshots(time.monotonic() + self.budget_seconds)
        now = self.clock()
        if snapshot.wedding is not None:
            state = snapshot.wedding.at(now)
        else:
            overrides = [o for o in [self.wedding.override.as_override(self.tz)] if o]
            state = decide(now, self.tz, weddings_today=None,
                           min_weddings=self.wedding.min_weddings_for_wedding_day,
                           overrides=overrides, peak_start=self.wedding.peak_start_time,
                           peak_end=self.wedding.peak_end_time)
        return 200, self.payload(state, snapshot.up, snapshot.collected_at, source)

    def payload(self, state: WeddingDayState, up: bool, collected_at: float,
                source: str) -> dict[str, Any]:
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
            "today": {"weddings": _count(state.weddings_today),
                      "vendors_booked": _count(state.vendors_today),
                      "guests": _count(state.guests_today)},
            "min_weddings_for_wedding_day": self.wedding.min_weddings_for_wedding_day,
            "next_wedding_day": _day(state.next_wedding_day),
            "override": {
                "active": override is not None,
                "until": override.until.astimezone(self.tz).isoformat(timespec="seconds")
                if override else None,
                "reason": override.reason if override else None,
                "source": override.source if override else None,
            },
            "database_up": up,
            "collected_at": datetime.fromtimestamp(collected_at, self.tz).isoformat(
                timespec="seconds"),
            "cache_source": source,
        }


def _count(value: float | None) -> int | None:
    return None if value is None else int(value)


def _day(day: date) -> dict[str, str]:
    return {"date": day.isoformat(), "weekday": day.strftime("%A")}
