"""DBHealth / Backups: can we restore, how much would we lose, and how long would it take."""

from __future__ import annotations

from .panels import SEL, Panel, Query, Row, Spec, exporter_variables, threshold

FRESHNESS = Row("Freshness and RPO", (
    Panel("Newest verified backup age per region", "How old is the newest backup that passed "
          "verification in each region, against the staleness threshold?", "s",
          (Query(f"time() - dbhealth_backup_last_success_timestamp_seconds{{{SEL}}}", "{{region}}"),
           threshold("backup_stale")), width=8),
    Panel("Last verification age", "When did the backup verifier last report (silence is an "
          "alert of its own)?", "s",
          (Query(f"time() - dbhealth_backup_last_verification_timestamp_seconds{{{SEL}}}", "verifier"),
           threshold("backup_verifier_silent")), width=8),
    Panel("RPO: WAL archiving age", "How much committed data would a restore lose now (time since "
          "WAL was last archived), against the RPO threshold in force?", "s",
          (Query(f"time() - dbhealth_wal_archive_last_success_timestamp_seconds{{{SEL}}}", "{{instance}}",
                 may_be_empty="WAL archiving is off or nothing has been archived yet"),
           threshold("wal_archive_stale", "RPO threshold in force")), width=8),
))

VERIFICATION = Row("Verification and restore drill", (
    Panel("Verification per check", "Did each check of the last verification run pass (inventory, "
          "integrity, restore, completeness, cross-region, freshness, retention)?", "bool_yes_no",
          (Query(f"dbhealth_backup_verification_success{{{SEL}}}", "{{check}}"),), kind="state"),
    Panel("Findings per check", "How many problems did each check find on its last run?", "short",
          (Query(f"dbhealth_backup_verification_findings{{{SEL}}}", "{{check}}"),)),
    Panel("Restore drill time against RTO", "How long did the last successful restore drill take, "
          "against the RTO?", "s",
          (Query(f"dbhealth_backup_restore_duration_seconds{{{SEL}}}", "restore drill"),
           threshold("restore_drill_slow", "RTO")), width=8),
    Panel("Restore drill phases", "Where does the restore drill spend its time?", "s",
          (Query(f"dbhealth_backup_restore_phase_seconds{{{SEL}}}", "{{phase}}"),), width=8),
    Panel("Backup size per region", "How big is the newest backup in each region (a sudden drop "
          "is a broken dump)?", "bytes",
          (Query(f"dbhealth_backup_size_bytes{{{SEL}}}", "{{region}}"),), width=8),
    Panel("Backups in the inventory per region", "How many backups does each region hold?",
          "short", (Query(f"dbhealth_backup_inventory_backups{{{SEL}}}", "{{region}}"),), width=24,
          height=6),
))

SPEC = Spec(
    uid="dbhealth-backups", title="DBHealth / Backups", slug="backups",
    summary="The backup verifier's verdicts: age per region, each check, the restore drill against "
            "the RTO, sizes, and the RPO from WAL archiving.",
    variables=exporter_variables(),
    rows=(FRESHNESS, VERIFICATION),
)
