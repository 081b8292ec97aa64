"""Replication: replay lag per standby (or this standby's own lag), replica role, slots.

    dbhealth_replication_is_replica 0
    dbhealth_replication_lag_seconds{replica="standby1"} 0.8
    dbhealth_replication_lag_bytes{replica="standby1"} 16384
    dbhealth_replication_slot_retained_bytes{slot="standby1"} 16384

On a standby the series carry ``replica="local"``: its own replay delay. A
standby that has caught up and sees no new WAL reports 0, not the time since the
last transaction (which would grow forever on a quiet primary).
Verify with: ``SELECT application_name, replay_lag FROM pg_stat_replication``.
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily

from ..errors import PrivilegeMissing
from .base import CollectContext, Collected, seconds

SQL = """
WITH head AS (
    SELECT pg_catalog.pg_is_in_recovery() AS standby,
           CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_receive_lsn()
                ELSE pg_catalog.pg_current_wal_lsn() END AS lsn
)
SELECT 'standby', coalesce(nullif(r.application_name, ''), pg_catalog.host(r.client_addr), 'unknown'),
       coalesce(extract(epoch FROM r.replay_lag), 0)::float8,
       coalesce(pg_catalog.pg_wal_lsn_diff(h.lsn, r.replay_lsn), 0)::float8
FROM pg_catalog.pg_stat_replication r, head h
UNION ALL
SELECT 'self', NULL, h.standby::int::float8,
       CASE WHEN NOT h.standby THEN 0
            WHEN pg_catalog.pg_last_wal_receive_lsn() = pg_catalog.pg_last_wal_replay_lsn() THEN 0
            ELSE coalesce(extract(epoch FROM pg_catalog.now()
                                  - pg_catalog.pg_last_xact_replay_timestamp()), 0)
       END::float8
FROM head h
UNION ALL
SELECT 'slot', s.slot_name, s.active::int::float8,
       coalesce(pg_catalog.pg_wal_lsn_diff(h.lsn, s.restart_lsn), 0)::float8
FROM pg_catalog.pg_replication_slots s, head h
UNION ALL
SELECT 'privileged', NULL, pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE')::int::float8, 0
"""
# Without pg_read_all_stats, pg_stat_replication hides every lag column: lag would read 0.
NEEDS = ("replication lag is hidden without pg_read_all_stats (a pg_monitor member sees it)")


class ReplicationCollector:
    name: ClassVar[str] = "replication"

    def collect(self, ctx: CollectContext) -> Collected:
        lag = GaugeMetricFamily("dbhealth_replication_lag_seconds",
                                "Replay lag per standby ('local' on a standby: its own delay).",
                                labels=["replica"])
        lag_bytes = GaugeMetricFamily("dbhealth_replication_lag_bytes",
                                      "WAL bytes each standby has yet to replay.", labels=["replica"])
        slot_active = GaugeMetricFamily("dbhealth_replication_slot_active",
                                        "1 when the replication slot has a consumer attached.",
                                        labels=["slot"])
        slot_bytes = GaugeMetricFamily("dbhealth_replication_slot_retained_bytes",
                                       "WAL retained on the primary for the slot.", labels=["slot"])
        is_replica = 0.0
        standbys = 0
        worst_lag = 0.0
        rows = ctx.query(SQL, None)
        if not any(kind == "privileged" and a for kind, _, a, _ in rows):
            raise PrivilegeMissing(NEEDS)
        for kind, name, a, b in rows:
            if kind == "standby":
                standbys += 1
                lag.add_metric([name], seconds(a))
                worst_lag = max(worst_lag, seconds(a))
                lag_bytes.add_metric([name], seconds(b))
            elif kind == "self":
                is_replica = float(a)
                if is_replica:
                    lag.add_metric(["local"], seconds(b))
                    worst_lag = max(worst_lag, seconds(b))
            elif kind == "slot":
                slot_active.add_metric([name], float(a))
                slot_bytes.add_metric([name], seconds(b))
        return Collected([
            GaugeMetricFamily("dbhealth_replication_is_replica",
                              "1 when this server is a standby (in recovery).", value=is_replica),
            GaugeMetricFamily("dbhealth_replication_standbys",
                              "Standbys streaming from this server.", value=float(standbys)),
            lag, lag_bytes, slot_active, slot_bytes,
        ], summary={"dbhealth_replication_is_replica": is_replica,
                    "dbhealth_replication_lag_seconds": worst_lag})
