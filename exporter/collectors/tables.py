"""pg_stat_user_tables for the watched (wedding) tables: scans, tuples, vacuum, size.

    dbhealth_table_seq_scans_total{table="guests"} 812
    dbhealth_table_index_scans_total{table="guests"} 190233
    dbhealth_table_dead_tuples{table="guests"} 1204
    dbhealth_table_last_autovacuum_timestamp_seconds{table="guests"} 1.7645e+09
    dbhealth_table_size_bytes{table="guests"} 3.1e+08

Size needs a lock on the table, and a size function queued behind someone's
ACCESS EXCLUSIVE lock (a migration, VACUUM FULL) is the classic way exporters
pile up connections. So size is left out for any table that has such a lock
held or requested at that moment (``dbhealth_table_locked{table} 1`` says so),
and ``lock_timeout`` bounds the rare race in between.
Verify with: ``SELECT relname, seq_scan, idx_scan, n_dead_tup FROM pg_stat_user_tables``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .base import CollectContext, Collected, seconds

# pg_stat_user_tables' own expressions, for the watched tables only. The view groups every
# relation of the database (idx_scan sums over pg_index) before any join can filter it, so
# reading it cost ~0.8 ms with 160 tables and grew with each one; looking the watched
# tables up in pg_class first costs the same for 8 tables in a database of any size. The
# relkind and schema filters are the view's.
SQL = """
WITH watched AS (
    SELECT * FROM ROWS FROM (pg_catalog.unnest(%(schemas)s::text[]), pg_catalog.unnest(%(names)s::text[]),
                       pg_catalog.unnest(%(labels)s::text[]))
        AS w(schemaname, relname, label)
), locked AS MATERIALIZED (
    SELECT DISTINCT relation FROM pg_catalog.pg_locks
    WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock'
), tables AS (
    SELECT w.label, c.oid AS relid FROM watched w
    JOIN pg_catalog.pg_namespace n ON n.nspname = w.schemaname
    JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.relname
    WHERE c.relkind IN ('r', 't', 'm', 'p')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'
)
SELECT t.label, pg_catalog.pg_stat_get_numscans(t.relid),
       coalesce((SELECT pg_catalog.sum(pg_catalog.pg_stat_get_numscans(i.indexrelid))::bigint
                 FROM pg_catalog.pg_index i WHERE i.indrelid = t.relid), 0),
       pg_catalog.pg_stat_get_live_tuples(t.relid), pg_catalog.pg_stat_get_dead_tuples(t.relid),
       pg_catalog.pg_stat_get_tuples_inserted(t.relid), pg_catalog.pg_stat_get_tuples_updated(t.relid),
       pg_catalog.pg_stat_get_tuples_deleted(t.relid),
       extract(epoch FROM greatest(pg_catalog.pg_stat_get_last_autovacuum_time(t.relid),
                                   pg_catalog.pg_stat_get_last_vacuum_time(t.relid)))::float8,
       extract(epoch FROM greatest(pg_catalog.pg_stat_get_last_autoanalyze_time(t.relid),
                                   pg_catalog.pg_stat_get_last_analyze_time(t.relid)))::float8,
       t.relid IN (SELECT relation FROM locked) AS is_locked,
       CASE WHEN t.relid IN (SELECT relation FROM locked) THEN NULL
            ELSE pg_catalog.pg_total_relation_size(t.relid) END
FROM tables t
ORDER BY t.label
"""


class TablesCollector:
    name: ClassVar[str] = "tables"

    def __init__(self, watched: Sequence[str]) -> None:
        """``watched``: table names, ``schema.table`` or ``table`` (in public)."""
        schemas, names = [], []
        for entry in watched:
            schema, _, name = entry.rpartition(".")
            schemas.append(schema or "public")
            names.append(name)
        self.params = {"schemas": schemas, "names": names, "labels": list(watched)}

    def collect(self, ctx: CollectContext) -> Collected:
        t = ["table"]
        seq = CounterMetricFamily("dbhealth_table_seq_scans", "Sequential scans.", labels=t)
        idx = CounterMetricFamily("dbhealth_table_index_scans", "Index scans.", labels=t)
        live = GaugeMetricFamily("dbhealth_table_live_tuples", "Estimated live rows.", labels=t)
        dead = GaugeMetricFamily("dbhealth_table_dead_tuples", "Estimated dead rows.", labels=t)
        rows = CounterMetricFamily("dbhealth_table_rows_modified", "Rows written, by operation.",
                                   labels=["table", "operation"])
        vacuum = GaugeMetricFamily("dbhealth_table_last_vacuum_timestamp_seconds",
                                   "Last (auto)vacuum (0: never).", labels=t)
        analyze = GaugeMetricFamily("dbhealth_table_last_analyze_timestamp_seconds",
                                    "Last (auto)analyze (0: never).", labels=t)
        locked = GaugeMetricFamily("dbhealth_table_locked",
                                   "1 when an ACCESS EXCLUSIVE lock is held or awaited on the table.",
                                   labels=t)
        size = GaugeMetricFamily("dbhealth_table_size_bytes",
                                 "Table size with indexes and TOAST (absent while locked).", labels=t)
        for (label, seq_scan, idx_scan, n_live, n_dead, ins, upd, dele, vac, ana, is_locked,
             size_bytes) in ctx.query(SQL, self.params):
            seq.add_metric([label], float(seq_scan or 0))
            idx.add_metric([label], float(idx_scan or 0))
            live.add_metric([label], float(n_live or 0))
            dead.add_metric([label], float(n_dead or 0))
            rows.add_metric([label, "insert"], float(ins or 0))
            rows.add_metric([label, "update"], float(upd or 0))
            rows.add_metric([label, "delete"], float(dele or 0))
            vacuum.add_metric([label], seconds(vac))
            analyze.add_metric([label], seconds(ana))
            locked.add_metric([label], 1.0 if is_locked else 0.0)
            if size_bytes is not None:
                size.add_metric([label], float(size_bytes))
        return Collected([seq, idx, live, dead, rows, vacuum, analyze, locked, size])
