"""pg_stat_activity: connections by database and state, utilization, oldest transactions, lock waits.

    dbhealth_connections{datname="wedsync",state="idle_in_transaction"} 5
    dbhealth_connections_max 100
    dbhealth_connection_utilization_ratio 0.42
    dbhealth_oldest_transaction_age_seconds{state="idle_in_transaction"} 73.2
    dbhealth_lock_waiting_sessions 0

Verify with: ``SELECT datname, state, count(*) FROM pg_stat_activity GROUP BY 1, 2``.
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily, Metric

from ..errors import PrivilegeMissing
from .base import CollectContext, Collected, seconds, state_label

# Utilization counts client backends against the slots ordinary roles can use:
# max_connections minus the superuser-reserved ones (PostgreSQL 15 has no
# reserved_connections yet), as the monitoring mixins do.
# Without pg_read_all_stats (granted by pg_monitor) other roles' sessions show no
# state, no backend type and no transaction start: every number here would be low
# and look healthy, so the collector fails instead (the 'privileged' row).
SQL = """
WITH a AS (
    SELECT datname, state, xact_start, wait_event_type
    FROM pg_catalog.pg_stat_activity
    WHERE backend_type = 'client backend'
)
SELECT 'conn', datname, state, pg_catalog.count(*)::float8 FROM a GROUP BY datname, state
UNION ALL
SELECT 'xact', NULL, state,
       extract(epoch FROM pg_catalog.now() - pg_catalog.min(xact_start))::float8
  FROM a WHERE xact_start IS NOT NULL GROUP BY state
UNION ALL
SELECT 'lockwait', NULL, NULL, pg_catalog.count(*)::float8 FROM a WHERE wait_event_type = 'Lock'
UNION ALL
SELECT 'db', datname, NULL, 0 FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate
UNION ALL
SELECT 'max', NULL, NULL, pg_catalog.current_setting('max_connections')::float8
UNION ALL
SELECT 'reserved', NULL, NULL, pg_catalog.current_setting('superuser_reserved_connections')::float8
UNION ALL
SELECT 'privileged', NULL, NULL, pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')::int::float8
"""
NEEDS = ("activity sees only the monitoring role's own sessions without pg_read_all_stats "
         "(a pg_monitor member sees all)")

# Always exported (as 0 when absent) so alert expressions and graphs never see gaps.
KNOWN_STATES = ("active", "idle", "idle_in_transaction", "idle_in_transaction_aborted")
TRANSACTION_STATES = ("active", "idle_in_transaction", "idle_in_transaction_aborted")


class ActivityCollector:
    name: ClassVar[str] = "activity"

    def collect(self, ctx: CollectContext) -> Collected:
        counts: dict[tuple[str, str], float] = {}
        oldest: dict[str, float] = dict.fromkeys(TRANSACTION_STATES, 0.0)
        databases: set[str] = set()
        lock_waiting = max_conn = reserved = 0.0
        rows = ctx.query(SQL, None)
        if not any(kind == "privileged" and value for kind, _, _, value in rows):
            raise PrivilegeMissing(NEEDS)
        for kind, datname, state, value in rows:
            if kind == "conn":
                key = (datname or "", state_label(state))
                counts[key] = counts.get(key, 0.0) + float(value)
            elif kind == "xact":
                label = state_label(state)
                oldest[label] = max(oldest.get(label, 0.0), seconds(value))
            elif kind == "lockwait":
                lock_waiting = float(value)
            elif kind == "db":
                databases.add(datname)
            elif kind == "max":
                max_conn = float(value)
            elif kind == "reserved":
                reserved = float(value)
        for datname in databases:
            for state in KNOWN_STATES:
                counts.setdefault((datname, state), 0.0)

        conns = GaugeMetricFamily("dbhealth_connections", "Client backends by database and state.",
                                  labels=["datname", "state"])
        for (datname, state), value in sorted(counts.items()):
            conns.add_metric([datname, state], value)
        utilization = sum(counts.values()) / max(1.0, max_conn - reserved)
        age = GaugeMetricFamily("dbhealth_oldest_transaction_age_seconds",
                                "Age of the oldest open transaction, by backend state.",
                                labels=["state"])
        for state, value in sorted(oldest.items()):
            age.add_metric([state], value)
        families: list[Metric] = [
            conns,
            GaugeMetricFamily("dbhealth_connections_max", "The server's max_connections.",
                              value=max_conn),
            GaugeMetricFamily(
                "dbhealth_connection_utilization_ratio",
                "Client backends / (max_connections - superuser_reserved_connections).",
                value=utilization),
            age,
            GaugeMetricFamily("dbhealth_lock_waiting_sessions",
                              "Client sessions waiting on a heavyweight lock.", value=lock_waiting),
        ]
        return Collected(families, summary={
            "dbhealth_connection_utilization_ratio": utilization,
            "dbhealth_connections_max": max_conn,
            "dbhealth_lock_waiting_sessions": lock_waiting,
            "dbhealth_oldest_transaction_age_seconds": max(oldest.values(), default=0.0),
        })
