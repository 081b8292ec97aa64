"""The wedding collector against real PostgreSQL: today's counts, the N-weddings rule, the
run-time override table and its expiry, and the mode while the database is down."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from demo.seed import apply_schema
from exporter.cli import main as cli_main
from exporter.db import Database
from exporter.migrate import migrate
from exporter.scrape import Scraper
from exporter.settings import Settings, load_settings
from exporter.snapshot import Snapshot
from exporter.wedding.collector import WeddingCollector
from tests.support.postgres import PostgresServer

LONDON = ZoneInfo("Europe/London")


def settings_for(dsn: str, **wedding: Any) -> Settings:
    return load_settings(environ={}, overrides={
        "database": {"url": dsn, "pool_wait_seconds": 0.5}, "wedding": wedding})


class Harness:
    """One database pool and one wedding collector with a pinned clock."""

    def __init__(self, settings: Settings, at: datetime):
        self.at = at
        self.collector = WeddingCollector(settings.wedding, settings.timezone,
                                          settings.database.exporter_schema,
                                          clock=lambda: self.at)
        self.database = Database(settings.database)
        self.database.open()
        self.scraper = Scraper(self.database, [self.collector])

    def collect(self) -> tuple[Snapshot, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
        snapshot = self.scraper.collect(time.monotonic() + 10)
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(snapshot.exposition) for s in f.samples}
        return snapshot, samples

    def close(self) -> None:
        self.database.close()


@pytest.fixture
def harnesses() -> Iterator[list[Harness]]:
    made: list[Harness] = []
    yield made
    for harness in made:
        harness.close()


def harness(made: list[Harness], settings: Settings, at: datetime) -> Harness:
    made.append(Harness(settings, at))
    return made[-1]


def local_noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=LONDON)


def plain(name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return (name, ())


def reason(samples: dict[Any, float]) -> str:
    on: list[str] = [labels[0][1] for (name, labels), value in samples.items()
          if name == "dbhealth_wedding_day_reason" and value == 1.0]
    assert len(on) == 1, on
    return on[0]


def scalar(conn: psycopg.Connection[tuple[Any, ...]], query: str,
           params: tuple[object, ...] | None = None) -> Any:
    """The first column of the one row ``query`` answers."""
    row = conn.execute(query, params).fetchone()
    assert row is not None, query
    return row[0]


def an_empty_wednesday(dsn: str) -> date:
    """A Wednesday with no weddings yet, well outside the seeded two years."""
    with psycopg.connect(dsn) as conn:
        last: date = scalar(conn, "SELECT max(wedding_date) FROM weddings")
    day = last + timedelta(days=30)
    return day + timedelta(days=(2 - day.weekday()) % 7)


def add_weddings(dsn: str, day: date, count: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("""INSERT INTO weddings (couple_id, venue_id, wedding_date, ceremony_time)
                        SELECT 1, 1, %s, '14:00' FROM generate_series(1, %s)""", (day, count))


def test_counts_match_direct_queries_on_the_demo_database(demo_dsn: str,
                                                          harnesses: list[Harness]) -> None:
    with psycopg.connect(demo_dsn) as conn:
        busiest = scalar(conn, """SELECT wedding_date FROM weddings GROUP BY wedding_date
                                  ORDER BY count(*) DESC, wedding_date LIMIT 1""")
        weddings = scalar(conn, "SELECT count(*) FROM weddings WHERE wedding_date = %s",
                          (busiest,))
        vendors = scalar(conn, """SELECT count(DISTINCT b.vendor_id) FROM bookings b
                                  JOIN weddings w ON w.id = b.wedding_id
                                  WHERE w.wedding_date = %s""", (busiest,))
        guests = scalar(conn, """SELECT count(*) FROM guests g JOIN weddings w
                                 ON w.id = g.wedding_id WHERE w.wedding_date = %s""",
                        (busiest,))
    assert weddings >= 2 and vendors > 0 and guests > 0
    h = harness(harnesses, settings_for(demo_dsn), local_noon(busiest))
    snapshot, samples = h.collect()
    assert snapshot.checks["wedding"].success, snapshot.checks
    assert snapshot.statements == 1  # one statement for the whole collector
    assert samples[plain("dbhealth_weddings_today")] == weddings
    assert samples[plain("dbhealth_vendors_booked_today")] == vendors
    assert samples[plain("dbhealth_guests_today")] == guests
    saturday = busiest.weekday() == 5
    assert samples[plain("dbhealth_wedding_day_mode")] == (1.0 if saturday else 0.0)
    assert samples[plain("dbhealth_wedding_peak_active")] == (1.0 if saturday else 0.0)
    assert snapshot.headline["dbhealth_guests_today"] == guests


def test_weekday_with_enough_weddings_becomes_a_wedding_day(demo_dsn: str,
                                                            harnesses: list[Harness]) -> None:
    wednesday = an_empty_wednesday(demo_dsn)
    settings = settings_for(demo_dsn, min_weddings_for_wedding_day=10)
    h = harness(harnesses, settings, local_noon(wednesday))
    add_weddings(demo_dsn, wednesday, 9)
    _, samples = h.collect()
    assert samples[plain("dbhealth_weddings_today")] == 9
    assert samples[plain("dbhealth_wedding_day_mode")] == 0.0
    assert reason(samples) == "none"
    add_weddings(demo_dsn, wednesday, 1)
    _, samples = h.collect()
    assert samples[plain("dbhealth_weddings_today")] == 10
    assert samples[plain("dbhealth_wedding_day_mode")] == 1.0
    assert samples[plain("dbhealth_wedding_peak_active")] == 1.0
    assert reason(samples) == "weddings_threshold"


def test_busy_weekday_ahead_is_the_next_wedding_day(demo_dsn: str,
                                                    harnesses: list[Harness]) -> None:
    wednesday = an_empty_wednesday(demo_dsn)
    add_weddings(demo_dsn, wednesday, 12)
    monday = wednesday - timedelta(days=2)
    h = harness(harnesses, settings_for(demo_dsn), local_noon(monday))
    _, samples = h.collect()
    start = datetime(wednesday.year, wednesday.month, wednesday.day, tzinfo=LONDON)
    assert samples[plain("dbhealth_next_wedding_day_timestamp_seconds")] == start.timestamp()
    h.at = local_noon(wednesday)  # on the day itself, the next one is that week's Saturday
    _, samples = h.collect()
    saturday = datetime.combine(wednesday + timedelta(days=3), datetime.min.time(), LONDON)
    assert samples[plain("dbhealth_next_wedding_day_timestamp_seconds")] == saturday.timestamp()


def past_wednesday_noon() -> datetime:
    """Before every real "now", so an override that expires in the future covers it."""
    today = datetime.now(LONDON).date() - timedelta(days=1)
    return local_noon(today - timedelta(days=(today.weekday() - 2) % 7))


def test_run_time_override_via_the_cli_and_its_expiry(demo_dsn: str, harnesses: list[Harness],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    migrate(demo_dsn, progress=lambda _msg: None)
    h = harness(harnesses, settings_for(demo_dsn), past_wednesday_noon())
    _, samples = h.collect()
    assert samples[plain("dbhealth_wedding_day_mode")] == 0.0
    assert samples[plain("dbhealth_wedding_override_active")] == 0.0

    until = (datetime.now(LONDON) + timedelta(hours=2)).replace(microsecond=0)
    assert cli_main(["wedding-override", "--database.url", demo_dsn, "--on",
                     "--until", until.replace(tzinfo=None).isoformat(),
                     "--reason", "bank holiday"]) == 0
    assert "override on until" in capsys.readouterr().out
    _, samples = h.collect()
    assert samples[plain("dbhealth_wedding_day_mode")] == 1.0
    assert reason(samples) == "override"
    assert samples[plain("dbhealth_wedding_override_active")] == 1.0
    assert samples[plain("dbhealth_wedding_override_expiry_timestamp_seconds")] == \
        until.timestamp()
    assert h.collector.last_db_override is not None
    assert h.collector.last_db_override.reason == "bank holiday"

    # Expired rows are ignored even though they are still marked active.
    with psycopg.connect(demo_dsn, autocommit=True) as conn:
        conn.execute("UPDATE dbhealth_wedding_day_override "
                     "SET until = now() - interval '1 minute'")
        assert scalar(conn, "SELECT active FROM dbhealth_wedding_day_override")
    _, samples = h.collect()
    assert samples[plain("dbhealth_wedding_day_mode")] == 0.0
    assert reason(samples) == "none"

    assert cli_main(["wedding-override", "--database.url", demo_dsn, "--on",
                     "--until", until.isoformat()]) == 0
    _, samples = h.collect()
    assert samples[plain("dbhealth_wedding_day_mode")] == 1.0
    assert cli_main(["wedding-override", "--database.url", demo_dsn, "--off"]) == 0
    _, samples = h.collect()
    assert samples[plain("dbhealth_wedding_day_mode")] == 0.0
    assert samples[plain("dbhealth_wedding_override_active")] == 0.0


@pytest.mark.parametrize("args, message", [
    (["--on"], "--on needs --until"),
    (["--on", "--until", "soon"], "is not an ISO date-time"),
    (["--on", "--until", "2001-01-01T00:00"], "already in the past"),
    (["--on", "--until", (datetime.now(UTC) + timedelta(days=30)).isoformat()], "at most 14 days"),
    ([], "give --on --until TIME or --off"),
])
def test_cli_refuses_bad_overrides(args: list[str], message: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["wedding-override", "--database.url", "postgresql://nowhere/x", *args]) == 2
    assert message in capsys.readouterr().err


def test_settings_override_and_its_expiry(demo_dsn: str, harnesses: list[Harness]) -> None:
    wednesday = an_empty_wednesday(demo_dsn)
    until = datetime(wednesday.year, wednesday.month, wednesday.day, 15, 0)  # naive: local
    settings = settings_for(demo_dsn, override={"active": True, "until": until.isoformat(),
                                                "reason": "royal wedding"})
    h = harness(harnesses, settings, local_noon(wednesday))
    _, samples = h.collect()
    assert reason(samples) == "override"
    assert samples[plain("dbhealth_wedding_override_expiry_timestamp_seconds")] == \
        until.replace(tzinfo=LONDON).timestamp()
    h.at = until.replace(tzinfo=LONDON)
    _, samples = h.collect()
    assert samples[plain("dbhealth_wedding_day_mode")] == 0.0
    assert samples[plain("dbhealth_wedding_override_active")] == 0.0


def test_missing_override_table_is_tolerated_then_picked_up(demo_dsn: str,
                                                            harnesses: list[Harness]) -> None:
    with psycopg.connect(demo_dsn, autocommit=True) as conn:  # as before migration 0002
        conn.execute("DROP TABLE IF EXISTS dbhealth_wedding_day_override")
        conn.execute("DELETE FROM dbhealth_exporter_migrations WHERE version = 2")
    h = harness(harnesses, settings_for(demo_dsn), past_wednesday_noon())
    snapshot, _ = h.collect()  # the first statement names the missing table
    assert not snapshot.checks["wedding"].success
    assert "dbhealth_wedding_day_override" in (snapshot.checks["wedding"].error or "")
    snapshot, samples = h.collect()  # then it only probes for the table
    assert snapshot.checks["wedding"].success and snapshot.statements == 1
    assert plain("dbhealth_weddings_today") in samples
    migrate(demo_dsn, progress=lambda _msg: None)
    with psycopg.connect(demo_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO dbhealth_wedding_day_override (active, until) "
                     "VALUES (true, now() + interval '1 hour')")
    h.collect()  # sees the table appear
    snapshot, samples = h.collect()
    assert snapshot.checks["wedding"].success
    assert reason(samples) == "override"


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    server = PostgresServer(max_connections=20)
    server.start()
    yield server
    server.destroy()


def test_mode_is_exported_while_the_database_is_down(own_server: PostgresServer,
                                                      harnesses: list[Harness]) -> None:
    dsn = own_server.create_database("wedsync")
    with psycopg.connect(dsn, autocommit=True) as conn:
        apply_schema(conn)
        conn.execute("INSERT INTO venues (name, city, capacity) VALUES ('V', 'Bath', 100)")
        conn.execute("INSERT INTO couples (partner1_name, partner2_name, email, phone) "
                     "VALUES ('A', 'B', 'a@example.com', '0')")
    migrate(dsn, progress=lambda _msg: None)
    wednesday = date(2026, 12, 2)
    add_weddings(dsn, wednesday, 10)
    busy = harness(harnesses, settings_for(dsn), local_noon(wednesday))
    snapshot, samples = busy.collect()
    assert snapshot.up and reason(samples) == "weddings_threshold"

    own_server.stop()
    snapshot, samples = busy.collect()
    assert not snapshot.up
    assert not snapshot.checks["wedding"].success
    assert samples[plain("dbhealth_wedding_day_mode")] == 1.0  # the day's count is remembered
    assert reason(samples) == "weddings_threshold"
    assert samples[plain("dbhealth_wedding_peak_active")] == 1.0
    assert plain("dbhealth_weddings_today") not in samples  # no stale counts served
    assert samples[("dbhealth_collector_success", (("collector", "wedding"),))] == 0.0
    assert samples[plain("dbhealth_up")] == 0.0

    # A fresh process that never reached the database still knows a Saturday from the clock.
    saturday = harness(harnesses, settings_for(dsn), local_noon(date(2026, 12, 5)))
    snapshot, samples = saturday.collect()
    assert not snapshot.up
    assert samples[plain("dbhealth_wedding_day_mode")] == 1.0
    assert reason(samples) == "saturday"
    assert snapshot.wedding_day  # what the cache uses to pick the 30 s L2 TTL
    weekday = harness(harnesses, settings_for(dsn), local_noon(date(2026, 12, 3)))
    snapshot, samples = weekday.collect()
    assert samples[plain("dbhealth_wedding_day_mode")] == 0.0
    assert not snapshot.wedding_day
