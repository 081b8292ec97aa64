"""The ``wedding:`` settings section: how the wedding-day mode is decided.

The business queries are SQL so that a real WedSync schema maps without code
changes. Each is embedded as a subquery of the wedding collector's single
statement and receives the local date as ``%(today)s`` (and the end of the
look-ahead window as ``%(horizon)s``); a literal ``%`` must be written ``%%``.
They are parsed at start (:mod:`exporter.sqlcheck`): one SELECT each, tables
named with their schema, nothing called from outside ``pg_catalog``.
"""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..sqlcheck import check_business_sql
from .calendar import Override, aware

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

DEFAULT_WEDDINGS_BY_DAY_SQL = """
SELECT wedding_date, count(*) FROM public.weddings
WHERE wedding_date BETWEEN %(today)s AND %(horizon)s AND status <> 'cancelled'
GROUP BY wedding_date"""
DEFAULT_VENDORS_BOOKED_SQL = """
SELECT count(DISTINCT b.vendor_id) FROM public.bookings b JOIN public.weddings w ON w.id = b.wedding_id
WHERE w.wedding_date = %(today)s AND w.status <> 'cancelled' AND b.status <> 'cancelled'"""
DEFAULT_GUESTS_SQL = """
SELECT count(*) FROM public.guests g JOIN public.weddings w ON w.id = g.wedding_id
WHERE w.wedding_date = %(today)s AND w.status <> 'cancelled'"""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WeddingOverrideSettings(_Strict):
    """A static override from the settings file; naive ``until`` is local time."""

    active: bool = False
    until: datetime | None = None
    reason: str = Field(default="", max_length=200)

    def as_override(self, tz: ZoneInfo) -> Override | None:
        """The override in the settings (a naive ``until`` is local time), if switched on."""
        if not self.active or self.until is None:
            return None
        return Override(aware(self.until, tz), self.reason, "settings")

    @model_validator(mode="after")
    def _must_expire(self) -> WeddingOverrideSettings:
        if self.active and self.until is None:
            raise ValueError("until is required when active is true (an override must expire)")
        return self


def _check_sql(value: str, *, needs_horizon: bool = False) -> str:
    value = value.strip().rstrip(";").strip()
    if not value:
        raise ValueError("must be a non-empty SQL statement")
    problems = []
    if "%(today)s" not in value:
        problems.append("must use the %(today)s parameter (the local date)")
    if needs_horizon and "%(horizon)s" not in value:
        problems.append("must bound the dates with %(horizon)s (the last day looked ahead)")
    try:
        check_business_sql(value, ("today", "horizon"))
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return value


class WeddingSettings(_Strict):
    min_weddings_for_wedding_day: int = Field(default=10, ge=1, le=1_000_000)
    peak_start: str = "11:00"
    peak_end: str = "18:00"
    # Rows (local date, weddings that day) for dates between today and horizon.
    weddings_by_day_sql: str = DEFAULT_WEDDINGS_BY_DAY_SQL
    # One number each: distinct vendors booked / guests invited for today's weddings.
    vendors_booked_sql: str = DEFAULT_VENDORS_BOOKED_SQL
    guests_sql: str = DEFAULT_GUESTS_SQL
    override: WeddingOverrideSettings = WeddingOverrideSettings()

    @field_validator("peak_start", "peak_end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be a local time HH:MM (00:00-23:59)")
        return value

    @field_validator("weddings_by_day_sql")
    @classmethod
    def _by_day_sql(cls, value: str) -> str:
        return _check_sql(value, needs_horizon=True)

    @field_validator("vendors_booked_sql", "guests_sql")
    @classmethod
    def _scalar_sql(cls, value: str) -> str:
        return _check_sql(value)

    @model_validator(mode="after")
    def _peak_order(self) -> WeddingSettings:
        if self.peak_start_time >= self.peak_end_time:
            raise ValueError(f"peak_start ({self.peak_start}) must be before "
                             f"peak_end ({self.peak_end})")
        return self

    @property
    def peak_start_time(self) -> time:
        return time.fromisoformat(self.peak_start)

    @property
    def peak_end_time(self) -> time:
        return time.fromisoformat(self.peak_end)
