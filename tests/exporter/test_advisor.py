"""The index advisor against a real PostgreSQL: HypoPG what-if, heuristics, and its safety."""

from __future__ import annotations

import psycopg

from exporter.db import Database
from exporter.statements.advisor import IndexAdvisor

from ..support.postgres import PostgresServer
from ..support.statements import settings_for


def _workload(dsn: str, *, indexed_too: bool = True) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(20):
            conn.execute("SELECT * FROM guests WHERE email = %s", [f"guest{i}@example.com"])
            conn.execute("SELECT * FROM bookings WHERE vendor_id = %s", [i + 500])
            if not indexed_too:
                continue
            # indexed lookups: planned too when "slow", but must not yield a suggestion
            conn.execute("SELECT * FROM guests WHERE wedding_id = %s", [i + 1])
            conn.execute("SELECT b.id FROM bookings b JOIN weddings w ON w.id = b.wedding_id "
                         "WHERE w.wedding_date = %s", ["2026-06-06"])
            # a statement that cannot be planned generically ($1 has no inferable type)
            conn.execute("SELECT %s::text IS NULL", [None])


def _advise(dsn: str, **statements: object) -> tuple[IndexAdvisor, Database]:
    # A handful of millisecond lookups: judged per statement only (no bar in total).
    advisor = {"min_seconds_saved_per_hour": 0, **statements.pop("advisor", {})}  # type: ignore[dict-item]
    settings = settings_for(dsn, statements={"slow_threshold_ms": 0.0001, "large_table_rows": 5000,
                                             **statements, "advisor": advisor})
    database = Database(settings.database)
    database.open()
    return IndexAdvisor(settings.statements, database, lambda: False), database


def test_hypopg_suggests_only_indexes_that_halve_the_cost(tracker_dsn: str) -> None:
    _workload(tracker_dsn)
    with psycopg.connect(tracker_dsn) as conn:
        indexes_before = conn.execute("SELECT count(*) FROM pg_indexes").fetchone()
    advisor, database = _advise(tracker_dsn)
    try:
        result = advisor.run_once()
        assert result.error is None and result.hypopg
        assert result.evaluated >= 4
        found = {(s.table_label, s.columns) for s in result.suggestions}
        assert found == {("guests", ("email",)), ("bookings", ("vendor_id",))}
        for suggestion in result.suggestions:
            assert suggestion.method == "hypopg"
            assert suggestion.saving_ratio is not None and suggestion.saving_ratio >= 0.5
            assert suggestion.cost_after is not None and suggestion.cost_before is not None
            assert suggestion.cost_after <= suggestion.cost_before / 2
        assert advisor.latest is result
        # nothing left behind: no index, no prepared plan, no hypothetical index in the session
        with database.pool.connection() as conn:
            assert conn.execute("SELECT count(*) FROM pg_prepared_statements "
                                "WHERE name LIKE 'dbhealth%'").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM public.hypopg_list_indexes").fetchone() == (0,)
    finally:
        database.close()
    with psycopg.connect(tracker_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_indexes").fetchone() == indexes_before


def test_stricter_min_saving_suggests_nothing_for_marginal_gains(tracker_dsn: str) -> None:
    _workload(tracker_dsn)
    advisor, database = _advise(tracker_dsn, advisor={"min_saving_ratio": 0.999})
    try:
        result = advisor.run_once()
    finally:
        database.close()
    assert result.error is None and result.suggestions == ()


def test_without_hypopg_the_large_seq_scanned_tables_give_heuristic_advice(
        tracker_dsn: str) -> None:
    with psycopg.connect(tracker_dsn, autocommit=True) as conn:
        conn.execute("DROP EXTENSION hypopg")
    # only the unindexed lookups: their tables are then mostly sequentially scanned
    _workload(tracker_dsn, indexed_too=False)
    advisor, database = _advise(tracker_dsn)
    try:
        result = advisor.run_once()
    finally:
        database.close()
    assert result.error is None and not result.hypopg
    found = {(s.table_label, s.columns, s.method, s.saving_ratio) for s in result.suggestions}
    assert found == {("guests", ("email",), "heuristic", None),
                     ("bookings", ("vendor_id",), "heuristic", None)}
    assert {f["table"] for f in result.table_findings} >= {"guests", "bookings"}


def test_database_down_is_a_failed_run_not_a_crash(pg_server: PostgresServer) -> None:
    settings = settings_for("postgresql://postgres@127.0.0.1:1/nowhere",
                            database={"pool_wait_seconds": 0.2, "connect_timeout_seconds": 1})
    database = Database(settings.database)
    database.open()
    try:
        result = IndexAdvisor(settings.statements, database, lambda: True).run_once()
    finally:
        database.close()
    assert result.error is not None and result.suggestions == ()
    assert result.threshold_ms == 250.0  # wedding day: 50% stricter
