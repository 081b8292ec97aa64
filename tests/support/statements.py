"""Helpers for the query tracker tests: a larger demo database, direct collections, workloads."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from exporter.db import Database
from exporter.scrape import Scraper
from exporter.server import build_collectors
from exporter.settings import Settings, load_settings
from exporter.snapshot import Snapshot
from exporter.statements.collector import StatementsCollector

from .polling import wait_until
from .postgres import PostgresServer
from .scrape import Samples

ONLY_STATEMENTS = {"activity": False, "database": False, "replication": False, "archiver": False,
                   "tables": False, "wedding": False, "backup": False, "statements": True}

_templates: dict[int, str] = {}
_lock = threading.Lock()


def tracker_template(server: PostgresServer, demo_template: str) -> str:
    """The demo database with realistic selectivity on bookings.vendor_id (3 000 vendors,
    60 000 more bookings), pg_stat_statements and HypoPG; built once per server."""
    with _lock:
        if server.port in _templates:
            return _templates[server.port]
        name = "wedsync_tracker_template"
        dsn = server.create_database(name, template=demo_template)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("CREATE EXTENSION IF NOT EXISTS hypopg")
            conn.execute("""
                INSERT INTO vendors (business_name, category, email, phone, city)
                SELECT 'Vendor x' || i, 'florist', 'vx' || i || '@example.com', '+4470' || i, 'Bath'
                FROM generate_series(1, 3000) AS i""")
            conn.execute("""
                INSERT INTO bookings (wedding_id, vendor_id, service_start, amount_pence)
                SELECT 1 + (i * 7919) % 400, v.lo + (i * 104729) % 3000, now(), 1000
                FROM generate_series(1::bigint, 60000) AS i,
                     (SELECT max(id) - 3000 + 1 AS lo FROM vendors) AS v""")
            conn.execute("VACUUM ANALYZE")
        _templates[server.port] = name
        return name


def settings_for(dsn: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"database": {"url": dsn}, "audit": {"enabled": False},
                            "web": {"listen_address": "127.0.0.1:0", "rate_limit_per_minute": 0}}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return load_settings(environ={}, overrides=base)


@contextmanager
def direct_scraper(settings: Settings) -> Iterator[Scraper]:
    """A scraper over the real pool, without HTTP or caches: one call, one fresh collection."""
    database = Database(settings.database)
    database.open()
    scraper = Scraper(database, build_collectors(settings, database=database))
    try:
        yield scraper
    finally:
        # Background work ends before its pool does (a classifier round still fetching
        # texts would otherwise log into the next test).
        scraper.close()
        for collector in scraper.collectors:
            if isinstance(collector, StatementsCollector):
                collector.texts.join(30)
        database.close()


def collect(scraper: Scraper) -> tuple[Snapshot, Samples]:
    snapshot = scraper.collect(time.monotonic() + 30)
    return snapshot, Samples(snapshot.exposition)


def statements_of(scraper: Scraper) -> StatementsCollector:
    return next(c for c in scraper.collectors if isinstance(c, StatementsCollector))


def collect_settled(scraper: Scraper, timeout: float = 60.0) -> tuple[Snapshot, Samples]:
    """Collect until nothing is left to classify: after each collection, wait for the
    background classifier to finish the texts that collection handed it."""
    collector = statements_of(scraper)

    def settled() -> tuple[Snapshot, Samples] | None:
        snapshot, samples = collect(scraper)
        wait_until(lambda: not collector.texts.busy, timeout=timeout,
                   what="the background classifier")
        return (snapshot, samples) if samples.value("dbhealth_statements_unclassified") == 0 \
            else None

    return wait_until(settled, timeout=timeout, interval=0, what="every statement classified")


def counters(samples: Samples) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter sample of the tracker, keyed by name and labels."""
    names = ("dbhealth_query_calls_total", "dbhealth_query_exec_seconds_total",
             "dbhealth_query_rows_total", "dbhealth_statement_calls_total",
             "dbhealth_statement_exec_seconds_total")
    return {(s.name, tuple(sorted(s.labels.items()))): float(s.value)
            for s in samples.samples if s.name in names}


def assert_never_decreased(history: list[dict[Any, float]]) -> None:
    for before, after in itertools.pairwise(history):
        for key, value in after.items():
            if key in before:
                assert value >= before[key], f"{key} went down: {before[key]} -> {value}"


def domain_calls(samples: Samples) -> dict[str, float]:
    return {s.labels["domain"]: float(s.value) for s in samples.samples
            if s.name == "dbhealth_query_calls_total"}
