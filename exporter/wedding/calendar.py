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
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
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

    def to_dict(self) -> dict[str, Any]:
        return {"until": self.until.isoformat(), "reason": self.reason, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Override:
        return cls(datetime.fromisoformat(data["until"]), str(data["reason"]), str(data["source"]))


@dataclass(frozen=True)
class WeddingDayState:
    """The one answer to "is it a wedding day?", carried in every snapshot.

    Besides the decision it keeps what it was decided from (today's counts, busy
    days ahead, the override in force), so a reader re-decides for its own clock
    with :meth:`at` instead of guessing from metric values.
    """

    local_now: datetime
    timezone: str
    mode: bool
    reason: str
    peak: bool
    peak_start: time
    peak_end: time
    next_wedding_day: date
    override: Override | None  # the override in force, if any
    min_weddings: int = 10
    weddings_today: float | None = None  # None: not known (database down since the day began)
    vendors_today: float | None = None
    guests_today: float | None = None
    busy_days: tuple[date, ...] = ()

    @property
    def local_date(self) -> date:
        return self.local_now.date()

    def at(self, now: datetime) -> WeddingDayState:
        """The same inputs decided at the aware instant ``now``; today's counts only count
        while it is still the same local day."""
        tz = ZoneInfo(self.timezone)
        same_day = now.astimezone(tz).date() == self.local_date
        state = decide(now, tz, weddings_today=self.weddings_today if same_day else None,
                       min_weddings=self.min_weddings,
                       overrides=[self.override] if self.override else [],
                       peak_start=self.peak_start, peak_end=self.peak_end,
                       busy_days=self.busy_days)
        if not same_day:
            return state
        return replace(state, vendors_today=self.vendors_today, guests_today=self.guests_today)

    def to_dict(self) -> dict[str, Any]:
        return {
            "local_now": self.local_now.isoformat(), "timezone": self.timezone,
            "mode": self.mode, "reason": self.reason, "peak": self.peak,
            "peak_start": self.peak_start.isoformat(), "peak_end": self.peak_end.isoformat(),
            "next_wedding_day": self.next_wedding_day.isoformat(),
            "override": self.override.to_dict() if self.override else None,
            "min_weddings": self.min_weddings, "weddings_today": self.weddings_today,
            "vendors_today": self.vendors_today, "guests_today": self.guests_today,
            "busy_days": [d.isoformat() for d in self.busy_days],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WeddingDayState:
        override = data.get("override")
        return cls(
            local_now=datetime.fromisoformat(data["local_now"]), timezone=str(data["timezone"]),
            mode=bool(data["mode"]), reason=str(data["reason"]), peak=bool(data["peak"]),
            peak_start=time.fromisoformat(data["peak_start"]),
            peak_end=time.fromisoformat(data["peak_end"]),
            next_wedding_day=date.fromisoformat(data["next_wedding_day"]),
            override=Override.from_dict(override) if override else None,
            min_weddings=int(data["min_weddings"]), weddings_today=data["weddings_today"],
            vendors_today=data["vendors_today"], guests_today=data["guests_today"],
            busy_days=tuple(date.fromisoformat(d) for d in data["busy_days"]))


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
    busy = tuple(sorted(set(busy_days)))
    return WeddingDayState(
        local_now=local_now, timezone=tz.key, mode=mode, reason=reason,
        peak=mode and in_peak(local_now, peak_start, peak_end),
        peak_start=peak_start, peak_end=peak_end,
        next_wedding_day=next_wedding_day(today, busy), override=override,
        min_weddings=min_weddings, weddings_today=weddings_today, busy_days=busy)
