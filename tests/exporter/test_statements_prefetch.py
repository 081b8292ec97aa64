"""pg_stat_statements read ahead of the scrape, against a real PostgreSQL and the real
HTTP exporter: served when on rhythm, one read per collection, counters monotonic,
and a database gone since the read is down for every collector."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from ..support.postgres import PostgresServer
from ..support.scrape import Samples, scrape
from .conftest import ExporterFactory, base_url

FRESH = {"l1_ttl_seconds": 0, "error_ttl_seconds": 0}
READ = "pg_stat_statements_info"  # in the one statement (its sentinel row)


def reads_so_far(dsn: str) -> int:
    """How often the exporter's one statement over pg_stat_statements ran (its own count)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                           "WHERE query LIKE %s AND query NOT LIKE %s",
                           [f"%{READ}%", "%coalesce(sum(calls)%"]).fetchone()
    return int(row[0]) if row else 0


def age(samples: Samples) -> float:
    value = samples.value("dbhealth_collector_age_seconds", collector="statements")
    assert value is not None
    return value


def test_scrapes_on_a_rhythm_serve_the_reading_taken_ahead(make_exporter: ExporterFactory,
                                                           tracker_dsn: str) -> None:
    exporter = make_exporter(tracker_dsn, cache=FRESH,
                             statements={"prefetch_seconds": 5, "prefetch_max_age_seconds": 10})
    url = base_url(exporter)
    first = [scrape(url) for _ in range(3)]  # no rhythm yet: read during the scrape
    assert [age(s) for s in first] == [0.0, 0.0, 0.0]
    before = reads_so_far(tracker_dsn)
    later = [scrape(url) for _ in range(6)]
    # Back to back, the period is far below the lead: each collection finds its read done
    # (or running, and waits for it) and plans the next one.
    assert all(age(s) > 0 for s in later)
    assert all(s.value("dbhealth_collector_success", collector="statements") == 1 for s in later)
    calls = [s.value("dbhealth_query_calls_total", domain="other") for s in later]
    assert calls == sorted(calls)  # type: ignore[type-var]
    # The database saw one read per collection: the six served and the one planned after.
    assert reads_so_far(tracker_dsn) - before in (6, 7)


def test_no_reading_ahead_with_prefetch_off(make_exporter: ExporterFactory,
                                            tracker_dsn: str) -> None:
    exporter = make_exporter(tracker_dsn, cache=FRESH, statements={"prefetch_seconds": 0})
    url = base_url(exporter)
    assert all(age(scrape(url)) == 0.0 for _ in range(6))


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()  # pg_stat_statements preloaded
    server.start()
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    yield server
    server.destroy()


@pytest.mark.slow
def test_a_database_gone_after_the_read_ahead_is_down_everywhere(
        make_exporter: ExporterFactory, own_postgres: PostgresServer) -> None:
    exporter = make_exporter(own_postgres.dsn(), cache=FRESH,
                             database={"connect_timeout_seconds": 2, "pool_wait_seconds": 0.5},
                             statements={"prefetch_seconds": 30, "prefetch_max_age_seconds": 60})
    url = base_url(exporter)
    for _ in range(4):
        up = scrape(url)
    assert up.value("dbhealth_up") == 1 and age(up) > 0  # the next read is planned already
    own_postgres.stop()
    down = scrape(url)
    assert down.value("dbhealth_up") == 0
    assert all(down.value("dbhealth_collector_success", **labels) == 0
               for labels in down.labelsets("dbhealth_collector_success"))
    assert down.value("dbhealth_query_calls_total", domain="other") is None
