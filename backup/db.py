"""The verifier's PostgreSQL sessions, and telling servers apart.

- production: read-only, ``search_path = pg_catalog`` (every name the verifier sends
  is schema-qualified), a statement timeout: completeness counts and pg_stat_archiver.
- scratch: the drill's server; CREATE/DROP DATABASE of the drill database only.
- restored copy: read-only, ``search_path = pg_catalog``: the copy holds whatever
  functions production had, and none of them may shadow what our queries call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

APPLICATION_NAME = "dbhealth-backup-verify"
Conn = psycopg.Connection[tuple[Any, ...]]


def connect(dsn: str, connect_timeout: float, *, read_only: bool,
             statement_timeout: float | None = None) -> Conn:
    options = ["-c search_path=pg_catalog"] if read_only else []
    if read_only:
        options.append("-c default_transaction_read_only=on")
    if statement_timeout:
        options.append(f"-c statement_timeout={int(statement_timeout * 1000)}")
    return psycopg.connect(dsn, autocommit=True, application_name=APPLICATION_NAME,
                           connect_timeout=max(1, int(connect_timeout)), options=" ".join(options))


@contextmanager
def production_connection(dsn: str, connect_timeout: float,
                          statement_timeout: float | None = None) -> Iterator[Conn]:
    with connect(dsn, connect_timeout, read_only=True, statement_timeout=statement_timeout) as conn:
        yield conn


@contextmanager
def admin_connection(dsn: str, connect_timeout: float) -> Iterator[Conn]:
    with connect(dsn, connect_timeout, read_only=False) as conn:
        yield conn


def with_database(dsn: str, dbname: str) -> str:
    return make_conninfo(dsn, dbname=dbname)


def database_name(dsn: str) -> str:
    return str(conninfo_to_dict(dsn).get("dbname") or conninfo_to_dict(dsn).get("user") or "postgres")


@dataclass(frozen=True)
class ServerIdentity:
    """Who a server is: equal system identifiers mean the same cluster or a physical copy of it."""

    system_identifier: int
    port: int | None
    database: str

    def describe(self) -> str:
        return f"system identifier {self.system_identifier}, port {self.port}, database {self.database}"


IDENTITY_SQL = ("SELECT system_identifier, pg_catalog.inet_server_port(), pg_catalog.current_database() "
                "FROM pg_catalog.pg_control_system()")


def server_identity(conn: Conn) -> ServerIdentity:
    row = conn.execute(IDENTITY_SQL).fetchone()
    assert row is not None
    return ServerIdentity(int(row[0]), row[1], str(row[2]))


def describe_error(exc: BaseException) -> str:
    """One line without query text or values: SQLSTATE and the primary message, quotes stripped."""
    from .sanitize import sanitize

    if isinstance(exc, psycopg.Error):
        diag = getattr(exc, "diag", None)
        primary = getattr(diag, "message_primary", None) if diag else None
        sqlstate = getattr(diag, "sqlstate", None) if diag else None
        text = sanitize(primary or (str(exc).splitlines() or [type(exc).__name__])[0])
        return f"{type(exc).__name__}[{sqlstate}]: {text}" if sqlstate else f"{type(exc).__name__}: {text}"
    return f"{type(exc).__name__}: {sanitize(str(exc))}"
