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
OWN_TABLES = ("dbhealth_exporter_migrations", "health_monitoring_audit",
              "dbhealth_wedding_day_override")
# Our tables as they exist in the schema, with whether we may trust them: a plain table owned
# by the migrating role, by a superuser, or (for a non-superuser) by a role it belongs to.
OWNERSHIP_SQL = """
SELECT c.relname::text, c.relkind::text, r.rolname::text,
       c.relkind = 'r' AND (c.relowner = me.oid OR r.rolsuper
                            OR (NOT me.rolsuper AND pg_catalog.pg_has_role(me.oid, c.relowner,
                                                                           'MEMBER')))
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
CROSS JOIN (SELECT oid, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) AS me
WHERE n.nspname = %(schema)s AND c.relname = ANY(%(tables)s::text[])
"""


class MigrationRefused(RuntimeError):
    """The schema holds a table of ours that someone else created (it could run their code)."""
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
            _refuse_foreign_tables(conn, schema)
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


def _refuse_foreign_tables(conn: psycopg.Connection[tuple[object, ...]], schema: str) -> None:
    """``CREATE TABLE IF NOT EXISTS`` would keep a table another role created first, and the
    exporter would then write its history into it — running that role's triggers as the
    monitoring role. So such a table is an error, before anything is applied."""
    rows = conn.execute(OWNERSHIP_SQL, {"schema": schema, "tables": list(OWN_TABLES)}).fetchall()
    foreign = [f"{schema}.{name} ({'owned by ' + str(owner) if kind == 'r' else 'not a table'})"
               for name, kind, owner, trusted in rows if not trusted]
    if foreign:
        raise MigrationRefused(
            "refusing to migrate: " + ", ".join(foreign) + " already exists and was not created "
            "by this role or a superuser; drop it (after checking who created it and why) or "
            "set database.exporter_schema to a schema only the exporter's owner can write")
