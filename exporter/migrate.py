"""The exporter's own tables: ``migrations/NNNN_name.sql``, recorded in
``dbhealth_exporter_migrations`` (the runner and its safety checks: ``pgmigrations``)."""

from __future__ import annotations

from collections.abc import Callable

from pgmigrations import MigrationRefused, Migrations
from pgmigrations import migrate as _migrate

__all__ = ["MIGRATIONS", "MigrationRefused", "migrate"]

MIGRATIONS = Migrations(
    package="exporter.migrations", history_table="dbhealth_exporter_migrations",
    lock_key=0x64626865,  # "dbhe"
    application_name="dbhealth-migrate",
    # The design's table (SPEC 7): a WedSync database may hold it already, made by the
    # application's owner; 0003 adds the verifier's columns to it.
    adopted=frozenset({"backup_verification_audit"}))


def migrate(dsn: str, progress: Callable[[str], None] = print, schema: str = "public") -> list[str]:
    """Apply pending migrations in ``schema`` (``database.exporter_schema``); the names applied."""
    return _migrate(dsn, MIGRATIONS, progress, schema=schema)
