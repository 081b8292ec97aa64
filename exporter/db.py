"""The one module that owns the PostgreSQL driver.

Every monitoring connection comes from a bounded ``psycopg_pool`` pool and is
opened read-only, with ``application_name`` and server-side
``statement_timeout`` / ``lock_timeout`` already set as connection options, so
a monitoring query costs exactly one statement and can never queue for long
behind someone else's lock. A tighter per-query timeout is applied only when
the scrape deadline leaves less time than the configured statement timeout.

Nothing but the catalog runs (CVE-2018-1058): every session has
``search_path = pg_catalog``, so an unqualified function, operator or type can
only resolve to PostgreSQL's own, whatever another role created in ``public``
(an exact-type ``public.pg_total_relation_size(oid)`` would otherwise beat the
catalog's ``regclass`` version). ``row_security = off`` makes a query that a
row-level-security policy would rewrite fail instead of running the policy's
expressions as the monitoring role.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import errors as pgerrors
from psycopg_pool import ConnectionPool, PoolTimeout

from .errors import DatabaseUnavailable, QueryFailed
from .redact import mask_url
from .settings import DatabaseSettings

log = logging.getLogger(__name__)

Row = tuple[Any, ...]
Params = Sequence[Any] | Mapping[str, Any] | None


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _options(settings: DatabaseSettings) -> str:
    ms = _ms
    return " ".join([
        f"-c statement_timeout={ms(settings.statement_timeout_seconds)}",
        f"-c lock_timeout={ms(settings.lock_timeout_seconds)}",
        "-c default_transaction_read_only=on",
        "-c search_path=pg_catalog",
        "-c row_security=off",
        # A monitoring session must never hold a transaction open for long.
        "-c idle_in_transaction_session_timeout=10000",
    ])


class Database:
    """A bounded pool of read-only monitoring connections to one PostgreSQL server."""

    def __init__(self, settings: DatabaseSettings):
        self.settings = settings
        self.pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            settings.url,
            min_size=1,
            max_size=settings.pool_size,
            open=False,
            name="dbhealth",
            timeout=settings.pool_wait_seconds,
            # Back off quickly-but-not-too-quickly while the server is down.
            reconnect_timeout=60.0,
            reconnect_failed=self._reconnect_failed,
            num_workers=2,
            kwargs={
                "autocommit": True,
                "application_name": settings.application_name,
                "connect_timeout": max(2, int(settings.connect_timeout_seconds)),
                "options": _options(settings),
            },
        )

    def _reconnect_failed(self, pool: ConnectionPool[Any]) -> None:
        log.warning("database %s still unreachable; will retry on the next scrape",
                    mask_url(self.settings.url))

    def open(self) -> None:
        # wait=False: the exporter must start (and report dbhealth_up 0) while the database is down.
        self.pool.open(wait=False)

    def close(self) -> None:
        self.pool.close(timeout=5)

    @contextmanager
    def session(self, deadline: float) -> Iterator[Session]:
        """A lazily connected session for one scrape; returns its connection on exit."""
        session = Session(self, deadline)
        try:
            yield session
        finally:
            session.release()

    def write(self, statement: str, params: Params = None) -> int:
        """Run one write in an explicit READ WRITE transaction (audit rows only)."""
        try:
            with self.pool.connection(timeout=self.settings.pool_wait_seconds) as conn, \
                    conn.transaction():
                conn.execute("SET TRANSACTION READ WRITE")
                cur = conn.execute(statement, params)
                return cur.rowcount
        except PoolTimeout as exc:
            raise DatabaseUnavailable(f"no connection within {self.settings.pool_wait_seconds}s") from exc
        except psycopg.Error as exc:
            raise QueryFailed.from_driver(
                exc, connection_lost=isinstance(exc, psycopg.OperationalError)) from exc

    @contextmanager
    def borrow(self, timeout: float | None = None) -> Iterator[psycopg.Connection[Row]]:
        """One pooled connection for a multi-statement job (the index advisor).

        Raises DatabaseUnavailable when none can be had in time. A job that fails
        leaves its connection closed, so no session state it set survives in the pool.
        """
        try:
            conn = self.pool.getconn(timeout=timeout or self.settings.pool_wait_seconds)
        except PoolTimeout as exc:
            raise DatabaseUnavailable("no pool connection") from exc
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        finally:
            self.pool.putconn(conn)


class Session:
    """One connection borrowed for one scrape, taken on the first query."""

    def __init__(self, database: Database, deadline: float):
        self._db = database
        self._deadline = deadline
        self._conn: psycopg.Connection[Row] | None = None
        self._unavailable: str | None = None
        self.statements = 0
        self.answered = False

    def _connection(self) -> psycopg.Connection[Row]:
        if self._conn is not None:
            return self._conn
        if self._unavailable:
            raise DatabaseUnavailable(self._unavailable)
        wait = min(self._db.settings.pool_wait_seconds, max(0.01, self._deadline - time.monotonic()))
        try:
            self._conn = self._db.pool.getconn(timeout=wait)
        except PoolTimeout:
            self._unavailable = f"no database connection within {wait:.2f}s"
            raise DatabaseUnavailable(self._unavailable) from None
        return self._conn

    def query_binary(self, statement: str, params: Params = None) -> list[Row]:
        """:meth:`query` with the results in binary format (many numeric rows)."""
        return self.query(statement, params, binary=True)

    def query(self, statement: str, params: Params = None, *, binary: bool = False) -> list[Row]:
        """Run one monitoring statement; retries once on a connection the server had closed."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                return self._execute(conn, statement, params, binary)
            except psycopg.OperationalError as exc:
                if not conn.broken:
                    # The server answered with an error of its own (class 55, 57…); the
                    # connection is fine, so the database is up.
                    self.answered = True
                    raise QueryFailed.from_driver(exc) from exc
                if attempt == 2:
                    raise QueryFailed.from_driver(exc, connection_lost=True) from exc
                # The pooled connection died (server restart): drop it, try one fresh one.
                self._discard()
        raise AssertionError("unreachable")

    def _execute(self, conn: psycopg.Connection[Row], statement: str, params: Params,
                 binary: bool = False) -> list[Row]:
        remaining = self._deadline - time.monotonic()
        tighter = remaining < self._db.settings.statement_timeout_seconds
        try:
            if tighter:
                if remaining <= 0.005:
                    raise QueryFailed("scrape deadline reached", timed_out=True)
                conn.execute(f"SET statement_timeout = {max(1, int(remaining * 1000))}")
            self.statements += 1
            rows = conn.execute(statement, params, binary=binary).fetchall()
            self.answered = True
            return rows
        except (pgerrors.QueryCanceled, pgerrors.LockNotAvailable) as exc:
            self.answered = True
            raise QueryFailed.from_driver(exc, timed_out=True) from exc
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            self.answered = True
            raise QueryFailed.from_driver(exc) from exc
        finally:
            if tighter and not conn.broken:
                with suppress(psycopg.Error):
                    conn.execute("RESET statement_timeout")

    def _discard(self) -> None:
        if self._conn is not None:
            self._db.pool.putconn(self._conn)  # the pool throws broken connections away
            self._conn = None

    def release(self) -> None:
        self._discard()
