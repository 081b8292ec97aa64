"""Versioned schema migrations for the exporter's own tables.

Files ``migrations/NNNN_name.sql`` are applied in order, each in its own
transaction, and recorded in ``dbhealth_exporter_migrations``. An advisory lock
keeps two exporters starting together from applying the same file twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib import resources

import psycopg

LOCK_KEY = 0x64626865  # "dbhe"
_NAME = re.compile(r"^(\d{4})_[\w]+\.sql$")


def available() -> list[tuple[int, str, str]]:
    found = []
    for entry in resources.files("exporter.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    return sorted(found)


def migrate(dsn: str, progress: Callable[[str], None] = print, schema: str = "public") -> list[str]:
    """Apply pending migrations in ``schema`` (``database.exporter_schema``); the names applied.

    The files name no schema: the session's search_path is set to ``schema`` alone
    (pg_catalog is still searched first), so the tables land exactly there.
    """
    applied: list[str] = []
    with psycopg.connect(dsn, autocommit=True, application_name="dbhealth-migrate",
                         options=f"-c search_path={schema}") as conn:
        conn.execute("SELECT pg_catalog.pg_advisory_lock(%s::bigint)", (LOCK_KEY,))
        try:
            conn.execute("""CREATE TABLE IF NOT EXISTS dbhealth_exporter_migrations (
                                version integer PRIMARY KEY, name text NOT NULL,
                                applied_at timestamptz NOT NULL DEFAULT now())""")
            done = {row[0] for row in conn.execute("SELECT version FROM dbhealth_exporter_migrations")}
            for version, name, ddl in available():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(ddl)
                    conn.execute("INSERT INTO dbhealth_exporter_migrations (version, name) "
                                 "VALUES (%s, %s)", (version, name))
                progress(f"migrate: applied {name}")
                applied.append(name)
        finally:
            conn.execute("SELECT pg_catalog.pg_advisory_unlock(%s::bigint)", (LOCK_KEY,))
    if not applied:
        progress("migrate: schema is up to date")
    return applied
