"""backup_verification_audit: the backup verifier's latest verdicts, as metrics.

    dbhealth_backup_verification_success{check="integrity",kind="physical"} 1
    dbhealth_backup_verification_findings{check="cross_region",kind="logical"} 0
    dbhealth_backup_verification_check_timestamp_seconds{check="restore",kind="logical"} 1.7649e+09
    dbhealth_backup_last_success_timestamp_seconds{kind="physical",region="eu-west-2"} 1.7649e+09
    dbhealth_backup_size_bytes{kind="logical",region="eu-west-2"} 1.9e+08
    dbhealth_backup_inventory_backups{kind="logical",region="eu-west-2"} 11
    dbhealth_backup_wal_segments_missing{kind="physical",region="eu-west-2"} 0
    dbhealth_backup_recovery_window_seconds{kind="physical",region="eu-west-2"} 6.1e+05
    dbhealth_backup_rpo_seconds{kind="physical",region="eu-west-2"} 42
    dbhealth_backup_restore_duration_seconds 312.4
    dbhealth_backup_restore_phase_seconds{phase="restore_data"} 201.7
    dbhealth_backup_last_verification_timestamp_seconds 1.7649e+09
    dbhealth_backup_verified 1                  (min of the successes: for /health/full)

The rows are written by ``dbhealth-backup-verify`` (docs/backup.md). Per check, the
newest run that ran it decides: success is 1 only when every row of that run for
that check passed. The newest verified backup per region comes from the newest
freshness row that could be computed (a run that could not reach a region keeps
the previous answer); the restore duration is the last successful drill's RTO.
``kind`` is the backup kind (``logical``: pg_dump, ``physical``: pgBackRest); the
WAL series come from the ``wal`` check, which only physical repositories have.
``last_verification`` is 0 until a verifier has written anything ("never").
Until ``dbhealth-exporter migrate`` has created the table, only watch for it.
Verify with: ``SELECT check_type, verification_status, count(*) FROM
backup_verification_audit GROUP BY 1, 2``.
"""

from __future__ import annotations

from typing import ClassVar

from prometheus_client.core import GaugeMetricFamily, Metric

from ..sqlcheck import quote_ident
from .base import CollectContext, Collected, seconds

# Every function is pg_catalog's (search_path is pinned there too); the table lives in
# the exporter's schema (``database.exporter_schema``), named explicitly.
PROBE = "SELECT pg_catalog.to_regclass(%(table)s) IS NOT NULL"
SQL = """
WITH audit AS (
    SELECT *, coalesce(backup_kind, 'logical') AS kind FROM {table}
    WHERE run_id IS NOT NULL AND check_type IS NOT NULL
), latest AS (
    SELECT DISTINCT ON (check_type, kind) check_type, kind, run_id FROM audit
    ORDER BY check_type, kind, verification_time DESC, id DESC
), newest_run AS (
    SELECT a.* FROM audit a JOIN latest l USING (check_type, kind, run_id)
), verified AS (
    SELECT DISTINCT ON (kind, region) kind, region, backup_time FROM audit
    WHERE check_type = 'freshness' AND region IS NOT NULL AND verification_status <> 'error'
    ORDER BY kind, region, verification_time DESC, id DESC
), sized AS (
    SELECT DISTINCT ON (kind, region) kind, region, file_size FROM audit
    WHERE check_type = 'inventory' AND region IS NOT NULL AND file_size IS NOT NULL
    ORDER BY kind, region, verification_time DESC, backup_time DESC NULLS LAST, id DESC
), drill AS (
    SELECT duration_seconds, details FROM audit
    WHERE check_type = 'restore' AND verification_status = 'passed'
    ORDER BY verification_time DESC, id DESC LIMIT 1
), wal AS (
    SELECT kind, region, details FROM newest_run
    WHERE check_type = 'wal' AND backup_id = 'wal' AND region IS NOT NULL
)
SELECT 'success' AS metric, check_type AS label, kind,
       pg_catalog.min(CASE WHEN verification_status = 'passed' THEN 1 ELSE 0 END)::float8 AS value
  FROM newest_run GROUP BY check_type, kind
UNION ALL SELECT 'findings', check_type, kind,
       pg_catalog.count(*) FILTER (WHERE verification_status <> 'passed')::float8
  FROM newest_run GROUP BY check_type, kind
UNION ALL SELECT 'checked', check_type, kind,
       extract(epoch FROM pg_catalog.max(verification_time))::float8
  FROM newest_run GROUP BY check_type, kind
UNION ALL SELECT 'verified', region, kind, coalesce(extract(epoch FROM backup_time), 0)::float8 FROM verified
UNION ALL SELECT 'size', region, kind, file_size::float8 FROM sized
UNION ALL SELECT 'backups', region, kind, pg_catalog.count(DISTINCT backup_id)::float8 FROM newest_run
  WHERE check_type = 'inventory' AND region IS NOT NULL AND backup_time IS NOT NULL GROUP BY region, kind
UNION ALL SELECT 'wal_missing', region, kind, (details OPERATOR(pg_catalog.->>) 'missing_segments')::float8
  FROM wal
UNION ALL SELECT 'window', region, kind, (details OPERATOR(pg_catalog.->>) 'recovery_window_seconds')::float8
  FROM wal
UNION ALL SELECT 'rpo', region, kind, (details OPERATOR(pg_catalog.->>) 'rpo_seconds')::float8
  FROM wal WHERE details OPERATOR(pg_catalog.->>) 'rpo_seconds' IS NOT NULL
UNION ALL SELECT 'restore', NULL, NULL, duration_seconds FROM drill
UNION ALL SELECT 'phase', p.key, NULL, p.value::float8
  FROM drill, pg_catalog.jsonb_each_text(drill.details OPERATOR(pg_catalog.->) 'phases') p
UNION ALL SELECT 'last_run', NULL, NULL, extract(epoch FROM pg_catalog.max(verification_time))::float8
  FROM audit
"""
HEADLINE = ("dbhealth_backup_verified", "dbhealth_backup_last_verification_timestamp_seconds",
            "dbhealth_backup_restore_duration_seconds")


class BackupCollector:
    name: ClassVar[str] = "backup"

    def __init__(self, schema: str = "public") -> None:
        self.table = f"{quote_ident(schema)}.backup_verification_audit"
        self.sql = SQL.format(table=self.table)
        self.table_present = False

    def collect(self, ctx: CollectContext) -> Collected:
        if not self.table_present:
            rows = ctx.query(PROBE, {"table": self.table})
            self.table_present = bool(rows and rows[0][0])
            return Collected([])
        families = self._families(ctx.query(self.sql, None))
        summary = {f.name: f.samples[0].value for f in families
                   if f.name in HEADLINE and f.samples}
        return Collected(families, summary=summary)

    def _families(self, rows: list[tuple[object, ...]]) -> list[Metric]:
        def by_check(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=["check", "kind"])

        def by_region(name: str, doc: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=["kind", "region"])

        by_metric = {
            "success": by_check("dbhealth_backup_verification_success",
                                "1 when every finding of the last run of the check passed."),
            "findings": by_check("dbhealth_backup_verification_findings",
                                 "Findings that did not pass in the last run of the check."),
            "checked": by_check("dbhealth_backup_verification_check_timestamp_seconds",
                                "When the check last ran."),
            "verified": by_region("dbhealth_backup_last_success_timestamp_seconds",
                                  "Time of the newest backup that passed verification (0: none)."),
            "size": by_region("dbhealth_backup_size_bytes", "Size of the newest backup."),
            "backups": by_region("dbhealth_backup_inventory_backups", "Backups found by the last inventory."),
            "wal_missing": by_region("dbhealth_backup_wal_segments_missing",
                                     "WAL segments missing from the archive since the oldest backup."),
            "window": by_region("dbhealth_backup_recovery_window_seconds",
                                "Recovery window: oldest restorable backup to the newest gap-free WAL."),
            "rpo": by_region("dbhealth_backup_rpo_seconds",
                             "Age of the newest archived WAL segment when verified (0: production idle)."),
        }
        phases = GaugeMetricFamily("dbhealth_backup_restore_phase_seconds",
                                   "Phases of the last successful restore drill.", labels=["phase"])
        restore: float | None = None
        last_run = 0.0
        for metric, label, kind, value in rows:
            family = by_metric.get(str(metric))
            if family is not None:
                per_check = metric in ("success", "findings", "checked")
                family.add_metric([str(label), str(kind)] if per_check else [str(kind), str(label)],
                                  seconds(value))
            elif metric == "phase":
                phases.add_metric([str(label)], seconds(value))
            elif metric == "restore" and value is not None:
                restore = seconds(value)
            elif metric == "last_run":
                last_run = seconds(value)
        out: list[Metric] = [*by_metric.values(), phases]
        success = by_metric["success"]
        if success.samples:  # the one number /health/full shows: is everything verified?
            out.append(GaugeMetricFamily("dbhealth_backup_verified",
                                         "1 when the last run of every check passed.",
                                         value=min(s.value for s in success.samples)))
        if restore is not None:
            out.append(GaugeMetricFamily("dbhealth_backup_restore_duration_seconds",
                                         "RTO of the last successful restore drill: download, restore "
                                         "and checks.", value=restore))
        out.append(GaugeMetricFamily("dbhealth_backup_last_verification_timestamp_seconds",
                                     "When the verifier last wrote a verdict (0: never).", value=last_run))
        return out
