"""/health/wedding-day and the wedding metrics through a real exporter HTTP server."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from exporter.cli import main as cli_main
from tests.support.scrape import get_json, promtool_problems, scrape

from .conftest import ExporterFactory, base_url

TOKEN = {"Authorization": "Bearer s3cret-token"}


def wedding_day_json(url: str) -> dict[str, Any]:
    """The endpoint's answer, taken again if the local date turned while it was collected."""
    for _ in range(3):
        status, body = get_json(url + "/health/wedding-day", TOKEN)
        assert status == 200, body
        if body["collected_at"][:10] == body["local_date"]:
            return body  # type: ignore[no-any-return]
    raise AssertionError("local date kept changing")


def direct_counts(dsn: str, day: date) -> tuple[int, int, int]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("""
            SELECT (SELECT count(*) FROM weddings WHERE wedding_date = %(d)s),
                   (SELECT count(DISTINCT b.vendor_id) FROM bookings b
                      JOIN weddings w ON w.id = b.wedding_id WHERE w.wedding_date = %(d)s),
                   (SELECT count(*) FROM guests g
                      JOIN weddings w ON w.id = g.wedding_id WHERE w.wedding_date = %(d)s)""",
                           {"d": day}).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


@pytest.mark.parametrize("zone", ["Europe/London", "Pacific/Kiritimati"])
def test_wedding_day_json_shape_and_counts(demo_dsn: str, make_exporter: ExporterFactory,
                                           zone: str) -> None:
    exporter = make_exporter(demo_dsn, timezone=zone, web={"auth_token": "s3cret-token"})
    url = base_url(exporter)
    status, refused = get_json(url + "/health/wedding-day")
    assert status == 401 and "bearer" in refused["error"]

    body = wedding_day_json(url)
    assert set(body) == {"wedding_day", "reason", "timezone", "local_time", "local_date",
                         "weekday", "peak_hours", "today", "min_weddings_for_wedding_day",
                         "next_wedding_day", "override", "database_up", "collected_at",
                         "cache_source"}
    local_now = datetime.fromisoformat(body["local_time"])
    assert body["timezone"] == zone
    assert local_now.utcoffset() == datetime.now(ZoneInfo(zone)).utcoffset()
    assert body["local_date"] == local_now.date().isoformat()
    assert body["weekday"] == local_now.strftime("%A")
    saturday = local_now.weekday() == 5
    assert body["database_up"] is True
    weddings, vendors, guests = direct_counts(demo_dsn, date.fromisoformat(body["local_date"]))
    assert body["today"] == {"weddings": weddings, "vendors_booked": vendors, "guests": guests}
    assert body["wedding_day"] is (saturday or weddings >= 10)
    assert body["reason"] == ("saturday" if saturday else
                              "weddings_threshold" if weddings >= 10 else "none")
    peak = body["wedding_day"] and "11:00" <= local_now.strftime("%H:%M") < "18:00"
    assert body["peak_hours"] == {"start": "11:00", "end": "18:00", "now": peak}
    next_day = date.fromisoformat(body["next_wedding_day"]["date"])
    assert local_now.date() < next_day <= local_now.date() + timedelta(days=7)
    assert body["override"] == {"active": False, "until": None, "reason": None, "source": None}


def test_override_set_by_the_cli_shows_in_json_and_metrics(demo_dsn: str,
                                                           make_exporter: ExporterFactory) -> None:
    exporter = make_exporter(demo_dsn, cache={"l1_ttl_seconds": 0},
                             web={"auth_token": "s3cret-token"})
    url = base_url(exporter)
    until = (datetime.now(ZoneInfo("Europe/London")) + timedelta(hours=3)).replace(microsecond=0)
    assert cli_main(["wedding-override", "--database.url", demo_dsn, "--on",
                     "--until", until.isoformat(), "--reason", "bank holiday"]) == 0
    body = wedding_day_json(url)
    assert body["wedding_day"] is True and body["reason"] == "override"
    assert body["override"] == {"active": True, "until": until.isoformat(),
                                "reason": "bank holiday", "source": "database"}
    samples = scrape(url)
    assert samples.value("dbhealth_wedding_day_mode") == 1.0
    assert samples.value("dbhealth_wedding_day_reason", reason="override") == 1.0
    assert samples.value("dbhealth_collector_success", collector="wedding") == 1.0
    assert promtool_problems(samples.text) == []

    assert cli_main(["wedding-override", "--database.url", demo_dsn, "--off"]) == 0
    body = wedding_day_json(url)
    assert body["override"]["active"] is False
    assert body["reason"] != "override"
