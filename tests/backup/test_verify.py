"""The verifier end to end: real PostgreSQL, a real S3 server (moto) over HTTP, real pg_dump/pg_restore."""

from __future__ import annotations

import psycopg

from backup.runner import COULD_NOT_RUN, FAILED, VERIFIED

from .harness import PREFIX, PRIMARY, REPLICA, World, by_check, statuses, verdicts

ALL_CHECKS = ["inventory", "integrity", "cross_region", "restore", "completeness", "freshness",
              "retention"]


def test_verified_backup_gives_one_verdict_per_check_and_exit_0(world: World) -> None:
    produced = world.produce()
    result = world.cli()
    assert result.returncode == VERIFIED, result.stdout + result.stderr
    assert verdicts(result.stdout) == dict.fromkeys(ALL_CHECKS, "PASSED")
    assert "verdict: VERIFIED" in result.stdout
    # progress went to stderr: listing, hashing, restore phases, completeness
    for expected in ("objects listed", "of", "restore: downloading", "items, post-data", "completeness:"):
        assert expected in result.stderr, expected
    rows = world.audit_rows()
    assert {r["check_type"] for r in rows} == set(ALL_CHECKS)
    assert len({r["run_id"] for r in rows}) == 1
    assert all(r["verification_status"] == "passed" for r in rows)
    integrity = [r for r in rows if r["check_type"] == "integrity"]
    assert {r["region"] for r in integrity} == {PRIMARY, REPLICA}
    assert all(r["checksum_algorithm"] == "sha256" and r["checksum_valid"] for r in integrity)
    assert {r["observed_checksum"] for r in integrity} == {produced.sha256}
    restore = next(r for r in rows if r["check_type"] == "restore")
    assert restore["duration_seconds"] > 0
    assert {"download", "restore_pre_data", "restore_data", "checks"} <= set(restore["details"]["phases"])
    # the drill database was dropped, production untouched
    with psycopg.connect(world.scratch_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                            (world.drill_database,)).fetchone() == (0,)


def test_flipped_byte_fails_integrity_and_cross_region(world: World) -> None:
    produced = world.produce()
    data = bytearray(world.get(produced.key))
    data[len(data) // 2] ^= 0x01
    world.put(produced.key, bytes(data))
    report = world.run(checks=["integrity", "cross_region"])
    assert report.exit_code == FAILED
    integrity = by_check(report)["integrity"]
    bad = [f for f in integrity.findings if f.status.value == "failed"]
    assert [(f.region, f.checksum_valid) for f in bad] == [(PRIMARY, False)]
    assert "mismatch" in (bad[0].detail or "")
    assert bad[0].expected == produced.sha256 and bad[0].observed != produced.sha256
    # same size, same recorded checksum in both regions: only the bytes read tell them apart
    assert "checksum differs" in by_check(report)["cross_region"].summary


def test_truncated_object_fails(world: World) -> None:
    produced = world.produce()
    world.put(produced.key, world.get(produced.key)[: produced.size // 3])
    report = world.run(checks=["integrity", "cross_region"])
    assert statuses(report) == {"inventory": "passed", "integrity": "failed", "cross_region": "failed"}
    assert "size differs" in by_check(report)["cross_region"].summary


def test_object_missing_in_the_replica_is_named(world: World) -> None:
    produced = world.produce()
    relative = produced.key.removeprefix(PREFIX)
    world.client(REPLICA).delete_object(Bucket=world.replica_bucket, Key=produced.key)
    world.client(REPLICA).delete_object(Bucket=world.replica_bucket, Key=produced.key + ".sha256")
    report = world.run(checks=["cross_region"], cross_region={"replication_grace_seconds": 0})
    assert report.exit_code == FAILED
    outcome = by_check(report)["cross_region"]
    assert f"{relative}: missing in the replica" in outcome.summary
    # and an object only the replica has is "extra"
    world.put(PREFIX + "stray-20200101T000000Z.dump", b"x", region=REPLICA)
    again = by_check(world.run(checks=["cross_region"]))["cross_region"]
    assert "stray-20200101T000000Z.dump: extra in the replica" in again.summary


def test_replica_object_with_another_checksum(world: World) -> None:
    produced = world.produce()
    other = bytearray(world.get(produced.key, REPLICA))
    other[10] ^= 0xFF
    world.put(produced.key, bytes(other), region=REPLICA)
    world.put(produced.key + ".sha256", f"{'0' * 64}  x.dump\n".encode(), region=REPLICA)
    report = world.run(checks=["cross_region"])
    finding = next(f for f in by_check(report)["cross_region"].findings if f.status.value != "passed")
    assert finding.detail == "checksum differs" and finding.region == REPLICA
    assert finding.expected == produced.sha256 and finding.observed == "0" * 64


def test_a_dump_that_does_not_restore_fails_with_sanitized_error(world: World) -> None:
    produced = world.produce()
    # A producer that did not check pg_dump's exit code: truncated output, faithfully checksummed.
    import hashlib

    cut = world.get(produced.key)[: int(produced.size * 0.6)]
    world.put(produced.key, cut)
    world.put(produced.key + ".sha256", f"{hashlib.sha256(cut).hexdigest()}  x.dump\n".encode())
    report = world.run(checks=["integrity", "restore", "completeness"],
                       integrity={"regions": ["primary"]})
    assert statuses(report) == {"inventory": "passed", "integrity": "passed", "restore": "failed",
                                "completeness": "error"}
    assert report.exit_code == FAILED
    row = next(r for r in world.audit_rows(report.run_id) if r["check_type"] == "restore")
    assert row["verification_status"] == "failed"
    # Parallel pg_restore workers share one stderr, so their lines may interleave.
    assert row["error_detail"].startswith("pg_restore exited 1: ")
    assert "could not read from input file" in row["error_detail"]
    assert "@" not in row["error_detail"]


def test_restore_into_production_is_refused(world: World) -> None:
    world.produce()
    report = world.run(checks=["restore"], scratch={"url": world.production_dsn})
    outcome = by_check(report)["restore"]
    assert outcome.status.value == "error"
    assert "refused: the scratch server is the production server" in outcome.summary
    assert report.exit_code == COULD_NOT_RUN
    with psycopg.connect(world.production_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                            (world.drill_database,)).fetchone() == (0,)


def test_a_non_empty_target_that_is_not_a_drill_database_is_refused_and_kept(world: World) -> None:
    world.produce()
    with psycopg.connect(world.scratch_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{world.drill_database}"')
    target = world.scratch_dsn.rsplit("/", 1)[0] + "/" + world.drill_database
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute("CREATE TABLE precious (id int)")
    report = world.run(checks=["restore"])
    assert "was not made by a drill" in by_check(report)["restore"].summary
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM precious").fetchone() == (0,)
    with psycopg.connect(world.scratch_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{world.drill_database}"')
