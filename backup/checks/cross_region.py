"""Cross-region: the replica holds the same keys, sizes and checksums as the primary.

Checksums are those this run's integrity check read (or else the recorded ones),
never ETags: the two regions' uploads may have been cut into parts
differently. A primary backup younger than ``cross_region.replication_grace_seconds``
that is not in the replica yet is "pending", not a failure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import SourceUnavailable
from ..model import Backup, CheckOutcome, Finding, Status
from .context import RunContext

CHECK = "cross_region"


@dataclass(frozen=True)
class Facts:
    """What one region says about one object."""

    size: int
    checksum: str | None     # recorded (or observed) hex digest
    taken_at: datetime


def compare(primary: dict[str, Facts], replica: dict[str, Facts], now: datetime,
            grace: timedelta) -> list[tuple[str, Status, str]]:
    """Pure: (relative key, status, what differs) for every key in either region."""
    out: list[tuple[str, Status, str]] = []
    for key in sorted(primary.keys() | replica.keys()):
        p, r = primary.get(key), replica.get(key)
        if p is None:
            out.append((key, Status.FAILED, "extra in the replica (not in the primary)"))
        elif r is None:
            young = now - p.taken_at < grace
            out.append((key, Status.PASSED if young else Status.FAILED,
                        "pending replication" if young else "missing in the replica"))
        elif p.size != r.size:
            out.append((key, Status.FAILED,
                        f"size differs: {p.size} in the primary, {r.size} in the replica"))
        elif p.checksum is None or r.checksum is None:
            out.append((key, Status.FAILED, "no recorded checksum in the "
                        + ("primary" if p.checksum is None else "replica")))
        elif p.checksum != r.checksum:
            out.append((key, Status.FAILED, "checksum differs"))
        else:
            out.append((key, Status.PASSED, "same size and checksum"))
    return out


def _facts(ctx: RunContext, role: str) -> tuple[dict[str, Facts], dict[str, Backup]]:
    source = ctx.sources[role]
    facts: dict[str, Facts] = {}
    owners: dict[str, Backup] = {}
    for backup in ctx.inventory.backups.get(role, []):
        for obj in backup.objects:
            # What this run read is better evidence than what was recorded, when there is both.
            checksum = ctx.observed.get((source.region, obj.relative_key))
            if checksum is None:
                recorded = source.recorded_checksum(obj)
                checksum = recorded.hexdigest if recorded else None
            facts[obj.relative_key] = Facts(obj.size, checksum, backup.taken_at)
            owners[obj.relative_key] = backup
    return facts, owners


def run(ctx: RunContext) -> CheckOutcome:
    started = time.monotonic()
    for role in ("primary", "replica"):
        missing = ctx.unavailable(CHECK, role)
        if missing is not None:
            return CheckOutcome(CHECK, [missing], str(missing.detail), time.monotonic() - started)
    try:
        primary, p_owner = _facts(ctx, "primary")
        replica, r_owner = _facts(ctx, "replica")
    except SourceUnavailable as exc:
        return CheckOutcome(CHECK, [Finding(check=CHECK, status=Status.ERROR, detail=str(exc))],
                            str(exc), time.monotonic() - started)
    grace = timedelta(seconds=ctx.settings.cross_region.replication_grace_seconds)
    replica_region = ctx.sources["replica"].region
    findings = []
    for key, status, what in compare(primary, replica, ctx.now, grace):
        backup = p_owner.get(key) or r_owner[key]
        facts = primary.get(key) or replica[key]
        findings.append(Finding.about(
            CHECK, status, backup, region=replica_region, object_key=key, file_size=facts.size,
            algorithm="sha256", expected=primary[key].checksum if key in primary else None,
            observed=replica[key].checksum if key in replica else None,
            detail=None if what == "same size and checksum" else what))
    bad = [f for f in findings if f.status != Status.PASSED]
    summary = (f"{len(findings) - len(bad)}/{len(findings)} objects agree"
               + "".join(f"; {f.object_key}: {f.detail}" for f in bad[:5])
               + (f"; … {len(bad) - 5} more" if len(bad) > 5 else ""))
    return CheckOutcome(CHECK, findings, summary, time.monotonic() - started)
