"""Versioned schema migrations for the receiver's own tables.

Files ``migrations/NNNN_name.sql`` are applied in order, each in its own
transaction, and recorded in ``receiver_schema_migrations``. An advisory lock
keeps two receivers starting together from applying the same file twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import psycopg

LOCK_KEY = 0x64627263  # "dbrc"
_NAME = re.compile(r"^(\d{4})_[\w]+\.sql$")


def available() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("receiver.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found)


def pending_in(conn: psycopg.Connection[Any]) -> list[str]:
    """Names of migrations not applied yet (raises ``UndefinedTable`` on a blank database)."""
    done = {row[0] for row in conn.execute("SELECT version FROM receiver_schema_migrations")}
    return [name for version, name, _ddl in available() if version not in done]


def pending(dsn: str) -> list[str]:
    """Migrations not applied to ``dsn`` (all of them on a blank database)."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10,
                         application_name="dbhealth-receiver-migrate") as conn:
        try:
            return pending_in(conn)
        except psycopg.errors.UndefinedTable:
            return [name for _version, name, _ddl in available()]


def migrate(dsn: str, progress: Callable[[str], None] = print) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True,
                         application_name="dbhealth-receiver-migrate") as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            conn.execute("""CREATE TABLE IF NOT EXISTS receiver_schema_migrations (
                                version integer PRIMARY KEY, name text NOT NULL,
                                applied_at timestamptz NOT NULL DEFAULT now())""")
            done = {row[0] for row in
                    conn.execute("SELECT version FROM receiver_schema_migrations")}
            for version, name, ddl in available():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(ddl.encode())
                    conn.execute("INSERT INTO receiver_schema_migrations (version, name) "
                                 "VALUES (%s, %s)", (version, name))
                progress(f"migrate: applied {name}")
                applied.append(name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    if not applied:
        progress("migrate: schema is up to date")
    return applied
