"""The receiver's database: one ``ReceiverDB`` (a connection pool) per process.

The Flask app keeps it in ``app.extensions`` (opened lazily, after gunicorn has
forked, so no socket is shared between processes); the outbox worker owns its
own. Connection failures and pool timeouts become ``DatabaseUnavailable`` and a
schema that was never migrated ``SchemaNotReady``: both answer 503, so
Alertmanager retries instead of losing the webhook.

Every session forces ``synchronous_commit=on``: a 200 means the webhook is on
disk, whatever the server's default says.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from .errors import DatabaseUnavailable, SchemaNotReady
from .masking import mask_url
from .settings import Settings

log = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]

# A connection back in the pool for less than this is handed out without the liveness
# round trip (HikariCP's "aliveness bypass"): at 200 webhooks/s every check is one more
# round trip on the acknowledgement path. One broken within that window fails its first
# statement instead, which answers 503 (Alertmanager retries) and the pool discards it.
CHECK_AFTER_IDLE_SECONDS = 1.0
_returned_at: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()


def _check_if_idle(conn: Connection) -> None:
    returned = _returned_at.get(conn)
    if returned is None or time.monotonic() - returned > CHECK_AFTER_IDLE_SECONDS:
        ConnectionPool.check_connection(conn)


def session_options(settings: Settings) -> str:
    """Server settings for every session: durability forced, nothing left hanging."""
    timeout_ms = max(int(settings.database_timeout_seconds * 1000), 5000)
    return (f"-c synchronous_commit=on -c statement_timeout={timeout_ms}"
            " -c idle_in_transaction_session_timeout=60000")


class ReceiverDB:
    """A bounded pool to the receiver's own database; ``transaction()`` is all callers use."""

    def __init__(self, settings: Settings, role: str = "receiver"):
        self.settings = settings
        self.role = role
        self._pool: ConnectionPool[Connection] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _new_pool(self) -> ConnectionPool[Connection]:
        settings = self.settings
        return ConnectionPool(
            settings.database_url,
            min_size=1,
            max_size=settings.pool_size,
            open=False,
            name=f"receiver-{self.role}",
            timeout=settings.database_timeout_seconds,
            check=_check_if_idle,
            # Give up a reconnect series quickly: the next request starts a fresh one at a
            # 1 s delay, so recovery after a long outage is not stuck behind a doubled backoff.
            reconnect_timeout=10.0,
            kwargs={
                # The pid lets an operator (and the tests) tie a backend to its process.
                "application_name": f"dbhealth-{self.role}-{os.getpid()}",
                "connect_timeout": max(1, int(settings.database_timeout_seconds)),
                "options": session_options(settings),
            },
        )

    def open(self) -> None:
        """Open the pool (idempotent, thread-safe); does not wait for the server to be up."""
        with self._lock:
            if self._closed:  # a thread still running at shutdown must not reopen it
                raise DatabaseUnavailable("receiver database pool is closed")
            if self._pool is None:
                self._pool = self._new_pool()
                self._pool.open(wait=False)
                log.info("database pool opened for %s", mask_url(self.settings.database_url))

    def wait_ready(self, timeout: float) -> None:
        """Block until the pool holds its minimum connections (raises ``PoolTimeout``)."""
        self.open()
        assert self._pool is not None
        self._pool.wait(timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction on a pooled connection: committed on success, rolled back on error."""
        self.open()
        assert self._pool is not None
        try:
            with self._pool.connection() as conn:
                try:
                    with conn.transaction():
                        yield conn
                finally:
                    _returned_at[conn] = time.monotonic()
        except PoolTimeout as exc:
            raise DatabaseUnavailable("receiver database unavailable (no connection)") from exc
        except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn) as exc:
            raise SchemaNotReady("receiver schema is not migrated "
                                 "(run: dbhealth-receiver migrate)") from exc
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(
                f"receiver database unavailable ({type(exc).__name__})") from exc
