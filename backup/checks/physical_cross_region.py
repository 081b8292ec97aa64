"""Cross-region for pgBackRest: the replica repository holds the same backups and WAL, key by key.

The replica is expected to be a copy of the primary repository (S3 replication of
the bucket, or a sync job): the same labels, the same stored objects with the same
SHA-1 (the manifests' ``rck``, or what this run's integrity check read), and the
same WAL segments (their SHA-1 is in the key). A primary backup or segment younger
than ``cross_region.replication_grace_seconds`` not there yet is pending. One audit
row per backup, one for the WAL, one per differing file (at most 100 per backup).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from ..model import CheckOutcome, Finding, Status
from ..pgbackrest import wal
from ..sources.pgbackrest import PgBackRestSource
from .context import RunContext

CHECK = "cross_region"
MAX_FILE_ROWS = 100


def compare_files(primary: dict[str, str], replica: dict[str, str]) -> list[tuple[str, str]]:
    """Pure: (slice key, what differs) for each stored file that is not the same in both."""
    out = []
    for key in sorted(primary.keys() | replica.keys()):
        if key not in replica:
            out.append((key, "missing in the replica"))
        elif key not in primary:
            out.append((key, "extra in the replica"))
        elif primary[key] != replica[key]:
            out.append((key, "sha1 differs"))
    return out


def compare_wal(primary: list[wal.Segment], replica: list[wal.Segment], now: datetime,
                grace: timedelta, size: int) -> tuple[list[str], list[str]]:
    """Pure: (segments missing or different in the replica, those pending replication)."""
    theirs = {(s.timeline, s.number): s.sha1 for s in replica}
    bad, pending = [], []
    for s in sorted(primary, key=lambda s: (s.number, s.timeline)):
        name = wal.segment_name(s.timeline, s.number, size)
        if theirs.get((s.timeline, s.number)) == s.sha1:
            continue
        if (s.timeline, s.number) not in theirs and now - s.archived_at < grace:
            pending.append(name)
        else:
            bad.append(name + (" (sha1 differs)" if (s.timeline, s.number) in theirs else ""))
    return bad, pending


def _checksums(ctx: RunContext, source: PgBackRestSource, label: str) -> dict[str, str]:
    manifest = source.manifests.get(label)
    if manifest is None:
        return {}
    out = {}
    for f in manifest.files:
        relative = source.backup_dir + f.slice_key
        out[f.slice_key] = ctx.observed.get((source.region, relative)) or f.rck or ""
    return out


def run(ctx: RunContext) -> CheckOutcome:
    started = time.monotonic()
    for role in ("primary", "replica"):
        missing = ctx.unavailable(CHECK, role)
        if missing is not None:
            return CheckOutcome(CHECK, [missing], str(missing.detail), time.monotonic() - started)
    p, r = ctx.sources["primary"], ctx.sources["replica"]
    assert isinstance(p, PgBackRestSource) and isinstance(r, PgBackRestSource)
    grace = timedelta(seconds=ctx.settings.cross_region.replication_grace_seconds)
    findings: list[Finding] = []
    parts: list[str] = []
    theirs = {b.backup_id: b for b in ctx.inventory.backups.get("replica", [])}
    for backup in ctx.inventory.backups.get("primary", []):
        other = theirs.get(backup.backup_id)
        if other is None or backup.backup_id not in r.manifests:
            young = ctx.now - backup.taken_at < grace
            what = "pending replication" if young else "missing in the replica"
            findings.append(Finding.about(CHECK, Status.PASSED if young else Status.FAILED, backup,
                                          region=r.region, algorithm="sha1", detail=what))
            parts.append(f"{backup.backup_id}: {what}")
            continue
        diffs = compare_files(_checksums(ctx, p, backup.backup_id), _checksums(ctx, r, backup.backup_id))
        for key, what in diffs[:MAX_FILE_ROWS]:
            findings.append(Finding.about(CHECK, Status.FAILED, backup, region=r.region, algorithm="sha1",
                                          object_key=p.backup_dir + key, detail=f"{key}: {what}"))
        findings.append(Finding.about(
            CHECK, Status.FAILED if diffs else Status.PASSED, backup, region=r.region, algorithm="sha1",
            detail=f"{len(diffs)} stored files differ" if diffs else None,
            data={"files": len(backup.objects), "different_files": len(diffs)}))
        if diffs:
            parts.append(f"{backup.backup_id}: {len(diffs)} stored files differ "
                         f"({diffs[0][0]}: {diffs[0][1]})")
    for label in sorted(theirs.keys() - {b.backup_id for b in ctx.inventory.backups.get("primary", [])}):
        findings.append(Finding.about(CHECK, Status.FAILED, theirs[label], detail="extra in the replica"))
        parts.append(f"{label}: extra in the replica")
    try:
        pa, ra = p.archive(ctx.progress), r.archive(ctx.progress)
    except Exception as exc:  # listing failed: the WAL half has no verdict
        findings.append(Finding(check=CHECK, status=Status.ERROR, backup_id="wal", region=r.region,
                                detail=str(exc)))
        parts.append(f"WAL: {exc}")
    else:
        bad, pending = compare_wal(pa.segments, ra.segments, ctx.now, grace, pa.segment_size)
        findings.append(Finding(check=CHECK, status=Status.FAILED if bad else Status.PASSED, backup_id="wal",
                                region=r.region, algorithm="sha1",
                                detail=f"{len(bad)} WAL segments missing or different in the replica: "
                                + ", ".join(bad[:10]) if bad else None,
                                data={"missing_segments": len(bad), "pending_segments": len(pending)}))
        if bad:
            parts.append(f"WAL: {len(bad)} segments missing or different in the replica "
                         f"({', '.join(bad[:5])})")
    agree = sum(1 for f in findings if f.status == Status.PASSED and f.object_key is None)
    summary = (f"{agree}/{sum(1 for f in findings if f.object_key is None)} backups and WAL agree"
               + "".join(f"; {part}" for part in parts[:6]))
    return CheckOutcome(CHECK, findings, summary, time.monotonic() - started)
