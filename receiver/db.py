"""The receiver's connection pool to its own database, one per process.

Gunicorn's ``post_fork`` calls ``open_pool`` in each worker, so no socket is ever
shared across a fork; the Flask app and the outbox worker only call
``transaction()``. Connection failures and pool timeouts become
``DatabaseUnavailable`` (HTTP 503) so Alertmanager retries.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .errors import DatabaseUnavailable
from .masking import mask_url
from .settings import Settings

log = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]
_pool: ConnectionPool[Connection] | None = None


def _new_pool(settings: Settings, role: str) -> ConnectionPool[Connection]:
    timeout_ms = int(settings.database_timeout_seconds * 1000)
    return ConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=settings.pool_size,
        open=False,
        name=f"receiver-{role}",
        timeout=settings.database_timeout_seconds,
        check=ConnectionPool.check_connection,
        # Give up a reconnect series quickly: the next request starts a fresh one at a 1 s
        # delay, so recovery after a long outage is not stuck behind a doubled backoff.
        reconnect_timeout=10.0,
        kwargs={
            # The pid in application_name lets an operator (and the tests) tie a
            # backend to the gunicorn worker that owns it.
            "application_name": f"dbhealth-{role}-{os.getpid()}",
            "connect_timeout": max(1, int(settings.database_timeout_seconds)),
            "options": f"-c statement_timeout={max(timeout_ms, 5000)} "
                       "-c idle_in_transaction_session_timeout=60000",
        },
    )


def open_pool(settings: Settings, role: str = "receiver") -> ConnectionPool[Connection]:
    """Open this process's pool (idempotent); does not wait for the server to be up."""
    global _pool
    if _pool is None:
        _pool = _new_pool(settings, role)
        _pool.open(wait=False)
        log.info("database pool opened for %s", mask_url(settings.database_url))
    return _pool


def wait_ready(timeout: float) -> None:
    """Block until the pool holds its minimum connections (raises ``PoolTimeout`` otherwise)."""
    if _pool is not None:
        _pool.wait(timeout)


def close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


@contextmanager
def transaction() -> Iterator[Connection]:
    """One transaction on a pooled connection: committed on success, rolled back on error."""
    if _pool is None:
        raise RuntimeError("the database pool is not open (open_pool was not called)")
    try:
        with _pool.connection() as conn, conn.transaction():
            yield conn
    except PoolTimeout as exc:
        raise DatabaseUnavailable("receiver database unavailable (no connection)") from exc
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"receiver database unavailable ({type(exc).__name__})") from exc
