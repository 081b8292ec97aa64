"""The verifier's decisions as pure functions: plain values in, verdicts out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backup.checks.completeness import TableCounts, consistent_point_bound, table_verdict
from backup.checks.cross_region import Facts, compare
from backup.checks.drill import refusal, target_action
from backup.checks.freshness import Archiver, backup_age, wal_rpo
from backup.checks.integrity import verdict
from backup.checks.retention import violations
from backup.db import ServerIdentity
from backup.errors import ConfigError, RestoreRefused
from backup.hashing import Digest
from backup.loader import load_settings, mask_url
from backup.model import Backup, RecordedChecksum, Status
from backup.pgrestore import catalog_names, classify, parse_toc, phase_seconds
from backup.runner import exit_code
from backup.sanitize import sanitize
from backup.schedule import next_run
from backup.settings import CompletenessSettings, RetentionSettings, TableSpec, TargetSettings
from backup.sources.logical import backup_time, parse_sidecar

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
LONDON = ZoneInfo("Europe/London")
A, B = "a" * 64, "b" * 64


def digest(hexdigest: str = A, size: int = 10) -> Digest:
    return Digest("sha256", hexdigest, size, 1.0)


@pytest.mark.parametrize(("records", "observed", "status", "why"), [
    ([RecordedChecksum("sha256", A, "sidecar")], digest(), Status.PASSED, None),
    ([], digest(), Status.FAILED, "no recorded checksum"),
    ([RecordedChecksum("sha256", A, "sidecar"), RecordedChecksum("sha256", B, "metadata")], digest(),
     Status.FAILED, "recorded checksums disagree (metadata vs sidecar)"),
    ([RecordedChecksum("sha256", A, "sidecar")], digest(size=9), Status.FAILED, "read 9 bytes"),
    ([RecordedChecksum("sha256", B, "sidecar")], digest(), Status.FAILED, "sha256 mismatch"),
])
def test_integrity_verdict(records: list[RecordedChecksum], observed: Digest, status: Status,
                           why: str | None) -> None:
    got, detail = verdict(records, observed, 10)
    assert got == status
    assert (detail is None) if why is None else (why in (detail or ""))


def test_cross_region_compares_sizes_and_checksums_with_a_replication_grace() -> None:
    old, young = NOW - timedelta(hours=5), NOW - timedelta(minutes=5)
    primary = {"same": Facts(5, A, old), "gone": Facts(5, A, old), "new": Facts(5, A, young),
               "bigger": Facts(5, A, old), "other": Facts(5, A, old), "unrecorded": Facts(5, A, old)}
    replica = {"same": Facts(5, A, old), "bigger": Facts(6, A, old), "other": Facts(5, B, old),
               "unrecorded": Facts(5, None, old), "stray": Facts(1, A, old)}
    got = {key: (status, what) for key, status, what in compare(primary, replica, NOW, timedelta(hours=1))}
    assert got == {
        "same": (Status.PASSED, "same size and checksum"),
        "gone": (Status.FAILED, "missing in the replica"),
        "new": (Status.PASSED, "pending replication"),
        "bigger": (Status.FAILED, "size differs: 5 in the primary, 6 in the replica"),
        "other": (Status.FAILED, "checksum differs"),
        "unrecorded": (Status.FAILED, "no recorded checksum in the replica"),
        "stray": (Status.FAILED, "extra in the replica (not in the primary)"),
    }


def test_retention_policy() -> None:
    policy = RetentionSettings(daily=7, weekly=4, min_count=7, max_age_days=35)
    nightly = [NOW - timedelta(days=d) for d in range(28)]
    assert violations(nightly, policy, NOW, LONDON) == []
    gaps = [t for i, t in enumerate(nightly) if i not in (2, 3)] + [NOW - timedelta(days=40)]
    assert violations(gaps, policy, NOW, LONDON) == [
        "no backup on 2026-11-29, 2026-11-30",
        "oldest backup is 40 days old, the policy keeps 35 (expiry is not running)"]
    weekly_only = [NOW - timedelta(weeks=w) for w in (0, 1, 3)]
    found = violations(weekly_only, RetentionSettings(daily=1, weekly=4, min_count=1, max_age_days=35),
                       NOW, LONDON)
    assert found == ["no backup in ISO week 2026-W47"]
    assert violations([], policy, NOW, LONDON) == ["0 backups, the policy keeps at least 7"]


def test_retention_days_are_local_days() -> None:
    # 23:30 UTC on a summer evening is already the next day in London
    summer = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    policy = RetentionSettings(daily=2, weekly=0, min_count=0, max_age_days=35)
    assert violations([summer, summer - timedelta(days=1)], policy, summer, LONDON) == []
    assert violations([summer, summer - timedelta(hours=1)], policy, summer, LONDON) == []
    assert violations([summer - timedelta(hours=1)], policy, summer, LONDON) == ["no backup on 2026-06-30"]


def test_retention_settings_must_be_coherent() -> None:
    with pytest.raises(ValueError, match="max_age_days is shorter"):
        RetentionSettings(daily=7, weekly=8, min_count=1, max_age_days=35)


def backup(taken_at: datetime) -> Backup:
    return Backup("b", "logical", "eu-west-2", taken_at, ())


def test_backup_age() -> None:
    limit = timedelta(hours=26)
    assert backup_age(None, NOW, limit) == (Status.FAILED, "no verified backup")
    assert backup_age(backup(NOW - timedelta(hours=3)), NOW, limit)[0] == Status.PASSED
    status, sentence = backup_age(backup(NOW - timedelta(hours=30)), NOW, limit)
    assert status == Status.FAILED and sentence == "newest verified backup is 30.0 h old (limit 26 h)"


def archiver(**changes: object) -> Archiver:
    base = {"archive_mode": "on", "last_archived_wal": "000000010000000000000007",
            "last_archived_time": NOW - timedelta(minutes=20), "last_failed_wal": None,
            "last_failed_time": None, "newest_written_wal": "000000010000000000000008", "now": NOW}
    return Archiver(**{**base, **changes})  # type: ignore[arg-type]


def test_wal_rpo() -> None:
    targets = TargetSettings()
    assert wal_rpo(archiver(), targets)[:2] == (
        Status.FAILED, "WAL archived 20.0 min ago with WAL waiting (RPO 15 min)")
    idle = archiver(newest_written_wal="000000010000000000000007")  # nothing written since
    assert wal_rpo(idle, targets) == (Status.PASSED, "RPO 0.0 min (target 15 min)", 0.0)
    recent = archiver(last_archived_time=NOW - timedelta(minutes=3))
    assert wal_rpo(recent, targets)[0] == Status.PASSED
    failing = archiver(last_archived_time=NOW - timedelta(minutes=3), last_failed_time=NOW)
    assert wal_rpo(failing, targets)[:2] == (
        Status.FAILED, "WAL archiving is failing now (last attempt failed)")
    off = archiver(archive_mode="off")
    assert wal_rpo(off, targets)[0] == Status.FAILED
    assert wal_rpo(off, TargetSettings(wal_archiving="optional"))[0] == Status.PASSED
    assert wal_rpo(archiver(last_archived_time=None), targets)[:2] == (
        Status.FAILED, "no WAL segment was ever archived")


def test_completeness_accounts_for_the_backups_age() -> None:
    settings = CompletenessSettings(tolerance_ratio=0.01, tolerance_rows=5, growth_allowance_per_hour=0.01)
    guests = TableSpec(name="guests", created_column="created_at")
    newest = NOW - timedelta(hours=1)
    prod = TableCounts(total=1200, at_backup=1000, newest=newest)
    assert table_verdict(guests, prod, TableCounts(1000, None, newest), 5, settings)[0] == Status.PASSED
    status, sentence, _ = table_verdict(guests, prod, TableCounts(950, None, newest), 5, settings)
    assert status == Status.FAILED
    assert sentence == "guests: 950 rows restored, 1,000 expected (difference -50, allowed ±10)"
    stale = table_verdict(guests, prod, TableCounts(1000, None, newest - timedelta(hours=3)), 5, settings)
    assert stale[0] == Status.FAILED and "3.0 h older" in stale[1]
    # without a creation column, the allowance grows with the backup's age
    payments = TableSpec(name="payments")
    prod_payments = TableCounts(total=1100, at_backup=None, newest=None)
    restored = TableCounts(1000, None, None)
    assert table_verdict(payments, prod_payments, restored, 1, settings)[0] == Status.FAILED
    assert table_verdict(payments, prod_payments, restored, 10, settings)[0] == Status.PASSED


def test_drill_refuses_production_and_foreign_databases() -> None:
    prod = ServerIdentity(7714586936321326077, 5432, "wedsync")
    scratch = ServerIdentity(7714586936321326078, 5432, "postgres")
    assert refusal(prod, scratch) is None
    standby = ServerIdentity(prod.system_identifier, 6432, "x")
    assert "same system identifier" in (refusal(prod, standby) or "")
    assert "cannot confirm" in (refusal(None, scratch) or "")
    assert target_action(False, None, "drill") == "create"
    assert target_action(True, "dbhealth restore drill: run 1", "drill") == "recreate"
    with pytest.raises(RestoreRefused, match="was not made by a drill"):
        target_action(True, None, "drill")
    with pytest.raises(RestoreRefused):
        target_action(True, "the finance team's copy", "drill")


def test_exit_codes() -> None:
    assert exit_code([Status.PASSED, Status.PASSED]) == 0
    assert exit_code([Status.PASSED, Status.ERROR]) == 2
    assert exit_code([Status.ERROR, Status.FAILED]) == 1  # a bad backup is the news
    assert exit_code([], "audit database unreachable") == 2
    assert exit_code([]) == 2


def test_sanitize_strips_data_values_and_keeps_catalog_names() -> None:
    raw = ('pg_restore: error: COPY failed for table "guests": ERROR:  invalid input syntax for type '
           'integer: "alice@example.com"\nCONTEXT:  COPY guests, line 1, column table_number: '
           '"alice@example.com"\n'
           'pg_restore: error: could not execute query: ERROR:  duplicate key value violates unique '
           'constraint "user_profiles_email_key"\nDETAIL:  Key (email)=(bob@example.com) already exists.\n'
           "Command was: ALTER TABLE ONLY public.user_profiles ADD CONSTRAINT x UNIQUE (email);\n"
           "ERROR: value 'Jane Doe' is not valid, key (email)=(jane@example.com)")
    clean = sanitize(raw, {"guests", "user_profiles_email_key", "public"})
    assert "@" not in clean and "Jane" not in clean and "Command was" not in clean
    assert 'table "guests"' in clean and '"user_profiles_email_key"' in clean
    assert 'integer: "…"' in clean and "=(…)" in clean


def test_archive_toc_names_are_catalog_names() -> None:
    listing = ("; Archive created at 2026-12-02 06:17:33 UTC\n"
               "216; 1259 16388 TABLE public guests postgres\n"
               "3365; 0 16388 TABLE DATA public guests postgres\n"
               "3217; 2606 16396 CONSTRAINT public guests guests_pkey postgres\n"
               "3215; 1259 16397 INDEX public guests_email_idx postgres\n")
    toc = parse_toc(listing)
    assert [(e.item, e.kind, e.phase) for e in toc] == [
        (216, "TABLE", "pre-data"), (3365, "TABLE DATA", "data"), (3217, "CONSTRAINT", "post-data"),
        (3215, "INDEX", "post-data")]
    assert {"guests", "guests_pkey", "guests_email_idx", "public"} <= catalog_names(toc)
    items = {e.item: e.phase for e in toc}
    # -j 2 names its items; -j 1 only says what it creates
    assert classify("pg_restore: finished item 3365 TABLE DATA guests", items, True) == (3365, "data")
    assert classify('pg_restore: creating INDEX "public.guests_email_idx"', items, True) == (None, None)
    index_line = 'pg_restore: creating INDEX "public.guests_email_idx"'
    assert classify(index_line, items, False) == (None, "post-data")
    assert classify('pg_restore: creating TABLE "public.guests"', items, False) == (None, "pre-data")
    assert classify('pg_restore: processing data for table "public.guests"', items, False) == (None, "data")
    assert classify("pg_restore: executing SEQUENCE SET guests_id_seq", items, False) == (None, "data")
    assert classify("pg_restore: connecting to database for restore", items, False) == (None, None)


def test_restore_phases_serial_and_parallel() -> None:
    # -j 1: one item after the other, the data phase ends where post-data begins
    assert phase_seconds(0, 20, {"pre-data": 0.1, "data": 2, "post-data": 14}, {}) == {
        "restore_pre_data": 2, "restore_data": 12, "restore_post_data": 6}
    # -j 2: index builds overlap the last tables; post-data is the tail after the last table finished
    first: dict[str, float] = {"pre-data": 0.1, "data": 2, "post-data": 2.5}
    finished: dict[str, float] = {"data": 15, "post-data": 20}
    assert phase_seconds(0, 20, first, finished) == {
        "restore_pre_data": 2, "restore_data": 13, "restore_post_data": 5}
    assert phase_seconds(0, 3, {"pre-data": 0.1}, {}) == {"restore_pre_data": 3}


def test_sidecar_and_backup_time() -> None:
    assert parse_sidecar(f"{A.upper()}  wedsync.dump\n") == A
    assert parse_sidecar(f"{A} *wedsync.dump") == A
    assert parse_sidecar("not a checksum") is None
    assert parse_sidecar(f"{A}  x\n{B}  y\n") is None
    listed = datetime(2026, 12, 2, 2, 14, tzinfo=UTC)
    assert backup_time("wedsync-20261202T020001Z.dump", listed) == datetime(2026, 12, 2, 2, 0, 1, tzinfo=UTC)
    assert backup_time("nightly.dump", listed) == listed


def test_schedule_stays_at_two_in_the_morning_across_dst() -> None:
    # London: GMT until 01:00 UTC on 29 March 2026, BST until 01:00 UTC on 25 October 2026
    runs = [next_run("0 2 * * *", datetime(2026, 3, 27, 12, 0, tzinfo=UTC), LONDON)]
    runs.append(next_run("0 2 * * *", runs[-1], LONDON))
    runs.append(next_run("0 2 * * *", datetime(2026, 10, 23, 12, 0, tzinfo=UTC), LONDON))
    runs.append(next_run("0 2 * * *", runs[-1], LONDON))
    assert [r.astimezone(LONDON).strftime("%m-%d %H:%M") for r in runs] == [
        "03-28 02:00", "03-29 02:00", "10-24 02:00", "10-25 02:00"]
    assert [r.astimezone(UTC).hour for r in runs] == [2, 1, 1, 2]


def test_settings_report_every_problem_at_once_and_mask_secrets() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"BACKUP_VERIFY_S3__PRIMARY__BUCKET": "Not_A_Bucket",
                               "BACKUP_VERIFY_SCRATCH_URL": "mysql://x"},
                      overrides={"checks": ["integrity", "speed"], "schedule": {"cron": "at two"},
                                 "drill": {"database": "drop table;"}, "timezone": "Mars/Olympus"})
    problems = "\n".join(caught.value.problems)
    for key in ("s3.primary.region: Field required", "s3.primary.bucket: String should match pattern",
                "production: Field required", "scratch.url: must be a postgresql:// URL",
                "checks: unknown check(s) speed", "schedule.cron: not a cron expression",
                "drill.database: String should match pattern", "timezone: unknown IANA time zone"):
        assert key in problems, key
    assert mask_url("postgresql://verifier:s3cret@db/w") == "postgresql://verifier:***@db/w"
    assert mask_url("postgresql://:s3cret@db/w") == "postgresql://:***@db/w"
    assert mask_url("host=db password=s3cret dbname=w") == "host=db password=*** dbname=w"


def test_same_region_twice_is_an_error() -> None:
    region = {"region": "eu-west-2", "bucket": "wedsync-backups"}
    with pytest.raises(ConfigError, match=r"replica\.region must differ"):
        load_settings(environ={}, overrides={"s3": {"primary": region, "replica": region},
                                             "production": {"url": "postgresql://p/w"},
                                             "scratch": {"url": "postgresql://s/postgres"}})


def test_rows_created_in_the_backups_second_count_as_in_it() -> None:
    """Backup times are known to the second: a dump named ...T153101Z may hold a row made at
    15:31:01.4 (seeded, then dumped at once), so the bound is the end of that second."""
    stamp = datetime(2026, 12, 2, 15, 31, 1, tzinfo=UTC)
    assert consistent_point_bound(stamp) == datetime(2026, 12, 2, 15, 31, 2, tzinfo=UTC)
    assert consistent_point_bound(stamp.replace(microsecond=400_000)) == \
        datetime(2026, 12, 2, 15, 31, 2, tzinfo=UTC)
    target = stamp.replace(microsecond=400_000)  # a recovery target is an exact instant
    assert consistent_point_bound(target, exact=True) == target
