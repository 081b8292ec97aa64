"""Shared fixtures: real PostgreSQL and Redis processes, started once per session.

- ``pg_server``: a throwaway PostgreSQL cluster (pg_stat_statements preloaded).
- ``redis_server``: a throwaway redis-server.
- ``demo_template``: a small seeded copy of the demo schema (exporter tables migrated).
- ``demo_dsn``: a fresh database cloned from the template, for one test.
Tests that stop servers make their own with ``PostgresServer()`` / ``RedisServer()``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from demo.seed import SeedScale, apply_schema, seed
from exporter.migrate import migrate

from .support.postgres import PostgresServer
from .support.redis_server import RedisServer

TEMPLATE = "wedsync_template"
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_template(pg_server: PostgresServer) -> str:
    pg_server.create_database(TEMPLATE)
    with psycopg.connect(pg_server.dsn(TEMPLATE), autocommit=True) as conn:
        # As in the demo and in production: the view the statements collector reads.
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        apply_schema(conn)
        seed(conn, SeedScale(weddings=400, guests_per_wedding=25, weddings_today=6),
             date.today(), progress=lambda _msg: None)
    # As in production: the exporter's own tables are migrated before it serves.
    migrate(pg_server.dsn(TEMPLATE), progress=lambda _msg: None)
    return TEMPLATE


@pytest.fixture
def demo_dsn(pg_server: PostgresServer, demo_template: str) -> str:
    name = f"wedsync_t{next(_counter)}"
    return pg_server.create_database(name, template=demo_template)
