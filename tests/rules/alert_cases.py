"""What every shipped alert must do, written out literally (values, texts, thresholds).

Each AlertCase feeds promtool input series that make the alert's measured
quantity equal a chosen value, then states which alerts fire with which
threshold annotation. Values are chosen on both sides of the normal and the
wedding-day threshold, so the "between" values fire only on a wedding day.
The expected annotation texts are literal: if a template in thresholds.yml
changes, these must change with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

INSTANCE = "db-primary:9187"
JOB = "dbhealth"
MINUTES = 60  # every series covers 0..60 minutes, one sample a minute

Feed = Callable[[float], dict[str, str]]


def series(name: str, **labels: str) -> str:
    all_labels = {"instance": INSTANCE, "job": JOB, **labels}
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(all_labels.items()))
    return f"{name}{{{inner}}}"


def gauge(name: str, **labels: str) -> Feed:
    return lambda v: {series(name, **labels): f"{v!r}x{MINUTES}"}


def age(name: str, **labels: str) -> Feed:
    """A timestamp gauge that stays ``v`` seconds behind the clock (time() - ts == v)."""
    return lambda v: {series(name, **labels): f"{-v!r}+60x{MINUTES}"}


def increase(name: str, window_minutes: int, **labels: str) -> Feed:
    """A counter that grows by ``v`` per window."""
    return lambda v: {series(name, **labels): f"0+{v / window_minutes!r}x{MINUTES}"}


def counter_pair(hit: str, miss: str, per_minute: float, **labels: str) -> Feed:
    """Two counters whose rates make hit / (hit + miss) == v."""
    return lambda v: {
        series(hit, **labels): f"0+{per_minute * v!r}x{MINUTES}",
        series(miss, **labels): f"0+{per_minute * (1 - v)!r}x{MINUTES}",
    }


def rollback_feed(v: float) -> dict[str, str]:
    """Commits and rollbacks whose rates make the rollback share == v."""
    return {
        series("dbhealth_transactions_total", datname="wedsync", outcome="rollback"):
            f"0+{6000 * v!r}x{MINUTES}",
        series("dbhealth_transactions_total", datname="wedsync", outcome="commit"):
            f"0+{6000 * (1 - v)!r}x{MINUTES}",
    }


def slow_query_feed(calls_per_minute: float) -> Feed:
    """Calls at a steady rate whose mean execution time is v seconds."""
    return lambda v: {
        series("dbhealth_query_calls_total", domain="guest_list"):
            f"0+{calls_per_minute!r}x{MINUTES}",
        series("dbhealth_query_exec_seconds_total", domain="guest_list"):
            f"0+{calls_per_minute * v!r}x{MINUTES}",
    }


def dead_tuple_feed(dead: float) -> Feed:
    """``dead`` dead rows and as many live rows as make dead / (dead + live) == v."""
    return lambda v: {
        series("dbhealth_table_dead_tuples", table="guests"): f"{dead!r}x{MINUTES}",
        series("dbhealth_table_live_tuples", table="guests"):
            f"{dead * (1 - v) / v!r}x{MINUTES}",
    }


def merged(*feeds: Feed) -> Feed:
    def feed(v: float) -> dict[str, str]:
        out: dict[str, str] = {}
        for one in feeds:
            out.update(one(v))
        return out
    return feed


def fixed(values: dict[str, str]) -> Feed:
    return lambda _v: dict(values)


@dataclass(frozen=True)
class Fire:
    """One alert expected to fire: its severity and the threshold annotation text."""

    severity: str
    threshold: str


@dataclass(frozen=True)
class Scenario:
    """``mode`` 0 normal day, 1 wedding day, None: the mode signal is absent."""

    mode: int | None
    value: float
    value_text: str
    fires: tuple[Fire, ...]
    feed: Feed | None = None  # instead of the case's feed (guards)
    why: str = ""


def normal(value: float, text: str, *fires: Fire, feed: Feed | None = None,
           why: str = "") -> Scenario:
    return Scenario(0, value, text, fires, feed, why)


def wedding(value: float, text: str, *fires: Fire, feed: Feed | None = None,
            why: str = "") -> Scenario:
    return Scenario(1, value, text, fires, feed, why)


def absent(value: float, text: str, *fires: Fire) -> Scenario:
    return Scenario(None, value, text, fires)


@dataclass(frozen=True)
class Flip:
    """A value that fires in both modes: the alert must keep firing (same labels) across a flip."""

    value: float
    value_text: str
    normal: tuple[Fire, ...]
    wedding: tuple[Fire, ...]


@dataclass(frozen=True)
class AlertCase:
    alert: str
    runbook: str
    feed: Feed
    summary: str | dict[str, str]  # {value} {threshold} {wedding_day}; per severity if a dict
    description: str | dict[str, str]
    scenarios: list[Scenario]
    flip: Flip
    labels: dict[str, str] = field(default_factory=dict)  # from the series, besides instance/job
    team: str = "database"
    impact: dict[str, str] = field(default_factory=dict)  # severity -> impact; default "none"

    def text(self, which: str, severity: str) -> str:
        template = self.summary if which == "summary" else self.description
        return template[severity] if isinstance(template, dict) else template


W, C = "warning", "critical"
CONN_DESC = ("Client backends use {value} of the usable connection slots on db-primary:9187, "
             "above {threshold} (wedding day: {wedding_day}).")

CASES: list[AlertCase] = [
    AlertCase(
        "DBHealthDatabaseDown", "database-down", gauge("dbhealth_up"),
        "Database unreachable from db-primary:9187",
        "The exporter db-primary:9187 cannot run queries against the WedSync database "
        "(dbhealth_up is 0). Couples and vendors cannot load or save anything.",
        [normal(1, "1"), normal(0, "0", Fire(C, "1")), wedding(1, "1"),
         wedding(0, "0", Fire(C, "1")), absent(0, "0", Fire(C, "1"))],
        Flip(0, "0", (Fire(C, "1"),), (Fire(C, "1"),)),
        impact={C: "customer"}),
    AlertCase(
        "DBHealthCollectorFailing", "collector-failing",
        gauge("dbhealth_collector_success", collector="activity"),
        "Collector activity failing on db-primary:9187",
        "The activity collector has failed every scrape for 10 minutes; the alerts that depend "
        "on its metrics cannot fire.",
        [normal(1, "1"), normal(0, "0", Fire(W, "1")), wedding(1, "1"),
         wedding(0, "0", Fire(W, "1")), absent(0, "0", Fire(W, "1"))],
        Flip(0, "0", (Fire(W, "1"),), (Fire(W, "1"),)),
        labels={"collector": "activity"}, team="platform"),
    AlertCase(
        "DBHealthMonitoringPrivilegesMissing", "monitoring-privileges-missing",
        gauge("dbhealth_collector_privilege_missing", collector="activity"),
        "Collector activity blind on db-primary:9187: privileges missing",
        "The monitoring role lacks a privilege the activity collector needs (usually "
        "pg_monitor). It reports a failure instead of numbers that would look healthy, and the "
        "alerts on its metrics cannot fire until the role is granted it.",
        [normal(0, "0"), normal(1, "1", Fire(W, "0")), wedding(0, "0"),
         wedding(1, "1", Fire(W, "0")), absent(1, "1", Fire(W, "0"))],
        Flip(1, "1", (Fire(W, "0"),), (Fire(W, "0"),)),
        labels={"collector": "activity"}, team="database"),
    AlertCase(
        "DBHealthConnectionUtilizationHigh", "connection-utilization-high",
        gauge("dbhealth_connection_utilization_ratio"),
        "Connections at {value} of usable (limit {threshold})",
        {W: CONN_DESC, C: CONN_DESC + " New connections will soon be refused."},
        [normal(0.60, "60%", why="between strict and normal for both severities"),
         normal(0.85, "85%", Fire(W, "80%")),
         normal(0.95, "95%", Fire(W, "80%"), Fire(C, "90%")),
         wedding(0.30, "30%"),
         wedding(0.42, "42%", Fire(W, "40%")),
         wedding(0.60, "60%", Fire(W, "40%"), Fire(C, "45%")),
         absent(0.60, "60%", Fire(W, "40%"), Fire(C, "45%"))],
        Flip(0.95, "95%", (Fire(W, "80%"), Fire(C, "90%")), (Fire(W, "40%"), Fire(C, "45%"))),
        impact={C: "customer"}),
    AlertCase(
        "DBHealthIdleInTransactionTooOld", "idle-in-transaction-too-old",
        gauge("dbhealth_oldest_transaction_age_seconds", state="idle_in_transaction"),
        "Transaction idle for {value} (limit {threshold})",
        "A session has been idle inside an open transaction for {value} (limit {threshold}). "
        "It holds its locks and stops vacuum from cleaning up.",
        [normal(200, "3m 20s"), normal(400, "6m 40s", Fire(W, "5m 0s")),
         wedding(100, "1m 40s"), wedding(200, "3m 20s", Fire(W, "2m 30s")),
         absent(200, "3m 20s", Fire(W, "2m 30s"))],
        Flip(400, "6m 40s", (Fire(W, "5m 0s"),), (Fire(W, "2m 30s"),)),
        labels={"state": "idle_in_transaction"}),
    AlertCase(
        "DBHealthLongRunningTransaction", "long-running-transaction",
        gauge("dbhealth_oldest_transaction_age_seconds", state="active"),
        "Transaction running for {value} (limit {threshold})",
        "The oldest active transaction has run for {value} (limit {threshold}). Long "
        "transactions hold locks, bloat tables and delay replicas.",
        [normal(400, "6m 40s"), normal(700, "11m 40s", Fire(W, "10m 0s")),
         wedding(200, "3m 20s"), wedding(400, "6m 40s", Fire(W, "5m 0s")),
         absent(400, "6m 40s", Fire(W, "5m 0s"))],
        Flip(700, "11m 40s", (Fire(W, "10m 0s"),), (Fire(W, "5m 0s"),)),
        labels={"state": "active"}),
    AlertCase(
        "DBHealthLockWaiters", "lock-waiters", gauge("dbhealth_lock_waiting_sessions"),
        "{value} sessions waiting on locks (limit {threshold})",
        "{value} sessions have been waiting on a lock for 2 minutes (limit {threshold}). Each "
        "one is a page or an API call hanging for a couple or a vendor.",
        [normal(4, "4"), normal(6, "6", Fire(W, "5")), wedding(2, "2"),
         wedding(4, "4", Fire(W, "2.5")), absent(4, "4", Fire(W, "2.5"))],
        Flip(6, "6", (Fire(W, "5"),), (Fire(W, "2.5"),)),
        impact={W: "customer"}),
    AlertCase(
        "DBHealthDeadlocks", "deadlocks",
        increase("dbhealth_deadlocks_total", 5, datname="wedsync"),
        "{value} deadlocks in 5 minutes on wedsync (limit {threshold})",
        "PostgreSQL aborted {value} transactions on wedsync in the last 5 minutes to break "
        "deadlocks (limit {threshold}). Each is a failed save.",
        [normal(4, "4"), normal(8, "8", Fire(W, "5")), wedding(2, "2"),
         wedding(4, "4", Fire(W, "2.5")), absent(4, "4", Fire(W, "2.5"))],
        Flip(8, "8", (Fire(W, "5"),), (Fire(W, "2.5"),)),
        labels={"datname": "wedsync"}, impact={W: "customer"}),
    AlertCase(
        "DBHealthReceiverAuthFailuresSpike", "receiver-auth-failures",
        increase("dbhealth_receiver_auth_failures_total", 5, route="/api/v1/alerts"),
        "{value} refused requests to the receiver in 5 minutes (limit {threshold})",
        "The alert receiver refused {value} requests for missing or wrong credentials "
        "(Alertmanager token, read token, signed links, Twilio signatures) in the last 5 "
        "minutes (limit {threshold}). Someone may be guessing tokens or forging links.",
        [normal(16, "16"), normal(30, "30", Fire(W, "20")), wedding(8, "8"),
         wedding(16, "16", Fire(W, "10")), absent(16, "16", Fire(W, "10"))],
        Flip(30, "30", (Fire(W, "20"),), (Fire(W, "10"),)), team="platform"),
    AlertCase(
        "DBHealthExporterAuthFailuresSpike", "exporter-auth-failures",
        increase("dbhealth_exporter_auth_failures_total", 5, route="/queries"),
        "{value} refused requests to the exporter in 5 minutes (limit {threshold})",
        "The exporter on db-primary:9187 refused {value} requests to its JSON endpoints "
        "(health, wedding-day state, queries) for a missing or wrong bearer token in the "
        "last 5 minutes (limit {threshold}). A client has a stale token, or someone is "
        "guessing it.",
        [normal(16, "16"), normal(30, "30", Fire(W, "20")), wedding(8, "8"),
         wedding(16, "16", Fire(W, "10")), absent(16, "16", Fire(W, "10"))],
        Flip(30, "30", (Fire(W, "20"),), (Fire(W, "10"),)), team="platform"),
    AlertCase(
        "DBHealthCacheHitRatioLow", "cache-hit-ratio-low",
        counter_pair("dbhealth_blocks_hit_total", "dbhealth_blocks_read_total", 60000,
                     datname="wedsync"),
        "Cache hit ratio {value} on wedsync (minimum {threshold})",
        "Only {value} of block reads on wedsync were served from shared buffers over 5 minutes "
        "(minimum {threshold}); queries go to disk.",
        [normal(0.96, "96%"), normal(0.90, "90%", Fire(W, "95%")), wedding(0.99, "99%"),
         wedding(0.96, "96%", Fire(W, "97.5%")), absent(0.96, "96%", Fire(W, "97.5%"))],
        Flip(0.90, "90%", (Fire(W, "95%"),), (Fire(W, "97.5%"),)),
        labels={"datname": "wedsync"}),
    AlertCase(
        "DBHealthRollbackRatioHigh", "rollback-ratio-high",
        rollback_feed,
        "{value} of transactions roll back on wedsync (limit {threshold})",
        "{value} of transactions on wedsync rolled back over 5 minutes (limit {threshold}): "
        "writes are failing somewhere.",
        [normal(0.07, "7%"), normal(0.20, "20%", Fire(W, "10%")), wedding(0.02, "2%"),
         wedding(0.07, "7%", Fire(W, "5%")), absent(0.07, "7%", Fire(W, "5%"))],
        Flip(0.20, "20%", (Fire(W, "10%"),), (Fire(W, "5%"),)),
        labels={"datname": "wedsync"}, impact={W: "customer"}),
    AlertCase(
        "DBHealthReplicationLagHigh", "replication-lag-high",
        gauge("dbhealth_replication_lag_seconds", replica="standby-1"),
        "Replica standby-1 lags {value} (limit {threshold})",
        "Standby standby-1 replays WAL {value} behind the primary (limit {threshold}). Reads "
        "from it are stale and a failover would lose data.",
        [normal(20, "20s"), normal(45, "45s", Fire(C, "30s")), wedding(10, "10s"),
         wedding(20, "20s", Fire(C, "15s")), absent(20, "20s", Fire(C, "15s"))],
        Flip(45, "45s", (Fire(C, "30s"),), (Fire(C, "15s"),)),
        labels={"replica": "standby-1"}, impact={C: "customer"}),
    AlertCase(
        "DBHealthSlowQueries", "slow-queries", slow_query_feed(60),
        "Slow guest_list queries: mean {value} (limit {threshold})",
        "Statements of the guest_list domain took {value} on average over 5 minutes (limit "
        "{threshold}). Only domains with at least 3 calls a minute are judged.",
        [normal(0.4, "400ms"), normal(0.8, "800ms", Fire(W, "500ms")), wedding(0.2, "200ms"),
         wedding(0.4, "400ms", Fire(W, "250ms")), absent(0.4, "400ms", Fire(W, "250ms")),
         wedding(0.8, "800ms", feed=slow_query_feed(1), why="1 call a minute is not judged")],
        Flip(0.8, "800ms", (Fire(W, "500ms"),), (Fire(W, "250ms"),)),
        labels={"domain": "guest_list"}, impact={W: "customer"}),
    AlertCase(
        "DBHealthWalArchivingStale", "wal-archiving-stale",
        merged(age("dbhealth_wal_archive_last_success_timestamp_seconds"),
               fixed({series("dbhealth_wal_archive_enabled"): f"1x{MINUTES}"})),
        "No WAL archived for {value} (RPO limit {threshold})",
        "The last WAL segment was archived {value} ago (limit {threshold}). Point-in-time "
        "recovery would lose everything written since.",
        [normal(600, "10m 0s"), normal(1200, "20m 0s", Fire(C, "15m 0s")),
         wedding(300, "5m 0s"), wedding(600, "10m 0s", Fire(C, "7m 30s")),
         absent(600, "10m 0s", Fire(C, "7m 30s")),
         normal(1200, "20m 0s", why="archive_mode off: nothing is archived, nothing to judge",
                feed=merged(age("dbhealth_wal_archive_last_success_timestamp_seconds"),
                            fixed({series("dbhealth_wal_archive_enabled"): f"0x{MINUTES}"}))),
         normal(1200, "20m 0s", Fire(C, "15m 0s"),
                why="archive_enabled absent: judged anyway (fail strict), never silenced",
                feed=age("dbhealth_wal_archive_last_success_timestamp_seconds"))],
        Flip(1200, "20m 0s", (Fire(C, "15m 0s"),), (Fire(C, "7m 30s"),))),
    AlertCase(
        "DBHealthWalArchivingFailing", "wal-archiving-failing",
        increase("dbhealth_wal_archive_failures_total", 15),
        "{value} WAL archive failures in 15 minutes (limit {threshold})",
        "archive_command failed {value} times in 15 minutes (limit {threshold}). PostgreSQL "
        "keeps the WAL and retries, but pg_wal grows and the RPO clock runs.",
        [normal(2, "2"), normal(6, "6", Fire(W, "3")), wedding(1, "1"),
         wedding(2, "2", Fire(W, "1.5")), absent(2, "2", Fire(W, "1.5"))],
        Flip(6, "6", (Fire(W, "3"),), (Fire(W, "1.5"),))),
    AlertCase(
        "DBHealthBackupStale", "backup-stale",
        age("dbhealth_backup_last_success_timestamp_seconds", region="eu-west-2"),
        "Newest verified backup in eu-west-2 is {value} old",
        "The newest backup in eu-west-2 that passed verification is {value} old (limit "
        "{threshold}: one daily run plus 2 hours).",
        [normal(50000, "13h 53m 20s"), normal(100000, "1d 3h 46m 40s", Fire(C, "1d 2h 0m 0s")),
         wedding(50000, "13h 53m 20s", why="fixed: half the limit (13h) must not apply"),
         wedding(100000, "1d 3h 46m 40s", Fire(C, "1d 2h 0m 0s")),
         absent(100000, "1d 3h 46m 40s", Fire(C, "1d 2h 0m 0s"))],
        Flip(100000, "1d 3h 46m 40s", (Fire(C, "1d 2h 0m 0s"),), (Fire(C, "1d 2h 0m 0s"),)),
        labels={"region": "eu-west-2"}),
    AlertCase(
        "DBHealthBackupVerifierSilent", "backup-verifier-silent",
        age("dbhealth_backup_last_verification_timestamp_seconds"),
        "The backup verifier has not run for {value}",
        "The last backup verification run finished {value} ago (limit {threshold}: one daily "
        "run plus 2 hours). Every backup verdict on the dashboards is that old: the "
        "verifier's schedule, its container or its database access is broken.",
        [normal(50000, "13h 53m 20s"), normal(100000, "1d 3h 46m 40s", Fire(W, "1d 2h 0m 0s")),
         wedding(50000, "13h 53m 20s", why="fixed: half the limit (13h) must not apply"),
         wedding(100000, "1d 3h 46m 40s", Fire(W, "1d 2h 0m 0s")),
         absent(100000, "1d 3h 46m 40s", Fire(W, "1d 2h 0m 0s"))],
        Flip(100000, "1d 3h 46m 40s", (Fire(W, "1d 2h 0m 0s"),), (Fire(W, "1d 2h 0m 0s"),))),
    AlertCase(
        "DBHealthBackupVerificationFailed", "backup-verification-failed",
        gauge("dbhealth_backup_verification_success", check="integrity"),
        "Backup verification check integrity failed",
        "The last backup verification run failed its integrity check: the newest backup may "
        "not restore. Cross-region consistency has its own alert.",
        [normal(1, "1"), normal(0, "0", Fire(C, "1")), wedding(1, "1"),
         wedding(0, "0", Fire(C, "1")), absent(0, "0", Fire(C, "1")),
         normal(1, "1", why="cross_region failures belong to DBHealthBackupReplicaInconsistent",
                feed=fixed({
                    series("dbhealth_backup_verification_success", check="integrity"):
                        f"1x{MINUTES}",
                    series("dbhealth_backup_verification_success", check="cross_region"):
                        f"0x{MINUTES}"}))],
        Flip(0, "0", (Fire(C, "1"),), (Fire(C, "1"),)),
        labels={"check": "integrity"}),
    AlertCase(
        "DBHealthRestoreDrillSlow", "restore-drill-slow",
        gauge("dbhealth_backup_restore_duration_seconds"),
        "Restore drill took {value} (RTO {threshold})",
        "The last restore drill needed {value} until the restored database answered, longer "
        "than the recovery time objective of {threshold}.",
        [normal(3000, "50m 0s"), normal(4000, "1h 6m 40s", Fire(W, "1h 0m 0s")),
         wedding(2400, "40m 0s", why="fixed: half the RTO (30m) must not apply"),
         wedding(4000, "1h 6m 40s", Fire(W, "1h 0m 0s")),
         absent(4000, "1h 6m 40s", Fire(W, "1h 0m 0s"))],
        Flip(4000, "1h 6m 40s", (Fire(W, "1h 0m 0s"),), (Fire(W, "1h 0m 0s"),))),
    AlertCase(
        "DBHealthBackupWalSegmentsMissing", "backup-wal-segments-missing",
        gauge("dbhealth_backup_wal_segments_missing", kind="physical", region="eu-west-2"),
        "{value} WAL segments missing from the physical archive in eu-west-2",
        "The last verification found {value} WAL segments missing from the archive in eu-west-2. "
        "A point-in-time restore cannot cross a gap: every moment after it is unrecoverable from "
        "the backups before it.",
        [normal(0, "0"), normal(1, "1", Fire(C, "0")), wedding(0, "0"),
         wedding(3, "3", Fire(C, "0")), absent(1, "1", Fire(C, "0"))],
        Flip(1, "1", (Fire(C, "0"),), (Fire(C, "0"),)),
        labels={"kind": "physical", "region": "eu-west-2"}),
    AlertCase(
        "DBHealthBackupRpoHigh", "backup-rpo-high",
        gauge("dbhealth_backup_rpo_seconds", kind="physical", region="eu-west-2"),
        "WAL archive in eu-west-2 was {value} behind when verified",
        "When the verifier last looked, the newest WAL segment in eu-west-2 was {value} old while "
        "production had written past it (limit {threshold}): that much committed data would have "
        "been lost.",
        [normal(600, "10m 0s"), normal(1200, "20m 0s", Fire(W, "15m 0s")),
         wedding(600, "10m 0s", why="fixed: the live RPO alert is the stricter one on the day"),
         wedding(1200, "20m 0s", Fire(W, "15m 0s")), absent(1200, "20m 0s", Fire(W, "15m 0s"))],
        Flip(1200, "20m 0s", (Fire(W, "15m 0s"),), (Fire(W, "15m 0s"),)),
        labels={"kind": "physical", "region": "eu-west-2"}),
    AlertCase(
        "DBHealthBackupReplicaInconsistent", "backup-replica-inconsistent",
        gauge("dbhealth_backup_verification_success", check="cross_region"),
        "Backup replica bucket differs from the primary",
        "The cross_region check found backups in the replica region that are missing or differ "
        "(keys, sizes or checksums) from the primary region.",
        [normal(1, "1"), normal(0, "0", Fire(W, "1")), wedding(1, "1"),
         wedding(0, "0", Fire(W, "1")), absent(0, "0", Fire(W, "1")),
         wedding(1, "1", why="other checks belong to DBHealthBackupVerificationFailed",
                 feed=fixed({
                     series("dbhealth_backup_verification_success", check="integrity"):
                         f"0x{MINUTES}",
                     series("dbhealth_backup_verification_success", check="cross_region"):
                         f"1x{MINUTES}"}))],
        Flip(0, "0", (Fire(W, "1"),), (Fire(W, "1"),)),
        labels={"check": "cross_region"}),
    AlertCase(
        "DBHealthDeadTuplesHigh", "dead-tuples-high", dead_tuple_feed(20000),
        "{value} dead rows in guests (limit {threshold})",
        "{value} of the rows in the wedding table guests are dead (limit {threshold}, judged "
        "above 10k dead rows). Autovacuum is not keeping up.",
        [normal(0.07, "7%"), normal(0.20, "20%", Fire(W, "10%")), wedding(0.03, "3%"),
         wedding(0.07, "7%", Fire(W, "5%")), absent(0.07, "7%", Fire(W, "5%")),
         wedding(0.5, "50%", feed=dead_tuple_feed(5000), why="small tables are not judged")],
        Flip(0.20, "20%", (Fire(W, "10%"),), (Fire(W, "5%"),)),
        labels={"table": "guests"}),
]
