"""The migration runner shared by the exporter and the receiver, against a hostile catalog."""

from __future__ import annotations

import psycopg
import pytest

from exporter.migrate import MIGRATIONS as EXPORTER
from pgmigrations import MigrationRefused
from receiver.migrate import MIGRATIONS as RECEIVER
from receiver.migrate import migrate, pending

from ..support.postgres import PostgresServer, plant_as_mallory


def test_own_tables_are_read_from_the_files() -> None:
    assert EXPORTER.own_tables() == ["dbhealth_exporter_migrations", "dbhealth_wedding_day_override",
                                     "health_monitoring_audit"]  # the design's audit table: adopted
    receiver = RECEIVER.own_tables()
    assert "receiver_schema_migrations" in receiver and "receiver_outbox" in receiver
    assert "receiver_couple_roster" in receiver  # CREATE TABLE … (LIKE …)
    assert all(name.startswith("receiver_") for name in receiver)


def test_the_receiver_refuses_a_history_table_another_role_created_first(
        pg_server: PostgresServer) -> None:
    """Kept as it was (CREATE TABLE IF NOT EXISTS), its trigger would run as the receiver's
    role, and its rows could claim that every migration had been applied."""
    dsn = pg_server.create_database("planted_receiver_history")
    plant_as_mallory(dsn, """
        CREATE TABLE public.receiver_schema_migrations (
            version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz DEFAULT now());
        CREATE FUNCTION public.on_history() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'dbhealth-planted trigger ran as %', current_user; END $$;
        CREATE TRIGGER planted BEFORE INSERT ON public.receiver_schema_migrations
            FOR EACH ROW EXECUTE FUNCTION public.on_history();""")
    with pytest.raises(MigrationRefused,
                       match=r"public\.receiver_schema_migrations \(owned by mallory\)"):
        migrate(dsn, progress=lambda _msg: None)
    with psycopg.connect(dsn) as conn:  # refused before anything was applied
        assert conn.execute("SELECT to_regclass('public.receiver_outbox')").fetchone() == (None,)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE public.receiver_schema_migrations")
    assert migrate(dsn, progress=lambda _msg: None)[0] == "0001_receiver_tables.sql"
    assert pending(dsn) == []


def test_a_planted_lock_function_with_a_closer_signature_never_runs(
        pg_server: PostgresServer) -> None:
    """pg_catalog's pg_advisory_lock takes a bigint; an integer argument would match a
    public.pg_advisory_lock(integer) exactly and call it instead, whatever the search_path."""
    dsn = pg_server.create_database("planted_lock_function")
    plant_as_mallory(dsn, """
        CREATE FUNCTION public.pg_advisory_lock(integer) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'dbhealth-planted function ran as %', current_user; END $$;
        CREATE FUNCTION public.pg_advisory_unlock(integer) RETURNS boolean LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'dbhealth-planted function ran as %', current_user; END $$;""")
    applied = migrate(dsn, progress=lambda _msg: None)
    assert applied and pending(dsn) == []


def test_a_view_in_place_of_a_table_is_refused(pg_server: PostgresServer) -> None:
    dsn = pg_server.create_database("receiver_outbox_view")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE VIEW receiver_outbox AS SELECT 1 AS id")
    with pytest.raises(MigrationRefused, match=r"public\.receiver_outbox \(not a table\)"):
        migrate(dsn, progress=lambda _msg: None)
