"""Plan shapes of the top statements and bulk operations on the guest list: pure decisions,
then a plan that really turns from an index scan into a seq scan on a real PostgreSQL."""

from __future__ import annotations

import psycopg

from exporter.db import Database
from exporter.snapshot import render
from exporter.statements.advisor import IndexAdvisor
from exporter.statements.exposition import advisor_families
from exporter.statements.findings import StatementStats, findings
from exporter.statements.plans import PlanChange, fold, shape
from exporter.statements.settings import StatementsSettings

from ..support.postgres import PostgresServer
from ..support.scrape import Samples
from ..support.statements import settings_for

INDEXED = {"Node Type": "Nested Loop", "Plans": [
    {"Node Type": "Index Scan", "Relation Name": "guests"},
    {"Node Type": "Bitmap Heap Scan", "Relation Name": "bookings",
     "Plans": [{"Node Type": "Bitmap Index Scan", "Index Name": "bookings_vendor_id_idx"}]},
]}
SEQUENTIAL = {"Node Type": "Hash Join", "Plans": [
    {"Node Type": "Seq Scan", "Relation Name": "guests", "Parallel Aware": True},
    {"Node Type": "Hash", "Plans": [{"Node Type": "Seq Scan", "Relation Name": "bookings"}]},
]}


def test_the_shape_says_how_each_table_is_read() -> None:
    assert shape(INDEXED) == {"guests": "index", "bookings": "index"}
    assert shape(SEQUENTIAL) == {"guests": "seq", "bookings": "seq"}
    assert shape({"Node Type": "Result"}) == {}


def test_index_to_seq_on_a_large_table_is_a_regression_until_the_index_is_back() -> None:
    base, regressed = fold(None, shape(INDEXED), large={"guests"})
    assert regressed == []
    base, regressed = fold(base, shape(SEQUENTIAL), large={"guests"})
    assert regressed == ["guests"]  # bookings is small: a seq scan there is fine
    base, regressed = fold(base, shape(SEQUENTIAL), large={"guests"})
    assert regressed == ["guests"]  # still worse: still reported
    base, regressed = fold(base, shape(INDEXED), large={"guests"})
    assert regressed == []
    # a statement that always scanned sequentially has not regressed
    assert fold(None, shape(SEQUENTIAL), large={"guests"})[1] == []


def test_many_rows_per_call_on_the_guest_list_is_a_bulk_operation_not_a_slow_one() -> None:
    cfg = StatementsSettings()
    bulk = StatementStats(1, calls=4, total_ms=8000, max_ms=2500, rows=20_000)  # 2 s, 5 000 rows
    kinds = [f["kind"] for f in findings(bulk, cfg, threshold_ms=500, tables={"guests"},
                                         seq_scanned=set(), regression=None, domain="guest_list")]
    assert kinds == ["bulk_operation"]
    # the same elsewhere is slow; few rows per call on the guest list is slow too
    assert [f["kind"] for f in findings(bulk, cfg, threshold_ms=500, tables=set(),
                                        seq_scanned=set(), regression=None,
                                        domain="payment")] == ["slow"]
    few = StatementStats(2, calls=4, total_ms=8000, max_ms=2500, rows=40)
    assert [f["kind"] for f in findings(few, cfg, threshold_ms=500, tables=set(),
                                        seq_scanned=set(), regression=None,
                                        domain="guest_list")] == ["slow"]
    assert [f["kind"] for f in findings(few, cfg, threshold_ms=500, tables=set(),
                                        seq_scanned=set(), regression=None,
                                        plan_regressed=("guests",))] == ["slow", "plan_regression"]


def test_the_advisor_reports_a_plan_that_lost_its_index(pg_server: PostgresServer) -> None:
    dsn = pg_server.create_database("advisor_plan_change")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("CREATE UNLOGGED TABLE rsvps (id bigint, code text NOT NULL)")
        conn.execute("INSERT INTO rsvps SELECT i, 'r' || i FROM generate_series(1, 20000) i")
        conn.execute("CREATE INDEX rsvps_code ON rsvps (code)")
        conn.execute("VACUUM ANALYZE rsvps")
        for i in range(20):
            conn.execute("SELECT id FROM rsvps WHERE code = %s", [f"r{i}"])
    settings = settings_for(dsn, statements={"large_table_rows": 1000})
    database = Database(settings.database)
    database.open()
    advisor = IndexAdvisor(settings.statements, database, lambda: False)
    try:
        first = advisor.run_once()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("DROP INDEX rsvps_code")
            queryid = conn.execute("SELECT queryid FROM pg_stat_statements "
                                   "WHERE query = 'SELECT id FROM rsvps WHERE code = $1'"
                                   ).fetchone()
        second = advisor.run_once()
    finally:
        database.close()
    assert first.error is None and first.plan_changes == ()
    assert queryid is not None
    assert second.error is None
    assert second.plan_changes == (PlanChange(queryid[0], "rsvps", "index", "seq"),)
    assert {"queryid": str(queryid[0]), "table": "rsvps", "before": "index", "after": "seq",
            "finding": "plan_regression"} in second.as_dict()["plan_changes"]  # type: ignore[operator]
    samples = Samples(render(advisor_families(second)))
    assert samples.value("dbhealth_statement_plan_regression_info", queryid=str(queryid[0]),
                         table="rsvps") == 1
