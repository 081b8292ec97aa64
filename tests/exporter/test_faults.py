"""Faults: database down and back, Redis down and back, locks, deadlines, connection bounds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from exporter.db import Database
from exporter.errors import QueryFailed
from exporter.settings import DatabaseSettings

from ..support.polling import wait_until
from ..support.postgres import PostgresServer
from ..support.redis_server import RedisServer
from ..support.scrape import Samples, get_json, http_get, scrape
from .conftest import ExporterFactory, base_url


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.destroy()


@pytest.mark.slow
def test_database_down_then_back(make_exporter: ExporterFactory,
                                 own_postgres: PostgresServer) -> None:
    exporter = make_exporter(own_postgres.dsn(), cache={"error_ttl_seconds": 0,
                                                        "l1_ttl_seconds": 0},
                             database={"connect_timeout_seconds": 2, "pool_wait_seconds": 0.5})
    url = base_url(exporter)
    assert scrape(url).value("dbhealth_up") == 1

    own_postgres.stop()
    down = scrape(url)                      # still HTTP 200
    assert down.value("dbhealth_up") == 0
    assert all(down.value("dbhealth_collector_success", **labels) == 0
               for labels in down.labelsets("dbhealth_collector_success"))
    status, body = get_json(url + "/health")
    assert status == 503 and body["status"] == "down"

    own_postgres.start()
    wait_until(lambda: scrape(url).value("dbhealth_up") == 1, what="the exporter to reconnect")
    status, body = get_json(url + "/health")
    # (this bare cluster has no wedding tables, so "degraded" is the honest answer)
    assert status == 200 and body["status"] in ("healthy", "degraded")
    assert scrape(url).value("dbhealth_collector_success", collector="activity") == 1


def test_exporter_starts_while_database_is_down(make_exporter: ExporterFactory,
                                                own_postgres: PostgresServer) -> None:
    own_postgres.stop()
    exporter = make_exporter(own_postgres.dsn(), cache={"error_ttl_seconds": 0},
                             database={"pool_wait_seconds": 0.3})
    assert scrape(base_url(exporter)).value("dbhealth_up") == 0
    own_postgres.start()
    wait_until(lambda: scrape(base_url(exporter)).value("dbhealth_up") == 1,
               what="the first connection")


@pytest.mark.slow
def test_replicas_share_one_collection_and_survive_redis_down(
        make_exporter: ExporterFactory, demo_dsn: str) -> None:
    redis = RedisServer()
    redis.start()
    try:
        shared = {"redis": {"url": redis.url, "retry_after_seconds": 0.2},
                  "cache": {"l1_ttl_seconds": 0}}
        first = make_exporter(demo_dsn, **shared)
        second = make_exporter(demo_dsn, **shared)
        a = scrape(base_url(first))
        b = scrape(base_url(second))
        assert a.value("dbhealth_collections_total") == 1
        assert b.value("dbhealth_collections_total") == 0       # served from L2
        assert b.value("dbhealth_cache_hits_total", tier="l2") == 1
        assert b.value("dbhealth_collection_timestamp_seconds") == a.value(
            "dbhealth_collection_timestamp_seconds")
        assert b.value("dbhealth_redis_up") == 1

        redis.stop()
        during = scrape(base_url(second))                       # falls back to collecting itself
        assert during.value("dbhealth_up") == 1
        assert during.value("dbhealth_redis_up") == 0
        assert during.value("dbhealth_collections_total") == 1

        redis.start()
        wait_until(lambda: scrape(base_url(second)).value("dbhealth_redis_up") == 1,
                   what="redis to be used again")
    finally:
        redis.stop()


def test_concurrent_scrapes_single_collection_bounded_pool(
        make_exporter: ExporterFactory, demo_dsn: str) -> None:
    exporter = make_exporter(demo_dsn, database={"pool_size": 2})
    url = base_url(exporter)
    seen: list[int] = []
    stop = threading.Event()

    def sample_backends() -> None:
        with psycopg.connect(demo_dsn, autocommit=True) as conn:
            while not stop.is_set():
                seen.append(conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'dbhealth-exporter'").fetchone()[0])  # type: ignore[index]

    sampler = threading.Thread(target=sample_backends, daemon=True)
    sampler.start()
    try:
        for wave in range(3):
            with ThreadPoolExecutor(max_workers=50) as pool:
                results = list(pool.map(lambda _: http_get(url + "/metrics"), range(50)))
            assert all(status == 200 for status, _, _ in results), wave
    finally:
        stop.set()
        sampler.join(timeout=10)
    final = scrape(url)
    assert final.value("dbhealth_collections_total") == 1       # 150 scrapes, one collection
    assert seen and max(seen) <= 2


def test_exclusive_lock_on_watched_table_does_not_hang(
        make_exporter: ExporterFactory, demo_dsn: str) -> None:
    holder = psycopg.connect(demo_dsn)
    try:
        holder.execute("LOCK TABLE guests IN ACCESS EXCLUSIVE MODE")
        exporter = make_exporter(demo_dsn, database={"lock_timeout_seconds": 0.2})
        samples = scrape(base_url(exporter))
        assert samples.value("dbhealth_up") == 1
        assert samples.value("dbhealth_collector_success", collector="tables") == 1
        assert samples.value("dbhealth_table_locked", table="guests") == 1
        assert samples.value("dbhealth_table_size_bytes", table="guests") is None
        assert samples.value("dbhealth_table_size_bytes", table="weddings") is not None
        assert samples.value("dbhealth_table_dead_tuples", table="guests") is not None
    finally:
        holder.close()


def test_lock_timeout_fails_a_query_fast(demo_dsn: str) -> None:
    """The envelope itself: a size function queued behind DDL is cancelled by lock_timeout."""
    database = Database(DatabaseSettings(url=demo_dsn, lock_timeout_seconds=0.2,
                                         statement_timeout_seconds=30))
    database.open()
    holder = psycopg.connect(demo_dsn)
    try:
        holder.execute("LOCK TABLE guests IN ACCESS EXCLUSIVE MODE")
        with database.session(time.monotonic() + 30) as session, \
                pytest.raises(QueryFailed) as info:
            session.query("SELECT pg_total_relation_size('public.guests')")
        assert info.value.timed_out and "LockNotAvailable" in str(info.value)
    finally:
        holder.close()
        database.close()


def test_catalog_lock_fails_only_the_affected_collectors(
        make_exporter: ExporterFactory, demo_dsn: str) -> None:
    exporter = make_exporter(demo_dsn, cache={"l1_ttl_seconds": 0, "error_ttl_seconds": 0},
                             database={"pool_size": 1})
    url = base_url(exporter)
    assert scrape(url).value("dbhealth_up") == 1       # connection established before the lock
    holder = psycopg.connect(demo_dsn)
    try:
        holder.execute("LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
        samples = scrape(url)
    finally:
        holder.close()
    assert samples.value("dbhealth_up") == 1
    success = {labels["collector"]: samples.value("dbhealth_collector_success", **labels)
               for labels in samples.labelsets("dbhealth_collector_success")}
    # activity, database and replication (pg_replication_slots) read pg_database
    assert success["activity"] == 0 and success["database"] == 0 and success["replication"] == 0
    assert success["archiver"] == 1 and success["tables"] == 1
    assert samples.value("dbhealth_wal_archive_enabled") == 0       # the rest is served


def test_scrape_deadline_from_prometheus_header(
        make_exporter: ExporterFactory, demo_dsn: str) -> None:
    # Timeouts far longer than the scrape: only the deadline can stop the blocked collectors.
    exporter = make_exporter(demo_dsn, cache={"l1_ttl_seconds": 0, "error_ttl_seconds": 0},
                             database={"pool_size": 1, "lock_timeout_seconds": 30,
                                       "statement_timeout_seconds": 30},
                             web={"scrape_timeout_offset_seconds": 0.5})
    url = base_url(exporter)
    assert scrape(url).value("dbhealth_up") == 1
    holder = psycopg.connect(demo_dsn)
    try:
        holder.execute("LOCK TABLE pg_database IN ACCESS EXCLUSIVE MODE")
        started = time.monotonic()
        status, _, body = http_get(url + "/metrics",
                                   {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}, timeout=20)
        elapsed = time.monotonic() - started
    finally:
        holder.close()
    assert status == 200
    assert elapsed < 20  # answered within the scrape, not after the 30 s timeouts
    samples = Samples(body.decode())
    assert samples.value("dbhealth_collector_success", collector="activity") == 0
    status, _full = get_json(url + "/health/full")
    assert status == 200
