"""Collectors against known database states on a real PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from exporter.db import Database
from exporter.scrape import Scraper
from exporter.server import build_collectors

from ..support.polling import wait_until
from ..support.postgres import PostgresServer
from ..support.scrape import Samples
from .conftest import exporter_settings


def collect(dsn: str, **overrides: object) -> tuple[Samples, Scraper]:
    settings = exporter_settings(dsn, **overrides)
    database = Database(settings.database)
    database.open()
    try:
        scraper = Scraper(database, build_collectors(settings, database=database))
        snapshot = scraper.collect(time.monotonic() + 10)
        return Samples(snapshot.exposition), scraper
    finally:
        database.close()


def dbname(dsn: str) -> str:
    return dsn.rsplit("/", 1)[1]


@pytest.fixture
def sessions(demo_dsn: str) -> Iterator[list[psycopg.Connection[tuple[object, ...]]]]:
    opened: list[psycopg.Connection[tuple[object, ...]]] = []
    yield opened
    for conn in opened:
        conn.close()


def test_idle_in_transaction_sessions_counted_exactly(demo_dsn: str, sessions: list) -> None:  # type: ignore[type-arg]
    for _ in range(5):
        conn = psycopg.connect(demo_dsn)
        conn.execute("SELECT 1")  # leaves a transaction open
        sessions.append(conn)
    samples, _ = collect(demo_dsn)
    db = dbname(demo_dsn)
    assert samples.value("dbhealth_connections", datname=db, state="idle_in_transaction") == 5
    assert samples.value("dbhealth_connections", datname=db,
                         state="idle_in_transaction_aborted") == 0
    assert samples.value("dbhealth_oldest_transaction_age_seconds",  # type: ignore[operator]
                         state="idle_in_transaction") > 0
    max_conn = samples.value("dbhealth_connections_max")
    ratio = samples.value("dbhealth_connection_utilization_ratio")
    assert max_conn == 200 and ratio is not None
    # at least our five plus the exporter's own connection, over 200 - 3 reserved slots
    assert ratio >= 6 / 197


def test_lock_waiters_counted(demo_dsn: str, sessions: list) -> None:  # type: ignore[type-arg]
    holder = psycopg.connect(demo_dsn)
    holder.execute("LOCK TABLE venues IN ACCESS EXCLUSIVE MODE")
    sessions.append(holder)
    waiter = psycopg.connect(demo_dsn, autocommit=True)
    sessions.append(waiter)
    pid = waiter.info.backend_pid
    thread = threading.Thread(target=lambda: waiter.execute("SELECT count(*) FROM venues"),
                              daemon=True)
    thread.start()
    with psycopg.connect(demo_dsn, autocommit=True) as probe:
        wait_until(lambda: probe.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
            (pid,)).fetchone() == (True,), what="the waiter to block")
        samples, _ = collect(demo_dsn)
    assert samples.value("dbhealth_lock_waiting_sessions") == 1
    holder.rollback()
    thread.join(timeout=10)


def test_database_counters_and_size(demo_dsn: str) -> None:
    samples, _scraper = collect(demo_dsn)
    db = dbname(demo_dsn)
    assert samples.value("dbhealth_transactions_total", datname=db, outcome="commit") is not None
    assert samples.value("dbhealth_blocks_hit_total", datname=db) is not None
    assert samples.value("dbhealth_deadlocks_total", datname=db) == 0
    size = samples.value("dbhealth_database_size_bytes", datname=db)
    with psycopg.connect(demo_dsn) as conn:
        real = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
    assert size is not None and abs(size - real) / real < 0.05


def test_watched_tables(demo_dsn: str) -> None:
    with psycopg.connect(demo_dsn, autocommit=True) as conn:
        # One more seq scan: without the index paths, count(*) cannot use an index-only
        # scan (which it picks once vacuum has set the visibility map).
        for path in ("indexonlyscan", "indexscan", "bitmapscan"):
            conn.execute(f"SET enable_{path} = off")
        conn.execute("SELECT count(*) FROM guests")
        before = conn.execute("SELECT n_dead_tup FROM pg_stat_user_tables "
                              "WHERE relname = 'guests'").fetchone()[0]  # type: ignore[index]
        conn.execute("DELETE FROM guests WHERE id <= 100")
        wait_until(lambda: conn.execute(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'guests'"
        ).fetchone()[0] >= before + 100, what="dead tuples to be reported")  # type: ignore[index]
    samples, _ = collect(demo_dsn, tables={"watched": ["guests", "weddings", "missing_table"]})
    tables = {labels["table"] for labels in samples.labelsets("dbhealth_table_dead_tuples")}
    assert tables == {"guests", "weddings"}
    assert samples.value("dbhealth_table_dead_tuples", table="guests") >= 100  # type: ignore[operator]
    assert samples.value("dbhealth_table_seq_scans_total", table="guests") >= 1  # type: ignore[operator]
    assert samples.value("dbhealth_table_size_bytes", table="guests") > 0  # type: ignore[operator]
    assert samples.value("dbhealth_table_locked", table="guests") == 0


def test_replication_and_archiver_on_a_standalone_primary(demo_dsn: str) -> None:
    samples, _ = collect(demo_dsn)
    assert samples.value("dbhealth_replication_is_replica") == 0
    assert samples.value("dbhealth_replication_standbys") == 0
    assert samples.value("dbhealth_wal_archive_enabled") == 0
    assert samples.value("dbhealth_wal_archive_failures_total") == 0


def test_replication_lag_reported_per_standby() -> None:
    """A real streaming standby: the primary reports it, the standby reports itself."""
    primary = PostgresServer(extra_conf={"wal_level": "replica", "max_wal_senders": "4"})
    standby: PostgresServer | None = None
    try:
        primary.start()
        standby = PostgresServer.standby_of(primary, application_name="standby1")
        standby.start()
        with primary.connect() as conn:
            wait_until(lambda: conn.execute(
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
            ).fetchone() == (1,), what="the standby to stream")
        samples, _ = collect(primary.dsn())
        assert samples.value("dbhealth_replication_standbys") == 1
        assert samples.value("dbhealth_replication_lag_seconds", replica="standby1") is not None
        assert samples.value("dbhealth_replication_lag_bytes", replica="standby1") is not None
        standby_samples, _ = collect(standby.dsn())
        assert standby_samples.value("dbhealth_replication_is_replica") == 1
        assert standby_samples.value("dbhealth_replication_lag_seconds", replica="local") is not None
    finally:
        if standby is not None:
            standby.destroy()
        primary.destroy()
