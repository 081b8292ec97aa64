"""pg_stat_archiver: WAL archiving, the RPO side of backups.

    dbhealth_wal_archive_enabled 1
    dbhealth_wal_archive_last_success_timestamp_seconds 1.7645e+09
    dbhealth_wal_archived_total 1234
    dbhealth_wal_archive_failures_total 0

``last_success`` is 0 when nothing was ever archived, so "stale" alerts fire for
an archiver that never worked; alert rules gate on ``dbhealth_wal_archive_enabled``.
Verify with: ``SELECT * FROM pg_catalog.pg_stat_archiver``.
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from .base import CollectContext, Collected, seconds

SQL = """
SELECT pg_catalog.current_setting('archive_mode') <> 'off',
       archived_count, failed_count,
       extract(epoch FROM last_archived_time)::float8,
       extract(epoch FROM last_failed_time)::float8
FROM pg_catalog.pg_stat_archiver
"""


class ArchiverCollector:
    name: ClassVar[str] = "archiver"

    def collect(self, ctx: CollectContext) -> Collected:
        enabled, archived, failed, last_ok, last_failed = ctx.query(SQL, None)[0]
        return Collected([
            GaugeMetricFamily("dbhealth_wal_archive_enabled", "1 when archive_mode is on.",
                              value=1.0 if enabled else 0.0),
            GaugeMetricFamily("dbhealth_wal_archive_last_success_timestamp_seconds",
                              "When the last WAL segment was archived (0: never).",
                              value=seconds(last_ok)),
            GaugeMetricFamily("dbhealth_wal_archive_last_failure_timestamp_seconds",
                              "When archiving last failed (0: never).", value=seconds(last_failed)),
            CounterMetricFamily("dbhealth_wal_archived", "WAL segments archived.",
                                value=float(archived or 0)),
            CounterMetricFamily("dbhealth_wal_archive_failures",
                                "Failed WAL archiving attempts.", value=float(failed or 0)),
        ], summary={"dbhealth_wal_archive_last_success_timestamp_seconds": seconds(last_ok)})
