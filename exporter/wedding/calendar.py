"""Is today a wedding day? Pure date/time logic, no database and no wall clock.

A wedding day is a Saturday in the configured IANA time zone, or any day with at
least N weddings scheduled (bank-holiday weddings), or a day covered by an
unexpired manual override. Everything is decided on the *local* date and time,
computed with ``zoneinfo`` from an aware UTC instant, so DST changes and zones
far from UTC (Pacific/Kiritimati is UTC+14) need no special cases. Callers pass
the instant in; tests pin it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

SATURDAY = 5  # date.weekday()
# Why the mode is on; bounded, so it can be a label value.
REASONS = ("override", "saturday", "weddings_threshold", "none")

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Override:
    """A manual "treat as a wedding day" switch that ends by itself at ``until``."""

    until: datetime  # aware
    reason: str
    source: str  # "settings" or "database"

    def active_at(self, now: datetime) -> bool:
        return now < self.until


@dataclass(frozen=True)
class WeddingDayState:
    local_now: datetime
    timezone: str
    mode: bool
    reason: str
    peak: bool
    peak_start: time
    peak_end: time
    next_wedding_day: date
    override: Override | None  # the override in force, if any

    @property
    def local_date(self) -> date:
        return self.local_now.date()


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The aware instant a local date starts (DST-correct)."""
    return datetime.combine(day, time(0), tzinfo=tz)


def aware(moment: datetime, tz: ZoneInfo) -> datetime:
    """A naive datetime is local time in ``tz``; an aware one is kept."""
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def next_wedding_day(today: date, busy_days: Iterable[date]) -> date:
    """The first wedding day strictly after ``today``: next Saturday or an earlier busy day."""
    days_ahead = (SATURDAY - today.weekday()) % 7 or 7
    candidate = today + timedelta(days=days_ahead)
    later_busy = [d for d in busy_days if today < d < candidate]
    return min(later_busy, default=candidate)


def in_peak(local_now: datetime, start: time, end: time) -> bool:
    wall = local_now.time().replace(tzinfo=None)
    return start <= wall < end


def decide(now: datetime, tz: ZoneInfo, *, weddings_today: float | None, min_weddings: int,
           overrides: Iterable[Override], peak_start: time, peak_end: time,
           busy_days: Iterable[date] = ()) -> WeddingDayState:
    """The wedding-day state at the aware instant ``now``.

    ``weddings_today`` is None when the count is unknown (database down); then
    only the calendar and the overrides decide. ``busy_days`` are upcoming local
    dates known to have at least ``min_weddings`` weddings.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    local_now = now.astimezone(tz)
    today = local_now.date()
    live = sorted((o for o in overrides if o.active_at(now)), key=lambda o: o.until, reverse=True)
    override = live[0] if live else None
    if override is not None:
        reason = "override"
    elif today.weekday() == SATURDAY:
        reason = "saturday"
    elif weddings_today is not None and weddings_today >= min_weddings:
        reason = "weddings_threshold"
    else:
        reason = "none"
    mode = reason != "none"
    return WeddingDayState(
        local_now=local_now, timezone=tz.key, mode=mode, reason=reason,
        peak=mode and in_peak(local_now, peak_start, peak_end),
        peak_start=peak_start, peak_end=peak_end,
        next_wedding_day=next_wedding_day(today, busy_days), override=override)
