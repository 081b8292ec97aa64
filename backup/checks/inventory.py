"""Discovery: every backup under the prefix of every region, newest first.

Always runs (every other check works from it). One finding per backup per region;
a backup without a recorded checksum is a failed finding, never a crash, and an
empty prefix fails (a verifier that finds nothing must not say "verified").
"""

from __future__ import annotations

import time

from ..errors import SourceUnavailable
from ..hashing import human_bytes
from ..model import Backup, CheckOutcome, Finding, Status
from .context import RunContext

CHECK = "inventory"


def backup_findings(backups: list[Backup]) -> list[Finding]:
    findings = []
    for backup in backups:
        unrecorded = [o.relative_key for o in backup.objects if o.checksum_source is None]
        sources = sorted({o.checksum_source for o in backup.objects if o.checksum_source})
        problems = list(backup.problems) + (
            [f"no recorded checksum for {len(unrecorded)} object(s)"] if unrecorded else [])
        findings.append(Finding.about(
            CHECK, Status.FAILED if problems else Status.PASSED, backup,
            object_key=backup.objects[0].key if len(backup.objects) == 1 else None,
            detail="; ".join(problems) or None,
            data={"objects": len(backup.objects), "checksum_source": ",".join(sources) or None}))
    return findings


def run(ctx: RunContext) -> CheckOutcome:
    started = time.monotonic()
    findings: list[Finding] = []
    parts = []
    for role, source in ctx.sources.items():
        ctx.inventory.regions[role] = source.region
        try:
            backups = source.list_backups(ctx.progress)
        except SourceUnavailable as exc:
            ctx.inventory.errors[role] = str(exc)
            findings.append(Finding(check=CHECK, status=Status.ERROR, region=source.region,
                                    detail=str(exc)))
            parts.append(f"{source.region}: could not list ({exc})")
            continue
        ctx.inventory.backups[role] = backups
        if not backups:
            findings.append(Finding(check=CHECK, status=Status.FAILED, region=source.region,
                                    detail="no backups under the prefix"))
            parts.append(f"{source.region}: no backups")
            continue
        findings += backup_findings(backups)
        missing = sum(1 for f in findings if f.region == source.region and f.status != Status.PASSED)
        newest = backups[0]
        parts.append(f"{source.region}: {len(backups)} backups, newest {newest.backup_id} "
                     f"({human_bytes(newest.size)})" + (f", {missing} without a checksum" if missing else ""))
    return CheckOutcome(CHECK, findings, "; ".join(parts), time.monotonic() - started)
