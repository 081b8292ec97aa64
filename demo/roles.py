"""The monitoring role the exporter runs as: a pg_monitor member, never a superuser.

pg_monitor (pg_read_all_stats, pg_read_all_settings, pg_stat_scan_tables) lets it
see every session, statement and standby; the rest are plain grants on the tables
it reads (the business queries) and writes (its own health history).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

# The demo schema's tables that the default business queries read.
BUSINESS_TABLES = ("weddings", "bookings", "guests")


def create_monitoring_role(conn: psycopg.Connection[Any], role: str = "dbhealth",
                           password: str | None = None, *, schema: str = "public",
                           business_schema: str = "public", pg_monitor: bool = True) -> None:
    """Create (or update) ``role`` and grant what the exporter needs in this database.

    Run by an administrator after ``dbhealth-exporter migrate``; idempotent.
    """
    name = sql.Identifier(role)
    exists = conn.execute("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s", [role]).fetchone()
    if exists is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(name))
    if password is not None:
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(name, sql.Literal(password)))
    if pg_monitor:
        conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(name))
    database = conn.execute("SELECT pg_catalog.current_database()").fetchone()
    assert database is not None
    own = sql.Identifier(schema)
    for statement in (
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database[0]), name),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sql.Identifier(business_schema), name),
        sql.SQL("GRANT SELECT ON {} TO {}").format(sql.SQL(", ").join(
            sql.Identifier(business_schema, t) for t in BUSINESS_TABLES), name),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(own, name),
        sql.SQL("GRANT SELECT ON {}.dbhealth_wedding_day_override TO {}").format(own, name),
        sql.SQL("GRANT SELECT, INSERT, DELETE ON {}.health_monitoring_audit TO {}").format(own, name),
        sql.SQL("GRANT USAGE ON SEQUENCE {}.health_monitoring_audit_id_seq TO {}").format(own, name),
        # The backup collector reads the verifier's verdicts (the verifier writes them).
        sql.SQL("GRANT SELECT ON {}.backup_verification_audit TO {}").format(own, name),
    ):
        conn.execute(statement)
