"""The pure wedding-day decision: local Saturdays across DST and far from UTC, the N-weddings
rule, overrides and their expiry, peak hours, the next wedding day, and the settings."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from exporter.errors import ConfigError
from exporter.settings import load_settings
from exporter.wedding.calendar import Override, WeddingDayState, decide, next_wedding_day

LONDON = ZoneInfo("Europe/London")
PEAK = {"peak_start": time(11, 0), "peak_end": time(18, 0)}


def state_at(utc: datetime, tz: ZoneInfo = LONDON, *, weddings: float | None = 0,
             min_weddings: int = 10, overrides: tuple[Override, ...] = (),
             busy: tuple[date, ...] = ()) -> WeddingDayState:
    return decide(utc, tz, weddings_today=weddings, min_weddings=min_weddings,
                  overrides=overrides, busy_days=busy, **PEAK)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- Saturday in the configured zone ------------------------------------------------------

@pytest.mark.parametrize(("instant", "local", "offset_hours", "wedding_day"), [
    # Spring forward: Sunday 29 March 2026 01:00 GMT becomes 02:00 BST.
    (utc(2026, 3, 27, 23, 59, 59), "2026-03-27T23:59:59", 0, False),  # Friday, last second
    (utc(2026, 3, 28, 0, 0), "2026-03-28T00:00:00", 0, True),         # Saturday starts
    (utc(2026, 3, 28, 23, 30), "2026-03-28T23:30:00", 0, True),       # Saturday 23:30 GMT
    (utc(2026, 3, 29, 0, 0), "2026-03-29T00:00:00", 0, False),        # Sunday midnight
    (utc(2026, 3, 29, 0, 30), "2026-03-29T00:30:00", 0, False),
    (utc(2026, 3, 29, 1, 30), "2026-03-29T02:30:00", 1, False),       # after the jump
    # Fall back: Sunday 25 October 2026 02:00 BST becomes 01:00 GMT.
    (utc(2026, 10, 23, 22, 59, 59), "2026-10-23T23:59:59", 1, False),  # Friday, last second
    (utc(2026, 10, 23, 23, 0), "2026-10-24T00:00:00", 1, True),   # Saturday while UTC is Friday
    (utc(2026, 10, 24, 22, 30), "2026-10-24T23:30:00", 1, True),  # Saturday 23:30 BST
    (utc(2026, 10, 24, 23, 0), "2026-10-25T00:00:00", 1, False),  # Sunday while UTC is Saturday
    (utc(2026, 10, 25, 0, 30), "2026-10-25T01:30:00", 1, False),  # 01:30 the first time
    (utc(2026, 10, 25, 1, 30), "2026-10-25T01:30:00", 0, False),  # 01:30 the second time
])
def test_saturday_in_london_across_both_dst_changes(instant: datetime, local: str,
                                                    offset_hours: int, wedding_day: bool) -> None:
    state = state_at(instant)
    assert state.local_now.replace(tzinfo=None).isoformat() == local
    assert state.local_now.utcoffset() == timedelta(hours=offset_hours)
    assert state.mode is wedding_day
    assert state.reason == ("saturday" if wedding_day else "none")


@pytest.mark.parametrize(("zone", "friday_last_second_utc", "saturday_midnight_utc"), [
    # UTC+14 all year: Saturday starts while UTC is still Friday morning.
    ("Pacific/Kiritimati", utc(2026, 11, 27, 9, 59, 59), utc(2026, 11, 27, 10, 0)),
    # NZDT (UTC+13) in November.
    ("Pacific/Auckland", utc(2026, 11, 27, 10, 59, 59), utc(2026, 11, 27, 11, 0)),
    # NZST (UTC+12) in July.
    ("Pacific/Auckland", utc(2026, 7, 3, 11, 59, 59), utc(2026, 7, 3, 12, 0)),
])
def test_local_midnight_far_east_of_utc(zone: str, friday_last_second_utc: datetime,
                                        saturday_midnight_utc: datetime) -> None:
    tz = ZoneInfo(zone)
    friday = state_at(friday_last_second_utc, tz)
    assert friday.local_now.strftime("%A %H:%M:%S") == "Friday 23:59:59"
    assert not friday.mode
    saturday = state_at(saturday_midnight_utc, tz)
    assert saturday.local_now.strftime("%A %H:%M:%S") == "Saturday 00:00:00"
    assert saturday_midnight_utc.strftime("%A") == "Friday"  # UTC disagrees; local time wins
    assert saturday.mode and saturday.reason == "saturday"
    assert saturday.timezone == zone


def test_saturday_night_west_of_utc_is_still_a_wedding_day() -> None:
    # 23:30 Saturday in Los Angeles (PST, UTC-8) is Sunday 07:30 UTC.
    state = state_at(utc(2026, 11, 29, 7, 30), ZoneInfo("America/Los_Angeles"))
    assert state.local_now.strftime("%A %H:%M") == "Saturday 23:30"
    assert state.mode


# --- the N-weddings rule -------------------------------------------------------------------

WEDNESDAY_NOON = utc(2026, 12, 2, 12, 0)


def test_weekday_with_enough_weddings_is_a_wedding_day() -> None:
    assert not state_at(WEDNESDAY_NOON, weddings=9).mode
    at_threshold = state_at(WEDNESDAY_NOON, weddings=10)
    assert at_threshold.mode and at_threshold.reason == "weddings_threshold"
    assert at_threshold.peak  # 12:00 local is inside 11:00-18:00
    assert state_at(WEDNESDAY_NOON, weddings=3, min_weddings=3).mode


def test_unknown_wedding_count_falls_back_to_the_calendar() -> None:
    assert state_at(WEDNESDAY_NOON, weddings=None).reason == "none"
    assert state_at(utc(2026, 12, 5, 12, 0), weddings=None).reason == "saturday"


# --- overrides -----------------------------------------------------------------------------

def test_override_turns_the_mode_on_until_it_expires() -> None:
    until = utc(2026, 12, 2, 18, 0)
    bank_holiday = Override(until, "bank holiday", "database")
    before = state_at(WEDNESDAY_NOON, overrides=(bank_holiday,))
    assert before.mode and before.reason == "override"
    assert before.override == bank_holiday
    at_expiry = state_at(until, overrides=(bank_holiday,))
    assert not at_expiry.mode and at_expiry.override is None
    assert state_at(until + timedelta(hours=1), overrides=(bank_holiday,)).reason == "none"


def test_override_reason_wins_and_the_latest_expiry_is_reported() -> None:
    short = Override(utc(2026, 12, 5, 13, 0), "short", "settings")
    longer = Override(utc(2026, 12, 6, 2, 0), "longer", "database")
    state = state_at(utc(2026, 12, 5, 12, 0), overrides=(short, longer))  # a Saturday
    assert state.reason == "override" and state.override == longer


def test_naive_time_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        state_at(datetime(2026, 12, 5, 12, 0))


# --- peak hours and the next wedding day ---------------------------------------------------

@pytest.mark.parametrize(("local_time", "peak"), [
    ("10:59:59", False), ("11:00:00", True), ("17:59:59", True), ("18:00:00", False)])
def test_peak_hours_on_a_saturday_in_summer_time(local_time: str, peak: bool) -> None:
    local = datetime.fromisoformat(f"2026-07-04T{local_time}").replace(tzinfo=LONDON)
    state = state_at(local.astimezone(UTC))
    assert state.local_now.utcoffset() == timedelta(hours=1)
    assert state.mode and state.peak is peak


def test_no_peak_hours_on_an_ordinary_day() -> None:
    assert not state_at(WEDNESDAY_NOON).peak


@pytest.mark.parametrize(("today", "busy", "expected"), [
    (date(2026, 12, 4), (), date(2026, 12, 5)),                   # Friday → tomorrow
    (date(2026, 12, 5), (), date(2026, 12, 12)),                  # Saturday → next Saturday
    (date(2026, 12, 6), (), date(2026, 12, 12)),                  # Sunday
    (date(2026, 12, 21), (date(2026, 12, 25),), date(2026, 12, 25)),  # busy Christmas Day first
    (date(2026, 12, 21), (date(2026, 12, 21),), date(2026, 12, 26)),  # today is not "next"
])
def test_next_wedding_day(today: date, busy: tuple[date, ...], expected: date) -> None:
    assert next_wedding_day(today, busy) == expected


# --- settings ------------------------------------------------------------------------------

def test_wedding_settings_defaults_and_environment() -> None:
    settings = load_settings(environ={"DBHEALTH_WEDDING__MIN_WEDDINGS_FOR_WEDDING_DAY": "4",
                                      "DBHEALTH_TIMEZONE": "Pacific/Auckland"})
    assert settings.wedding.min_weddings_for_wedding_day == 4
    assert settings.wedding.peak_start_time == time(11, 0)
    assert settings.wedding.peak_end_time == time(18, 0)
    assert settings.collectors["wedding"] is True
    assert settings.timezone == "Pacific/Auckland"


def test_invalid_wedding_settings_are_all_reported_by_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, overrides={"wedding": {
            "min_weddings_for_wedding_day": 0,
            "peak_start": "25:00",
            "guests_sql": "  ",
            "vendors_booked_sql": "SELECT count(*) FROM bookings "
                                  "WHERE created_at::date = current_date",
            "weddings_by_day_sql": "SELECT wedding_date, count(*) FROM weddings "
                                   "WHERE wedding_date = %(today)s GROUP BY 1",
            "override": {"active": True},
        }})
    text = str(caught.value)
    for key in ("wedding.min_weddings_for_wedding_day", "wedding.peak_start", "wedding.guests_sql",
                "wedding.vendors_booked_sql", "wedding.weddings_by_day_sql", "wedding.override"):
        assert key in text, key
    assert "%(today)s" in text and "%(horizon)s" in text and "must expire" in text


def test_peak_start_must_precede_peak_end() -> None:
    with pytest.raises(ConfigError, match=r"wedding: .*peak_start \(18:00\) must be before"):
        load_settings(environ={}, overrides={"wedding": {"peak_start": "18:00",
                                                         "peak_end": "11:00"}})


def test_sql_with_a_stray_percent_sign_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"wedding.guests_sql: .*literal % as %%"):
        load_settings(environ={}, overrides={"wedding": {
            "guests_sql": "SELECT count(*) FROM guests WHERE email LIKE '%x' AND d = %(today)s"}})
