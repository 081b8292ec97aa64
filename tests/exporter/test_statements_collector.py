"""The statements collector against a real PostgreSQL with pg_stat_statements."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import psycopg
import pytest

from exporter.db import Database
from exporter.statements.classify import Classifier
from exporter.statements.texts import TextClassifier, database_fetch

from ..support.ports import free_port
from ..support.postgres import PostgresServer
from ..support.statements import (
    ONLY_STATEMENTS,
    assert_never_decreased,
    collect,
    collect_settled,
    counters,
    direct_scraper,
    domain_calls,
    settings_for,
    statements_of,
)


def _run(dsn: str, statements: Sequence[tuple[str, Sequence[object] | None]], times: int = 1) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(times):
            for text, params in statements:
                conn.execute(text, params)


GUEST_BY_EMAIL = ("SELECT * FROM guests WHERE email = %s", ["guest7@example.com"])
BOOKINGS_BY_VENDOR = ("SELECT * FROM bookings WHERE vendor_id = %s", [42])
VENUE_BY_CITY = ("SELECT id FROM venues WHERE city = %s", ["Bath"])


def test_domain_counters_and_top_statements(tracker_dsn: str) -> None:
    settings = settings_for(tracker_dsn, collectors=ONLY_STATEMENTS,
                            statements={"text_fetch_interval_seconds": 0})
    with direct_scraper(settings) as scraper:
        collect(scraper)
        _, before = collect(scraper)
        _run(tracker_dsn, [GUEST_BY_EMAIL, BOOKINGS_BY_VENDOR, VENUE_BY_CITY], times=20)
        # new queryids: classified in the background, then counted in full
        snapshot, after = collect_settled(scraper)
    assert snapshot.checks["statements"].success
    assert snapshot.statements == 1  # one SQL statement for the whole collector
    gained = {d: after_calls - domain_calls(before)[d]
              for d, after_calls in domain_calls(after).items()}
    assert gained["guest_list"] == 20
    assert gained["vendor_schedule"] == 20
    assert gained["venue_availability"] == 20
    assert set(domain_calls(after)) == {"guest_list", "vendor_schedule", "booking",
                                        "venue_availability", "payment", "wedding", "other"}
    series = after.labelsets("dbhealth_statement_calls_total")
    domains = {s["domain"] for s in series if s["queryid"] != "other"}
    assert {"guest_list", "vendor_schedule", "venue_availability"} <= domains
    assert {"queryid": "other", "domain": "other"} in series
    assert after.value("dbhealth_query_exec_seconds_total", domain="guest_list") > 0  # type: ignore[operator]
    assert after.value("dbhealth_query_rows_total", domain="venue_availability") > 0  # type: ignore[operator]


def test_3000_distinct_statements_stay_within_top_n_plus_one(tracker_dsn: str) -> None:
    with psycopg.connect(tracker_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE wide (" + ", ".join(f"c{i} int" for i in range(60)) + ")")
        with conn.pipeline():
            for n in range(3000):
                i, j = divmod(n, 59)
                j = j if j < i else j + 1
                conn.execute(f"SELECT c{i} FROM wide WHERE c{j} = 1")
    top_n = 25
    settings = settings_for(tracker_dsn, collectors=ONLY_STATEMENTS,
                            statements={"top_n": top_n, "text_fetch_interval_seconds": 0})
    with direct_scraper(settings) as scraper:
        snapshot, samples = collect(scraper)
        assert samples.value("dbhealth_statements_entries") >= 3000  # type: ignore[operator]
        # the first collection hands ~3 000 texts to the background classifier ...
        assert samples.value("dbhealth_statements_unclassified") >= 3000  # type: ignore[operator]
        while statements_of(scraper).texts.busy:  # ... and scrapes go on meanwhile
            snapshot, samples = collect(scraper)
            assert snapshot.statements == 1  # counters only: texts are not on this path
            assert len(samples.labelsets("dbhealth_statement_calls_total")) <= top_n + 1
            assert len(samples.labelsets("dbhealth_statement_exec_seconds_total")) <= top_n + 1
        snapshot, samples = collect_settled(scraper)
        assert snapshot.statements == 1
        # the texts came in bounded batches (statements.text_batch_size, 500), off this path
        with psycopg.connect(tracker_dsn, autocommit=True) as conn:
            batches = conn.execute(
                "SELECT sum(calls), max(rows::float8 / calls) FROM pg_stat_statements "
                "WHERE query LIKE '%%pg_catalog.min(s.query)%%' "
                "AND query LIKE '%%queryid = ANY%%'").fetchone()
        assert batches is not None and batches[0] >= 6 and batches[1] <= 500
        assert len(samples.labelsets("dbhealth_statement_calls_total")) == top_n + 1
        # steady state: no new statement, no text fetched (showtext := false only)
        with psycopg.connect(tracker_dsn, autocommit=True) as conn:
            def text_reads() -> int:
                row = conn.execute(
                    "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements "
                    "WHERE query LIKE '%%pg_catalog.min(s.query)%%' "
                    "AND query LIKE '%%queryid = ANY%%'").fetchone()
                return int(row[0]) if row else 0
            text_reads()  # this statement itself is new once: classified first
            collect_settled(scraper)
            before = text_reads()
            for _ in range(3):
                collect(scraper)
                assert not statements_of(scraper).texts.busy
            assert text_reads() == before


def test_counters_never_decrease_across_a_reset(tracker_dsn: str) -> None:
    settings = settings_for(tracker_dsn, collectors=ONLY_STATEMENTS,
                            statements={"text_fetch_interval_seconds": 0})
    history = []
    with direct_scraper(settings) as scraper, \
            psycopg.connect(tracker_dsn, autocommit=True) as conn:
        dbid = conn.execute("SELECT oid FROM pg_database WHERE datname = current_database()"
                            ).fetchone()[0]  # type: ignore[index]
        _run(tracker_dsn, [GUEST_BY_EMAIL, BOOKINGS_BY_VENDOR], times=30)
        _, samples = collect_settled(scraper)
        history.append(counters(samples))
        before = domain_calls(samples)["guest_list"]
        # reset this database's entries only (other tests share the server)
        conn.execute("SELECT pg_stat_statements_reset(0, %s, 0)", [dbid])
        _, samples = collect(scraper)
        history.append(counters(samples))
        _run(tracker_dsn, [GUEST_BY_EMAIL], times=5)
        _, samples = collect(scraper)
        history.append(counters(samples))
    assert_never_decreased(history)
    assert domain_calls(samples)["guest_list"] == before + 5


@pytest.fixture
def small_pgss_server() -> Iterator[PostgresServer]:
    server = PostgresServer(extra_conf={"pg_stat_statements.max": "100"})
    server.start()
    yield server
    server.destroy()


def test_counters_never_decrease_across_evictions_and_full_resets(
        small_pgss_server: PostgresServer) -> None:
    dsn = small_pgss_server.create_database("evict")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
        conn.execute("CREATE TABLE guests (" + ", ".join(f"c{i} int" for i in range(40)) + ")")
    settings = settings_for(dsn, collectors=ONLY_STATEMENTS,
                            statements={"text_fetch_interval_seconds": 0, "top_n": 10})
    history = []
    executed = 0
    evicted = 0
    with direct_scraper(settings) as scraper, psycopg.connect(dsn, autocommit=True) as conn:
        def dealloc() -> int:
            row = conn.execute("SELECT dealloc FROM pg_stat_statements_info").fetchone()
            return int(row[0]) if row else 0

        collect(scraper)
        for round_ in range(8):
            # 60 new distinct statements per round: far more than pg_stat_statements.max
            for k in range(60):
                i, j = divmod(round_ * 60 + k, 39)
                conn.execute(f"SELECT c{i} FROM guests WHERE c{j if j < i else j + 1} = 1")
                executed += 1
            if round_ == 4:
                evicted += dealloc()
                conn.execute("SELECT pg_stat_statements_reset()")
            # the new ids are held back until classified (in the background)
            _, samples = collect_settled(scraper)
            history.append(counters(samples))
        evicted += dealloc()
        visible = conn.execute("SELECT sum(calls) FROM pg_stat_statements").fetchone()
    assert evicted > 0, "the test must really evict entries"
    assert_never_decreased(history)
    total = sum(domain_calls(samples).values())
    assert visible is not None
    # accumulated across evictions and a full reset: more than what the view still shows
    assert total > float(visible[0])
    assert domain_calls(samples)["guest_list"] >= executed * 0.5


def test_extension_missing_reports_failure_once_and_keeps_serving(
        pg_server: PostgresServer, caplog: pytest.LogCaptureFixture) -> None:
    dsn = pg_server.create_database("no_pgss")
    settings = settings_for(dsn, statements={"missing_recheck_seconds": 0},
                            collectors={**ONLY_STATEMENTS, "activity": True})
    caplog.set_level(logging.DEBUG)
    with direct_scraper(settings) as scraper:
        for _ in range(3):
            _, samples = collect(scraper)
            assert samples.value("dbhealth_up") == 1
            assert samples.value("dbhealth_collector_success", collector="statements") == 0
            assert samples.value("dbhealth_collector_success", collector="activity") == 1
    hints = [r for r in caplog.records if r.levelno >= logging.WARNING
             and "shared_preload_libraries" in r.getMessage()]
    assert len(hints) == 1
    assert "CREATE EXTENSION pg_stat_statements" in hints[0].getMessage()
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING and r not in hints]
    assert noisy == [], [r.getMessage() for r in noisy]
    # and it recovers by itself once an admin enables it
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    with direct_scraper(settings) as scraper:
        _, samples = collect(scraper)
        assert samples.value("dbhealth_collector_success", collector="statements") == 1


def test_extension_created_but_not_preloaded_is_explained_too(
        caplog: pytest.LogCaptureFixture) -> None:
    server = PostgresServer(extra_conf={"shared_preload_libraries": "''"})
    server.start()
    try:
        dsn = server.create_database("not_preloaded")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION pg_stat_statements")
        settings = settings_for(dsn, collectors={**ONLY_STATEMENTS, "activity": True})
        caplog.set_level(logging.DEBUG)
        with direct_scraper(settings) as scraper:
            for _ in range(2):
                _, samples = collect(scraper)
                assert samples.value("dbhealth_up") == 1
                assert samples.value("dbhealth_collector_success", collector="statements") == 0
    finally:
        server.destroy()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "shared_preload_libraries" in warnings[0]


def test_warm_up_classifies_everything_without_waiting_for_the_interval(tracker_dsn: str) -> None:
    _run(tracker_dsn, [GUEST_BY_EMAIL, BOOKINGS_BY_VENDOR], times=3)
    settings = settings_for(tracker_dsn)  # every collector, default text fetch interval (60 s)
    with direct_scraper(settings) as scraper:
        _, samples = collect_settled(scraper)
    assert domain_calls(samples)["vendor_schedule"] >= 3


@pytest.mark.parametrize("stopped, warned", [(True, False), (False, True)])
def test_a_text_round_warns_when_the_database_fails_not_when_the_exporter_stops(
        tracker_dsn: str, caplog: pytest.LogCaptureFixture, stopped: bool, warned: bool) -> None:
    """A round still fetching when the pool closes (shutdown) is quiet; a round that
    cannot reach the database (here: a port nobody listens on) warns."""
    dsn = tracker_dsn if stopped else f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    settings = settings_for(dsn, database={"pool_wait_seconds": 0.5,
                                           "connect_timeout_seconds": 2})
    database = Database(settings.database)
    database.open()
    if stopped:
        database.close()
    cfg = settings.statements
    texts = TextClassifier(cfg, Classifier(cfg.table_domains, cfg.domain_priority),
                           database_fetch(database))
    caplog.set_level(logging.DEBUG, logger="exporter.statements.texts")
    try:
        texts.want("public", [11, 12, 13])
        assert texts.join(30)
    finally:
        database.close()
    messages = [(r.levelno, r.getMessage()) for r in caplog.records
                if "texts not fetched" in r.getMessage()]
    assert len(messages) == 1
    assert (messages[0][0] >= logging.WARNING) is warned
    assert texts.domains == {}  # nothing classified; the batch waits for the next round
