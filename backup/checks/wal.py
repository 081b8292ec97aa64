"""WAL continuity, recovery window and RPO of pgBackRest repositories, from the archive listing.

Per region: every segment from the oldest backup's start to the newest archived one
is present on the timeline path (gaps named by segment); a backup whose own WAL
(start..stop) has a gap is not restorable. The recovery window runs from the oldest
restorable backup's end to the newest segment reachable from it without a gap.

RPO is now minus the time of the newest segment present in **both** regions (same
SHA-1), per region the newest present there. Idle or stuck: when production's newest
written WAL segment (``pg_walfile_name(pg_current_wal_lsn() - 1)``) is no newer than
that segment, nothing unarchived exists and the RPO is 0 whatever the segment's age
(an idle server with ``archive_timeout`` writes no segments); when production has
written past it, the age is data that would be lost, and over the target it fails.
"""

from __future__ import annotations

import time
from datetime import datetime

from ..model import Backup, CheckOutcome, Finding, Status
from ..pgbackrest import wal
from ..sources.pgbackrest import Archive, PgBackRestSource
from .context import RunContext
from .freshness import read_archiver

CHECK = "wal"


def window(archive: Archive, backups: list[Backup], source: PgBackRestSource
           ) -> tuple[wal.Continuity, float, dict[str, str | None]]:
    """Continuity over every backup, and the recovery window in seconds (0: nothing restorable)."""
    spans = [(b.backup_id, e.archive_start, e.archive_stop) for b in backups
             if (e := source.entries.get(b.backup_id)) and e.archive_start and e.archive_stop]
    overall = wal.continuity(archive.segments, spans, archive.histories, archive.segment_size)
    ends: list[tuple[datetime, datetime]] = []
    for span in spans:
        one = wal.continuity(archive.segments, [span], archive.histories, archive.segment_size)
        if one.restorable[span[0]] and one.newest is not None:
            ends.append((one.newest.archived_at, source.entries[span[0]].stopped))
    if not ends:
        return overall, 0.0, overall.first_gap_after
    latest = max(end for end, _ in ends)
    earliest = min(start for end, start in ends if end == latest)
    return overall, max((latest - earliest).total_seconds(), 0.0), overall.first_gap_after


def rpo_verdict(newest: wal.Segment | None, now: datetime, is_idle: bool, target: float
                ) -> tuple[Status, float | None, str]:
    """Pure: status, RPO seconds and the sentence for the newest segment held in both regions."""
    if newest is None:
        return Status.FAILED, None, "no WAL segment is archived in every region"
    age = max((now - newest.archived_at).total_seconds(), 0.0)
    if is_idle:
        return Status.PASSED, 0.0, (f"RPO 0 s: production idle (nothing written after the newest segment, "
                                    f"archived {age / 60:.1f} min ago)")
    if age > target:
        return Status.FAILED, age, (f"RPO {age / 60:.1f} min over the {target / 60:.0f} min target: "
                                    "production wrote WAL that is not archived (archiving stuck?)")
    return Status.PASSED, age, f"RPO {age / 60:.1f} min (target {target / 60:.0f} min)"


def _newest_written(ctx: RunContext) -> str | None:
    try:
        return read_archiver(ctx.settings.production.url,
                             ctx.settings.production.connect_timeout_seconds).newest_written_wal
    except Exception:  # production unreachable: no idle exemption, said in the detail
        return None


def run(ctx: RunContext) -> CheckOutcome:
    started = time.monotonic()
    findings: list[Finding] = []
    parts: list[str] = []
    archives: dict[str, Archive] = {}
    written = _newest_written(ctx)
    for role, source in ctx.sources.items():
        missing = ctx.unavailable(CHECK, role)
        if missing is not None:
            findings.append(missing)
            parts.append(f"{missing.region}: {missing.detail}")
            continue
        assert isinstance(source, PgBackRestSource)
        try:
            archive = archives[role] = source.archive(ctx.progress)
        except Exception as exc:  # SourceUnavailable and damaged history files alike: no verdict
            findings.append(Finding(check=CHECK, status=Status.ERROR, region=source.region, detail=str(exc)))
            parts.append(f"{source.region}: {exc}")
            continue
        backups = ctx.inventory.backups.get(role, [])
        cont, seconds, _ = window(archive, backups, source)
        for b in backups:
            if not cont.restorable.get(b.backup_id, False):
                findings.append(Finding.about(CHECK, Status.FAILED, b, detail=(
                    f"not restorable: WAL segment {cont.first_gap_after.get(b.backup_id) or '?'} "
                    "of its own start..stop range is missing")))
        newest_here = max(archive.segments, key=lambda s: (s.number, s.timeline), default=None)
        rpo_here = None if newest_here is None else (
            0.0 if wal.idle(written, newest_here, archive.segment_size)
            else max((ctx.now - newest_here.archived_at).total_seconds(), 0.0))
        status = Status.FAILED if cont.gaps else Status.PASSED
        gaps = ", ".join(cont.gaps[:10]) + (f" … {len(cont.gaps) - 10} more" if len(cont.gaps) > 10 else "")
        detail = f"{len(cont.gaps)} WAL segments missing: {gaps}" if cont.gaps else None
        findings.append(Finding(check=CHECK, status=status, backup_id="wal", region=source.region,
                                backup_kind=source.kind, detail=detail, data={
                                    "missing_segments": len(cont.gaps), "gaps": cont.gaps[:100],
                                    "recovery_window_seconds": seconds, "rpo_seconds": rpo_here,
                                    "segments": len(archive.segments),
                                    "wal_segment_size": archive.segment_size}))
        parts.append(f"{source.region}: {len(archive.segments)} segments "
                     f"({archive.segment_size >> 20} MiB), recovery window {seconds / 3600:.1f} h"
                     + (f", {detail}" if detail else ", no gaps"))
    if "primary" in archives:
        replica = archives.get("replica")
        primary = archives["primary"]
        newest = (wal.newest_in_both(primary.segments, replica.segments) if replica is not None
                  else max(primary.segments, key=lambda s: (s.number, s.timeline), default=None))
        status, rpo, sentence = rpo_verdict(newest, ctx.now, wal.idle(written, newest, primary.segment_size),
                                            ctx.settings.targets.rpo_seconds)
        if written is None:
            sentence += " (production's current WAL unknown: no idle exemption)"
        findings.append(Finding(check=CHECK, status=status, backup_id="wal:rpo", backup_kind="physical",
                                backup_time=newest.archived_at if newest else None, detail=sentence,
                                data={"rpo_seconds": rpo, "target_seconds": ctx.settings.targets.rpo_seconds,
                                      "regions": "both" if replica is not None else "primary"}))
        parts.append(sentence)
    ctx.record([f for f in findings if f.backup_id not in ("wal", "wal:rpo")])
    return CheckOutcome(CHECK, findings, "; ".join(parts), time.monotonic() - started)
