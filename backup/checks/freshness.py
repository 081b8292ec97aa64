"""Freshness / RPO: the newest *verified* backup per region, and WAL archiving on production.

A backup counts as verified in a region when nothing this run checked about it there
failed (integrity; on the drilled region also restore and completeness) and its
integrity passed, in this run or, for backups this run did not hash
(``integrity.backups: newest``, ``--check freshness``), in the latest earlier one.
WAL archiving is read from ``pg_stat_archiver``: archiving that fails now, or that is
older than the RPO while WAL is waiting, fails the check; an idle server with nothing
waiting has an RPO of zero however old its last archive.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..model import Backup, CheckOutcome, Finding, Status
from ..settings import TargetSettings
from .context import RunContext

CHECK = "freshness"

ARCHIVER_SQL = """
SELECT current_setting('archive_mode'), a.last_archived_wal, a.last_archived_time,
       a.last_failed_wal, a.last_failed_time,
       CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL
            ELSE pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn() - 1) END,
       now()
FROM pg_catalog.pg_stat_archiver a
"""


@dataclass(frozen=True)
class Archiver:
    archive_mode: str
    last_archived_wal: str | None
    last_archived_time: datetime | None
    last_failed_wal: str | None
    last_failed_time: datetime | None
    newest_written_wal: str | None   # segment holding the last byte written; None on a standby
    now: datetime


def newest_verified(backups: list[Backup], verdict: dict[str, Status]) -> Backup | None:
    """Pure: the newest backup whose verdict passed (backups are newest first)."""
    return next((b for b in backups if verdict.get(b.backup_id) == Status.PASSED), None)


def backup_age(newest: Backup | None, now: datetime, max_age: timedelta) -> tuple[Status, str]:
    if newest is None:
        return Status.FAILED, "no verified backup"
    age = now - newest.taken_at
    hours, limit = age.total_seconds() / 3600, max_age.total_seconds() / 3600
    if age > max_age:
        return Status.FAILED, f"newest verified backup is {hours:.1f} h old (limit {limit:.0f} h)"
    return Status.PASSED, f"newest verified backup is {hours:.1f} h old"


def wal_rpo(a: Archiver, targets: TargetSettings) -> tuple[Status, str, float | None]:
    """Pure: (status, sentence, RPO seconds or None when unknown)."""
    if a.archive_mode == "off":
        status = Status.FAILED if targets.wal_archiving == "required" else Status.PASSED
        return status, "archive_mode is off: the RPO is the age of the newest backup", None
    if a.last_failed_time and (a.last_archived_time is None or a.last_failed_time > a.last_archived_time):
        return Status.FAILED, "WAL archiving is failing now (last attempt failed)", None
    if a.last_archived_time is None:
        return Status.FAILED, "no WAL segment was ever archived", None
    pending = a.newest_written_wal is None or a.last_archived_wal is None or (
        a.newest_written_wal > a.last_archived_wal)
    rpo = (a.now - a.last_archived_time).total_seconds() if pending else 0.0
    limit = targets.rpo_seconds
    if rpo > limit:
        return (Status.FAILED, f"WAL archived {rpo / 60:.1f} min ago with WAL waiting "
                f"(RPO {limit / 60:.0f} min)", rpo)
    return Status.PASSED, f"RPO {rpo / 60:.1f} min (target {limit / 60:.0f} min)", rpo


def read_archiver(dsn: str, timeout: float) -> Archiver:
    from ..db import production_connection

    with production_connection(dsn, timeout) as conn:
        row = conn.execute(ARCHIVER_SQL).fetchone()
    assert row is not None
    return Archiver(*row)


def _verdicts(ctx: RunContext, region: str) -> dict[str, Status]:
    """Earlier runs' integrity verdicts, overlaid with everything this run found."""
    from ..audit import latest_verdicts

    verdicts = latest_verdicts(ctx.settings.audit_url, "integrity", region)
    verdicts.update({b: s for (b, r), s in ctx.verdicts.items() if r == region})
    return verdicts


def run(ctx: RunContext, with_archiver: bool = True) -> CheckOutcome:
    """Backup age per region; ``with_archiver``: also RPO from pg_stat_archiver (physical: see wal)."""
    started = time.monotonic()
    findings: list[Finding] = []
    parts = []
    max_age = timedelta(seconds=ctx.settings.targets.backup_max_age_seconds)
    for role in ctx.sources:
        missing = ctx.unavailable(CHECK, role)
        if missing is not None:
            findings.append(missing)
            parts.append(f"{missing.region}: {missing.detail}")
            continue
        region = ctx.sources[role].region
        backups = ctx.inventory.backups.get(role, [])
        newest = newest_verified(backups, _verdicts(ctx, region))
        status, sentence = backup_age(newest, ctx.now, max_age)
        base = Finding.about(CHECK, status, newest) if newest else Finding(
            check=CHECK, status=status, region=region)
        findings.append(Finding(**{**base.__dict__, "detail": sentence,
                                   "data": {"max_age_seconds": max_age.total_seconds()}}))
        parts.append(f"{region}: {sentence}")
    if not with_archiver:
        return CheckOutcome(CHECK, findings, "; ".join(parts), time.monotonic() - started)
    try:
        archiver = read_archiver(ctx.settings.production.url,
                                 ctx.settings.production.connect_timeout_seconds)
    except Exception as exc:  # psycopg errors: production unreachable is "could not run"
        findings.append(Finding(check=CHECK, status=Status.ERROR, backup_id="wal",
                                detail=f"production unreachable: {type(exc).__name__}"))
        parts.append("WAL: production unreachable")
    else:
        status, sentence, rpo = wal_rpo(archiver, ctx.settings.targets)
        findings.append(Finding(check=CHECK, status=status,
                                backup_id=f"wal:{archiver.last_archived_wal or '-'}",
                                backup_time=archiver.last_archived_time, detail=sentence,
                                data={"rpo_seconds": rpo,
                                      "target_seconds": ctx.settings.targets.rpo_seconds}))
        parts.append(f"WAL: {sentence}")
    return CheckOutcome(CHECK, findings, "; ".join(parts), time.monotonic() - started)
