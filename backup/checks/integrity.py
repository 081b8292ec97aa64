"""Integrity: a streamed hash of every byte of every object, against the recorded checksum.

The algorithm is the recorded one (SHA-256 for our logical backups; pgBackRest
manifests record SHA-1) and goes into the audit row. The recorded checksum comes from
the sidecar or the object's metadata; when both exist they must agree. ETags are
never compared.
"""

from __future__ import annotations

import time

from ..errors import SourceUnavailable
from ..hashing import Digest, Throttle, hash_chunks, human_bytes
from ..model import Backup, BackupObject, CheckOutcome, Finding, RecordedChecksum, Status
from ..sources.base import BackupSource
from .context import RunContext

CHECK = "integrity"


def verdict(records: list[RecordedChecksum], observed: Digest, listed_size: int) -> tuple[Status, str | None]:
    """Pure: what the recorded checksums and the bytes read say about one object."""
    if not records:
        return Status.FAILED, "no recorded checksum: the object cannot be verified"
    if len({(r.algorithm, r.hexdigest) for r in records}) > 1:
        return Status.FAILED, ("recorded checksums disagree ("
                               + " vs ".join(sorted(r.source for r in records)) + ")")
    if observed.size != listed_size:
        return Status.FAILED, f"read {observed.size} bytes, the listing says {listed_size}"
    if observed.hexdigest != records[0].hexdigest:
        return Status.FAILED, f"{observed.algorithm} mismatch: the object differs from what was recorded"
    return Status.PASSED, None


def _records(source: BackupSource, obj: BackupObject, metadata: dict[str, str]) -> list[RecordedChecksum]:
    records = []
    recorded = source.recorded_checksum(obj)
    if recorded is not None:
        records.append(recorded)
    in_metadata = metadata.get("sha256", "").lower()
    if in_metadata and (recorded is None or recorded.source != "metadata"):
        records.append(RecordedChecksum("sha256", in_metadata, "metadata"))
    return records


def verify_object(ctx: RunContext, source: BackupSource, backup: Backup, obj: BackupObject) -> Finding:
    started = time.monotonic()
    try:
        recorded = source.recorded_checksum(obj)
        algorithm = recorded.algorithm if recorded else "sha256"
        with source.open_object(obj) as stream:
            observed = hash_chunks(stream.chunks(), algorithm, total=obj.size,
                                   label=f"integrity {source.region} {obj.relative_key}",
                                   progress=Throttle(ctx.progress, ctx.settings.progress_interval_seconds))
            records = _records(source, obj, stream.metadata)
    except SourceUnavailable as exc:
        return Finding.about(CHECK, Status.ERROR, backup, object_key=obj.key, file_size=obj.size,
                             detail=str(exc), duration_seconds=time.monotonic() - started)
    status, detail = verdict(records, observed, obj.size)
    ctx.observed[(source.region, obj.relative_key)] = observed.hexdigest
    return Finding.about(CHECK, status, backup, object_key=obj.key, file_size=obj.size,
                         checksum_valid=status == Status.PASSED, algorithm=observed.algorithm,
                         expected=records[0].hexdigest if records else None,
                         observed=observed.hexdigest, detail=detail,
                         duration_seconds=round(time.monotonic() - started, 3),
                         data={"checksum_source": ",".join(r.source for r in records) or None,
                               "mb_per_second": round(observed.mb_per_second, 1)})


def run(ctx: RunContext) -> CheckOutcome:
    started = time.monotonic()
    findings: list[Finding] = []
    parts = []
    for role in ctx.settings.integrity.regions:
        if role not in ctx.sources and role == "replica":
            continue  # no replica configured: cross_region says so
        missing = ctx.unavailable(CHECK, role)
        if missing is not None:
            findings.append(missing)
            parts.append(f"{missing.region}: {missing.detail}")
            continue
        source = ctx.sources[role]
        backups = ctx.inventory.backups.get(role, [])
        if ctx.settings.integrity.backups == "newest":
            backups = backups[:1]
        region_findings = [verify_object(ctx, source, b, o) for b in backups for o in b.objects]
        findings += region_findings
        bad = [f for f in region_findings if f.status != Status.PASSED]
        total = sum(f.file_size or 0 for f in region_findings)
        parts.append(f"{source.region}: {len(region_findings) - len(bad)}/{len(region_findings)} objects "
                     f"match ({human_bytes(total)} hashed)"
                     + "".join(f"; {f.backup_id}: {f.detail}" for f in bad[:3]))
    ctx.record(findings)
    return CheckOutcome(CHECK, findings, "; ".join(parts) or "nothing to verify",
                        time.monotonic() - started)
