"""L3 history: health_monitoring_audit rows, one per interval across replicas, with retention."""

from __future__ import annotations

import time

import psycopg

from exporter.audit import AuditWriter
from exporter.db import Database
from exporter.migrate import migrate
from exporter.scrape import Scraper
from exporter.server import build_collectors
from exporter.settings import AuditSettings, DatabaseSettings

from ..support.scrape import scrape
from .conftest import ExporterFactory, base_url, exporter_settings


def count_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return int(conn.execute("SELECT count(*) FROM health_monitoring_audit").fetchone()[0])  # type: ignore[index]


def test_migrations_are_versioned_and_idempotent(demo_dsn: str) -> None:
    assert migrate(demo_dsn, progress=lambda _m: None) == []       # template already migrated
    with psycopg.connect(demo_dsn) as conn:
        versions = [r[0] for r in conn.execute(
            "SELECT version FROM dbhealth_exporter_migrations ORDER BY version")]
    assert versions[0] == 1 and versions == sorted(set(versions))


def test_one_row_per_interval_even_with_two_replicas(demo_dsn: str) -> None:
    settings = exporter_settings(demo_dsn)
    databases = [Database(DatabaseSettings(url=demo_dsn)) for _ in range(2)]
    for db in databases:
        db.open()
    try:
        scraper = Scraper(databases[0], build_collectors(settings, database=databases[0]))
        snapshot = scraper.collect(time.monotonic() + 10)
        writers = [AuditWriter(AuditSettings(interval_seconds=300), db) for db in databases]
        assert writers[0].record(snapshot) is True
        assert writers[1].record(snapshot) is False     # another replica, same interval
        assert writers[0].record(snapshot) is False
        assert count_rows(demo_dsn) == 1
        with psycopg.connect(demo_dsn) as conn:
            status, metrics, check_type = conn.execute(
                "SELECT status, metrics, check_type FROM health_monitoring_audit").fetchone()  # type: ignore[misc]
        assert status == snapshot.status and check_type == "standard"
        assert metrics["checks"]["activity"]["success"] is True
        assert "dbhealth_connections_max" in metrics["metrics"]
    finally:
        for db in databases:
            db.close()


def test_retention_purges_old_rows(demo_dsn: str) -> None:
    with psycopg.connect(demo_dsn) as conn:
        conn.execute("INSERT INTO health_monitoring_audit (timestamp, status, metrics) "
                     "VALUES (now() - interval '40 days', 'healthy', '{}'), "
                     "(now() - interval '2 days', 'healthy', '{}')")
    settings = exporter_settings(demo_dsn)
    database = Database(settings.database)
    database.open()
    try:
        snapshot = Scraper(database, build_collectors(settings, database=database)).collect(
            time.monotonic() + 10)
        AuditWriter(AuditSettings(retention_days=30), database).record(snapshot)
    finally:
        database.close()
    with psycopg.connect(demo_dsn) as conn:
        ages = [r[0] for r in conn.execute(
            "SELECT extract(day FROM now() - timestamp)::int FROM health_monitoring_audit")]
    assert sorted(ages) == [0, 2]


def test_exporter_writes_history_in_the_background(make_exporter: ExporterFactory,
                                                   demo_dsn: str) -> None:
    exporter = make_exporter(demo_dsn, audit={"enabled": True, "interval_seconds": 300})
    assert scrape(base_url(exporter)).value("dbhealth_up") == 1
    deadline = time.monotonic() + 15
    while count_rows(demo_dsn) == 0:
        assert time.monotonic() < deadline, "no history row written"
        time.sleep(0.05)
    assert count_rows(demo_dsn) == 1
