"""A hostile database: another role plants code for the monitoring role to run, and a role
without pg_monitor cannot see what it monitors. Nothing planted ever runs (proved by the
WARNING each planted function writes to the server log, not by a mock); blindness is a
reported failure, never healthy numbers."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from demo.roles import create_monitoring_role
from exporter.migrate import MigrationRefused, migrate

from ..support.polling import wait_until
from ..support.postgres import MALLORY, PostgresServer, mallory_session, plant_as_mallory
from ..support.scrape import get_json, scrape
from .conftest import ExporterFactory, base_url

MONITOR, BLIND = "dbhealth_monitor", "dbhealth_blind"


def as_role(dsn: str, role: str) -> str:
    return dsn.replace("postgres@", f"{role}@", 1)


def plant(dsn: str, run: str) -> None:
    """What a role with CREATE on public can do: shadow catalog functions with better-typed
    look-alikes, and bait the advisor with IMMUTABLE functions, an index predicate and a view."""
    with mallory_session(dsn) as conn:
        conn.execute(f"""
            CREATE FUNCTION public.dbhealth_planted(tag text) RETURNS int LANGUAGE plpgsql AS $$
            BEGIN RAISE WARNING 'dbhealth-planted {run} % ran as %', tag, current_user; RETURN 1; END $$;
            -- exact type match for an oid argument: beats pg_catalog's (regclass) version
            CREATE FUNCTION public.pg_total_relation_size(oid) RETURNS bigint LANGUAGE plpgsql AS $$
            BEGIN PERFORM public.dbhealth_planted('shadow'); RETURN 0; END $$;
            -- text, text beats (name, text) for two unknown literals: would claim privileges
            CREATE FUNCTION public.pg_has_role(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
            BEGIN PERFORM public.dbhealth_planted('has_role'); RETURN true; END $$;
            CREATE FUNCTION public.folded() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
            BEGIN RETURN public.dbhealth_planted('folded'); END $$;
            CREATE FUNCTION public.predicate() RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
            BEGIN RETURN public.dbhealth_planted('predicate'); END $$;
            CREATE TABLE public.bait (id int, note text);
            INSERT INTO public.bait SELECT i, 'x' FROM generate_series(1, 2000) AS i;
            CREATE INDEX bait_partial ON public.bait (id) WHERE public.predicate() > 0;
            CREATE VIEW public.bait_view AS SELECT id, public.folded() AS f FROM public.bait;
        """)
        # Slow-looking statements in pg_stat_statements, for the advisor to plan.
        for i in range(3):
            conn.execute("SELECT public.folded() + %s", [i])
            conn.execute("SELECT note FROM bait WHERE id = %s", [i])
            conn.execute("SELECT f FROM bait_view WHERE id = %s", [i])
        conn.execute("RESET ROLE")
        # ...and an application statement the advisor must still plan and advise on.
        for i in range(3):
            conn.execute("SELECT * FROM guests WHERE email = %s", [f"guest{i}@example.com"])


def planted_runs(server: PostgresServer, run: str) -> list[str]:
    return [line for line in server.logfile.read_text(errors="replace").splitlines()
            if f"dbhealth-planted {run}" in line]


@pytest.fixture
def hostile_dsn(tracker_dsn: str) -> Iterator[str]:
    with psycopg.connect(tracker_dsn, autocommit=True) as conn:
        create_monitoring_role(conn, MONITOR)
    yield tracker_dsn


def test_no_planted_code_ever_runs_as_the_monitoring_role(
        hostile_dsn: str, pg_server: PostgresServer, make_exporter: ExporterFactory) -> None:
    run = uuid.uuid4().hex[:8]
    plant(hostile_dsn, run)
    # Control: the planting worked (mallory's own statements ran it, and logged it).
    assert any(f"ran as {MALLORY}" in line for line in planted_runs(pg_server, run))

    exporter = make_exporter(as_role(hostile_dsn, MONITOR), cache={"l1_ttl_seconds": 0},
                             audit={"enabled": True, "interval_seconds": 10},
                             statements={"slow_threshold_ms": 0.0001, "large_table_rows": 100,
                                         "advisor": {"initial_delay_seconds": 0,
                                                     "max_statements": 200,
                                                     "min_seconds_saved_per_hour": 0}})
    url = base_url(exporter)
    for _ in range(3):
        samples = scrape(url)
        assert samples.value("dbhealth_up") == 1
        for labels in samples.labelsets("dbhealth_collector_success"):
            assert samples.value("dbhealth_collector_success", **labels) == 1, labels
    assert samples.value("dbhealth_table_size_bytes", table="guests") > 0  # type: ignore[operator]
    assert get_json(url + "/queries")[0] == 200
    advisor = exporter.advisor
    assert advisor is not None
    result = wait_until(lambda: advisor.latest, what="the advisor's first run")
    assert result.error is None and result.hypopg
    # It planned the application's statement, and none of the bait.
    assert ("guests", ("email",)) in {(s.table_label, s.columns) for s in result.suggestions}
    assert result.skipped.get("non_catalog_code", 0) >= 1       # SELECT public.folded() ...
    assert result.skipped.get("untrusted_code", 0) >= 2         # mallory's table and view

    ran = [line for line in planted_runs(pg_server, run) if f"ran as {MONITOR}" in line]
    assert ran == []

    # Control: the same shadow does run for a monitoring session without the pinned path,
    # so the assertion above could fail.
    with psycopg.connect(as_role(hostile_dsn, MONITOR), autocommit=True) as conn:
        conn.execute("SELECT pg_total_relation_size(oid) FROM pg_class WHERE relname = 'guests'")
    assert wait_until(lambda: [line for line in planted_runs(pg_server, run)
                               if f"shadow ran as {MONITOR}" in line], what="the control run")


def test_a_role_without_pg_monitor_is_reported_blind_not_healthy(
        hostile_dsn: str, make_exporter: ExporterFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    with psycopg.connect(hostile_dsn, autocommit=True) as conn:
        create_monitoring_role(conn, BLIND, pg_monitor=False)
        conn.execute(f"REVOKE pg_monitor FROM {BLIND}")
    other = psycopg.connect(hostile_dsn)   # someone else's idle transaction
    other.execute("SELECT 1")
    caplog.set_level(logging.INFO, logger="exporter")
    try:
        exporter = make_exporter(as_role(hostile_dsn, BLIND),
                                 cache={"l1_ttl_seconds": 0, "error_ttl_seconds": 0})
        url = base_url(exporter)
        for _ in range(3):
            samples = scrape(url)
        assert samples.value("dbhealth_up") == 1
        for collector in ("activity", "replication", "statements"):
            assert samples.value("dbhealth_collector_success", collector=collector) == 0
            assert samples.value("dbhealth_collector_privilege_missing", collector=collector) == 1
        for collector in ("database", "archiver", "tables", "wedding"):
            assert samples.value("dbhealth_collector_success", collector=collector) == 1
            assert samples.value("dbhealth_collector_privilege_missing", collector=collector) == 0
        # No blind numbers: nothing says "0 idle transactions" or "1% utilization".
        assert samples.value("dbhealth_connection_utilization_ratio") is None
        assert samples.value("dbhealth_oldest_transaction_age_seconds",
                             state="idle_in_transaction") is None
        status, health = get_json(url + "/health/full")
        assert status == 200 and health["status"] == "degraded"
        assert "insufficient privilege" in health["checks"]["activity"]["error"]
        warned = [r for r in caplog.records if "activity is blind" in r.getMessage()]
        assert len(warned) == 1, "logged once, not on every scrape"

        with psycopg.connect(hostile_dsn, autocommit=True) as conn:
            conn.execute(f"GRANT pg_monitor TO {BLIND}")
        samples = scrape(url)
        assert samples.value("dbhealth_collector_success", collector="activity") == 1
        assert samples.value("dbhealth_collector_privilege_missing", collector="activity") == 0
        assert samples.value("dbhealth_oldest_transaction_age_seconds",  # type: ignore[operator]
                             state="idle_in_transaction") > 0
    finally:
        other.close()


def test_migrate_refuses_an_exporter_table_another_role_created_first(
        pg_server: PostgresServer) -> None:
    """Had migrate kept it (CREATE TABLE IF NOT EXISTS), its trigger would run as the
    monitoring role on every history row."""
    dsn = pg_server.create_database("planted_audit_table")
    plant_as_mallory(dsn, """
            CREATE TABLE public.health_monitoring_audit (
                id bigserial PRIMARY KEY, timestamp timestamptz DEFAULT now(),
                status varchar(20) NOT NULL, metrics jsonb NOT NULL, alerts jsonb,
                check_type varchar(50), collected_by text, duration_seconds float8);
            CREATE FUNCTION public.on_audit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE WARNING 'dbhealth-planted trigger ran as %', current_user; RETURN NEW; END $$;
            CREATE TRIGGER planted BEFORE INSERT ON public.health_monitoring_audit
                FOR EACH ROW EXECUTE FUNCTION public.on_audit();""")
    with pytest.raises(MigrationRefused, match=r"public\.health_monitoring_audit \(owned by mallory\)"):
        migrate(dsn, progress=lambda _msg: None)
    with psycopg.connect(dsn) as conn:   # refused before anything was applied
        assert conn.execute("SELECT to_regclass('public.dbhealth_exporter_migrations')"
                            ).fetchone() == (None,)
    # The same database, once the planted table is gone, migrates as usual.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE public.health_monitoring_audit")
    assert "0001_health_monitoring_audit.sql" in migrate(dsn, progress=lambda _msg: None)
