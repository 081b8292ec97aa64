"""The snapshot and its typed wedding-day state: what every replica and reader shares (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from exporter.snapshot import CheckResult, Snapshot, wedding_day_in_force
from exporter.wedding.calendar import Override, WeddingDayState, decide

LONDON = ZoneInfo("Europe/London")
WEDNESDAY_NOON = datetime(2026, 12, 2, 12, 0, tzinfo=LONDON)


def state(weddings: float | None = 12.0, overrides: list[Override] | None = None) -> WeddingDayState:
    decided = decide(WEDNESDAY_NOON, LONDON, weddings_today=weddings, min_weddings=10,
                     overrides=overrides or [], peak_start=time(11), peak_end=time(18),
                     busy_days=[date(2026, 12, 3)])
    return replace(decided, vendors_today=40.0, guests_today=1200.0)


def test_the_state_survives_the_trip_through_redis() -> None:
    until = WEDNESDAY_NOON + timedelta(hours=2)
    original = Snapshot(collected_at=1.8e9, up=True, exposition="x 1\n",
                        checks={"wedding": CheckResult(True, 0.01)},
                        wedding=state(overrides=[Override(until, "bank holiday", "database")]))
    copy = Snapshot.from_json(original.to_json())
    assert copy == original
    assert copy.wedding is not None and copy.wedding.override is not None
    assert copy.wedding.override.reason == "bank holiday"   # no rebuilding from floats


def test_readers_re_decide_for_their_own_clock() -> None:
    busy = state()
    assert busy.mode and busy.reason == "weddings_threshold" and busy.peak
    evening = busy.at(WEDNESDAY_NOON + timedelta(hours=7))
    assert evening.mode and not evening.peak and evening.guests_today == 1200
    # After midnight today's counts no longer count: Thursday is decided afresh.
    thursday = busy.at(WEDNESDAY_NOON + timedelta(hours=13))
    assert thursday.local_date == date(2026, 12, 3)
    assert thursday.weddings_today is None and thursday.guests_today is None
    assert not thursday.mode


def test_an_override_carried_in_the_state_expires_for_the_reader() -> None:
    until = WEDNESDAY_NOON + timedelta(hours=1)
    forced = state(weddings=0, overrides=[Override(until, "royal wedding", "settings")])
    assert forced.mode and forced.reason == "override"
    assert not forced.at(until).mode


def test_unknown_counts_as_a_wedding_day() -> None:
    quiet = Snapshot(collected_at=1.8e9, up=True, exposition="", checks={},
                     wedding=state(weddings=0))
    assert not wedding_day_in_force(quiet)
    assert wedding_day_in_force(replace(quiet, wedding=None))
    assert wedding_day_in_force(None)
