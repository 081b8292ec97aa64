"""Backup fixtures: moto's S3 server, a production server that archives WAL, one world per test.

The shared ``pg_server`` (tests/conftest.py) is the scratch server: another cluster,
another system identifier, as the verifier requires.
"""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import cast

import psycopg
import pytest

from demo.seed import SeedScale, apply_schema, seed
from exporter.migrate import migrate

from ..support.polling import wait_until
from ..support.postgres import PostgresServer
from .harness import PRIMARY, REPLICA, World
from .moto_s3 import MotoServer
from .pgbackrest_repo import Repo, insert_marks, start_repo, switch_and_archive
from .tls_s3 import TlsTerminator

TEMPLATE = "wedsync_backup_template"
_names = itertools.count()


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def production_server() -> Iterator[PostgresServer]:
    # archive_command 'true': the verifier reads pg_stat_archiver, it does not read the archive;
    # archive_timeout keeps "last archived" recent while the session writes WAL.
    server = PostgresServer(extra_conf={"archive_mode": "on", "archive_command": "'true'",
                                        "archive_timeout": "30"})
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def production_template(production_server: PostgresServer) -> str:
    production_server.create_database(TEMPLATE)
    with psycopg.connect(production_server.dsn(TEMPLATE), autocommit=True) as conn:
        apply_schema(conn)
        seed(conn, SeedScale(weddings=300, guests_per_wedding=20, weddings_today=3), date.today(),
             progress=lambda _msg: None)
    migrate(production_server.dsn(TEMPLATE), progress=lambda _msg: None)
    with production_server.connect() as conn:
        conn.execute("SELECT pg_switch_wal()")

        def archived() -> bool:
            row = conn.execute("SELECT archived_count FROM pg_stat_archiver").fetchone()
            assert row is not None
            return cast(int, row[0]) > 0

        wait_until(archived, what="the first archived WAL segment")
    return TEMPLATE


@pytest.fixture
def production_dsn(production_server: PostgresServer, production_template: str) -> str:
    return production_server.create_database(f"wedsync_b{next(_names)}", template=production_template)


@pytest.fixture
def world(moto: MotoServer, production_dsn: str, pg_server: PostgresServer) -> Iterator[World]:
    tmp = Path(tempfile.mkdtemp(prefix="dbhealth-backup-test-"))
    yield World(moto=moto, production_dsn=production_dsn, scratch_dsn=pg_server.dsn(),
                primary_bucket=moto.new_bucket(PRIMARY), replica_bucket=moto.new_bucket(REPLICA), tmp=tmp)


@pytest.fixture(scope="session")
def tls_s3(moto: MotoServer) -> Iterator[TlsTerminator]:
    tls = TlsTerminator(moto)
    tls.start()
    yield tls
    tls.stop()


@pytest.fixture(scope="session")
def pgbr_repo(moto: MotoServer, tls_s3: TlsTerminator) -> Iterator[Repo]:
    """Full backup, 3 rows, incremental backup, 4 rows, the target time, 2 rows: all archived."""
    repo = start_repo(moto, tls_s3)
    try:
        migrate(repo.server.dsn(), progress=lambda _msg: None)
        insert_marks(repo, 5)
        repo.backup("full")
        insert_marks(repo, 3)
        repo.backup("incr")
        repo.marks_at["target"] = insert_marks(repo, 4)
        with psycopg.connect(repo.server.dsn()) as conn:
            repo.target_time = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        switch_and_archive(repo)  # a segment between the last backup and the newest: the gap test's
        insert_marks(repo, 2)
        switch_and_archive(repo)
        yield repo
    finally:
        repo.server.destroy()
