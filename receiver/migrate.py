"""The receiver's own tables: ``migrations/NNNN_name.sql``, recorded in
``receiver_schema_migrations`` (the runner and its safety checks: ``pgmigrations``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg

import pgmigrations
from pgmigrations import MigrationRefused, Migrations

__all__ = ["MIGRATIONS", "MigrationRefused", "migrate", "pending", "pending_in"]

MIGRATIONS = Migrations(
    package="receiver.migrations", history_table="receiver_schema_migrations",
    lock_key=0x64627263,  # "dbrc"
    application_name="dbhealth-receiver-migrate")


def pending_in(conn: psycopg.Connection[Any]) -> list[str]:
    """Names of migrations not applied yet (raises ``UndefinedTable`` on a blank database)."""
    return pgmigrations.pending_in(conn, MIGRATIONS)


def pending(dsn: str) -> list[str]:
    """Migrations not applied to ``dsn`` (all of them on a blank database)."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10,
                         application_name=MIGRATIONS.application_name) as conn:
        try:
            return pending_in(conn)
        except psycopg.errors.UndefinedTable:
            return [name for _version, name, _sql in MIGRATIONS.files()]


def search_path_writers(dsn: str) -> list[str]:
    """Schemas on the receiver's search_path that roles other than its own can write to."""
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10,
                         application_name=MIGRATIONS.application_name) as conn:
        return pgmigrations.other_writers(conn)


def migrate(dsn: str, progress: Callable[[str], None] = print) -> list[str]:
    """Apply pending migrations in the role's own search_path; the names applied."""
    return pgmigrations.migrate(dsn, MIGRATIONS, progress)
