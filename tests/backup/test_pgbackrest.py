"""pgBackRest repositories end to end: real PostgreSQL, real pgbackrest, moto behind socat TLS."""

from __future__ import annotations

from backup.runner import FAILED, VERIFIED

from ..support.postgres import PostgresServer
from .pgbackrest_repo import Repo
from .physical import outcome, run


def test_clean_repository_verifies(pgbr_repo: Repo, pg_server: PostgresServer) -> None:
    lines: list[str] = []
    report = run(pgbr_repo, pg_server.dsn(), lines, checks=["integrity", "wal", "freshness"])
    assert report.exit_code == VERIFIED, [(o.check, o.status, o.summary) for o in report.outcomes]
    integrity = outcome(report, "integrity")
    heads = [f for f in integrity.findings if f.object_key is None]
    assert {f.backup_id for f in heads} == set(pgbr_repo.labels)
    assert all(f.algorithm == "sha1" and f.checksum_valid for f in heads)
    assert any("files," in line and "MB/s" in line for line in lines)
    wal = outcome(report, "wal")
    region = next(f for f in wal.findings if f.backup_id == "wal")
    assert region.data["missing_segments"] == 0
    assert region.data["wal_segment_size"] == 1 << 20
    assert region.data["recovery_window_seconds"] > 0
