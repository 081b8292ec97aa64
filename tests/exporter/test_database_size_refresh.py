"""Database sizes are measured at most once per SIZE_REFRESH_SECONDS (pg_database_size stats every file)."""

from __future__ import annotations

import time

import psycopg

from exporter.collectors.base import CollectContext
from exporter.collectors.database import SIZE_REFRESH_SECONDS, DatabaseCollector
from exporter.db import Database
from exporter.snapshot import render

from ..support.scrape import Samples
from .conftest import exporter_settings


def _size(collector: DatabaseCollector, database: Database, now: float, datname: str) -> float | None:
    with database.session(time.monotonic() + 10) as session:
        ctx = CollectContext(query=session.query, now=now)
        text = render(collector.collect(ctx).families)
    return Samples(text).value("dbhealth_database_size_bytes", datname=datname)


def test_size_is_served_between_refreshes_and_remeasured_after(demo_dsn: str) -> None:
    datname = demo_dsn.rsplit("/", 1)[1]
    database = Database(exporter_settings(demo_dsn).database)
    database.open()
    try:
        collector = DatabaseCollector()
        start = time.time()
        first = _size(collector, database, start, datname)
        with psycopg.connect(demo_dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE size_filler AS SELECT i, repeat('x', 200) AS pad "
                         "FROM generate_series(1, 20000) AS i")
            grown = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        assert first is not None and grown > first + 2_000_000

        # Within the refresh interval the last measured size is served (no pg_database_size).
        assert _size(collector, database, start + SIZE_REFRESH_SECONDS - 1, datname) == first
        # Once the interval has passed (or the clock stepped back) it is measured again.
        refreshed = _size(collector, database, start + SIZE_REFRESH_SECONDS, datname)
        assert refreshed is not None and abs(refreshed - grown) / grown < 0.05

        with psycopg.connect(demo_dsn, autocommit=True) as conn:
            conn.execute("INSERT INTO size_filler "
                         "SELECT i, repeat('y', 200) FROM generate_series(1, 20000) AS i")
            regrown = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        stepped_back = _size(collector, database, start - 5, datname)
        assert stepped_back is not None and abs(stepped_back - regrown) / regrown < 0.05
    finally:
        database.close()
