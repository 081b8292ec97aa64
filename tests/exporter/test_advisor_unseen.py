"""The index advisor on a schema and workload it has never seen (none of the demo's tables):
the classic misses of issue 12 are found although neither statement is "slow" on its own.

- a point lookup on an unindexed column of a 1.5 M-row table (hundreds of ms per call),
- a lookup filtered on an unindexed foreign key of a 100 k-row table (a few ms per call),

both called repeatedly, next to statements an index would not help (a primary-key lookup,
a count over a small table). The advisor runs as a pg_monitor role, never a superuser.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import psycopg
import pytest

from exporter.db import Database
from exporter.statements.advisor import IndexAdvisor

from ..support.postgres import PostgresServer
from ..support.statements import settings_for

ROLE = "dbhealth_unseen_monitor"
SCHEMA = """
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE UNLOGGED TABLE members (id bigint, handle text NOT NULL, joined date NOT NULL);
INSERT INTO members SELECT i, 'member-' || i, date '2020-01-01' + (i % 2000)::int
FROM generate_series(1, 1500000) AS i;
ALTER TABLE members ADD PRIMARY KEY (id);
CREATE UNLOGGED TABLE shipments (id bigint PRIMARY KEY, sent date NOT NULL);
INSERT INTO shipments SELECT i, date '2024-01-01' + (i % 500)::int FROM generate_series(1, 20000) AS i;
CREATE UNLOGGED TABLE parcels (id bigint, shipment_id bigint NOT NULL REFERENCES shipments,
                               weight_g int NOT NULL, label text NOT NULL);
INSERT INTO parcels SELECT i, 1 + (i * 7919) % 20000, i % 5000, repeat('x', 40)
FROM generate_series(1, 100000) AS i;
ALTER TABLE parcels ADD PRIMARY KEY (id);
"""


def _grant(conn: psycopg.Connection[object]) -> None:
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [ROLE]).fetchone() is None:
        conn.execute(f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER IN ROLE pg_monitor")
    conn.execute(f"GRANT SELECT ON members, shipments, parcels TO {ROLE}")


@pytest.fixture(scope="module")
def unseen_dsn(pg_server: PostgresServer) -> Iterator[str]:
    dsn = pg_server.create_database("advisor_unseen_shop")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)
        conn.execute("VACUUM ANALYZE")
        _grant(conn)
        for i in range(6):  # the point lookup on an unindexed column
            conn.execute("SELECT id, joined FROM members WHERE handle = %s",
                         [f"member-{i * 250_000 + 7}"])
        for i in range(120):  # the lookup on an unindexed foreign key
            conn.execute("SELECT id, weight_g FROM parcels WHERE shipment_id = %s", [i + 1])
        for i in range(200):  # an index would not help these
            conn.execute("SELECT handle FROM members WHERE id = %s", [i + 1])
            conn.execute("SELECT count(*) FROM shipments")
    yield dsn.replace("postgres@", f"{ROLE}@", 1)


def _advisor(dsn: str, **advisor: object) -> tuple[IndexAdvisor, Database]:
    settings = settings_for(dsn, statements={"advisor": advisor})
    database = Database(settings.database)
    database.open()
    return IndexAdvisor(settings.statements, database, lambda: False), database


def _index_count(dsn: str) -> object:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT count(*) FROM pg_indexes").fetchone()


def test_the_two_missing_indexes_are_suggested_with_the_statements_they_help(
        unseen_dsn: str) -> None:
    indexes_before = _index_count(unseen_dsn)
    advisor, database = _advisor(unseen_dsn)
    try:
        result = advisor.run_once()
        with database.pool.connection() as conn:  # nothing left behind in the session
            assert conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM public.hypopg()").fetchone() \
                == (0,)
            lookups: dict[str, int] = dict(conn.execute(
                "SELECT query, queryid FROM public.pg_stat_statements WHERE dbid = "
                "(SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND query LIKE 'SELECT id, % WHERE %'").fetchall())
    finally:
        database.close()
    assert result.error is None and result.hypopg
    # neither statement reaches the slow threshold (500 ms): total time and scans made them
    assert result.threshold_ms == 500.0
    found = {(s.table_label, s.columns): s for s in result.suggestions}
    assert set(found) == {("members", ("handle",)), ("parcels", ("shipment_id",))}
    members = lookups["SELECT id, joined FROM members WHERE handle = $1"]
    parcels = lookups["SELECT id, weight_g FROM parcels WHERE shipment_id = $1"]
    assert found["members", ("handle",)].queryids == (members,)
    assert found["parcels", ("shipment_id",)].queryids == (parcels,)
    for suggestion in result.suggestions:
        assert suggestion.method == "hypopg"
        assert suggestion.saving_ratio is not None and suggestion.saving_ratio >= 0.5
        saved = suggestion.seconds_saved_per_hour
        assert saved is not None and saved >= 1.0  # min_seconds_saved_per_hour
        (helped,) = suggestion.helped
        assert helped.cost_after <= helped.cost_before / 2
        assert helped.saved_ms_per_hour <= helped.ms_per_hour
        shown = suggestion.as_dict()
        assert shown["estimated_seconds_saved_per_hour"] == saved
        statements = cast(list[dict[str, object]], shown["statements"])
        assert [s["queryid"] for s in statements] == [str(helped.queryid)]
        assert shown["ddl"] == (f"CREATE INDEX CONCURRENTLY ON {suggestion.table_label} "
                                f"({', '.join(suggestion.columns)})")
    assert _index_count(unseen_dsn) == indexes_before  # never creates an index


def test_an_index_worth_too_little_in_total_is_not_suggested(unseen_dsn: str) -> None:
    advisor, database = _advisor(unseen_dsn, min_seconds_saved_per_hour=1e9)
    try:
        result = advisor.run_once()
    finally:
        database.close()
    assert result.error is None and result.suggestions == ()
    assert result.skipped["below_min_seconds_saved_per_hour"] == 2


def test_the_run_stops_planning_at_its_time_budget(unseen_dsn: str) -> None:
    advisor, database = _advisor(unseen_dsn, max_run_seconds=0.001)
    try:
        result = advisor.run_once()
    finally:
        database.close()
    assert result.error is None and result.suggestions == ()
    assert result.skipped["run_time_budget"] >= 1
