"""The verifier's other outcomes: S3 down, retention, discovery at scale, missing checksums,
completeness on real data, the run lock, the schedule."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg

from backup.runner import COULD_NOT_RUN, FAILED, VERIFIED
from backup.sources.logical import LogicalS3Source

from ..support.polling import wait_until
from ..support.ports import free_port
from .harness import PREFIX, PRIMARY, REPLICA, REPO, World, by_check, statuses, verdicts
from .moto_s3 import ACCESS_KEY, SECRET_KEY


def test_s3_down_exits_2_and_records_the_checks_as_not_run(world: World) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = world.cli(s3={"primary": {"endpoint_url": dead}, "replica": {"endpoint_url": dead}})
    assert result.returncode == COULD_NOT_RUN, result.stdout + result.stderr
    assert "verdict: COULD NOT RUN" in result.stdout
    assert set(verdicts(result.stdout).values()) == {"ERROR"}
    rows = world.audit_rows()
    # everything S3 was needed for is "not run"; WAL archiving on production could still be judged
    s3_rows = [r for r in rows if not r["backup_id"].startswith("wal:")]
    assert s3_rows and {r["verification_status"] for r in s3_rows} == {"error"}
    inventory = [r for r in rows if r["check_type"] == "inventory"]
    assert {r["region"] for r in inventory} == {PRIMARY, REPLICA}
    assert all("S3 unreachable" in r["error_detail"] for r in inventory)


def test_retention_policy_violations_are_reported_never_acted_on(world: World) -> None:
    now = datetime.now(UTC)
    for days in (0, 1, 3, 60):  # gaps on days 2, 4-6, and one far too old
        world.produce(taken_at=now - timedelta(days=days, minutes=5), replicate=False)
    shipped_policy = {"daily": 7, "weekly": 4, "min_count": 7, "max_age_days": 35}
    report = world.run(checks=["retention"], s3={"replica": None}, retention=shipped_policy)
    assert report.exit_code == FAILED
    problems = [f.detail for f in by_check(report)["retention"].findings if f.region == PRIMARY]
    assert any(p and p.startswith("4 backups, the policy keeps at least 7") for p in problems)
    assert any(p and p.startswith("no backup on ") for p in problems)
    assert any(p and "oldest backup is 60 days old" in p for p in problems)
    listed = world.client().list_objects_v2(Bucket=world.primary_bucket)["KeyCount"]
    assert listed == 8  # nothing deleted


def test_discovery_pages_past_1000_objects_newest_first(world: World) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    client = world.client()

    def upload(i: int) -> None:
        key = f"{PREFIX}wedsync-{start + timedelta(hours=i):%Y%m%dT%H%M%SZ}.dump"
        body = f"backup {i}".encode()
        client.put_object(Bucket=world.primary_bucket, Key=key, Body=body)
        client.put_object(Bucket=world.primary_bucket, Key=key + ".sha256",
                          Body=f"{hashlib.sha256(body).hexdigest()}  x\n".encode())

    with ThreadPoolExecutor(8) as pool:  # 1,010 objects: two pages of ListObjectsV2
        list(pool.map(upload, range(505)))
    settings = world.settings()
    assert settings.s3 is not None
    source = LogicalS3Source(settings.s3.primary, settings.s3)
    lines: list[str] = []
    backups = source.list_backups(lines.append)
    assert len(backups) == 505
    assert [b.taken_at for b in backups] == sorted((b.taken_at for b in backups), reverse=True)
    assert backups[0].taken_at == start + timedelta(hours=504)
    assert all(b.objects[0].checksum_source == "sidecar" for b in backups)
    assert lines == ["inventory eu-west-2: 1,000 objects listed", "inventory eu-west-2: 1,010 objects listed"]


def test_a_backup_without_a_recorded_checksum_is_a_finding_not_a_crash(world: World) -> None:
    world.put(PREFIX + "wedsync-20261201T020000Z.dump", b"no sidecar, no metadata")
    body = b"metadata only"
    world.put(PREFIX + "wedsync-20261130T020000Z.dump", body,
              Metadata={"sha256": hashlib.sha256(body).hexdigest()})
    report = world.run(checks=["integrity"], integrity={"regions": ["primary"]})
    assert report.exit_code == FAILED
    inventory = {f.backup_id: f for f in by_check(report)["inventory"].findings}
    assert inventory["wedsync-20261201T020000Z"].detail == "no recorded checksum for 1 object(s)"
    assert inventory["wedsync-20261130T020000Z"].status.value == "passed"
    integrity = {f.backup_id: f for f in by_check(report)["integrity"].findings}
    assert integrity["wedsync-20261201T020000Z"].detail == (
        "no recorded checksum: the object cannot be verified")
    assert integrity["wedsync-20261130T020000Z"].status.value == "passed"
    assert integrity["wedsync-20261130T020000Z"].data["checksum_source"] == "metadata"


def test_completeness_finds_missing_rows_and_orphans(world: World) -> None:
    with psycopg.connect(world.production_dsn, autocommit=True) as conn:
        # an application that lost its foreign key: one guest of a wedding that is gone
        conn.execute("ALTER TABLE guests DROP CONSTRAINT guests_wedding_id_fkey")
        conn.execute("INSERT INTO guests (wedding_id, full_name, email, phone) "
                     "VALUES (999999, 'Orphan Guest', 'orphan@example.com', '+440000')")
    world.produce()
    with psycopg.connect(world.production_dsn, autocommit=True) as conn:
        # rows that production says existed before the backup, and the backup does not have
        conn.execute("INSERT INTO bookings (wedding_id, vendor_id, service_start, amount_pence, created_at) "
                     "SELECT 1, 1, now(), 1, now() - interval '1 hour' FROM generate_series(1, 50)")
    report = world.run(checks=["completeness"])
    assert statuses(report)["restore"] == "passed"
    failed = {f.data["subject"]: f.detail for f in by_check(report)["completeness"].findings
              if f.status.value == "failed"}
    assert set(failed) == {"bookings", "guests_without_wedding"}
    assert failed["bookings"] == "bookings: 1,500 rows restored, 1,550 expected (difference -50, allowed ±10)"
    assert failed["guests_without_wedding"] == "guests_without_wedding: 1 orphan rows in the restored copy"
    rows = [r for r in world.audit_rows(report.run_id) if r["check_type"] == "completeness"]
    assert all("orphan@example.com" not in str(r) and "Orphan Guest" not in str(r) for r in rows)


def test_one_run_at_a_time(world: World) -> None:
    world.produce()
    with psycopg.connect(world.production_dsn, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(hashtext('dbhealth-backup-verify'))")
        result = world.cli("--check", "inventory")
    assert result.returncode == COULD_NOT_RUN
    assert "another verification run holds the lock" in result.stdout
    assert world.cli("--check", "inventory").returncode == VERIFIED


def test_schedule_runs_at_cron_times_until_sigterm(world: World) -> None:
    world.produce()
    config = world.config_file(checks=["inventory"], schedule={"cron": "* * * * * */2"})
    proc = subprocess.Popen([sys.executable, "-m", "backup", "--config.file", str(config), "--schedule"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def runs() -> int:
            with psycopg.connect(world.production_dsn) as conn:
                return int(conn.execute("SELECT count(DISTINCT run_id) FROM backup_verification_audit")
                           .fetchone()[0])  # type: ignore[index]
        wait_until(lambda: runs() >= 2, timeout=30, what="two scheduled runs")
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.count("verdict: VERIFIED") >= 2
    assert "schedule: next run at" in err and "schedule: stopped" in err


def test_check_config_masks_secrets_and_names_every_bad_key(world: World) -> None:
    good = subprocess.run([sys.executable, "-m", "backup", "check-config", "--config.file",
                           str(world.config_file(production={"url": "postgresql://u:hunter2@db/w"}))],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert good.returncode == 0, good.stderr
    assert SECRET_KEY not in good.stdout and "hunter2" not in good.stdout
    assert '"secret_access_key": "***"' in good.stdout and "u:***@db" in good.stdout
    env = {"PATH": "/usr/bin", "BACKUP_VERIFY_S3__PRIMARY__REGION": "x",
           "BACKUP_VERIFY_S3__PRIMARY__SECRET_ACCESS_KEY": "", "BACKUP_VERIFY_BOGUS": "1"}
    bad = subprocess.run([sys.executable, "-m", "backup", "check-config"], capture_output=True, text=True,
                         cwd=REPO, timeout=60, env=env)
    assert bad.returncode == COULD_NOT_RUN
    for key in ("s3.primary.bucket: Field required", "s3.primary.secret_access_key: must not be empty",
                "production: Field required", "scratch: Field required", "BACKUP_VERIFY_BOGUS: unknown"):
        assert key in bad.stderr, key
    assert ACCESS_KEY not in bad.stderr
